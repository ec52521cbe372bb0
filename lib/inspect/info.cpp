#include "inspect/info.h"

#include <hdf5.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/gguf.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "data/token_store.h"
#include "model/config.h"
#include "model/family.h"
#include "model/loader.h"
#include "text/sha256.h"

namespace hone {

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}K", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string human_bytes(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} GB", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f} MB", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f} KB", n / 1e3);
  return fmt::format("{:.0f} B", n);
}

namespace {

using nlohmann::json;

// "Q4_1 x 169, F32 x 61" in a stable order.
template <class Map>
std::string type_histogram(const Map& counts) {
  std::string s;
  for (const auto& [name, n] : counts) s += fmt::format("{}{} x {}", s.empty() ? "" : ", ", name, n);
  return s;
}

// One "key: value" line; the value may quote the file (names, metadata), so it is escaped as the
// logs are (core/log.h): an input cannot break the layout or send a terminal escape.
void line(std::ostringstream& out, const std::string& key, const std::string& value) {
  out << fmt::format("{:<16}{}\n", key + ":", log_text(value));
}

void describe_config(std::ostringstream& out, const ModelConfig& c) {
  line(out, "family", family_name(c.family));
  line(out, "layers", std::to_string(c.num_hidden_layers));
  line(out, "hidden size", std::to_string(c.hidden_size));
  line(out, "ffn size", std::to_string(c.intermediate_size));
  line(out, "heads", fmt::format("{} query, {} key/value, head dim {}", c.num_attention_heads, c.num_key_value_heads,
                                 c.head_dim));
  line(out, "vocab", std::to_string(c.vocab_size));
  line(out, "context", std::to_string(c.max_position_embeddings));
  std::string rope = fmt::format("theta {:g}", c.rope_theta);
  if (c.rope_scaling.type == "longrope")
    rope += fmt::format(", scaling longrope (long factors past {} tokens, attention factor {:.4g})",
                        c.rope_scaling.original_max_position_embeddings, c.rope_attention_factor());
  else if (!c.rope_scaling.type.empty())
    rope += fmt::format(", scaling {} x{:g}", c.rope_scaling.type, c.rope_scaling.factor);
  if (c.rotary_dim() != c.head_dim) rope += fmt::format(", {} of {} channels rotated", c.rotary_dim(), c.head_dim);
  line(out, "rope", rope);
  if (c.rope_local_theta > 0) line(out, "local rope", fmt::format("theta {:g} (sliding layers)", c.rope_local_theta));
  if (c.sliding_window) {
    std::int64_t sliding = 0;
    for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) sliding += c.layer_slides(l);
    line(out, "sliding window", fmt::format("{} tokens on {} of {} layers", *c.sliding_window, sliding,
                                            c.num_hidden_layers));
  }
  line(out, "rms norm eps", fmt::format("{:g}", c.rms_norm_eps));
  line(out, "tied embedding", c.tie_word_embeddings ? "yes" : "no");
  if (c.attention_bias) line(out, "qkv bias", "yes");
}

// ---------------------------------------------------------------------------- GGUF

std::string describe_gguf(const fs::path& path, const InfoOptions& o) {
  GGUFFile g = GGUFFile::open(path);
  std::ostringstream out;
  line(out, "file", fmt::format("{} ({}, GGUF v{}, alignment {})", path.string(), human_bytes(fs::file_size(path)),
                                g.version(), g.alignment()));
  if (auto name = g.opt_string("general.name")) line(out, "name", *name);
  const std::string arch = g.opt_string("general.architecture").value_or("?");
  line(out, "architecture", arch);
  if (auto type = g.opt_string("general.type")) line(out, "type", *type);

  std::int64_t params = 0;
  std::map<std::string, int> types;
  for (const auto& t : g.tensors()) {
    params += t.numel();
    types[std::string(ggml_type_name(t.type))]++;
  }
  if (g.has_tensor("token_embd.weight") && find_family_by_gguf_arch(arch)) describe_config(out, load_gguf_config(g));
  line(out, "parameters", fmt::format("{} ({})", human_count(static_cast<double>(params)), params));
  line(out, "tensors", fmt::format("{} ({})", g.tensors().size(), type_histogram(types)));

  if (auto model = g.opt_string("tokenizer.ggml.model")) {
    std::string tok = *model == "gpt2" ? "gpt2 (byte-level BPE)" : *model == "llama" ? "llama (SentencePiece)" : *model;
    if (g.find("tokenizer.ggml.tokens")) tok += fmt::format(", {} tokens", g.get_array("tokenizer.ggml.tokens").items.size());
    if (g.find("tokenizer.ggml.merges")) tok += fmt::format(", {} merges", g.get_array("tokenizer.ggml.merges").items.size());
    if (auto pre = g.opt_string("tokenizer.ggml.pre")) tok += ", pre-tokenizer " + *pre;
    line(out, "tokenizer", tok);
    std::string special;
    for (const char* k : {"bos", "eos", "unknown", "padding"})
      if (auto id = g.opt_uint(fmt::format("tokenizer.ggml.{}_token_id", k)))
        special += fmt::format("{}{} {}", special.empty() ? "" : ", ", k, *id);
    if (!special.empty()) line(out, "special tokens", special);
  }
  if (auto tmpl = g.opt_string("tokenizer.chat_template"))
    line(out, "chat template", fmt::format("{} characters", tmpl->size()));

  out << "metadata:\n";
  for (const auto& [key, value] : g.metadata()) {
    if (value.type == GGUFType::kArray && !o.all_metadata) continue;
    if (key == "tokenizer.chat_template" && !o.all_metadata) continue;
    out << fmt::format("  {} = {}\n", log_text(key), log_text(value.to_string()));
  }
  if (o.max_tensors > 0) {
    out << "tensors:\n";
    int n = 0;
    for (const auto& t : g.tensors()) {
      if (n++ >= o.max_tensors) break;
      out << fmt::format("  {:<40} {:<6} [{}]\n", log_text(t.name), ggml_type_name(t.type), fmt::join(t.shape(), ", "));
    }
  }
  return out.str();
}

