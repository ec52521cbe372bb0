// hone distill: knowledge distillation from a teacher into a smaller student, online or from a
// cache of the teacher's top-k log-probabilities (--cache-teacher writes one).
#include "distill/distill.h"
#include "train_options.h"

namespace hone::tools {

Run register_distill(CLI::App& root) {
  struct Options {
    DistillOptions d;
    TrainCliValues cli;
    std::string teacher, teacher_adapter, data, out, teacher_cache, kd_loss = "forward-kl";
    bool cache = false, overwrite = false;
  };
  auto o = std::make_shared<Options>();
  DistillOptions& d = o->d;
  CLI::App* cmd = root.add_subcommand("distill", "Distill a teacher into a smaller student, online or from a cache");
  add_config_options(*cmd);
  cmd->add_option("--teacher", o->teacher, "Teacher model (.gguf or HF directory)");
  cmd->add_option("--teacher-adapter", o->teacher_adapter, "LoRA adapter of the teacher (merged into it)");
  cmd->add_option("--student", d.student, "Student: a model path (same tokenizer), or layers:N / layers:i,j,k of the teacher");
  cmd->add_option("--data", o->data, "Token store (.h5) from hone tokenize")->required();
  cmd->add_option("-o,--out", o->out, "Run directory, or with --cache-teacher the cache file (.h5)")->required();

  const std::string kd = "Distillation";
  cmd->add_flag("--cache-teacher", o->cache, "Write the teacher's top-k log-probabilities of the train split to --out and stop")
      ->capture_default_str()->group(kd);
  cmd->add_option("--teacher-cache", o->teacher_cache, "Train from this cache (from --cache-teacher) instead of running the teacher")
      ->group(kd);
  cmd->add_option("--topk", d.topk, "Teacher tokens kept per target (0: the whole vocabulary)")->capture_default_str()->group(kd);
  cmd->add_option("--kd-loss", o->kd_loss, "forward-kl, reverse-kl or jsd")->capture_default_str()->group(kd);
  cmd->add_option("--jsd-beta", d.kd.beta, "jsd: M = beta teacher + (1 - beta) student")->capture_default_str()->group(kd);
  cmd->add_option("--temperature", d.kd.temperature, "Softmax temperature of both models (the loss is scaled by T^2)")
      ->capture_default_str()->group(kd);
  cmd->add_option("--kd-alpha", d.kd.alpha, "Weight of the distillation loss; 1 - alpha goes to the cross-entropy")
      ->capture_default_str()->group(kd);
  cmd->add_option("--hidden-weight", d.hidden_weight,
                  "Weight of the hidden-state loss: each layer of a layers: student is pulled towards the teacher "
                  "layer it was cut from (1 - cosine; online only; 0: off)")
      ->capture_default_str()->group(kd);
  cmd->add_option("--hidden-tokens", d.hidden_tokens, "Tokens the hidden-state loss runs over: all, or targets (loss-masked)")
      ->capture_default_str()->group(kd);
  cmd->add_flag("--student-lora", d.student_lora, "Train a LoRA adapter on the student instead of all its weights")
      ->capture_default_str()->group(kd);
  cmd->add_flag("--overwrite", o->overwrite, "--cache-teacher: replace an existing cache file")->group(kd);

  add_loop_options(*cmd, d.train, o->cli);
  add_lora_options(*cmd, d.train, o->cli);

  return [o, cmd] {
    if (o->cache) {
      CacheTeacherOptions c;
      c.teacher = o->teacher;
      c.teacher_adapter = o->teacher_adapter;
      c.data = o->data;
      c.out = o->out;
      c.topk = o->d.topk;
      c.temperature = o->d.kd.temperature;
      c.batch_size = o->d.train.eval_batch_size;
      c.precision = o->d.train.precision;
      c.device = o->d.train.device;
      c.threads = o->d.train.threads;
      c.overwrite = o->overwrite;
      cache_teacher(c);
      return;
    }
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

}  // namespace hone::tools
