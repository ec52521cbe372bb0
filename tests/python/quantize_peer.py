"""Reference peer: llama.cpp's own quantiser (llama_model_quantize, through llama-cpp-python).

  quantize IN.gguf OUT_DIR FTYPE...   requantise IN as each FTYPE (the suffix of llama.cpp's
                                      LLAMA_FTYPE_MOSTLY_*: Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, ...)
                                      into OUT_DIR/FTYPE.gguf; prints each file's seconds as JSON.
                                      FTYPE-pure sets `pure` (llama-quantize --pure): every tensor
                                      gets the ftype's base type, not the mix llama.cpp picks.

The input may itself be quantised (allow_requantize), as llama-quantize --allow-requantize does.
"""
import ctypes
import json
import os
import sys
import time

import llama_cpp


def quantize(inp, out_dir, ftypes):
    llama_cpp.llama_backend_init()
    seconds = {}
    for name in ftypes:
        ftype, _, variant = name.partition("-")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype)
        params.allow_requantize = True
        params.pure = variant == "pure"
        out = os.path.join(out_dir, name + ".gguf")
        start = time.monotonic()
        rc = llama_cpp.llama_model_quantize(inp.encode(), out.encode(), ctypes.byref(params))
        if rc != 0:
            sys.exit(f"llama_model_quantize {name} failed ({rc})")
        seconds[name] = round(time.monotonic() - start, 2)
    json.dump(seconds, sys.stdout)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "quantize":
        quantize(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(f"unknown command {cmd}")
