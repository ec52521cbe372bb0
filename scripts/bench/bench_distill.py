#!/usr/bin/env python3
"""Distillation on Banking77: a `layers:N` student of a LoRA-tuned SmolLM2 teacher,
trained by KD online and from the offline teacher cache, against the same student trained with
cross-entropy alone for the same steps; test accuracy and scoring latency of all three models.

  .venv/bin/python scripts/bench/bench_distill.py [--work DIR] [--train-fraction 0.4]
      [--layers 10] [--epochs 3] [--test-sample 1000] [--threads 2] [--json FILE]
      [--system TEXT] [--dtype fast|bf16|f32] [--eval-dtype fast|bf16|f32] [--temperature 1]
      [--teacher-layers 15-29] [--teacher-loraplus 4] [--teacher-epochs 1] [--freeze-embeddings]
      [--student-lora [--student-rank 64] [--student-lora-layers all] [--student-loraplus 1]]
      [--teacher-run runs/banking77-demo [--student-sample recipe|held-out]]
      [--hidden-weight W [--hidden-tokens all|targets]]

Every step is a `hone` command, printed before it runs (so each figure comes with the command
that produced it); outputs are cached in --work, so a rerun redoes only what is missing:
  1. ingest Banking77 (train.csv sampled with --train-fraction by content hash, 3% of it carved
     into valid; test.csv whole) and tokenize it packed (--pack --max-len 256);
  2. the teacher: lora-train on SmolLM2-135M-Instruct (r=16, all linear layers, 1 epoch, the demo
     recipe's settings: 2 rows per step, lr 2e-3, LoRA on layers 15-29 with LoRA+ ratio 4;
     --teacher-epochs);
  3. the teacher cache: hone cache-teacher (top-k log-probabilities at temperature T);
  4. three students cut from the teacher (layers:N, the teacher's adapter merged, all weights
     trained (but the embedding with --freeze-embeddings; with --student-lora a LoRA adapter of
     --student-rank on every linear layer of --student-lora-layers instead), same seed, --epochs
     and learning rate):
     KD from the cache, KD online, and cross-entropy only (--kd-alpha 0); with --hidden-weight W
     a fourth, "hidden": online KD plus the hidden-state loss (distill --hidden-weight W), trained
     the full epochs and compared with the CE student as the offline one is;
  5. eval of the teacher (base + adapter) and the three students on --test-sample evenly spaced test
     queries (constrained scoring, pruned search);
  6. the latency ratio, paired: --latency-rounds rounds, each one `hone eval` of the teacher and one
     of the KD student (alternating which goes first) on --latency-sample evenly spaced test
     queries; the ratio is the median over rounds of teacher p50 / student p50. On a shared
     2-core VM one model's p50 drifts by 10-20% between runs minutes apart, so the single eval of
     step 5 (teacher first, students after) gives a ratio that moves by as much; it is printed too.
With --teacher-run RUN (a finished `make demo` run directory), steps 1 to 3 are the recipe's:
the students train on RUN/tokens-student.h5 from the teacher RUN/lora and its cache
RUN/teacher-cache.h5 (so --temperature and --top-k must be the recipe's), and all are scored on
RUN/data's test split. --student-sample held-out trains the students instead on the rest of
train.csv (ingest --train-offset: the hash range the teacher's --train-fraction left out, less the
same valid carve), tokenized as the recipe does, with a teacher cache of its own: there the
teacher's distribution is what it predicts for queries it never saw, not what it has fitted.
Printed: accuracies, student/teacher accuracy ratio, KD minus CE accuracy (with its standard
error paired on the same queries: sqrt(b + c - (b - c)^2 / n) / n, b and c the queries only the
KD or only the CE student gets right), teacher/student
scoring latency ratio, and online/offline training seconds per epoch: the mean optimiser-step
time (metrics.jsonl's step_s, the first 2 steps left out) times the steps of an epoch; online KD
is timed over --online-steps steps (its student is then not evaluated). The cache's one-off
cost is printed beside it. Targets:
student >= 90% of the teacher's accuracy and above CE-only; >= 2.5x faster evaluation; offline
>= 2x faster per epoch than online.
"""
import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_paired import paired_round  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HONE = os.path.join(ROOT, "build", "hone")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def run(cmd, log=None):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.time()
    with open(log, "w") if log else open(os.devnull, "w") as f:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): see {log}")
    return r.stdout, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/hone-bench-distill")
    ap.add_argument("--banking77", default=os.path.join(ROOT, "..", "shared", "datasets", "banking77"))
    ap.add_argument("--train-fraction", type=float, default=0.4)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--epochs", type=float, default=3.0, help="the students' epochs")
    ap.add_argument("--teacher-epochs", type=float, default=1.0)
    ap.add_argument("--freeze-embeddings", action="store_true", help="the students keep the teacher's embedding")
    ap.add_argument("--student-lr", type=float, default=5e-4)
    ap.add_argument("--student-lora", action="store_true",
                    help="the students train a LoRA adapter (--student-rank, all linear layers) instead of every weight")
    ap.add_argument("--student-rank", type=int, default=64, help="with --student-lora: its rank (alpha = rank)")
    ap.add_argument("--student-lora-layers", default="all",
                    help="with --student-lora: the student's layers to adapt (distill --lora-layers, e.g. 5-9)")
    ap.add_argument("--student-loraplus", type=float, default=1.0, help="with --student-lora: --loraplus-lr-ratio")
    ap.add_argument("--teacher-layers", default="15-29", help="the teacher's lora-train --lora-layers (all: every layer)")
    ap.add_argument("--teacher-loraplus", type=float, default=4.0, help="the teacher's --loraplus-lr-ratio")
    ap.add_argument("--system", default="Classify the banking query.",
                    help="ingest --system (as the demo recipe); 'default' keeps the chat template's own")
    ap.add_argument("--eval-dtype", default="fast", help="eval --dtype (fast: bf16 where native, as the recipe; bf16 or f32)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--kd-alpha", type=float, default=0.5)
    ap.add_argument("--dtype", default="fast",
                    help="training and teacher-cache compute type (fast: bf16 where native, as the recipe; bf16 or f32)")
    ap.add_argument("--top-k", type=int, default=64)
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--online-steps", type=int, default=40,
                    help="online KD is timed over this many steps (0: the whole run, and its student is evaluated)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency-rounds", type=int, default=4, help="paired teacher/student eval rounds (0: none)")
    ap.add_argument("--latency-sample", type=int, default=320, help="test queries per latency eval")
    ap.add_argument("--teacher-run", default="", help="take data, student store, teacher and cache from this make demo run")
    ap.add_argument("--student-sample", choices=["recipe", "held-out"], default="recipe",
                    help="with --teacher-run: the recipe's student sample (RUN/tokens-student.h5), or the rest of "
                         "train.csv, which the teacher never saw, ingested here (the recipe's student sample is itself disjoint from the teacher's)")
    ap.add_argument("--hidden-weight", type=float, default=0.0,
                    help="also train a 'hidden' student: online KD plus distill --hidden-weight W (its layers pulled "
                         "towards the teacher layers they were cut from), the same epochs; compared with CE as well")
    ap.add_argument("--hidden-tokens", default="all", help="with --hidden-weight: distill --hidden-tokens")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    w = a.work
    os.makedirs(w, exist_ok=True)
    threads = ["--threads", str(a.threads)]

    data, store = os.path.join(w, "data"), os.path.join(w, "packed.h5")
    teacher, cache = os.path.join(w, "teacher"), os.path.join(w, "cache.h5")
    if a.teacher_run:
        r = a.teacher_run
        data, store = os.path.join(r, "data"), os.path.join(r, "tokens-student.h5")
        teacher, cache = os.path.join(r, "lora"), os.path.join(r, "teacher-cache.h5")
        for f in (os.path.join(data, "manifest.json"), store, os.path.join(teacher, "adapter_model.safetensors"), cache):
            if not os.path.exists(f):
                sys.exit(f"--teacher-run {r}: {f} is missing (run make demo first)")
        if a.student_sample == "held-out":
            # The part of train.csv outside the teacher's sample: ingest's second hash range
            # [fraction, 1), the same valid carve and system message; the recipe's tokenizing and a
            # teacher cache of its own.
            opts = json.load(open(os.path.join(data, "manifest.json")))["options"]
            frac = opts["train_fraction"]
            if opts.get("train_offset", 0) != 0 or frac >= 1:
                sys.exit(f"--student-sample held-out: {data} holds train range "
                         f"[{opts.get('train_offset', 0)}, +{frac}); expected [0, +f) with f < 1")
            held = os.path.join(w, "data-held")
            store, cache = os.path.join(w, "tokens-held.h5"), os.path.join(w, "cache-held.h5")
            if not os.path.exists(store):
                run([HONE, "ingest", os.path.join(a.banking77, "train.csv"), os.path.join(a.banking77, "test.csv"),
                     "-o", held, "--label-field", opts["label_field"], "--valid-from-train",
                     str(opts["valid_from_train"]), "--train-fraction", str(round(1 - frac, 9)), "--train-offset", str(frac),
                     "--overwrite"] + (["--system", opts["system"]] if opts.get("system") is not None else []),
                    os.path.join(w, "ingest-held.log"))
                run([HONE, "tokenize", held, "-m", MODEL, "-o", store, "--pack", "--max-len", "256"] + threads,
                    os.path.join(w, "tokenize-held.log"))
    elif a.student_sample != "recipe":
        sys.exit("--student-sample held-out needs --teacher-run")
    if not os.path.exists(store):
        run([HONE, "ingest", os.path.join(a.banking77, "train.csv"), os.path.join(a.banking77, "test.csv"), "-o", data,
             "--label-field", "category", "--valid-from-train", "0.03", "--train-fraction", str(a.train_fraction),
             "--overwrite"] + ([] if a.system == "default" else ["--system", a.system]), os.path.join(w, "ingest.log"))
        run([HONE, "tokenize", data, "-m", MODEL, "-o", store, "--pack", "--max-len", "256"] + threads,
            os.path.join(w, "tokenize.log"))

    if not os.path.exists(os.path.join(teacher, "adapter_model.safetensors")):
        run([HONE, "lora-train", "-m", MODEL, "--data", store, "-o", teacher, "--epochs", str(a.teacher_epochs),
             "-b", "2", "--lr", "2e-3",
             "--warmup-steps", "10", "--lora-dropout", "0", "--eval-every", "0", "--dtype", a.dtype,
             "--lora-layers", a.teacher_layers, "--loraplus-lr-ratio", str(a.teacher_loraplus),
             "--progress", "log"] + threads,
            os.path.join(w, "teacher.log"))

    cache_s = None
    if not os.path.exists(cache):
        _, cache_s = run([HONE, "cache-teacher", "--teacher", MODEL, "--teacher-adapter", teacher,
                          "--data", store, "-o", cache, "--top-k", str(a.top_k), "--temperature", str(a.temperature),
                          "--dtype", a.dtype] + threads, os.path.join(w, "cache.log"))

    common = ["--teacher", MODEL, "--teacher-adapter", teacher, "--student", f"layers:{a.layers}", "--data", store,
              "--epochs", str(a.epochs), "-b", "4", "--lr", str(a.student_lr), "--warmup-steps", "10",
              "--temperature", str(a.temperature), "--kd-alpha", str(a.kd_alpha), "--dtype", a.dtype,
              "--eval-every", "0", "--progress", "log"] + threads + (
                  ["--freeze-embeddings"] if a.freeze_embeddings else []) + (
                  ["--student-lora", "--rank", str(a.student_rank), "--alpha", str(a.student_rank),
                   "--lora-dropout", "0", "--lora-layers", a.student_lora_layers,
                   "--loraplus-lr-ratio", str(a.student_loraplus)] if a.student_lora else [])
    students = {
        "offline": ["--teacher-cache", cache],
        "online": ["--top-k", str(a.top_k)] + (["--max-steps", str(a.online_steps)] if a.online_steps else []),
        "ce": [],
    }
    if a.hidden_weight > 0:
        students["hidden"] = ["--top-k", str(a.top_k), "--hidden-weight", str(a.hidden_weight),
                              "--hidden-tokens", a.hidden_tokens]
    def student_dir(name):
        return os.path.join(w, f"student-{name}")

    def student_model(name):
        """eval's --model/--adapter of a student: its merged model, or the cut base and the adapter."""
        out = student_dir(name)
        if a.student_lora:
            return ["--model", os.path.join(out, "student-base"), "--adapter", out]
        return ["--model", os.path.join(out, "model"), "--adapter", "-"]

    runs = {}
    for name, extra in students.items():
        out = student_dir(name)
        args = common + extra
        if name == "ce":
            args = [x if x != str(a.kd_alpha) or args[i - 1] != "--kd-alpha" else "0" for i, x in enumerate(args)]
        if not os.path.exists(os.path.join(out, "run.json")):
            run([HONE, "distill"] + args + ["-o", out], os.path.join(w, f"student-{name}.log"))
        runs[name] = json.load(open(os.path.join(out, "run.json")))

    report = os.path.join(w, "eval", "report.json")
    if not os.path.exists(report):
        cmd = [HONE, "eval", "--data", data, "--sample", str(a.test_sample), "--method", "score", "--report", report,
               "--dtype", a.eval_dtype, "--batch-size", "16",
               "--model", MODEL, "--adapter", teacher, "--name", "teacher"]
        for name in students:
            if name == "online" and a.online_steps:
                continue
            cmd += student_model(name) + ["--name", f"student-{name}"]
        out, _ = run(cmd + threads, os.path.join(w, "eval.log"))
        print(out)
    rep = {m["name"]: m for m in json.load(open(report))["models"]}
    t, off, ce = rep["teacher"], rep["student-offline"], rep["student-ce"]
    on = rep.get("student-online", {})

    # Paired latency: teacher and KD student in alternating order, each alone in its own process
    # (eval_paired.py's rounds).
    lat_dir = os.path.join(w, "latency")
    os.makedirs(lat_dir, exist_ok=True)
    models = {"teacher": ["--model", MODEL, "--adapter", teacher], "student": student_model("offline")}
    flags = ["--data", data, "--sample", str(a.latency_sample), "--dtype", a.eval_dtype, "--batch-size", "16"] + threads
    pairs = [paired_round(i, models, flags, lat_dir, "latency") for i in range(a.latency_rounds)]
    ratios = sorted(r["ratio"] for r in pairs)
    paired = statistics.median(ratios) if ratios else None

    def step_seconds(name):
        """Mean optimiser-step time after 2 warm-up steps, and the steps of one epoch."""
        lines = [json.loads(l) for l in open(os.path.join(student_dir(name), "metrics.jsonl"))]
        steps = [l["step_s"] for l in lines if "step_s" in l][2:]
        per_epoch = max(l["step"] for l in lines if "epoch" in l) / max(l["epoch"] for l in lines if "epoch" in l)
        return sum(steps) / len(steps), per_epoch
    # KD against cross-entropy, paired on the same queries: the discordant pairs decide the
    # difference, and give its standard error.
    correct = {}
    for line in open(os.path.join(w, "eval", "predictions.jsonl")):
        p = json.loads(line)
        correct.setdefault(p["model"], {})[p["id"]] = bool(p["scored_correct"])
    def paired_against_ce(model):
        """Queries right only for `model`, only for the CE student, and the difference's standard error."""
        kd, ce_ok = correct[model], correct["student-ce"]
        only_kd = sum(kd[i] and not ce_ok[i] for i in kd)
        only_ce = sum(ce_ok[i] and not kd[i] for i in kd)
        n = len(kd)
        return only_kd, only_ce, math.sqrt(max(0.0, only_kd + only_ce - (only_kd - only_ce) ** 2 / n)) / n
    only_kd, only_ce, diff_se = paired_against_ce("student-offline")
    step_s, epoch_steps = {}, {}
    for name in students:
        step_s[name], epoch_steps[name] = step_seconds(name)
    res = {
        "test_queries": json.load(open(report)).get("examples", a.test_sample),
        "teacher_accuracy": t["accuracy"],
        "student_kd_offline_accuracy": off["accuracy"],
        "student_kd_online_accuracy": on.get("accuracy"),
        "student_ce_accuracy": ce["accuracy"],
        "student_over_teacher": off["accuracy"] / t["accuracy"],
        "kd_minus_ce": off["accuracy"] - ce["accuracy"],
        "kd_minus_ce_paired_se": diff_se,
        "kd_only_correct": only_kd, "ce_only_correct": only_ce,
        "teacher_latency_ms_p50": t["latency_ms_p50"],
        "student_latency_ms_p50": off["latency_ms_p50"],
        "eval_speedup_one_run": t["latency_ms_p50"] / off["latency_ms_p50"],
        "eval_speedup_paired": paired,
        "eval_speedup_rounds": [round(r, 3) for r in ratios],
        "offline_step_s": step_s["offline"],
        "online_step_s": step_s["online"],
        "ce_step_s": step_s["ce"],
        "offline_s_per_epoch": step_s["offline"] * epoch_steps["offline"],
        "online_s_per_epoch": step_s["online"] * epoch_steps["online"],
        "online_over_offline": step_s["online"] / step_s["offline"],
        "cache_seconds": cache_s,
        "params_teacher": t["params"], "params_student": off["params"],
    }
    hid = rep.get("student-hidden")
    if hid:
        h_only, ce_only_h, h_se = paired_against_ce("student-hidden")
        res.update({"student_hidden_accuracy": hid["accuracy"],
                    "hidden_over_teacher": hid["accuracy"] / t["accuracy"],
                    "hidden_minus_ce": hid["accuracy"] - ce["accuracy"], "hidden_minus_ce_paired_se": h_se,
                    "hidden_only_correct": h_only, "ce_only_correct_vs_hidden": ce_only_h,
                    "hidden_step_s": step_s["hidden"]})
    for k, v in res.items():
        print(f"{k:28s} {v}")
    goals = [("student >= 0.9 x teacher", res["student_over_teacher"] >= 0.9),
             ("KD beats CE alone", res["kd_minus_ce"] > 0),
             ("KD beats CE alone by 2 paired standard errors", res["kd_minus_ce"] > 2 * diff_se),
             ("eval >= 2.5x faster (paired rounds, else the one eval)",
              (paired if paired is not None else res["eval_speedup_one_run"]) >= 2.5),
             ("offline >= 2x faster per epoch", res["online_over_offline"] >= 2.0)]
    if hid:
        goals += [("hidden-state KD student >= 0.9 x teacher", res["hidden_over_teacher"] >= 0.9),
                  ("hidden-state KD beats CE alone by 2 paired standard errors",
                   res["hidden_minus_ce"] > 2 * res["hidden_minus_ce_paired_se"])]
    for g, ok in goals:
        print(f"{'met   ' if ok else 'MISSED'} {g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
