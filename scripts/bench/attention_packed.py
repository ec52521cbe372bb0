#!/usr/bin/env python3
"""Attention over packed rows on the CPU: what a per-document (variable-length) path would save.

hone packs several examples into each training row and attends within each example through a
block-diagonal causal mask passed to scaled_dot_product_attention. This times one layer's
attention, forward and backward, in bf16 at SmolLM2-135M's shapes (9 query heads, 3 key/value
heads, head dim 64) and the Banking77 recipe's batches (4 rows of 256 tokens, six examples of
about 42 tokens each), five ways:

  masked        SDPA with the block-diagonal causal mask (what hone runs)
  per-document  one causal SDPA call per example (exact, no mask)
  causal only   one causal SDPA call over the whole row: WRONG (attends across examples), a
                lower bound for any masked kernel of this size
  math          matmul, masked softmax in float32, matmul (hone's reference attention)
  sdpa math     SDPA forced onto its math backend

  .venv/bin/python scripts/bench/attention_packed.py [--threads 2] [--iters 30]
"""
import argparse
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--row-len", type=int, default=256)
    ap.add_argument("--doc-len", type=int, default=42)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    B, T, nh, nkv, hd = a.rows, a.row_len, 9, 3, 64
    lens = [a.doc_len] * (T // a.doc_len)
    lens[-1] += T - sum(lens)
    doc = torch.cat([torch.full((n,), i) for i, n in enumerate(lens)])
    mask = (torch.ones(T, T, dtype=torch.bool).tril() & (doc[:, None] == doc[None, :]))[None, None].expand(B, 1, T, T)

    def masked(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)

    def per_document(q, k, v):
        outs, s = [], 0
        for n in lens:
            outs.append(F.scaled_dot_product_attention(q[:, :, s:s + n], k[:, :, s:s + n], v[:, :, s:s + n],
                                                       is_causal=True, enable_gqa=True))
            s += n
        return torch.cat(outs, 2)

    def causal_only(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    def math(q, k, v):
        kr, vr = k.repeat_interleave(nh // nkv, 1), v.repeat_interleave(nh // nkv, 1)
        scores = (q @ kr.transpose(-1, -2)) * hd ** -0.5
        return torch.softmax(scores.masked_fill(~mask, float("-inf")).float(), -1).to(q.dtype) @ vr

    def sdpa_math(q, k, v):
        with sdpa_kernel(SDPBackend.MATH):
            return masked(q, k, v)

    q = torch.randn(B, nh, T, hd, dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(B, nkv, T, hd, dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(B, nkv, T, hd, dtype=torch.bfloat16, requires_grad=True)
    g = torch.randn(B, nh, T, hd, dtype=torch.bfloat16)
    ref = masked(q, k, v).float()
    print(f"{B} rows of {T} tokens, documents of {lens}, bf16, {a.threads} threads")
    for name, f in (("masked", masked), ("per-document", per_document), ("causal only (wrong)", causal_only),
                    ("math", math), ("sdpa math", sdpa_math)):
        diff = (f(q, k, v).float() - ref).abs().max().item()
        for _ in range(2):  # the first pass warms up
            t = time.perf_counter()
            for _ in range(a.iters):
                q.grad = k.grad = v.grad = None
                f(q, k, v).backward(g)
            ms = (time.perf_counter() - t) / a.iters * 1e3
        print(f"{name:22s} {ms:7.2f} ms per layer, forward and backward; max |diff| to masked {diff:.3g}")


if __name__ == "__main__":
    main()