// ---------------------------------------------------------------------------- safetensors / HF

void describe_checkpoint(std::ostringstream& out, const SafetensorsCheckpoint& ck, const InfoOptions& o) {
  std::int64_t params = 0;
  std::map<std::string, int> types;
  for (const auto& name : ck.names()) {
    const auto& t = ck.get(name);
    params += t.numel();
    types[std::string(dtype_name(t.dtype))]++;
  }
  line(out, "parameters", fmt::format("{} ({})", human_count(static_cast<double>(params)), params));
  line(out, "tensors", fmt::format("{} in {} file{} ({}), {}", ck.names().size(), ck.shards().size(),
                                   ck.shards().size() == 1 ? "" : "s", type_histogram(types),
                                   human_bytes(static_cast<double>(ck.total_bytes()))));
  const auto& meta = ck.shards().front().metadata();
  if (!meta.empty()) {
    out << "metadata:\n";
    for (const auto& [k, v] : meta)
      out << fmt::format("  {} = {}\n", log_text(k), log_text(v.size() > 80 ? v.substr(0, 77) + "..." : v));
  }
  if (o.max_tensors > 0) {
    out << "tensors:\n";
    int n = 0;
    for (const auto& name : ck.names()) {
      if (n++ >= o.max_tensors) break;
      const auto& t = ck.get(name);
      out << fmt::format("  {:<56} {:<5} [{}]\n", name, dtype_name(t.dtype), fmt::join(t.shape, ", "));
    }
  }
}

// A field of adapter_config.json as written ("?" when absent). info also describes adapters that
// hone's loader refuses (DoRA, say), so it prints fields without judging their types.
std::string config_field(const json& a, const char* key) {
  const auto it = a.find(key);
  if (it == a.end()) return "?";
  if (it->is_string()) return it->get<std::string>();
  return it->is_number() ? fmt::format("{}", it->get<double>()) : it->dump();
}

// What else in a PEFT adapter_config.json decides what the adapter changes: the layers it adapts
// (all when absent), DoRA, whole modules saved beside the adapter, and the base it was made for.

void describe_adapter_config(std::ostringstream& out, const json& a) {
  const auto it = a.find("layers_to_transform");
  std::string layers = "all";
  if (it != a.end() && it->is_number_integer()) layers = std::to_string(it->get<std::int64_t>());
  if (it != a.end() && it->is_array() && !it->empty()) {
    std::vector<std::int64_t> l;
    for (const auto& x : *it)
      if (x.is_number_integer()) l.push_back(x.get<std::int64_t>());
    std::sort(l.begin(), l.end());
    // Runs of consecutive layers print as a range: [15-29] rather than fifteen numbers.
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < l.size();) {
      std::size_t j = i;
      while (j + 1 < l.size() && l[j + 1] == l[j] + 1) ++j;
      parts.push_back(j > i ? fmt::format("{}-{}", l[i], l[j]) : std::to_string(l[i]));
      i = j + 1;
    }
    layers = fmt::format("{} of them: {}", l.size(), fmt::join(parts, ", "));
  }
  line(out, "adapted layers", layers);
  const auto dora = a.find("use_dora");
  if (dora != a.end() && dora->is_boolean() && dora->get<bool>()) line(out, "dora", "yes (magnitude vectors)");
  const auto m = a.find("modules_to_save");
  if (m != a.end() && m->is_array() && !m->empty()) line(out, "modules saved", m->dump());
  const auto b = a.find("base_model_name_or_path");
  if (b != a.end() && b->is_string() && !b->get<std::string>().empty()) line(out, "base model", b->get<std::string>());
}

