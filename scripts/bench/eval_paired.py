#!/usr/bin/env python3
"""Paired scoring-latency rounds: teacher against student, `hone eval --method score` only.

Each round runs one `hone eval` per model (each alone in its own process, alternating which goes
first) on the same evenly spaced test queries, for every scoring setting asked for; the ratio of
a round is teacher p50 / student p50 and the script prints each round's ratio, the median over
rounds, and the tree nodes each model fed per query. On a shared 2-core VM one model's p50 drifts
by 10-20% between runs minutes apart: pairing the runs and taking the median is what makes the
ratio comparable across settings.

  .venv/bin/python scripts/bench/eval_paired.py --teacher-run runs/banking77-demo --rounds 6 \
      --setting top1="--score-top 1" --setting top3="--score-top 3"
"""
import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HONE = os.path.join(ROOT, "build", "hone")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def paired_round(i, models, flags, out_dir, tag="round"):
    """Round i: one `hone eval --method score` per model of `models` ({"teacher": [...], "student":
    [...]}, their --model/--adapter flags), each alone in its own process, the teacher first in
    even rounds and the student first in odd ones, with `flags` (data, sample, dtype, batch size,
    threads, scoring settings) common to both. Reports and logs go to out_dir; a report already
    there is reused, so an interrupted benchmark resumes. Returns the two p50s, their ratio
    (teacher / student), and each model's tree nodes fed per query and accuracy."""
    p50, fed, acc = {}, {}, {}
    for m in (("teacher", "student") if i % 2 == 0 else ("student", "teacher")):
        rep = os.path.join(out_dir, f"{tag}-{i}-{m}.json")
        log = os.path.join(out_dir, f"{tag}-{i}-{m}.log")
        if not os.path.exists(rep):
            cmd = [HONE, "eval", "--method", "score", "--name", m, "--report", rep,
                   "--predictions", os.path.join(out_dir, f"{tag}-{i}-{m}.jsonl")] + models[m] + flags
            if i == 0:
                print("$ " + shlex.join(cmd), flush=True)
            with open(log, "w") as f:
                p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=f, text=True)
            if p.returncode != 0:  # the log's tail, since out_dir may be a temporary directory
                sys.exit(f"eval_paired.py: hone eval failed ({p.returncode}); {log} ends:\n{open(log).read()[-3000:]}")
        r = json.load(open(rep))["models"][0]
        p50[m], acc[m] = r["latency_ms_p50"], r["accuracy"]
        found = re.search(r"fed ([0-9.]+) tree nodes per example", open(log).read()) if os.path.exists(log) else None
        fed[m] = float(found.group(1)) if found else None
    ratio = p50["teacher"] / p50["student"]
    print(f"round {i} {tag}: teacher {p50['teacher']:.1f} ms, student {p50['student']:.1f} ms, {ratio:.2f}x",
         flush=True)
    return {"teacher_ms": p50["teacher"], "student_ms": p50["student"], "ratio": ratio, "fed": fed, "accuracy": acc}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-run", default=os.path.join(ROOT, "runs", "banking77-demo"),
                    help="a recipe run directory: its lora/ (the teacher's adapter), student/model and data/")
    ap.add_argument("--teacher-adapter", help="default: TEACHER_RUN/lora")
    ap.add_argument("--student", help="the student's model directory (default: TEACHER_RUN/student/model)")
    ap.add_argument("--data", help="ingested data directory (default: TEACHER_RUN/data)")
    ap.add_argument("--sample", type=int, default=320, help="evenly spaced test queries per eval")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--dtype", default="fast")
    ap.add_argument("--batch-size", type=int, default=16, help="unless a --setting gives its own")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--setting", action="append", default=[],
                    help="NAME=\"EXTRA HONE EVAL FLAGS\" (repeatable; default: one setting with none)")
    ap.add_argument("--json", help="write the rounds and medians here")
    a = ap.parse_args()
    run_dir = a.teacher_run
    adapter = a.teacher_adapter or os.path.join(run_dir, "lora")
    student = a.student or os.path.join(run_dir, "student", "model")
    data = a.data or os.path.join(run_dir, "data")
    for p in (HONE, MODEL, adapter, student, data):
        if not os.path.exists(p):
            sys.exit(f"eval_paired.py: {p} does not exist (build hone, run the recipe, or pass the paths)")
    settings = []
    for s in a.setting or ["default="]:
        name, sep, flags = s.partition("=")
        if not sep or not name:
            sys.exit(f"eval_paired.py: --setting {s!r}: expected NAME=\"FLAGS\"")
        settings.append((name, shlex.split(flags)))
    models = {"teacher": ["--model", MODEL, "--adapter", adapter], "student": ["--model", student, "--adapter", "-"]}
    threads = ["--threads", str(a.threads)] if a.threads else []
    results = {name: {"rounds": [], "fed": {}, "accuracy": {}} for name, _ in settings}
    common = ["--data", data, "--sample", str(a.sample), "--dtype", a.dtype] + threads
    with tempfile.TemporaryDirectory(prefix="hone-eval-paired-") as tmp:
        for i in range(a.rounds):
            for name, flags in settings:
                # A setting's own --batch-size replaces --batch-size.
                own = any(f == "--batch-size" or f.startswith("--batch-size=") for f in flags)
                batch = [] if own else ["--batch-size", str(a.batch_size)]
                r = paired_round(i, models, common + batch + flags, tmp, name)
                results[name]["rounds"].append({k: r[k] for k in ("teacher_ms", "student_ms", "ratio")})
                results[name]["fed"], results[name]["accuracy"] = r["fed"], r["accuracy"]
    print()
    for name, _ in settings:
        r = results[name]
        ratios = [x["ratio"] for x in r["rounds"]]
        r["median_ratio"] = statistics.median(ratios)
        r["median_teacher_ms"] = statistics.median(x["teacher_ms"] for x in r["rounds"])
        r["median_student_ms"] = statistics.median(x["student_ms"] for x in r["rounds"])
        print(f"{name}: median ratio {r['median_ratio']:.2f}x over {len(ratios)} rounds "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}); p50 medians teacher {r['median_teacher_ms']:.1f} ms, "
              f"student {r['median_student_ms']:.1f} ms; nodes fed per query teacher {r['fed']['teacher']}, "
              f"student {r['fed']['student']}; accuracy teacher {r['accuracy']['teacher']:.4f}, "
              f"student {r['accuracy']['student']:.4f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
