// hone distill: knowledge distillation from a teacher into a smaller student (issue #7).
#include "command.h"

namespace hone::tools {

Run register_distill(CLI::App& root) {
  struct Options {
    std::string teacher;          // .gguf or HF directory
    std::string teacher_adapter;  // LoRA adapter directory merged into the teacher
    std::string student;          // model path, or layers:N
    std::string data;             // token store (.h5)
    std::string out;              // run directory
    bool cache_teacher = false;   // write the teacher's top-k log-probs instead of training
    int topk = 64;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("distill", "Distill a teacher into a smaller student, online or from a cache");
  add_config_options(*cmd);
  cmd->add_option("--teacher", o->teacher, "Teacher model (.gguf or HF directory)")->required();
  cmd->add_option("--teacher-adapter", o->teacher_adapter, "LoRA adapter of the teacher");
  cmd->add_option("--student", o->student, "Student: a model path, or layers:N to keep N teacher layers");
  cmd->add_option("--data", o->data, "Token store (.h5)")->required();
  cmd->add_option("-o,--out", o->out, "Run directory, or the cache file with --cache-teacher")->required();
  cmd->add_flag("--cache-teacher", o->cache_teacher, "Write the teacher's top-k log-probabilities to HDF5")->capture_default_str();
  cmd->add_option("--topk", o->topk, "Teacher probabilities kept per token")->capture_default_str();
  return [o] { (void)o; not_implemented("distill", 7); };  // `o` owns the bound option values
}

}  // namespace hone::tools