std::string describe_hf_dir(const fs::path& dir, const InfoOptions& o) {
  std::ostringstream out;
  line(out, "directory", dir.string());
  const fs::path cfg = dir / "config.json";
  if (fs::exists(cfg)) {
    describe_config(out, load_hf_config(cfg));
  } else if (fs::exists(dir / "adapter_config.json")) {
    const json a = read_json_object(dir / "adapter_config.json");
    line(out, "adapter",
         fmt::format("{} r={} alpha={} targets {}", config_field(a, "peft_type"), config_field(a, "r"),
                     config_field(a, "lora_alpha"), config_field(a, "target_modules")));
    describe_adapter_config(out, a);
  } else {
    HONE_THROW(InputError, Hint{"an HF model directory holds config.json (a PEFT adapter adapter_config.json)"},
               "{}: neither config.json nor adapter_config.json found", dir.string());
  }
  std::vector<std::string> tok;
  for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "generation_config.json"})
    if (fs::exists(dir / f)) tok.emplace_back(f);
  line(out, "files", tok.empty() ? "(no tokenizer files)" : fmt::format("{}", fmt::join(tok, ", ")));
  if (fs::exists(dir / "adapter_model.safetensors")) {
    describe_checkpoint(out, SafetensorsCheckpoint::open(dir / "adapter_model.safetensors"), o);
  } else {
    describe_checkpoint(out, SafetensorsCheckpoint::open(dir), o);
  }
  return out.str();
}

std::string describe_safetensors(const fs::path& path, const InfoOptions& o) {
  std::ostringstream out;
  line(out, "file", fmt::format("{} ({})", path.string(), human_bytes(fs::file_size(path))));
  describe_checkpoint(out, SafetensorsCheckpoint::open(path), o);
  return out.str();
}

// ---------------------------------------------------------------------------- HDF5

struct H5Walk {
  std::ostringstream* out;
  std::string file;
};

std::string h5_attr_value(hid_t attr) {
  hid_t type = H5Aget_type(attr);
  hid_t space = H5Aget_space(attr);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::string s;
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_STRING) {
    if (H5Tis_variable_str(type) > 0 && n == 1) {
      char* buf = nullptr;
      hid_t mem = H5Tcopy(H5T_C_S1);
      H5Tset_size(mem, H5T_VARIABLE);
      if (H5Aread(attr, mem, &buf) >= 0 && buf) {
        s = buf;
        H5free_memory(buf);
      }
      H5Tclose(mem);
    } else if (n == 1) {
      std::string buf(H5Tget_size(type), '\0');
      if (H5Aread(attr, type, buf.data()) >= 0) s = buf.c_str();
    }
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    s = "\"" + s + "\"";
  } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && n >= 1 && n <= 16) {
    std::vector<double> v(static_cast<std::size_t>(n));
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, v.data()) >= 0) s = n == 1 ? fmt::format("{:g}", v[0]) : fmt::format("[{:g}]", fmt::join(v, ", "));
  } else {
    s = fmt::format("({} values)", n);
  }
  H5Sclose(space);
  H5Tclose(type);
  return s;
}

herr_t h5_attr_cb(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto* w = static_cast<H5Walk*>(data);
  hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
  if (attr < 0) return 0;
  *w->out << fmt::format("    @{} = {}\n", name, h5_attr_value(attr));
  H5Aclose(attr);
  return 0;
}

herr_t h5_visit_cb(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  auto* w = static_cast<H5Walk*>(data);
  if (info->type == H5O_TYPE_GROUP) {
    *w->out << fmt::format("  {}/\n", std::string(name) == "." ? "" : name);
  } else if (info->type == H5O_TYPE_DATASET) {
    hid_t ds = H5Dopen2(root, name, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t space = H5Dget_space(ds);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    hid_t type = H5Dget_type(ds);
    std::string tname;
    switch (H5Tget_class(type)) {
      case H5T_INTEGER: tname = fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * H5Tget_size(type)); break;
      case H5T_FLOAT: tname = fmt::format("float{}", 8 * H5Tget_size(type)); break;
      case H5T_STRING: tname = "string"; break;
      default: tname = "other"; break;
    }
    hid_t dcpl = H5Dget_create_plist(ds);
    std::string filters;
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0;
      std::size_t nelem = 0;
      char fname[64] = {0};
      unsigned filter_config = 0;
      H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelem, nullptr, sizeof(fname), fname, &filter_config);
      filters += fmt::format(", {}", fname);
    }
    *w->out << fmt::format("  {:<40} {:<8} [{}]{}\n", name, tname, fmt::join(dims, ", "), filters);
    H5Pclose(dcpl);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
  }
  hid_t obj = H5Oopen(root, name, H5P_DEFAULT);
  if (obj >= 0) {
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, nullptr, h5_attr_cb, data);
    H5Oclose(obj);
  }
  return 0;
}

