#include "eval/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

namespace hone {

ClassificationMetrics classification_metrics(const std::vector<std::string>& gold, const std::vector<std::string>& pred) {
  ClassificationMetrics r;
  std::set<std::string> classes(gold.begin(), gold.end());
  classes.insert(pred.begin(), pred.end());
  std::map<std::string, std::int64_t> tp, fp, fn;
  std::map<std::pair<std::string, std::string>, std::int64_t> pairs;
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] == pred[i]) {
      ++correct;
      ++tp[gold[i]];
    } else {
      ++fp[pred[i]];
      ++fn[gold[i]];
      ++pairs[{gold[i], pred[i]}];
    }
  }
  r.accuracy = gold.empty() ? 0 : static_cast<double>(correct) / static_cast<double>(gold.size());
  double f1_sum = 0;
  for (const auto& c : classes) {
    const double t = static_cast<double>(tp[c]), p = t + static_cast<double>(fp[c]), g = t + static_cast<double>(fn[c]);
    const double prec = p > 0 ? t / p : 0, rec = g > 0 ? t / g : 0;
    r.f1[c] = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
    f1_sum += r.f1[c];
  }
  r.macro_f1 = classes.empty() ? 0 : f1_sum / static_cast<double>(classes.size());
  std::vector<std::tuple<std::string, std::string, std::int64_t>> v;
  for (const auto& [k, n] : pairs) v.emplace_back(k.first, k.second, n);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return std::get<2>(a) > std::get<2>(b); });
  if (v.size() > 10) v.resize(10);
  r.confused = v;
  return r;
}

std::string normalise(const std::string& s) {
  std::string lower;
  for (unsigned char c : s) lower += static_cast<char>(std::ispunct(c) ? ' ' : std::tolower(c));
  std::string out, word;
  auto flush = [&] {
    if (!word.empty() && word != "a" && word != "an" && word != "the") out += (out.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : lower) {
    if (std::isspace(static_cast<unsigned char>(c))) flush();
    else word += c;
  }
  flush();
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos)), hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace hone
