#!/usr/bin/env python3
"""LoRA training throughput (tokens/s) and peak resident memory: `hone lora-train` vs Hugging Face
PEFT, same machine, same threads, same model (SmolLM2-135M, float32, CPU), same token stores, same
LoRA (r=16, alpha=32, dropout 0, q,k,v,o,gate,up,down), max length 128, batch 8, AdamW lr 2e-4.

  .venv/bin/python scripts/bench/bench_lora_train.py [--steps 12] [--threads N] [--examples 2000]
      [--only banking77|text|all] [--warmup 2] [--json FILE] [--extra-hone-args="--checkpoint-activations"]

Preparation (cached in --work): the GGUF model is converted once to an HF float32 directory with
transformers, and both trainers load that directory. The data is made with hone's own CLI:
  banking77  the first --examples rows of Banking77's train.csv (`hone ingest --format
             classification`), tokenized with SmolLM2's chat template, loss on the answer only:
             an unpacked store (one example per row) and a packed one (--pack);
  text       Banking77 queries joined into paragraphs of plain text (`--format text
             --text-blocks`), cut to 128 tokens (--truncation right), loss on every token.
Each trainer runs in a child process of its own; its peak RSS is the ru_maxrss that os.wait4
returns for it (this launcher imports neither torch nor transformers, so it adds nothing).
tokens/s counts real (non-padding) tokens: sum(tokens) / sum(step seconds) over the steps after
--warmup. hone's step time is its own (metrics.jsonl, the whole optimiser step); PEFT's is
perf_counter around batch building + forward + backward + gradient clipping (max norm 1, hone's
default) + AdamW step + zero_grad. PEFT takes the unpacked rows in batches of 8, padded to the
longest row of the batch (the standard HF recipe); hone runs both the packed and the unpacked store.
A check compares the untrained loss of both on the first 8 rows of each store (one extra 1-step
hone run with --no-shuffle; --no-check-loss skips it). The script warns when other processes
used the CPU during a timed run (from /proc/stat): the timings are then not reliable.
"""
import argparse
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GOALS = {"banking77": (1.5, 0.7), "text": (1.2, None)}  # hone/PEFT: min tokens/s ratio, max memory ratio
MAX_LEN, BATCH, RANK, ALPHA, LR = 128, 8, 16, 32, 2e-4


# ---------------------------------------------------------------- token store (HDF5) reading

def read_token_store(path, split="train"):
    """The four datasets of one split as numpy arrays: h5py when installed, else libhdf5 via ctypes."""
    import numpy as np
    names = {"input_ids": np.int32, "loss_mask": np.uint8, "example_offsets": np.int64, "sequence_offsets": np.int64}
    try:
        import h5py
        with h5py.File(path, "r") as f:
            return {n: f[f"/{split}/{n}"][()].astype(t) for n, t in names.items()}
    except ImportError:
        pass
    import ctypes
    import ctypes.util
    lib = None
    for cand in ("libhdf5_serial.so.103", "libhdf5.so.103", "libhdf5_serial.so", "libhdf5.so",
                 ctypes.util.find_library("hdf5_serial"), ctypes.util.find_library("hdf5")):
        if not cand:
            continue
        try:
            lib = ctypes.CDLL(cand)
            break
        except OSError:
            continue
    if lib is None:
        sys.exit("reading the token store needs h5py or the HDF5 C library (libhdf5)")
    hid = ctypes.c_int64  # hid_t since HDF5 1.10
    lib.H5open()
    lib.H5Fopen.restype = hid
    lib.H5Fopen.argtypes = [ctypes.c_char_p, ctypes.c_uint, hid]
    lib.H5Dopen2.restype = hid
    lib.H5Dopen2.argtypes = [hid, ctypes.c_char_p, hid]
    lib.H5Dget_space.restype = hid
    lib.H5Dget_space.argtypes = [hid]
    lib.H5Sget_simple_extent_npoints.restype = ctypes.c_int64
    lib.H5Sget_simple_extent_npoints.argtypes = [hid]
    lib.H5Dread.restype = ctypes.c_int
    lib.H5Dread.argtypes = [hid, hid, hid, hid, hid, ctypes.c_void_p]
    for fn in ("H5Dclose", "H5Sclose", "H5Fclose"):
        getattr(lib, fn).argtypes = [hid]
    mem = {np.int32: "H5T_NATIVE_INT32_g", np.uint8: "H5T_NATIVE_UINT8_g", np.int64: "H5T_NATIVE_INT64_g"}
    f = lib.H5Fopen(os.fsencode(path), 0, 0)  # H5F_ACC_RDONLY, H5P_DEFAULT
    if f < 0:
        sys.exit(f"cannot open {path}")
    out = {}
    try:
        for n, t in names.items():
            d = lib.H5Dopen2(f, f"/{split}/{n}".encode(), 0)
            if d < 0:
                sys.exit(f"{path}: no dataset /{split}/{n}")
            s = lib.H5Dget_space(d)
            arr = np.empty(lib.H5Sget_simple_extent_npoints(s), dtype=t)
            lib.H5Sclose(s)
            if arr.size and lib.H5Dread(d, hid.in_dll(lib, mem[t]).value, 0, 0, 0, arr.ctypes.data) < 0:  # H5S_ALL
                sys.exit(f"{path}: cannot read /{split}/{n}")
            lib.H5Dclose(d)
            out[n] = arr
    finally:
        lib.H5Fclose(f)
    return out