// A hone token store: what training will see, split by split.
void describe_token_store(std::ostringstream& out, const fs::path& path) {
  const data::TokenStore st = data::read_token_store(path);
  const auto& m = st.meta;
  // The chat template is named by the start of its SHA-256: two stores were rendered alike when equal.
  const std::string tmpl =
      m.chat_template.empty() ? m.template_name
                              : fmt::format("{} (sha256 {})", m.template_name, sha256_hex(m.chat_template).substr(0, 12));
  line(out, "token store", fmt::format("tokenizer {}, vocab {}, template {}, max_len {}{}{}",
                                       m.tokenizer_fingerprint.substr(0, 16), m.vocab_size, tmpl, m.max_len,
                                       m.packed ? ", packed" : "", m.train_on_prompt ? ", loss on prompts too" : ""));
  if (m.preference) line(out, "pairs", "preference pairs: sequence 2i chosen, 2i + 1 rejected (hone tokenize --pairs)");
  if (!m.model.empty()) line(out, "made with", m.model);
  for (const auto& [name, s] : st.splits) {
    const auto loss = std::count(s.loss_mask.begin(), s.loss_mask.end(), 1);
    std::string eff;
    if (m.packed && s.sequences() > 0)
      eff = fmt::format(", packing efficiency {:.1f}%", 100.0 * s.tokens() / (static_cast<double>(s.sequences()) * m.max_len));
    line(out, name, fmt::format("{} examples, {} sequences, {} tokens, loss on {:.1f}%{}", s.examples(), s.sequences(),
                                s.tokens(), 100.0 * loss / std::max<double>(1, s.tokens()), eff));
    if (s.examples() == 0) continue;
    // Example lengths in powers of two.
    std::map<std::int64_t, std::int64_t> hist;
    for (std::int64_t i = 0; i < s.examples(); ++i) {
      std::int64_t len = s.example_offsets[i + 1] - s.example_offsets[i], bucket = 1;
      while (bucket < len) bucket *= 2;
      hist[bucket]++;
    }
    std::string h;
    for (const auto& [b, n] : hist) h += fmt::format("{}<={}: {}", h.empty() ? "" : ", ", b, n);
    line(out, "  lengths", h);
  }
}

std::string describe_h5(const fs::path& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by hone, not printed by HDF5
  HONE_CHECK(H5Fis_hdf5(path.c_str()) > 0, InputError, "{}: not an HDF5 file", path.string());
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  HONE_CHECK(f >= 0, InputError, "{}: cannot open as HDF5", path.string());
  std::ostringstream out;
  line(out, "file", fmt::format("{} ({}, HDF5)", path.string(), human_bytes(fs::file_size(path))));
  if (H5Aexists(f, "hone_token_store_version") > 0) {
    H5Fclose(f);
    describe_token_store(out, path);
    return out.str();
  }
  out << "contents:\n";
  H5Walk w{&out, path.string()};
  const herr_t rc = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, h5_visit_cb, &w);
  H5Fclose(f);
  HONE_CHECK(rc >= 0, InputError, "{}: HDF5 file is damaged (cannot walk its objects)", path.string());
  return out.str();
}


}  // namespace

std::string describe_file(const fs::path& path, const InfoOptions& o) {
  HONE_CHECK(fs::exists(path), InputError, "{}: no such file or directory", path.string());
  if (fs::is_directory(path)) return describe_hf_dir(path, o);
  const std::string ext = path.extension().string();
  if (is_gguf_path(path)) return describe_gguf(path, o);
  if (ext == ".h5" || ext == ".hdf5" || file_starts_with(path, std::string_view("\x89HDF\r\n\x1a\n", 8))) return describe_h5(path);
  if (ext == ".safetensors" || path.filename() == "model.safetensors.index.json") return describe_safetensors(path, o);
  HONE_THROW(InputError, Hint{"hone info reads .gguf, .safetensors, .h5 files and HF model directories"},
             "{}: unrecognised file type", path.string());
}

}  // namespace hone
