"""Reference peer for hone's GGUF code: the `gguf` package (llama.cpp's gguf-py).

  dequant GGUF OUT.safetensors      every tensor dequantised to float32 by gguf-py
  read GGUF                          metadata and tensor infos as JSON on stdout
  quantize IN.safetensors OUT.safetensors TYPE   float32 tensors quantised by gguf-py (raw bytes as U8)
  dequant-raw IN.safetensors OUT.safetensors     U8 tensors of raw blocks, each named by its GGML
                                                 type (Q4_K, ...), dequantised to float32 by gguf-py
"""
import json
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType, GGUFValueType
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file, save_file


def dequant(path, out):
    reader = GGUFReader(path)
    tensors = {}
    for t in reader.tensors:
        # gguf-py gives the shape ggml-order; torch order is reversed.
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        tensors[t.name] = np.ascontiguousarray(dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape))
    save_file(tensors, out)


def value_json(field):
    main = field.types[0]
    if main == GGUFValueType.ARRAY:
        sub = field.types[-1]
        items = field.contents()
        return {"type": "array", "elem": sub.name.lower(), "value": items}
    return {"type": main.name.lower(), "value": field.contents()}


def read(path):
    reader = GGUFReader(path)
    meta = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        meta[name] = value_json(field)
    tensors = []
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float64).ravel()
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape.tolist())],
            "sum": float(values.sum()),
            "first": [float(v) for v in values[:4]],
        })
    json.dump({"metadata": meta, "tensors": tensors, "alignment": reader.alignment}, sys.stdout)


def quant(inp, out, qtype):
    qt = GGMLQuantizationType[qtype]
    result = {}
    for name, arr in load_file(inp).items():
        q = quantize(arr.astype(np.float32), qt)
        result[name] = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
    save_file(result, out)


def dequant_raw(inp, out):
    result = {}
    for name, raw in load_file(inp).items():
        floats = dequantize(raw.reshape(-1), GGMLQuantizationType[name])
        result[name] = np.ascontiguousarray(floats.astype(np.float32).reshape(-1))
    save_file(result, out)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dequant":
        dequant(sys.argv[2], sys.argv[3])
    elif cmd == "read":
        read(sys.argv[2])
    elif cmd == "quantize":
        quant(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "dequant-raw":
        dequant_raw(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