def store_rows(store):
    """Each sequence (row) of the store as (ids, loss_mask, number of examples in it)."""
    ids, mask, ex, seq = store["input_ids"], store["loss_mask"], store["example_offsets"], store["sequence_offsets"]
    rows = []
    for j in range(len(seq) - 1):
        a, b = ex[seq[j]], ex[seq[j + 1]]
        rows.append((ids[a:b], mask[a:b], int(seq[j + 1] - seq[j])))
    return rows


# ---------------------------------------------------------------- child modes

def convert_worker(args):
    """GGUF -> HF float32 directory (model, config and tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, f = os.path.dirname(os.path.abspath(args.model)), os.path.basename(args.model)
    tmp = args.convert_worker + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    # The weights are dequantized float32 already; transformers only refuses to save a model it
    # loaded through its GGUF "quantizer".
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(tmp)
    # transformers' GGUF reader writes a plain ByteLevel pre-tokenizer; put back SmolLM2's (as
    # tests/python/tokenizer_peer.py export-hf does) so the store's tokens are the model's own.
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    from tokenizer_peer import SMOLLM2_PRE_TOKENIZER
    path = os.path.join(tmp, "tokenizer.json")
    with open(path, encoding="utf-8") as fh:
        j = json.load(fh)
    j["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(j, fh, ensure_ascii=False)
    os.replace(tmp, args.convert_worker)


def peak_rss_self_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peft_worker(args):
    """Trains --steps steps with PEFT on --data and writes per-step results to --peft-worker (JSON)."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = store_rows(read_token_store(args.data))
    model = AutoModelForCausalLM.from_pretrained(args.hf, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS,
                                             task_type="CAUSAL_LM"))

    def make_batch(batch):
        width = max(len(r[0]) for r in batch)
        input_ids = torch.zeros(len(batch), width, dtype=torch.long)
        attention = torch.zeros(len(batch), width, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for i, (ids, mask, _) in enumerate(batch):
            t = torch.from_numpy(ids.astype(np.int64))
            input_ids[i, :len(ids)] = t
            attention[i, :len(ids)] = 1
            lab = torch.where(torch.from_numpy(mask.astype(bool)), t, torch.full_like(t, -100))
            lab[0] = -100  # nothing predicts an example's first token
            labels[i, :len(ids)] = lab
        return input_ids, attention, labels, len(batch) * width

    # Sanity check: the untrained model's (LoRA B = 0) loss on the store's first 8 rows, in order.
    model.eval()
    with torch.no_grad():
        input_ids, attention, labels, _ = make_batch(rows[:BATCH])
        check_loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss.item()
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rng = np.random.RandomState(0)
    order, pos, steps = rng.permutation(len(rows)), 0, []
    for step in range(1, args.steps + 1):
        if pos + BATCH > len(order):  # next epoch
            order, pos = rng.permutation(len(rows)), 0
        batch = [rows[i] for i in order[pos:pos + BATCH]]
        pos += BATCH
        t0 = time.perf_counter()
        input_ids, attention, labels, padded = make_batch(batch)
        out = model(input_ids=input_ids, attention_mask=attention, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        steps.append({"step": step, "loss": out.loss.item(), "tokens": int(attention.sum()),
                      "padded_tokens": padded, "loss_tokens": int((labels[:, 1:] != -100).sum()),
                      "step_s": dt})
        print(json.dumps(steps[-1]), file=sys.stderr, flush=True)
    result = {"steps": steps, "peak_rss_mib_self": peak_rss_self_mib(), "rows": len(rows), "check_loss": check_loss,
              "multi_example_rows": sum(1 for r in rows if r[2] > 1),
              "trainable_parameters": sum(p.numel() for p in trainable), "torch": torch.__version__}
    with open(args.peft_worker, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------- launcher

def busy_cpu_s():
    """CPU seconds all cores have spent busy since boot (/proc/stat: user..steal less idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def run(cmd, log, env=None, stats=None):
    """Runs cmd with stdout+stderr to `log`; returns its peak RSS in MiB (os.wait4's ru_maxrss).
    `stats` (a dict) gets the wall time and the CPU seconds the rest of the machine used meanwhile."""
    with open(log, "w") as f:
        t0, busy0 = time.perf_counter(), busy_cpu_s()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if stats is not None:
            stats["wall_s"] = time.perf_counter() - t0
            stats["other_cpu_s"] = max(0.0, busy_cpu_s() - busy0 - usage.ru_utime - usage.ru_stime)
    if p.returncode != 0:
        with open(log) as f:
            tail = f.read()[-4000:]
        sys.exit(f"failed ({p.returncode}): {shlex.join(cmd)}\n--- {log} ---\n{tail}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def hone_cmd(args, *rest):
    return [args.hone, *rest]


def prepare(args):
    os.makedirs(args.work, exist_ok=True)
    hf = os.path.join(args.work, "hf")
    if not os.path.isdir(hf):
        print(f"converting {args.model} to an HF float32 directory {hf} ...", flush=True)
        run([sys.executable, os.path.abspath(__file__), "--convert-worker", hf, "--model", args.model],
            os.path.join(args.work, "convert.log"))
    stores = {}
    if args.only in ("banking77", "all"):
        base = os.path.join(args.work, f"b77-n{args.examples}")
        src, ing = os.path.join(base, "src"), os.path.join(base, "ingested")
        unpacked, packed = os.path.join(base, "b77.h5"), os.path.join(base, "b77p.h5")
        if not (os.path.exists(unpacked) and os.path.exists(packed)):
            shutil.rmtree(base, ignore_errors=True)
            os.makedirs(src)
            with open(os.path.join(args.banking77, "train.csv"), newline="") as f:
                reader = csv.DictReader(f)
                rows = [r for _, r in zip(range(args.examples), reader)]
            # named train.csv: hone ingest keeps it whole as the train split (no valid split, no evaluation)
            with open(os.path.join(src, "train.csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["text", "category"])
                w.writeheader()
                w.writerows({"text": r["text"], "category": r["category"]} for r in rows)
            log = os.path.join(base, "prepare.log")
            for cmd in (["ingest", os.path.join(src, "train.csv"), "--format", "classification", "--label-field",
                         "category", "-o", ing, "-q"],
                        ["tokenize", ing, "-o", unpacked, "-m", hf, "--max-len", str(MAX_LEN), "--truncation", "left",
                         "-q"],
                        ["tokenize", ing, "-o", packed, "-m", hf, "--max-len", str(MAX_LEN), "--truncation", "left",
                         "--pack", "-q"]):
                run(hone_cmd(args, *cmd), log)
        stores["banking77"] = {"unpacked": unpacked, "packed": packed}
    if args.only in ("text", "all"):
        base = os.path.join(args.work, "text")
        ing, store = os.path.join(base, "ingested"), os.path.join(base, "text.h5")
        if not os.path.exists(store):
            shutil.rmtree(base, ignore_errors=True)
            os.makedirs(base)
            with open(os.path.join(args.banking77, "train.csv"), newline="") as f:
                queries = [r["text"].strip() for r in csv.DictReader(f)]
            # Paragraphs of ~1,000 characters (~220 tokens), cut to 128 tokens by the tokenizer, so
            # every row of the packed store is one whole 128-token document with loss on every token.
            paras, i = [], 0
            while i < len(queries):
                parts = []
                while i < len(queries) and sum(len(p) + 1 for p in parts) < 1000:
                    parts.append(queries[i])
                    i += 1
                paras.append(f"Customer note {len(paras)}. " + " ".join(parts))
            txt = os.path.join(base, "train.txt")  # train.*: all of it is the train split
            with open(txt, "w") as f:
                f.write("\n\n".join(paras) + "\n")
            log = os.path.join(base, "prepare.log")
            for cmd in (["ingest", txt, "--format", "text", "--text-blocks", "-o", ing, "-q"],
                        ["tokenize", ing, "-o", store, "-m", hf, "--max-len", str(MAX_LEN), "--truncation", "right",
                         "--pack", "-q"]):
                run(hone_cmd(args, *cmd), log)
        stores["text"] = {"packed": store}
    for kinds in stores.values():
        for path in kinds.values():
            info = subprocess.run(hone_cmd(args, "info", path), capture_output=True, text=True)
            if args.verbose:
                print(f"--- hone info {path}\n{info.stdout}{info.stderr}")
    return hf, stores


def throughput(steps, warmup):
    kept = [s for s in steps if s["step"] > warmup]
    if not kept:
        sys.exit(f"--steps must be larger than --warmup ({warmup})")
    return sum(s["tokens"] for s in kept) / sum(s["step_s"] for s in kept), kept


def child_env(args):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    return env


def run_hone(args, hf, store, name):
    out = os.path.join(args.work, "runs", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = hone_cmd(args, "lora-train", "-m", hf, "--data", store, "-o", out, "--max-steps", str(args.steps),
                   "-b", str(BATCH), "--rank", str(RANK), "--alpha", str(ALPHA), "--lora-dropout", "0",
                   "--targets", "all-linear", "--lr", str(LR), "--warmup-steps", "0", "--threads", str(args.threads),
                   "--progress", "none", "--seed", "0", *shlex.split(args.extra_hone_args))
    print(f"  {shlex.join(cmd)}", flush=True)
    stats = {}
    rss = run(cmd, out + ".log", child_env(args), stats)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        steps = [s for s in map(json.loads, f) if "step_s" in s]
    tps, kept = throughput(steps, args.warmup)
    return {"trainer": name.split("-", 1)[1], "steps": len(steps), "tokens_per_s": tps, "peak_rss_mib": rss,
            "self_reported_peak_rss_mib": max(s.get("peak_rss_mib", 0) for s in steps),
            "first_loss": steps[0]["loss"], "last_loss": steps[-1]["loss"],
            "mean_step_s": sum(s["step_s"] for s in kept) / len(kept),
            "tokens_per_step": sum(s["tokens"] for s in kept) / len(kept), "cmd": shlex.join(cmd), **stats}


def hone_check_loss(args, hf, store):
    """hone's untrained loss on the store's first 8 rows: step 1 of a --no-shuffle run."""
    out = os.path.join(args.work, "runs", "check-hone")
    shutil.rmtree(out, ignore_errors=True)
    run(hone_cmd(args, "lora-train", "-m", hf, "--data", store, "-o", out, "--max-steps", "1", "-b", str(BATCH),
                 "--rank", str(RANK), "--alpha", str(ALPHA), "--lora-dropout", "0", "--no-shuffle",
                 "--threads", str(args.threads), "--progress", "none"), out + ".log", child_env(args))
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return json.loads(f.readline())["loss"]


def run_peft(args, hf, store, name):
    out = os.path.join(args.work, "runs", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--peft-worker", out + ".json", "--hf", hf, "--data", store,
           "--steps", str(args.steps), "--threads", str(args.threads)]
    print(f"  {shlex.join(cmd)}", flush=True)
    stats = {}
    rss = run(cmd, out + ".log", child_env(args), stats)
    with open(out + ".json") as f:
        res = json.load(f)
    steps = res["steps"]
    tps, kept = throughput(steps, args.warmup)
    pad = sum(s["padded_tokens"] for s in kept) / sum(s["tokens"] for s in kept)
    return {"trainer": "PEFT", "steps": len(steps), "tokens_per_s": tps, "peak_rss_mib": rss,
            "self_reported_peak_rss_mib": res["peak_rss_mib_self"], "first_loss": steps[0]["loss"],
            "last_loss": steps[-1]["loss"], "mean_step_s": sum(s["step_s"] for s in kept) / len(kept),
            "tokens_per_step": sum(s["tokens"] for s in kept) / len(kept), "padded_per_real": pad,
            "multi_example_rows": res["multi_example_rows"], "rows": res["rows"], "check_loss": res["check_loss"],
            "cmd": shlex.join(cmd), **stats}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2, help="steps left out of the tokens/s")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--examples", type=int, default=2000, help="Banking77 rows used (the first N of train.csv)")
    p.add_argument("--only", choices=["banking77", "text", "all"], default="all")
    p.add_argument("--work", default="/tmp/hone-bench-lora")
    p.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--hone", default=os.path.join(ROOT, "build", "hone"))
    p.add_argument("--banking77", default=os.path.join(ROOT, "..", "shared", "datasets", "banking77"))
    p.add_argument("--extra-hone-args", default="",
                   help='appended to each hone lora-train command; write it with "=": '
                        '--extra-hone-args="--checkpoint-activations"')
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--no-check-loss", dest="check_loss", action="store_false",
                   help="skip the untrained-loss comparison on the first rows (one extra 1-step hone run)")
    p.add_argument("-v", "--verbose", action="store_true", help="print `hone info` of each store")
    # child modes
    p.add_argument("--convert-worker", help=argparse.SUPPRESS)
    p.add_argument("--peft-worker", help=argparse.SUPPRESS)
    p.add_argument("--hf", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.convert_worker:
        return convert_worker(args)
    if args.peft_worker:
        return peft_worker(args)
    args.work, args.hone = os.path.abspath(args.work), os.path.abspath(args.hone)

    hf, stores = prepare(args)
    results, checks = {}, {}
    for ds, paths in stores.items():
        print(f"{ds}:", flush=True)
        if ds == "banking77":
            rows = [run_hone(args, hf, paths["packed"], "banking77-hone (packed)"),
                    run_hone(args, hf, paths["unpacked"], "banking77-hone (unpacked)"),
                    run_peft(args, hf, paths["unpacked"], "banking77-peft")]
        else:
            rows = [run_hone(args, hf, paths["packed"], "text-hone"), run_peft(args, hf, paths["packed"], "text-peft")]
        results[ds] = rows
        if args.check_loss:
            store = paths.get("unpacked", paths["packed"])
            checks[ds] = {"store": store, "hone": hone_check_loss(args, hf, store), "PEFT": rows[-1]["check_loss"]}

    print()
    print(f"SmolLM2-135M float32 on CPU, {args.threads} threads, LoRA r={RANK} alpha={ALPHA} all linear, "
          f"batch {BATCH}, max length {MAX_LEN}, {args.steps} steps, tokens/s over steps "
          f"{args.warmup + 1}..{args.steps}"
          + (f", hone extra args: {args.extra_hone_args}" if args.extra_hone_args else ""))
    print("tokens/s counts real tokens only (no padding) on both sides; peak RSS is the child's ru_maxrss")
    hdr = f"{'dataset':11}{'trainer':18}{'steps':>6}{'tok/step':>10}{'tokens/s':>10}{'RSS MiB':>9}" \
          f"{'tok/s x':>9}{'mem x':>7}{'loss@1':>8}  target (hone/PEFT)"
    print(hdr)
    print("-" * (len(hdr) + 10))
    for ds, rows in results.items():
        peft = rows[-1]
        goal_tps, goal_mem = GOALS[ds]
        for r in rows:
            is_hone = r is not peft
            tr = r["tokens_per_s"] / peft["tokens_per_s"] if is_hone else None
            mr = r["peak_rss_mib"] / peft["peak_rss_mib"] if is_hone else None
            r["tokens_per_s_ratio"], r["memory_ratio"] = tr, mr
            target = ""
            if is_hone and (ds != "banking77" or r["trainer"] == "hone (packed)"):
                ok_t = tr >= goal_tps
                target = f">={goal_tps}x {'ok' if ok_t else 'MISS'}"
                r["meets_tokens_per_s_target"] = ok_t
                if goal_mem is not None:
                    ok_m = mr <= goal_mem
                    target += f", <={goal_mem}x {'ok' if ok_m else 'MISS'}"
                    r["meets_memory_target"] = ok_m
            print(f"{ds:11}{r['trainer']:18}{r['steps']:>6}{r['tokens_per_step']:>10.0f}{r['tokens_per_s']:>10.1f}"
                  f"{r['peak_rss_mib']:>9.0f}{(f'{tr:.2f}' if tr else ''):>9}{(f'{mr:.2f}' if mr else ''):>7}"
                  f"{r['first_loss']:>8.3f}  {target:28}".rstrip())
    print()
    if "banking77" in results:
        peft = results["banking77"][-1]
        print(f"banking77: hone (packed) runs the packed store (several examples per 128-token row, attention kept "
              f"inside each example); hone (unpacked) and PEFT one example per row, PEFT padded to the longest row of "
              f"each batch ({peft['padded_per_real']:.2f} padded tokens per real one). The packed rows hold more "
              f"examples per step, so the first losses are of different batches.")
    if "text" in results:
        peft = results["text"][-1]
        print(f"text: every row of the store is 128 tokens with loss on every token; PEFT takes each packed row as one "
              f"sequence ({peft['multi_example_rows']} of {peft['rows']} rows hold more than one document).")
    for ds, c in checks.items():
        print(f"loss check, untrained model on the first {BATCH} rows of {os.path.basename(c['store'])} in store "
              f"order: hone {c['hone']:.5f}, PEFT {c['PEFT']:.5f} (difference {abs(c['hone'] - c['PEFT']):.1e})")
    busy = [(f"{ds} {r['trainer']}", r["other_cpu_s"] / r["wall_s"]) for ds, rows in results.items() for r in rows]
    if any(b > 0.1 for _, b in busy):
        print("WARNING: other processes used the CPU during the runs (cores busy on average besides the trainer: "
              + ", ".join(f"{n} {b:.2f}" for n, b in busy) + "); the tokens/s are not reliable")
    print("peak RSS as the processes report it themselves (VmHWM / hone's peak_rss_mib): "
          + ", ".join(f"{ds} {r['trainer']} {r['self_reported_peak_rss_mib']:.0f}" for ds, rows in results.items()
                      for r in rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "steps": args.steps, "warmup": args.warmup, "examples": args.examples,
                       "extra_hone_args": args.extra_hone_args, "loss_check": checks, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
