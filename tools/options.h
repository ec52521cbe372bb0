// Options shared by several commands, each spelt and explained once, and enumerated options
// parsed here into the enums lib/ takes (lib/ never validates a choice given as a string).
#pragma once

#include <CLI/CLI.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/compute.h"
#include "eval/eval.h"

namespace hone::tools {

template <class E>
using Choices = std::vector<std::pair<std::string, E>>;

// An option whose value is one of `choices`' names, stored into `target` as the matching enum
// value. --help shows the names and the default (target's value when registered).
template <class E>
CLI::Option* add_choice(CLI::App& cmd, const std::string& name, E& target, const Choices<E>& choices,
                        const std::string& help) {
  std::vector<std::string> names;
  std::string current;
  for (const auto& [n, v] : choices) {
    names.push_back(n);
    if (v == target) current = n;
  }
  return cmd
      .add_option_function<std::string>(
          name,
          [&target, choices](const std::string& value) {
            for (const auto& [n, v] : choices)
              if (n == value) target = v;
          },
          help)
      ->check(CLI::IsMember(names))
      ->default_str(current);
}

// The same for an enum that lib/ names with to_string(E): the choices are `values`, spelt as lib
// spells them in its reports and errors.
template <class E>
CLI::Option* add_choice(CLI::App& cmd, const std::string& name, E& target, std::initializer_list<E> values,
                        const std::string& help) {
  Choices<E> choices;
  for (E v : values) choices.emplace_back(std::string(to_string(v)), v);
  return add_choice(cmd, name, target, choices, help);
}

// --dtype: the compute type (auto, fast, f32, bf16, f16), with `help` saying what it applies to.
CLI::Option* add_dtype_option(CLI::App& cmd, ComputeDtype& target, const std::string& help);

// --device: cpu, cuda (the GPU of LOCAL_RANK) or cuda:N.
CLI::Option* add_device_option(CLI::App& cmd, std::string& target);

// --top-k with the meaning `help` gives it for the command (the k most likely tokens).
CLI::Option* add_top_k_option(CLI::App& cmd, std::int64_t& target, const std::string& help);

// The models of repeated --model, --adapter and --name options, side by side ('-' or 'none': no
// adapter). UsageError when --adapter or --name is given but not once per --model.
std::vector<EvalModel> eval_models(const std::vector<std::string>& models, const std::vector<std::string>& adapters,
                                   const std::vector<std::string>& names);

// --threshold: a probability, or "auto" (and "", not given) for none.
std::optional<double> parse_threshold(const std::string& text);

}  // namespace hone::tools
