#!/usr/bin/env python3
"""q8_0 against f32 in llama.cpp: hone exports MODEL (optionally merged with ADAPTER)
as a float32 and a q8_0 GGUF, and llama.cpp (llama-cpp-python) computes the argmax token at every
position of a fixed English text with each; prints their top-1 agreement.

  .venv/bin/python scripts/bench/q8_top1.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
      [--adapter DIR] [--hone build/hone] [--work DIR] [--text FILE] [--max-tokens 2000]
      [--embedding-f16 | --keep-f16 REGEX]

The text is data/texts/lighthouse.txt by default, the 184-token story that
ExportParity.Q8_0MatchesLlamaCppQuantiserAndAgreesWithF32 (tests/export/test_export.cpp) also
reads, tokenized by llama.cpp from the f32 file (its first --max-tokens tokens).
--embedding-f16: the q8_0 file is made instead by llama.cpp's own quantiser from hone's f32 file,
with the token embedding (SmolLM2's tied output head) kept in f16 (llama_model_quantize's
token_embedding_type).
--keep-f16 REGEX: the q8_0 file is made instead from hone's f32 file with the gguf package's Q8_0
quantiser (the same bytes as hone's and llama.cpp's), keeping the 2-D tensors whose GGUF name
matches REGEX in f16 (e.g. 'attn_' or 'ffn_down'; '.' keeps them all: an f16 file).
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def mixed_q8_0(src, out, keep):
    """Copy GGUF src to out with every 2-D tensor in Q8_0, but those whose name matches keep in f16."""
    import re

    import gguf
    from gguf.quants import quantize
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(out, arch=r.fields[gguf.Keys.General.ARCHITECTURE].contents())
    for field in r.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vt = field.types[0]
        value = 7 if field.name == gguf.Keys.General.FILE_TYPE else field.contents()  # LLAMA_FTYPE_MOSTLY_Q8_0
        w.add_key_value(field.name, value, vt, sub_type=field.types[-1] if vt == gguf.GGUFValueType.ARRAY else None)
    for t in r.tensors:
        x = np.asarray(t.data, dtype=np.float32)
        if x.ndim == 2 and not re.search(keep, t.name):
            q = quantize(x, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(t.name, x.astype(np.float16) if x.ndim == 2 else x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--adapter", default="")
    ap.add_argument("--hone", default=os.path.join(root, "build/hone"))
    ap.add_argument("--work", default="")
    ap.add_argument("--text", default=os.path.join(root, "data", "texts", "lighthouse.txt"))
    ap.add_argument("--max-tokens", type=int, default=2000)
    ap.add_argument("--embedding-f16", action="store_true",
                    help="q8_0 from llama_model_quantize with the token embedding in f16")
    ap.add_argument("--keep-f16", default=None, metavar="REGEX",
                    help="q8_0 from the gguf package's quantiser, tensors matching REGEX kept in f16")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="hone-q8-")
    os.makedirs(work, exist_ok=True)
    files = {}
    if a.embedding_f16 and a.keep_f16 is not None:
        sys.exit("--embedding-f16 and --keep-f16 are alternatives")
    mixed = a.embedding_f16 or a.keep_f16 is not None
    for dtype in ("f32",) if mixed else ("f32", "q8_0"):
        files[dtype] = os.path.join(work, f"model-{dtype}.gguf")
        cmd = [a.hone, "export", "-m", a.model, "--format", "gguf", "--dtype", dtype, "-o", files[dtype], "--overwrite"]
        if a.adapter:
            cmd[4:4] = ["--adapter", a.adapter]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    import llama_cpp
    from llama_cpp import Llama
    if a.embedding_f16:
        files["q8_0"] = os.path.join(work, "model-q8_0-embedding-f16.gguf")
        p = llama_cpp.llama_model_quantize_default_params()
        p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
        p.token_embedding_type = 1  # GGML_TYPE_F16
        if llama_cpp.llama_model_quantize(files["f32"].encode(), files["q8_0"].encode(), ctypes.byref(p)) != 0:
            sys.exit(f"llama_model_quantize failed on {files['f32']}")
    if a.keep_f16 is not None:
        files["q8_0"] = os.path.join(work, "model-q8_0-keep-f16.gguf")
        mixed_q8_0(files["f32"], files["q8_0"], a.keep_f16)
    with open(a.text, encoding="utf-8") as f:
        text = f.read().rstrip("\n")
    tops, ids = [], None
    for dtype in ("f32", "q8_0"):
        m = Llama(model_path=files[dtype], n_ctx=max(512, a.max_tokens), n_threads=2, logits_all=True, verbose=False)
        if ids is None:
            ids = m.tokenize(text.encode(), add_bos=False)[:a.max_tokens]
        m.reset()
        m.eval(ids)
        tops.append([int(np.argmax(m.scores[i])) for i in range(len(ids))])
        del m
    agree = sum(x == y for x, y in zip(*tops))
    result = {"model": a.model, "adapter": a.adapter, "text": a.text, "embedding_f16": a.embedding_f16,
              "keep_f16": a.keep_f16, "q8_0_bytes": os.path.getsize(files["q8_0"]),
              "positions": len(ids), "agree": agree,
              "agreement": agree / len(ids)}
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
