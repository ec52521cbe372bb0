"""Reference peers for `hone export`: HF PEFT, transformers and llama.cpp (llama-cpp-python) load
what hone wrote.

  adapter BASE.gguf OUT_DIR [B_SCALE]
      a PEFT LoRA adapter (r=8, alpha=16, rsLoRA off, all seven projections, random A, B scaled
      by B_SCALE, default 0.5) for the base that transformers loads from the GGUF, saved with
      save_pretrained.
  peft-logits BASE.gguf ADAPTER_DIR IDS.json OUT.safetensors
      PeftModel.from_pretrained(base, ADAPTER_DIR); exits 1 if loading the adapter leaves a LoRA
      key missing or finds an unexpected one; writes logits.<i> [T, vocab] per prompt.
  tokenize HF_DIR TEXTS.json OUT.json
      AutoTokenizer.from_pretrained(HF_DIR)(text)["input_ids"] per text, plus the chat template
      rendered for each text as a user turn ("chat.<i>" ids, add_generation_prompt) when the
      tokenizer has a chat template.
  llama-greedy MODEL.gguf LORA.gguf|- IDS.json STEPS OUT.json [plain]
      llama.cpp's greedy continuation (argmax of the logits, no stop) of each prompt (token ids).
  llama-logits MODEL.gguf IDS.json OUT.safetensors [plain]
      llama.cpp's logits at every position of each prompt: logits.<i> [T, vocab] (float32).
  "plain": without llama.cpp's extra CPU buffer types (AMX, repacked weights; llama-cli
  --no-repack). On a CPU with AMX, this llama-cpp-python build's AMX kernels crash on quantised
  models (q8_0, and SmolLM2's own Q4_1 file); the plain kernels compute the same types.
  llama-tokenize MODEL.gguf TEXTS.json OUT.json
      llama.cpp's ids for each text (BOS as the model adds it, special tokens parsed), and the
      GGUF's chat template as llama.cpp reads it ("chat_template").
  llama-quantize F32.gguf OUT.gguf OTHER.gguf
      quantises F32.gguf to q8_0 with llama.cpp's own quantiser (llama_model_quantize) and prints
      how many tensors of OTHER.gguf have the same type and bytes ("identical tensors: n/m").
  llama-top1 A.gguf B.gguf IDS.json OUT.json [plain]
      the argmax token of A and of B at every position of one token sequence, and their agreement.
"""
import json
import os
import sys

import numpy as np


def load_gguf_model(path):
    import torch
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)),
                                                gguf_file=os.path.basename(path), dtype=torch.float32)


