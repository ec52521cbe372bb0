#!/usr/bin/env python3
"""The demo recipe's student, three questions, on a finished `make demo` run (--teacher-run):

  .venv/bin/python scripts/bench/bench_student.py --teacher-run runs/banking77-demo \
      [--work /tmp/hone-bench-student] [--parts cache,speed,choice] [--steps 30] [--test-sample 1000]

  cache:  `hone cache-teacher` with and without the hidden states of the recipe's student (its
          cache-teacher.toml, then the same without --student): wall time and file size of each.
  speed:  distill time per step, offline (from the hidden-state cache) against online (the teacher
          run beside the student), with and without the hidden-state term (--hidden-weight 0 /
          the recipe's): --steps optimiser steps each with the recipe's distill.toml, the mean
          step_s of metrics.jsonl after 2 warm-up steps. Target: offline <= 0.57x online.
  choice: the recipe's student trained as the recipe trains it (distill.toml, its cache) with
          --layer-choice even and influence (each with a cache of its own layers), both scored
          on the same --test-sample evenly spaced test queries; the accuracy difference with its
          standard error paired on the same queries: sqrt(b + c - (b - c)^2 / n) / n, b and c the
          queries only one of the two gets right.

Every step is a `hone` command, printed before it runs; outputs are kept in --work, so a rerun
redoes only what is missing. Prints one JSON object (also written to --json).
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HONE = os.path.join(ROOT, "build", "hone")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
CONF = os.path.join(ROOT, "recipes", "banking77", "demo")


def run(cmd, log):
    """Runs a hone command (printed first), its stderr to `log`; returns the wall seconds."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=f)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): see {log}")
    return time.time() - t0


def toml_value(path, key):
    """A top-level `key=value` of a recipe TOML file (string quotes removed), or None."""
    for line in open(path):
        k, _, v = line.partition("=")
        if k.strip() == key and not line.lstrip().startswith("#"):
            return v.strip().strip('"')
    return None


def mean_step_s(run_dir):
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    steps = [l["step_s"] for l in lines if "step_s" in l][2:]
    return sum(steps) / len(steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-run", default=os.path.join(ROOT, "runs", "banking77-demo"))
    ap.add_argument("--work", default="/tmp/hone-bench-student")
    ap.add_argument("--parts", default="cache,speed,choice")
    ap.add_argument("--steps", type=int, default=30, help="speed: optimiser steps per timed run")
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    run_dir, w = os.path.abspath(a.teacher_run), os.path.abspath(a.work)
    os.makedirs(w, exist_ok=True)
    tokens = os.path.join(run_dir, "tokens-student.h5")
    teacher = ["--teacher", MODEL, "--teacher-adapter", os.path.join(run_dir, "lora")]
    cache_conf, distill_conf = os.path.join(CONF, "cache-teacher.toml"), os.path.join(CONF, "distill.toml")
    res = {"teacher_run": run_dir, "machine": os.uname().nodename}

    def cache(name, extra):
        path = os.path.join(w, name + ".h5")
        if not os.path.exists(path):
            s = run([HONE, "cache-teacher", *teacher, "--data", tokens, "-o", path, "--config", cache_conf, *extra],
                    os.path.join(w, name + ".log"))
            res[f"cache_{name}_s"] = round(s, 1)
        res[f"cache_{name}_mb"] = round(os.path.getsize(path) / 1e6, 1)
        return path

    choice = toml_value(cache_conf, "layer-choice") or "even"
    hidden_cache = cache(f"hidden-{choice}", [])
    if "cache" in parts:
        cache("logits", ["--student", ""])

    def distill(name, extra, steps=None):
        out = os.path.join(w, name)
        if not os.path.exists(os.path.join(out, "run.json")):
            cmd = [HONE, "distill", *teacher, "--data", tokens, "-o", out, "--config", distill_conf]
            if steps:
                cmd += ["--max-steps", str(steps)]
            run(cmd + extra, os.path.join(w, name + ".log"))
        return out

    if "speed" in parts:
        hw = toml_value(distill_conf, "hidden-weight") or "3"
        for mode, cache_args in (("offline", ["--teacher-cache", hidden_cache]), ("online", [])):
            for term, weight in (("hidden", hw), ("logits", "0")):
                out = distill(f"speed-{mode}-{term}", cache_args + ["--hidden-weight", weight], a.steps)
                res[f"step_s_{mode}_{term}"] = round(mean_step_s(out), 4)
        for term in ("hidden", "logits"):
            res[f"offline_over_online_{term}"] = round(res[f"step_s_offline_{term}"] / res[f"step_s_online_{term}"], 3)

    if "choice" in parts:
        correct = {}
        for c in ("even", "influence"):
            cache_path = cache(f"hidden-{c}", ["--layer-choice", c])
            out = distill(f"student-{c}", ["--teacher-cache", cache_path, "--layer-choice", c])
            rep = os.path.join(w, f"eval-{c}", "report.json")
            if not os.path.exists(rep):
                run([HONE, "eval", "-m", os.path.join(out, "model"), "--name", c, "--data", os.path.join(run_dir, "data"),
                     "--split", "test", "--sample", str(a.test_sample), "--method", "score", "--dtype", "fast",
                     "--batch-size", "16", "--report", rep], os.path.join(w, f"eval-{c}.log"))
            report = json.load(open(rep))
            res[f"accuracy_{c}"] = report["models"][0]["accuracy"]
            res[f"layers_{c}"] = json.load(open(os.path.join(out, "run.json")))["student_layers"]["layers"]
            correct[c] = {}
            for line in open(os.path.join(os.path.dirname(rep), "predictions.jsonl")):
                p = json.loads(line)
                correct[c][p["id"]] = bool(p["scored_correct"])
        ev, inf = correct["even"], correct["influence"]
        b = sum(inf[i] and not ev[i] for i in inf)
        c = sum(ev[i] and not inf[i] for i in inf)
        n = len(inf)
        res.update({"only_influence": b, "only_even": c, "queries": n,
                    "influence_minus_even": (b - c) / n,
                    "paired_se": math.sqrt(max(0.0, b + c - (b - c) ** 2 / n)) / n})
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
