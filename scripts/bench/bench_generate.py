#!/usr/bin/env python3
"""Forward (prefill) throughput and generation tokens/s: hone vs transformers, same model,
same CPU threads, same prompt, greedy, in one run. Prints both and the ratios.

  .venv/bin/python scripts/bench/bench_generate.py [--model M] [--threads 2] [--new-tokens 64] [--repeats 3]

hone is timed by `hone generate --warmup -v --log-format json` (its own prefill/decode timers, model
loading and one warm-up pass excluded); transformers by the same loop in Python (after one warm-up run): one forward over the prompt, then one
forward per new token with the KV cache, argmax each step, float32.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = ("The customer says the card payment was declined at the shop although the account has enough money. "
          "Explain the likely reasons, what the bank checks first, and what the customer should do next. ") * 3


def run_hone(args):
    cmd = [args.hone, "generate", "-m", args.model, "-p", PROMPT, "-n", str(args.new_tokens),
           "--ignore-eos", "--threads", str(args.threads), "--warmup", "-v", "--log-format", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    for line in out.stderr.splitlines():
        msg = json.loads(line)["msg"]
        m = re.match(r"prompt (\d+) tokens in ([\d.]+) s .*generated (\d+) tokens in ([\d.]+) s", msg)
        if m:
            return int(m[1]), float(m[2]), int(m[3]), float(m[4])
    sys.exit("hone printed no timing line:\n" + out.stderr)


def run_transformers(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(args.threads)
    d, f = os.path.dirname(os.path.abspath(args.model)), os.path.basename(args.model)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    ids = torch.tensor([tok(PROMPT, add_special_tokens=False)["input_ids"]])

    def once():
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=True)
            t1 = time.perf_counter()
            past, nxt = out.past_key_values, out.logits[0, -1].argmax().view(1, 1)
            for _ in range(args.new_tokens - 1):
                out = model(input_ids=nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[0, -1].argmax().view(1, 1)
            t2 = time.perf_counter()
        return ids.shape[1], t1 - t0, args.new_tokens, t2 - t1

    once()  # warm-up
    return [once() for _ in range(args.repeats)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--hone", default=os.path.join(ROOT, "build", "hone"), help="the hone binary to time")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    hone = [run_hone(args) for _ in range(args.repeats + 1)][1:]  # first run warms the page cache
    ref = run_transformers(args)

    def rates(runs):
        prefill = statistics.median(r[0] / r[1] for r in runs)
        decode = statistics.median(r[2] / r[3] for r in runs)
        return runs[0][0], prefill, decode

    hn, hp, hd = rates(hone)
    tn, tp, td = rates(ref)
    print(f"model {os.path.basename(args.model)}, {args.threads} threads, float32, greedy, median of {args.repeats}")
    print(f"{'':24}{'hone':>12}{'transformers':>14}{'ratio':>8}")
    print(f"{'prompt tokens':24}{hn:>12}{tn:>14}")
    print(f"{'forward (prefill) tok/s':24}{hp:>12.1f}{tp:>14.1f}{hp / tp:>8.2f}")
    print(f"{'generation tok/s':24}{hd:>12.1f}{td:>14.1f}{hd / td:>8.2f}")


if __name__ == "__main__":
    main()
