#!/usr/bin/env python3
"""`hone classify` streams its input: peak memory must not grow with the number of rows.

  .venv/bin/python scripts/bench/bench_classify.py [--sizes 10000,100000] [--batch-size 16]
      [--threads 0] [--work DIR] [--json FILE] [--hone build/hone]

Model: a tiny random-weight Llama (hidden 64, 2 layers, 4 heads (2 KV), intermediate 128, tied
head, float32; nothing comes from a hub) with SmolLM2's tokenizer and chat template (read from
the GGUF in models/ by transformers), written once by transformers as an HF directory. Speed and
memory of the loop do not depend on the weights' values.
Inputs: N made-up Banking77-like queries (short templated sentences; no real data), one JSON
object {"id", "text"} per line. A routing.json gives 10 short labels, a system message, K = 2,
temperature 1, threshold 0.55 (a random model is rarely that sure: most rows are deferred) and
exhaustive scoring (a random model's label log-likelihoods are too close together for the pruned
search to skip any of the tree).

For each N: `hone classify IN -m tiny --routing routing.json -o OUT`, measured by the parent:
peak RSS (GNU time's %M: a child of this process would count the parent's memory in its own
ru_maxrss, as Linux keeps the high-water mark across exec; the model is written by a child process
for the same reason), wall time, rows/s over the process's wall time and over hone's
own classification loop (its log line "classified N rows in S s"), rows deferred. Prints the
ratio of peak RSS at the largest N to that at the smallest (about 1.0 when rows stream).
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Short labels (one or two tokens each): scoring feeds every internal node of the labels' tree
# through the output head (49,152 tokens), which is what a tiny model spends its time on.
LABELS = sorted(["card", "cash", "fee", "pin", "refund", "top_up", "transfer", "verify", "exchange", "lost_card"])
SYSTEM = "Classify the banking query."
OPENERS = ["", "Hi, ", "Hello, ", "Please help: ", "Quick question, ", "Urgent: ", "Hey there, "]
ASKS = ["how do I", "can I", "why can't I", "what happens if I", "is it possible to", "where do I go to",
        "I need to", "I want to", "help me"]
ACTIONS = ["activate", "link", "top up", "freeze", "cancel", "replace", "verify", "change the PIN of",
           "withdraw cash with", "get a refund for", "track", "use abroad"]
OBJECTS = ["my new card", "the card you sent", "my account", "a transfer to my friend", "my virtual card",
           "the payment from yesterday", "my euro wallet", "a card that expired", "the ATM withdrawal",
           "my salary transfer"]
TAILS = ["?", " today?", " from abroad?", " in the app?", ", it says declined.", " before Friday?",
         ", it's been a week.", " without a fee?"]


def make_texts(n, seed=0):
    rnd = random.Random(seed)
    for i in range(n):
        yield (f"{rnd.choice(OPENERS)}{rnd.choice(ASKS)} {rnd.choice(ACTIONS)} {rnd.choice(OBJECTS)}"
               f"{rnd.choice(TAILS)}").capitalize()


def make_model(path, gguf):
    """The tiny random Llama with SmolLM2's tokenizer, as an HF float32 directory."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=128, max_position_embeddings=2048,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=1,
                      eos_token_id=2)
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    LlamaForCausalLM(cfg).to(torch.float32).save_pretrained(tmp)
    d, f = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(tmp)
    # transformers' GGUF reader writes a plain ByteLevel pre-tokenizer; put back SmolLM2's (as
    # bench_lora_train.py does) so that prompts tokenize as the model's own tokenizer does.
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    from tokenizer_peer import SMOLLM2_PRE_TOKENIZER
    tj = os.path.join(tmp, "tokenizer.json")
    with open(tj, encoding="utf-8") as fh:
        j = json.load(fh)
    j["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    with open(tj, "w", encoding="utf-8") as fh:
        json.dump(j, fh, ensure_ascii=False)
    os.replace(tmp, path)


def prepare(args):
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, "tiny-llama")
    if not os.path.isdir(model):
        print(f"writing the tiny model {model} ...", flush=True)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--make-model", model, "--gguf", args.gguf],
                       check=True)
    routing = os.path.join(args.work, "routing.json")
    with open(routing, "w") as f:
        json.dump({"format": "hone-routing", "version": 1, "model": "tiny", "confidence_labels": 2,
                   "scoring": "exhaustive", "temperature": 1.0, "threshold": 0.55, "system": SYSTEM,
                   "labels": LABELS}, f, indent=2)
    inputs = {}
    for n in args.sizes:
        path = os.path.join(args.work, f"queries-{n}.jsonl")
        if not os.path.exists(path):
            with open(path + ".tmp", "w") as f:
                for i, text in enumerate(make_texts(n)):
                    f.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")
            os.replace(path + ".tmp", path)
        inputs[n] = path
    return model, routing, inputs


def run_classify(args, model, routing, src, n):
    out = os.path.join(args.work, f"out-{n}.jsonl")
    log = os.path.join(args.work, f"classify-{n}.log")
    rss = os.path.join(args.work, f"classify-{n}.maxrss")
    cmd = [args.hone, "classify", src, "-m", model, "--routing", routing, "-o", out,
           "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    with open(log, "w") as f:
        t0 = time.perf_counter()
        rc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, *cmd], stdout=f, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n" + open(log).read()[-4000:])
    with open(rss) as f:
        peak_kib = int(f.read().split()[-1])
    rows = deferred = 0
    with open(out) as f:
        for line in f:
            rows += 1
            deferred += json.loads(line)["deferred"]
    assert rows == n, f"{out}: {rows} rows, expected {n}"
    m = re.search(r"classified (\d+) rows in ([0-9.]+) s", open(log).read())
    loop_s = float(m.group(2)) if m else float("nan")
    return {"rows": n, "peak_rss_mib": peak_kib / 1024, "wall_s": wall, "rows_per_s": n / wall,
            "loop_s": loop_s, "loop_rows_per_s": n / loop_s if loop_s > 0 else float("nan"),
            "deferred": deferred, "input_mib": os.path.getsize(src) / 2**20}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="rows per input, comma-separated")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=0, help="hone's CPU threads (0: all cores)")
    p.add_argument("--work", default="/tmp/hone-bench-classify")
    p.add_argument("--hone", default=os.path.join(ROOT, "build", "hone"))
    p.add_argument("--gguf", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                   help="where SmolLM2's tokenizer is read from")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--make-model", help=argparse.SUPPRESS)  # child mode: write the tiny model here
    args = p.parse_args()
    if args.make_model:
        return make_model(args.make_model, args.gguf)
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    model, routing, inputs = prepare(args)
    results = []
    print(f"{'rows':>8} {'input MiB':>9} {'peak RSS MiB':>12} {'wall s':>8} {'rows/s':>8} {'loop rows/s':>11} "
          f"{'deferred':>8}")
    for n in args.sizes:
        r = run_classify(args, model, routing, inputs[n], n)
        results.append(r)
        print(f"{n:>8} {r['input_mib']:>9.1f} {r['peak_rss_mib']:>12.1f} {r['wall_s']:>8.1f} {r['rows_per_s']:>8.0f} "
              f"{r['loop_rows_per_s']:>11.0f} {r['deferred']:>8}", flush=True)
    ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    print(f"peak RSS {args.sizes[-1]} rows / {args.sizes[0]} rows: {ratio:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch_size": args.batch_size, "threads": args.threads, "results": results,
                       "peak_rss_ratio": ratio}, f, indent=2)


if __name__ == "__main__":
    main()
