#!/usr/bin/env python3
"""Tokenize throughput: `hone tokenize` vs Hugging Face `tokenizers` batch encoding of the same
text with the same tokenizer (SmolLM2's byte-level BPE, exported from the GGUF to tokenizer.json
with SmolLM2's published pre-tokenizer), on the same number of threads, in one run.

  .venv/bin/python scripts/bench/bench_tokenize.py [--mb 100] [--threads 1 2]

The text is Banking77 queries (../shared/datasets/banking77, or BANKING77_DIR) joined into
documents of about 2 KB, made unique with a counter, as `text` records of an ingested directory.
hone's time is the whole `hone tokenize` run (reading the JSONL, tokenizing, writing the
compressed HDF5 store) minus nothing; tokenizers' time is `encode_batch` alone, on strings
already in memory: the comparison favours the peer.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def make_docs(mb):
    b77 = os.environ.get("BANKING77_DIR", os.path.join(ROOT, "..", "shared", "datasets", "banking77"))
    with open(os.path.join(b77, "train.csv"), newline="") as f:
        queries = [row["text"] for row in csv.DictReader(f)]
    docs, size, i = [], 0, 0
    while size < mb * 1_000_000:
        parts = []
        while sum(len(p) + 1 for p in parts) < 2000:
            parts.append(f"{queries[i % len(queries)]} (case {i})")
            i += 1
        doc = "\n".join(parts)
        docs.append(doc)
        size += len(doc.encode())
    return docs, size


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=float, default=100)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    docs, size = make_docs(args.mb)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        with open(os.path.join(data, "train.jsonl"), "w") as f:
            for i, d in enumerate(docs):
                f.write(json.dumps({"id": f"{i:016x}", "format": "text", "text": d}, ensure_ascii=False) + "\n")
        hf_dir = os.path.join(tmp, "hf")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "python", "tokenizer_peer.py"), "export-hf", MODEL,
                        hf_dir], check=True, capture_output=True)
        print(f"{len(docs)} documents, {size / 1e6:.1f} MB of text")
        print(f"{'threads':>8}{'hone tok/s':>14}{'tokenizers tok/s':>18}{'ratio':>8}")
        for t in args.threads:
            out = os.path.join(tmp, f"s{t}.h5")
            t0 = time.perf_counter()
            subprocess.run([os.path.join(ROOT, "build", "hone"), "tokenize", data, "-o", out, "-m", MODEL,
                            "--template", "none", "--max-len", "100000", "--threads", str(t), "-q"], check=True,
                           capture_output=True)
            hone_s = time.perf_counter() - t0
            info = subprocess.run([os.path.join(ROOT, "build", "hone"), "info", out], check=True, capture_output=True,
                                  text=True).stdout
            hone_tokens = int(info.split("train:")[1].split("tokens")[0].split(",")[-1])
            code = (f"import time,json,sys\nfrom tokenizers import Tokenizer\n"
                    f"tok=Tokenizer.from_file({os.path.join(hf_dir, 'tokenizer.json')!r})\n"
                    f"docs=[json.loads(l)['text'] for l in open({os.path.join(data, 'train.jsonl')!r})]\n"
                    f"t0=time.perf_counter(); enc=tok.encode_batch(docs, add_special_tokens=False); t1=time.perf_counter()\n"
                    f"print(sum(len(e.ids)+1 for e in enc), t1-t0)\n")
            env = dict(os.environ, RAYON_NUM_THREADS=str(t), TOKENIZERS_PARALLELISM="true")
            n, hf_s = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                     env=env).stdout.split()
            hf_rate, hone_rate = int(n) / float(hf_s), hone_tokens / hone_s
            print(f"{t:>8}{hone_rate:>14,.0f}{hf_rate:>18,.0f}{hone_rate / hf_rate:>8.2f}"
                  f"   (tokens: hone {hone_tokens}, tokenizers {n} incl. eos)")


if __name__ == "__main__":
    main()
