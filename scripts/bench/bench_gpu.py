#!/usr/bin/env python3
"""LoRA training on one GPU: `hone lora-train` vs Hugging Face PEFT (transformers, bf16 autocast,
SDPA), same GPU, same model, same token store, same LoRA (r=16, alpha=32, dropout 0, all linear
layers), sequences of --seq tokens with loss on every token, AdamW lr 2e-4.

  python3 scripts/bench/bench_gpu.py [--models smollm2,1b] [--seq 2048] [--batch 4] [--steps 30]
      [--warmup 5] [--tokenizer DIR] [--work DIR] [--json FILE] [--peak-tflops 989.4]
  (scripts/gpu/run.sh runs it after the GPU tests.)

Models, with random weights (throughput and memory do not depend on their values; nothing comes
from a hub), written once by transformers as HF directories in bf16 with the tokenizer of
--tokenizer (an HF directory holding SmolLM2's tokenizer.json; scripts/gpu/fetch-deps.sh stages
one), so both trainers load the same files:
  smollm2  SmolLM2-135M's shape: hidden 576, 30 layers, 9 heads (3 KV), intermediate 1536, tied head
  1b       a 1B-class Llama: hidden 2048, 16 layers, 32 heads (8 KV), intermediate 8192, untied head
  (both with SmolLM2's vocabulary of 49,152, so that one token store serves both)
Data: deterministic plain text (words of the tokenizer's vocabulary), `hone ingest --format text
--text-blocks`, `hone tokenize --pack --max-len SEQ`: full rows of SEQ tokens, loss on every token.

Measures, over the steps after --warmup: tokens/s (hone: its metrics.jsonl step times; PEFT:
perf_counter around forward + backward + clipping + fused AdamW + zero_grad, synchronised), and
peak GPU memory allocated (hone: metrics' peak_cuda_mib; PEFT: torch.cuda.max_memory_allocated);
on the CPU (--device cpu, a smoke test of this script) peak RSS instead.
Model FLOPs utilisation: tokens/s x F / peak, with F per token =
  4 N + 6 N_lora + 12 L d T
where N counts the weights of every matrix multiply (the layers' projections and the output head),
the frozen ones costing forward (2N) and the input gradients (2N) but no weight gradients,
N_lora the LoRA factors (forward, input and weight gradients), and 12 L d T the attention scores
and values over T = --seq (forward 4 L d T, backward 8 L d T; no causal discount, as PaLM counts).
peak: --peak-tflops, by default 989.4 (dense bf16 of an H100/H200 SXM) when nvidia-smi names one.
"""
import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lora_train import read_token_store, store_rows  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANK, ALPHA, LR = 16, 32, 2e-4
MODELS = {
    "smollm2": dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, tie_word_embeddings=True, rope_theta=100000.0),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, tie_word_embeddings=False, rope_theta=500000.0),
}
VOCAB = 49152
GOALS = (2.0, 0.6)  # hone/PEFT: at least 2x tokens/s, at most 0.6x peak memory


def flops_per_token(cfg, seq):
    d, L, i = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    hd = d // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * hd
    shapes = [(d, d), (d, kv), (d, kv), (d, d), (d, i), (d, i), (i, d)]  # (in, out) of q k v o gate up down
    n_mm = L * sum(a * b for a, b in shapes) + VOCAB * d
    n_lora = L * sum(RANK * (a + b) for a, b in shapes)
    return 4 * n_mm + 6 * n_lora + 12 * L * d * seq, n_mm, n_lora


# ---------------------------------------------------------------- child modes