def adapter(base, out, b_scale="0.5"):
    import torch
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(3)
    m = load_gguf_model(base)
    cfg = LoraConfig(r=8, lora_alpha=16, init_lora_weights=False, task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(m, cfg)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.mul_(float(b_scale))
    pm.save_pretrained(out)


def peft_logits(base, adapter_dir, ids_path, out):
    import torch
    from peft import PeftModel
    from peft.utils import load_peft_weights, set_peft_model_state_dict
    from safetensors.torch import save_file
    torch.set_grad_enabled(False)
    pm = PeftModel.from_pretrained(load_gguf_model(base), adapter_dir).eval()
    # Load the weights once more to see what PEFT matched: every LoRA key of the model must be
    # filled and every key of the file used.
    res = set_peft_model_state_dict(pm, load_peft_weights(adapter_dir))
    missing = [k for k in res.missing_keys if "lora_" in k]
    if missing or res.unexpected_keys:
        sys.exit(f"PEFT: missing LoRA keys {missing[:5]} ({len(missing)}), unexpected keys "
                 f"{list(res.unexpected_keys)[:5]} ({len(res.unexpected_keys)})")
    result = {}
    for i, ids in enumerate(json.load(open(ids_path))):
        result[f"logits.{i}"] = pm(input_ids=torch.tensor([ids])).logits[0].float().contiguous()
    save_file(result, out)


def tokenize(hf_dir, texts_path, out):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(hf_dir)
    texts = json.load(open(texts_path))
    result = {f"text.{i}": tok(t)["input_ids"] for i, t in enumerate(texts)}
    for i, t in enumerate(texts if tok.chat_template else []):
        result[f"chat.{i}"] = list(tok.apply_chat_template([{"role": "user", "content": t}], tokenize=True,
                                                           add_generation_prompt=True, return_dict=False))
    json.dump(result, open(out, "w"))


def llama(model, lora=None, plain=False):
    import llama_cpp.llama_cpp as lib
    from llama_cpp import Llama
    kw = dict(model_path=model, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    if lora:
        kw["lora_path"] = lora
    if not plain:
        return Llama(**kw)
    # Llama() takes its model parameters from llama_model_default_params and has no argument for
    # use_extra_bufts, so the defaults are replaced while it loads.
    defaults = lib.llama_model_default_params

    def without_extra_buffers():
        p = defaults()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = without_extra_buffers
    try:
        return Llama(**kw)
    finally:
        lib.llama_model_default_params = defaults


def llama_greedy(model, lora, ids_path, steps, out, plain=""):
    m = llama(model, None if lora == "-" else lora, plain == "plain")
    result = []
    for ids in json.load(open(ids_path)):
        m.reset()
        m.eval(ids)
        got = []
        for _ in range(steps):
            nxt = int(np.argmax(m.scores[m.n_tokens - 1]))
            got.append(nxt)
            m.eval([nxt])
        result.append(got)
    json.dump(result, open(out, "w"))


def llama_logits(model, ids_path, out, plain=""):
    import torch
    from safetensors.torch import save_file
    m = llama(model, plain=plain == "plain")
    result = {}
    for i, ids in enumerate(json.load(open(ids_path))):
        m.reset()
        m.eval(ids)
        result[f"logits.{i}"] = torch.tensor(np.array(m.scores[:len(ids)], dtype=np.float32))
    save_file(result, out)


def llama_tokenize(model, texts_path, out):
    from llama_cpp import Llama
    m = Llama(model_path=model, vocab_only=True, verbose=False)
    result = {f"text.{i}": m.tokenize(t.encode(), add_bos=True, special=True)
              for i, t in enumerate(json.load(open(texts_path)))}
    result["chat_template"] = m.metadata.get("tokenizer.chat_template", "")
    json.dump(result, open(out, "w"))


def llama_quantize(src, out, other):
    import ctypes
    import llama_cpp
    from gguf import GGUFReader
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = 7  # LLAMA_FTYPE_MOSTLY_Q8_0
    if llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(p)) != 0:
        sys.exit("llama_model_quantize failed")
    a = {t.name: t for t in GGUFReader(out).tensors}
    b = {t.name: t for t in GGUFReader(other).tensors}
    same = sum(1 for n in a if n in b and a[n].tensor_type == b[n].tensor_type
               and np.array_equal(np.asarray(a[n].data), np.asarray(b[n].data)))
    print(f"identical tensors: {same}/{len(a)} (other file: {len(b)})")


def llama_top1(a, b, ids_path, out, plain=""):
    ids = json.load(open(ids_path))
    tops = []
    for path in (a, b):
        m = llama(path, plain=plain == "plain")
        m.reset()
        m.eval(ids)
        tops.append([int(np.argmax(m.scores[i])) for i in range(len(ids))])
        del m
    agree = sum(x == y for x, y in zip(*tops)) / len(ids)
    json.dump({"a": tops[0], "b": tops[1], "agreement": agree}, open(out, "w"))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "adapter":
        adapter(*args)
    elif cmd == "peft-logits":
        peft_logits(*args)
    elif cmd == "tokenize":
        tokenize(*args)
    elif cmd == "llama-greedy":
        llama_greedy(args[0], args[1], args[2], int(args[3]), *args[4:])
    elif cmd == "llama-logits":
        llama_logits(*args)
    elif cmd == "llama-tokenize":
        llama_tokenize(*args)
    elif cmd == "llama-quantize":
        llama_quantize(*args)
    elif cmd == "llama-top1":
        llama_top1(*args)
    else:
        sys.exit(f"unknown command {cmd}")
