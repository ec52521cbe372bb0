#!/usr/bin/env python3
"""The student -> teacher cascade against the teacher alone, `hone eval --cascade`, in rounds.

Each round is one `hone eval --cascade` process on the recipe's test queries (the options of
recipes/banking77/<scale>/eval-cascade.toml): it scores the test queries with each model alone,
then re-scores the student's deferred queries with the teacher, so the cascade and the teacher
alone are timed in the same process, minutes apart at most. Latency per query is scoring time
(batches of 16, per query), model loading excluded. Prints per round the cascade's accuracy
against the teacher's, the share deferred, and the mean latency per query against the teacher's,
then the median ratio over rounds.

  .venv/bin/python scripts/bench/bench_cascade.py --run runs/banking77-demo --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HONE = os.path.join(ROOT, "build", "hone")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=os.path.join(ROOT, "runs", "banking77-demo"), help="a finished recipe run")
    ap.add_argument("--model", default=MODEL, help="the recipe's base model (the teacher with its LoRA adapter)")
    ap.add_argument("--config", default=os.path.join(ROOT, "recipes", "banking77", "demo", "eval-cascade.toml"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="where the rounds' reports go (default: RUN/bench-cascade)")
    ap.add_argument("extra", nargs="*", help="more hone eval options, after --")
    a = ap.parse_args()
    out = a.out or os.path.join(a.run, "bench-cascade")
    os.makedirs(out, exist_ok=True)
    ratios = []
    for i in range(a.rounds):
        rep = os.path.join(out, f"round-{i}.json")
        cmd = [HONE, "eval", "-m", os.path.join(a.run, "student", "model"), "-m", a.model, "--adapter", "-",
               "--adapter", os.path.join(a.run, "lora"), "--name", "student", "--name", "tuned", "--data",
               os.path.join(a.run, "data"), "--config", a.config, "--report", rep] + a.extra
        with open(os.path.join(out, f"round-{i}.log"), "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        r = json.load(open(rep))
        c = r["cascade"]
        alone = {m["name"]: m for m in r["models"]}
        first, second = alone[c["first"]], alone[c["second"]]
        ratios.append(c["latency_ratio"])
        print(f"round {i}: cascade {100 * c['accuracy']:.2f}% ({second['name']} alone {100 * second['accuracy']:.2f}%, "
              f"{c['first']} alone {100 * first['accuracy']:.2f}%), deferred {100 * c['deferred']:.1f}% at threshold "
              f"{c['threshold']:.4f}; ms per query: cascade {c['latency_ms_mean']:.2f} "
              f"(p50 {c['latency_ms_p50']:.2f}, p95 {c['latency_ms_p95']:.2f}), {second['name']} "
              f"{second['latency_ms_mean']:.2f}, {first['name']} {first['latency_ms_mean']:.2f}; "
              f"cascade / {second['name']} = {c['latency_ratio']:.3f}", flush=True)
    print(f"median latency ratio over {len(ratios)} rounds: {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    sys.exit(main())