def make_model_worker(args):
    """Writes a random-weight Llama of --make-model's shape in bf16, with the tokenizer files."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=8192, rms_norm_eps=1e-5, hidden_act="silu",
                      bos_token_id=1, eos_token_id=2, **MODELS[args.shape])
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    tmp = args.make_model + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    for f in os.listdir(args.tokenizer):
        if f.startswith("tokenizer") or f in ("special_tokens_map.json", "chat_template.jinja"):
            shutil.copy(os.path.join(args.tokenizer, f), tmp)
    os.replace(tmp, args.make_model)


def peft_worker(args):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    cuda = args.device.startswith("cuda")
    dev = torch.device(args.device)
    torch.manual_seed(0)
    rows = [r[0] for r in store_rows(read_token_store(args.data))]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, attn_implementation="sdpa").to(dev)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS,
                                             task_type="CAUSAL_LM"))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    steps, pos = [], 0
    for step in range(1, args.steps + 1):
        batch = [rows[(pos + k) % len(rows)] for k in range(args.batch)]
        pos += args.batch
        if cuda:
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        # the store's rows in its order, as hone takes them; a short last row of a document is
        # padded to the batch's longest (not counted as tokens, no loss)
        width = max(len(r) for r in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        att = torch.zeros(len(batch), width, dtype=torch.long)
        for k, r in enumerate(batch):
            ids[k, :len(r)] = torch.from_numpy(r.astype("int64"))
            att[k, :len(r)] = 1
        labels = torch.where(att.bool(), ids, torch.full_like(ids, -100))
        ids, att, labels = ids.to(dev), att.to(dev), labels.to(dev)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            out = model(input_ids=ids, attention_mask=att, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(dev)
        steps.append({"step": step, "loss": out.loss.item(), "tokens": int(att.sum()),
                      "step_s": time.perf_counter() - t0})
        print(json.dumps(steps[-1]), file=sys.stderr, flush=True)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None
    with open(args.peft_worker, "w") as f:
        json.dump({"steps": steps, "peak_mib": peak, "trainable": sum(p.numel() for p in trainable),
                   "torch": torch.__version__}, f)


# ---------------------------------------------------------------- parent

def run(cmd, log):
    """Runs cmd with output to `log`; returns its peak RSS in MiB; exits on failure."""
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        with open(log) as f:
            sys.exit(f"failed: {shlex.join(cmd)}\n--- {log} ---\n{f.read()[-4000:]}")
    return usage.ru_maxrss / 1024


def throughput(steps, warmup):
    kept = [s for s in steps if s["step"] > warmup]
    if not kept:
        sys.exit(f"--steps must be larger than --warmup ({warmup})")
    return sum(s["tokens"] for s in kept) / sum(s["step_s"] for s in kept)


def word_salad(tokenizer_dir, n_words, seed=0):
    """Deterministic text: words of the tokenizer's vocabulary (alphabetic tokens after a space)."""
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    words = sorted(t[1:] for t in vocab if t.startswith("\u0120") and t[1:].isalpha() and t[1:].isascii())
    rng = random.Random(seed)
    paras = []
    while n_words > 0:
        k = min(n_words, rng.randint(80, 200))
        paras.append(" ".join(rng.choice(words) for _ in range(k)).capitalize() + ".")
        n_words -= k
    return "\n\n".join(paras) + "\n"


