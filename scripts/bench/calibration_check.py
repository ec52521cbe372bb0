#!/usr/bin/env python3
"""The recipe's calibration against numpy: the temperature, NLL, ECE, AURC and threshold that
`hone eval --calibrate` wrote for each model of the cascade report, recomputed in float64 from the
predictions alone by tests/python/calibration_peer.py.

The report's predictions.jsonl holds the test split; the calibration split's predictions come from
one more `hone eval` on the valid split with the report's settings (--score-top, --dtype fast). Prints
each quantity side by side and the largest absolute difference.

  .venv/bin/python scripts/bench/calibration_check.py --run runs/banking77-demo
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
HONE = os.path.join(ROOT, "build", "hone")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=os.path.join(ROOT, "runs", "banking77-demo"))
    ap.add_argument("--report", default=None, help="default: RUN/eval/cascade/report.json")
    a = ap.parse_args()
    report_path = a.report or os.path.join(a.run, "eval", "cascade", "report.json")
    report = json.load(open(report_path))
    out = os.path.join(os.path.dirname(report_path), "calibration-check")
    os.makedirs(out, exist_ok=True)
    cmd = [HONE, "eval", "--data", report["data"], "--split", "valid", "--method", "score", "--dtype", "fast",
           "--score-top", str(report["models"][0]["selective"]["confidence_labels"]), "--batch-size", "16",
           "--report", os.path.join(out, "valid.json")]
    for m in report["models"]:
        cmd += ["-m", m["model"], "--adapter", m["adapter"] or "-", "--name", m["name"]]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worst = 0.0
    for m in report["models"]:
        s = m["selective"]
        target = s["target_accuracy"] or 0.0
        ref_path = os.path.join(out, f"ref-{m['name']}.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "python", "calibration_peer.py"),
                        os.path.join(os.path.dirname(report_path), "predictions.jsonl"),
                        os.path.join(out, "predictions.jsonl"), m["name"], str(target), ref_path], check=True)
        ref = json.load(open(ref_path))
        mine = {"temperature": s["temperature"], "nll": s["calibration"]["nll"],
                "nll_calibrated": s["calibration"]["nll_calibrated"], "ece": s["ece"],
                "ece_calibrated": s["ece_calibrated"], "aurc": s["aurc"], "aurc_calibrated": s["aurc_calibrated"]}
        if s["target_threshold"]:
            mine["threshold"] = s["target_threshold"]["threshold"]
            mine["threshold_coverage"] = s["target_threshold"]["coverage"]
        print(f"{m['name']}:")
        for k, v in mine.items():
            d = abs(v - ref[k])
            worst = max(worst, d)
            print(f"  {k:20s} hone {v:.10f}  numpy {ref[k]:.10f}  |diff| {d:.2e}")
    print(f"largest |difference|: {worst:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
