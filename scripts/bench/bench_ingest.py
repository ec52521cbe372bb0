#!/usr/bin/env python3
"""Throughput and peak memory of `hone ingest` on a ~200 MB JSONL file and a ~200 MB CSV file
built from Banking77 rows repeated with a counter (so that no two rows are duplicates). No
network; no peer tool exists for ingest, so only hone's figures are printed.

  python3 scripts/bench/bench_ingest.py [--hone build/hone] [--mb 200] [--repeats 3] [--workdir /tmp/hone-bench-ingest]

MB/s is input bytes over wall time of the whole command (reading, validating, hashing, writing
the splits and manifest.json), best of --repeats. Peak RSS is the child's ru_maxrss from
os.wait4 (the per-child form of resource.getrusage(RUSAGE_CHILDREN); /usr/bin/time -v is not
installed). The baseline RSS of `hone ingest --help` (the shared libraries hone loads) is
printed too: ingest's own memory is the difference.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BANKING77 = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "banking77", "train.csv")


def build_inputs(workdir, megabytes):
    with open(BANKING77, newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    target = megabytes * 1_000_000
    paths = {"jsonl": os.path.join(workdir, "bench.jsonl"), "csv": os.path.join(workdir, "bench.csv")}
    with open(paths["jsonl"], "w", encoding="utf-8") as fj, open(paths["csv"], "w", newline="", encoding="utf-8") as fc:
        w = csv.writer(fc)
        w.writerow(["text", "category"])
        written_j = written_c = 0
        i = 0
        while written_j < target or written_c < target:
            text, label = rows[i % len(rows)]
            text = f"{text} #{i}"
            if written_j < target:
                line = json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
                fj.write(line)
                written_j += len(line.encode())
            if written_c < target:
                w.writerow([text, label])
                written_c += len(text) + len(label) + 4
            i += 1
    return paths


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hone", default=os.path.join(ROOT, "build", "hone"))
    p.add_argument("--mb", type=int, default=200, help="size of each input in MB (1e6 bytes)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", default="/tmp/hone-bench-ingest")
    args = p.parse_args()
    if not os.path.exists(BANKING77):
        sys.exit(f"Banking77 not found at {BANKING77}")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    try:
        paths = build_inputs(args.workdir, args.mb)
        # The binary links LibTorch for other commands: its resident size before reading any data.
        _, base_kb, _ = run_measured([args.hone, "ingest", "--help"])
        print(f"baseline RSS of `hone ingest --help`: {base_kb / 1024:.1f} MiB")
        for kind, path in paths.items():
            size = os.path.getsize(path)
            best, peak_kb = None, 0
            for _ in range(args.repeats):
                out_dir = os.path.join(args.workdir, "out-" + kind)
                cmd = [args.hone, "ingest", path, "-o", out_dir, "--overwrite", "-q"]
                if kind == "csv":
                    cmd += ["--label-field", "category"]
                seconds, peak, summary = run_measured(cmd)
                best = seconds if best is None else min(best, seconds)
                peak_kb = max(peak_kb, peak)
            print(f"{kind:5s} {size / 1e6:7.1f} MB  {best:6.2f} s  {size / 1e6 / best:7.1f} MB/s  "
                  f"peak RSS {peak_kb / 1024:6.1f} MiB   ({summary.splitlines()[1].strip()})")
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


def run_measured(cmd):
    """Wall seconds, peak RSS (KiB, Linux ru_maxrss) and stdout of one run of `cmd`."""
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/tmp/hone-bench-ingest.out",
                                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open("/tmp/hone-bench-ingest.out") as f:
        out = f.read()
    os.remove("/tmp/hone-bench-ingest.out")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss, out


if __name__ == "__main__":
    main()