def default_peak_tflops():
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    name = names.strip().splitlines()[0] if names.strip() else ""
    return (989.4 if ("H100" in name or "H200" in name) else None), name


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="smollm2,1b")
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda")
    p.add_argument("--layers", type=int, default=0, help="override the layer count (a quick smoke test)")
    p.add_argument("--tokenizer", default=os.path.join(ROOT, ".gpu-deps", "tokenizer"))
    p.add_argument("--work", default="/tmp/hone-bench-gpu")
    p.add_argument("--hone", default=os.path.join(ROOT, "build", "hone"))
    p.add_argument("--json", default="")
    p.add_argument("--peak-tflops", type=float, default=0.0)
    p.add_argument("--base-dtype", default="bf16", choices=["bf16", "f32"],
                   help="hone's frozen base (PEFT's is bf16 in this benchmark)")
    # child modes
    p.add_argument("--make-model", default="")
    p.add_argument("--shape", default="")
    p.add_argument("--peft-worker", default="")
    p.add_argument("--model", default="")
    p.add_argument("--data", default="")
    args = p.parse_args()
    if args.layers:
        for m in MODELS.values():
            m["num_hidden_layers"] = args.layers
    if args.make_model:
        return make_model_worker(args)
    if args.peft_worker:
        return peft_worker(args)

    if not os.path.isfile(os.path.join(args.tokenizer, "tokenizer.json")):
        sys.exit(f"no tokenizer.json in {args.tokenizer}: pass --tokenizer DIR (an HF directory with SmolLM2's "
                 "tokenizer; scripts/gpu/fetch-deps.sh stages one in .gpu-deps/tokenizer)")
    os.makedirs(args.work, exist_ok=True)
    peak_tflops, gpu_name = (args.peak_tflops, "") if args.peak_tflops else default_peak_tflops()
    cuda = args.device.startswith("cuda")
    results = {"device": args.device, "gpu": gpu_name, "seq": args.seq, "batch": args.batch, "steps": args.steps,
               "warmup": args.warmup, "peak_tflops": peak_tflops, "models": {}}
    store = None
    for name in args.models.split(","):
        cfg = dict(MODELS[name])
        mdir = os.path.join(args.work, f"model-{name}-L{cfg['num_hidden_layers']}")
        if not os.path.isdir(mdir):
            print(f"writing a random {name} model to {mdir} ...", flush=True)
            run([sys.executable, os.path.abspath(__file__), "--make-model", mdir, "--shape", name, "--tokenizer",
                 args.tokenizer] + (["--layers", str(args.layers)] if args.layers else []),
                os.path.join(args.work, f"make-{name}.log"))
        if store is None:  # one store for every model: the same tokenizer
            store = os.path.join(args.work, f"text-{args.seq}.h5")
            rows_needed = args.steps * args.batch + 8
            if not os.path.exists(store):
                txt = os.path.join(args.work, "train.txt")
                with open(txt, "w") as f:
                    f.write(word_salad(args.tokenizer, int(rows_needed * args.seq / 1.6)))
                ing = os.path.join(args.work, "ingested")
                shutil.rmtree(ing, ignore_errors=True)
                log = os.path.join(args.work, "prepare.log")
                run([args.hone, "ingest", txt, "--format", "text", "--text-blocks", "-o", ing, "-q"], log)
                run([args.hone, "tokenize", ing, "-o", store, "-m", mdir, "--max-len", str(args.seq), "--truncation",
                     "right", "--pack", "-q"], log)
        print(f"{name}:", flush=True)
        out = os.path.join(args.work, "runs", f"{name}-hone")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = [args.hone, "lora-train", "-m", mdir, "--data", store, "-o", out, "--max-steps", str(args.steps),
               "-b", str(args.batch), "--rank", str(RANK), "--alpha", str(ALPHA), "--lora-dropout", "0",
               "--targets", "all-linear", "--lr", str(LR), "--warmup-steps", "0", "--device", args.device,
               "--dtype", "bf16", "--base-dtype", args.base_dtype, "--progress", "none", "--seed", "0",
               "--no-shuffle"]
        print(f"  {shlex.join(cmd)}", flush=True)
        rss = run(cmd, out + ".log")
        with open(os.path.join(out, "metrics.jsonl")) as f:
            hsteps = [json.loads(line) for line in f if '"step"' in line and '"step_s"' in line]
        hone_mem = max(s.get("peak_cuda_mib", 0) for s in hsteps) if cuda else rss
        pj = os.path.join(args.work, "runs", f"{name}-peft.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--peft-worker", pj, "--model", mdir, "--data", store,
               "--steps", str(args.steps), "--batch", str(args.batch), "--device", args.device]
        print(f"  {shlex.join(cmd)}", flush=True)
        prss = run(cmd, os.path.join(args.work, "runs", f"{name}-peft.log"))
        with open(pj) as f:
            peft = json.load(f)
        peft_mem = peft["peak_mib"] if cuda else prss
        flops, n_mm, n_lora = flops_per_token(cfg, args.seq)
        r = {"hone_tokens_per_s": throughput(hsteps, args.warmup), "peft_tokens_per_s": throughput(peft["steps"], args.warmup),
             "hone_peak_mib": hone_mem, "peft_peak_mib": peft_mem, "memory_kind": "GPU allocated" if cuda else "RSS",
             "flops_per_token": flops, "matmul_weights": n_mm, "lora_weights": n_lora,
             "hone_first_loss": hsteps[0]["loss"], "peft_first_loss": peft["steps"][0]["loss"]}
        r["tokens_per_s_ratio"] = r["hone_tokens_per_s"] / r["peft_tokens_per_s"]
        r["memory_ratio"] = r["hone_peak_mib"] / r["peft_peak_mib"]
        if peak_tflops:
            r["hone_mfu"] = r["hone_tokens_per_s"] * flops / (peak_tflops * 1e12)
            r["peft_mfu"] = r["peft_tokens_per_s"] * flops / (peak_tflops * 1e12)
        results["models"][name] = r

    print(f"\nLoRA r={RANK} all linear, bf16, seq {args.seq}, batch {args.batch}, {args.steps} steps "
          f"(first {args.warmup} left out), {args.device} {gpu_name}")
    print(f"{'model':8} {'trainer':6} {'tokens/s':>10} {'peak MiB':>9} {'MFU':>6}  {'tok/s x':>7} {'mem x':>6}  target")
    for name, r in results["models"].items():
        ok_t, ok_m = r["tokens_per_s_ratio"] >= GOALS[0], r["memory_ratio"] <= GOALS[1]
        for who in ("hone", "peft"):
            mfu = f"{100 * r[who + '_mfu']:5.1f}%" if peak_tflops else "   n/a"
            extra = (f"  {r['tokens_per_s_ratio']:6.2f}x {r['memory_ratio']:5.2f}x  "
                     f">={GOALS[0]}x {'ok' if ok_t else 'MISS'}, <={GOALS[1]}x {'ok' if ok_m else 'MISS'}") if who == "hone" else ""
            print(f"{name:8} {who:6} {r[who + '_tokens_per_s']:10.1f} {r[who + '_peak_mib']:9.0f} {mfu}{extra}")
        print(f"{'':8} first loss: hone {r['hone_first_loss']:.4f}, PEFT {r['peft_first_loss']:.4f}; "
              f"F = {r['flops_per_token'] / 1e9:.2f} GFLOP/token")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
