"""Reference peer for hone's safetensors code: the `safetensors` package.

  write OUT       writes a file with known tensors and metadata
  check IN        reads a file hone wrote and prints its tensors as JSON
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def write(out):
    tensors = {
        "a.f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "b.f16": (np.arange(6, dtype=np.float32) - 2.5).astype(np.float16).reshape(2, 3),
        "c.i64": np.array([-3, 0, 1 << 40], dtype=np.int64),
        "d.scalar": np.array(1.5, dtype=np.float32),
    }
    save_file(tensors, out, metadata={"format": "pt", "source": "peer"})


def check(path):
    out = {}
    # framework="pt": numpy has no bfloat16.
    with safe_open(path, framework="pt") as f:
        out["__metadata__"] = f.metadata()
        for name in f.keys():
            t = f.get_tensor(name)
            out[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": t.double().flatten().tolist()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
