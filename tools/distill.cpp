// hone distill: knowledge distillation from a teacher into a smaller student, online or from a
// cache of the teacher's top-k log-probabilities (hone cache-teacher writes one).
#include "distill/distill.h"
#include "options.h"
#include "train_options.h"

namespace hone::tools {

namespace {

// --layer-choice and --influence-sample: distill and cache-teacher choose a student's layers alike.
void add_layer_choice_options(CLI::App& cmd, LayerChoice& choice, std::int64_t& sample, const std::string& group = "") {
  CLI::Option* c = add_choice(cmd, "--layer-choice", choice, {LayerChoice::kEven, LayerChoice::kInfluence},
                              "layers:N: even (evenly spaced, first and last kept) or influence (the N layers that "
                              "change the residual stream most, 1 - cos of their input and output)");
  CLI::Option* s = cmd.add_option("--influence-sample", sample,
                                  "--layer-choice influence: train sequences the teacher is run on to measure it")
                       ->capture_default_str();
  if (!group.empty()) c->group(group), s->group(group);
}

CLI::Option* add_hidden_tokens_option(CLI::App& cmd, HiddenTokens& tokens) {
  return add_choice(cmd, "--hidden-tokens", tokens, {HiddenTokens::kAll, HiddenTokens::kTargets},
                    "Tokens of the hidden-state loss: all, or targets (the loss-masked positions)");
}

}  // namespace

Run register_distill(CLI::App& root) {
  struct Options {
    DistillOptions d;
    TrainCliValues cli;
    std::string teacher, teacher_adapter, data, out, teacher_cache, kd_loss = "forward-kl";
  };
  auto o = std::make_shared<Options>();
  DistillOptions& d = o->d;
  CLI::App* cmd = root.add_subcommand("distill", "Distill a teacher into a smaller student, online or from a cache");
  add_config_options(*cmd);
  cmd->add_option("--teacher", o->teacher, "Teacher model (.gguf or HF directory)");
  cmd->add_option("--teacher-adapter", o->teacher_adapter, "LoRA adapter of the teacher (merged into it)");
  cmd->add_option("--student", d.student, "Student: a model path (same tokenizer), or layers:N / layers:i,j,k of the teacher");
  add_layer_choice_options(*cmd, d.layer_choice, d.influence_sample);
  cmd->add_option("--data", o->data, "Token store (.h5) from hone tokenize")->required();
  cmd->add_option("-o,--out", o->out, "Run directory")->required();

  const std::string kd = "Distillation";
  cmd->add_option("--teacher-cache", o->teacher_cache, "Train from this cache (from hone cache-teacher) instead of running the teacher")
      ->group(kd);
  add_top_k_option(*cmd, d.topk, "online, the teacher tokens kept per target (0: the whole vocabulary)")->group(kd);
  cmd->add_option("--kd-loss", o->kd_loss, "forward-kl, reverse-kl or jsd")->capture_default_str()->group(kd);
  cmd->add_option("--jsd-beta", d.kd.beta, "jsd: M = beta teacher + (1 - beta) student")->capture_default_str()->group(kd);
  cmd->add_option("--temperature", d.kd.temperature, "Softmax temperature of both models (the loss is scaled by T^2)")
      ->capture_default_str()->group(kd);
  cmd->add_option("--kd-alpha", d.kd.alpha, "Weight of the distillation loss; 1 - alpha goes to the cross-entropy")
      ->capture_default_str()->group(kd);
  cmd->add_option("--hidden-weight", d.hidden_weight,
                  "Weight of the hidden-state loss: each layer of a layers: student is pulled towards the teacher "
                  "layer it was cut from (1 - cosine; online, or from a cache that holds those layers; 0: off)")
      ->capture_default_str()->group(kd);
  add_hidden_tokens_option(*cmd, d.hidden_tokens)->group(kd);
  cmd->add_flag("--student-lora", d.student_lora, "Train a LoRA adapter on the student instead of all its weights")
      ->capture_default_str()->group(kd);

  add_loop_options(*cmd, d.train, o->cli);
  add_lora_options(*cmd, d.train, o->cli);

  return [o, cmd] {
    DistillOptions d = o->d;
    d.teacher = o->teacher;
    d.teacher_adapter = o->teacher_adapter;
    d.teacher_cache = o->teacher_cache;
    d.kd.divergence = parse_divergence(o->kd_loss);
    d.train.data = o->data;
    d.train.out = o->out;
    o->cli.apply(d.train);
    d.train.effective_config = cmd->config_to_str(/*default_also=*/true, /*write_description=*/false);
    distill(d);
  };
}

Run register_cache_teacher(CLI::App& root) {
  auto c = std::make_shared<CacheTeacherOptions>();
  CLI::App* cmd = root.add_subcommand(
      "cache-teacher", "Write a teacher's top-k log-probabilities at every target of a token store's train split");
  cmd->footer("The cache file feeds hone distill --teacher-cache: offline distillation without the teacher in memory.");
  add_config_options(*cmd);
  cmd->add_option("--teacher", c->teacher, "Teacher model (.gguf or HF directory)")->required();
  cmd->add_option("--teacher-adapter", c->teacher_adapter, "LoRA adapter of the teacher (merged into it)");
  cmd->add_option("--data", c->data, "Token store (.h5) from hone tokenize")->required();
  cmd->add_option("-o,--out", c->out, "The cache file (.h5)")->required();
  add_top_k_option(*cmd, c->topk, "the teacher tokens kept per target (0: the whole vocabulary)");
  cmd->add_option("--temperature", c->temperature, "Softmax temperature of the cached log-probabilities")
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", c->batch_size, "Sequences per teacher pass")->capture_default_str();
  add_device_option(*cmd, c->device);
  add_dtype_option(*cmd, c->dtype, "the teacher's weights and compute (f32 or bf16 once resolved)");
  cmd->add_option("--threads", c->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--overwrite", c->overwrite, "Replace an existing cache file");
  const std::string hidden = "Hidden states (for distill --hidden-weight)";
  cmd->add_option("--student", c->student,
                  "Also cache the outputs of the teacher layers that this layers:N / layers:i,j,k student keeps")
      ->group(hidden);
  add_layer_choice_options(*cmd, c->layer_choice, c->influence_sample, hidden);
  add_hidden_tokens_option(*cmd, c->hidden_tokens)->group(hidden);
  add_choice(*cmd, "--hidden-dtype", c->hidden_dtype, {ComputeDtype::kBF16, ComputeDtype::kF16, ComputeDtype::kF32},
             "How the hidden states are stored (bf16 keeps a bf16 teacher's exactly)")
      ->group(hidden);
  return [c] { cache_teacher(*c); };
}

}  // namespace hone::tools
