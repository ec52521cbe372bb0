"""Reference peers for `hone export` on a tiny random model of each family (built here by
transformers, no downloads): HF PEFT, transformers and llama.cpp (llama-cpp-python) load what hone
wrote from it.

  setup FAMILY DIR
      DIR/base: model_peer.py's tiny FAMILY model (vocab 256) with a byte-level BPE tokenizer that
      hone, transformers and llama.cpp all read: the 256 bytes as tokens in GPT-2's byte alphabet
      (id = byte value), no merges, no special tokens.
      DIR/adapter: a PEFT LoRA adapter for it (r=4, alpha=8, random A and B) on every linear
      module of the model but the head, target_modules listing their leaf names (q_proj, ...),
      saved with save_pretrained.
      DIR/adapter-all-linear: the same factors made with target_modules="all-linear", which PEFT
      saves as the full paths of the modules it adapted (model.layers.0.self_attn.q_proj, ...).
      DIR/gguf-base: the same weights and tokenizer, with config.json changed to what llama.cpp's
      GGUF of the architecture can express (mistral, phi3: no sliding window; phi3: LongRoPE's
      short factors throughout; gemma3: llama.cpp's fixed layer pattern and query scale
      1/sqrt(head_dim)), so that the GGUF and its source agree.
  check DIR STEPS
      the peers on what hone exported into DIR, for the prompts (token ids) of DIR/ids.json;
      each step runs when its input is there, and a failed step is reported on stderr (exit 1)
      without stopping the others:
      - DIR/peft (adapter) -> DIR/peft.safetensors: PeftModel.from_pretrained(DIR/base, DIR/peft),
        float32; fails if loading leaves a LoRA key missing or finds an unexpected one; logits.<i>
        [T, vocab] per prompt;
      - DIR/hf (merged checkpoint) -> DIR/hf.safetensors: model_peer.py logits (transformers:
        logits.<i> [T, vocab], greedy.<i> [STEPS]);
      - DIR/tuned-f16.gguf -> DIR/llama.safetensors: llama.cpp with a float32 KV cache (its
        default f16 cache would round every key and value as well): logits.<i> [T, vocab] at the
        prompt's positions and greedy.<i> [STEPS], its greedy continuation (argmax, no
        end-of-sequence stop).
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def bytes_to_unicode():
    """GPT-2's byte alphabet: printable bytes stand for themselves, the others for code points from 256 on."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_byte_tokenizer(out):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    alphabet = bytes_to_unicode()
    tok = Tokenizer(models.BPE(vocab={alphabet[b]: b for b in range(256)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.save(os.path.join(out, "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False,
           "clean_up_tokenization_spaces": False, "model_max_length": 512}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def linear_module_names(model):
    """The leaf names of the model's linear modules but the head: what PEFT's "all-linear" adapts."""
    import torch
    head = model.get_output_embeddings()
    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and mod is not head})


def make_adapter(base, out, target_modules, seed):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    m = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if target_modules is None:
        target_modules = linear_module_names(m)
    cfg = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM", target_modules=target_modules)
    get_peft_model(m, cfg).save_pretrained(out)


def llama_cpp_config(cfg):
    """config.json as llama.cpp's GGUF of this architecture can hold it (what it fixes or lacks)."""
    cfg = dict(cfg)
    if cfg["model_type"] in ("mistral", "phi3"):
        # llama.cpp's llama architecture has no window, and it turns Phi-3's off (llama-model.cpp).
        cfg["sliding_window"] = None
    if cfg["model_type"] == "phi3" and cfg.get("rope_parameters", {}).get("rope_type") == "longrope":
        # llama.cpp picks the LongRoPE factors by its context size (padded to at least 256),
        # transformers by the sequence length: with the original context as long as the whole one,
        # both keep the short factors.
        n = cfg["max_position_embeddings"]
        cfg["original_max_position_embeddings"] = n
        cfg["rope_parameters"] = dict(cfg["rope_parameters"], original_max_position_embeddings=n)
    elif cfg["model_type"] == "gemma3_text":
        # llama-model.cpp, LLM_ARCH_GEMMA3: every 6th layer global, local RoPE base 10000, query scale 1/sqrt(head_dim).
        n = cfg["num_hidden_layers"]
        cfg["layer_types"] = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(n)]
        cfg["query_pre_attn_scalar"] = cfg["head_dim"]  # the tiny model's local RoPE base is already 10000
    return cfg


def setup(family, out):
    import model_peer
    base, gguf_base = os.path.join(out, "base"), os.path.join(out, "gguf-base")
    model_peer.tiny(base, family)
    write_byte_tokenizer(base)
    make_adapter(base, os.path.join(out, "adapter"), None, seed=7)
    # The same factors (same seed, same modules in the same order) with target_modules="all-linear",
    # which PEFT saves as the list of full module paths it adapted.
    make_adapter(base, os.path.join(out, "adapter-all-linear"), "all-linear", seed=7)
    shutil.copytree(base, gguf_base)
    with open(os.path.join(base, "config.json")) as f:
        cfg = llama_cpp_config(json.load(f))
    with open(os.path.join(gguf_base, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def peft_logits(base, adapter_dir, ids, out):
    import torch
    from peft import PeftModel
    from peft.utils import load_peft_weights, set_peft_model_state_dict
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    torch.set_grad_enabled(False)
    pm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter_dir).eval()
    # Load the weights once more to see what PEFT matched: every LoRA key of the model must be
    # filled and every key of the file used.
    res = set_peft_model_state_dict(pm, load_peft_weights(adapter_dir))
    missing = [k for k in res.missing_keys if "lora_" in k]
    if missing or res.unexpected_keys:
        raise RuntimeError(f"PEFT: missing LoRA keys {missing[:5]} ({len(missing)}), unexpected keys "
                           f"{list(res.unexpected_keys)[:5]} ({len(res.unexpected_keys)})")
    result = {}
    for i, x in enumerate(ids):
        result[f"logits.{i}"] = pm(input_ids=torch.tensor([x])).logits[0].float().contiguous()
    save_file(result, out)


def llama_run(model, ids, steps, out):
    from llama_cpp import Llama
    from safetensors.numpy import save_file
    f32 = 0  # GGML_TYPE_F32 for the KV cache (llama.cpp's default f16 would round every key and value)
    m = Llama(model_path=model, n_ctx=512, n_threads=2, logits_all=True, type_k=f32, type_v=f32, verbose=False)
    result = {}
    for i, x in enumerate(ids):
        m.reset()
        m.eval(x)
        result[f"logits.{i}"] = np.array(m.scores[:len(x)], dtype=np.float32)
        greedy = []
        for _ in range(steps):
            nxt = int(np.argmax(m.scores[m.n_tokens - 1]))
            greedy.append(nxt)
            m.eval([nxt])
        result[f"greedy.{i}"] = np.array(greedy, dtype=np.int64)
    save_file(result, out)


def check(d, steps):
    import traceback
    import model_peer

    def path(name):
        return os.path.join(d, name)

    ids_path = path("ids.json")
    ids = json.load(open(ids_path))
    steps_to_run = [
        ("peft", lambda: peft_logits(path("base"), path("peft"), ids, path("peft.safetensors"))),
        ("hf", lambda: model_peer.logits(path("hf"), ids_path, path("hf.safetensors"), steps)),
        ("tuned-f16.gguf", lambda: llama_run(path("tuned-f16.gguf"), ids, steps, path("llama.safetensors"))),
    ]
    failed = False
    for name, run in steps_to_run:
        if not os.path.exists(path(name)):
            continue
        try:
            run()
        except Exception:  # reported, and the other steps still run
            failed = True
            print(f"{name}: failed\n{traceback.format_exc()}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(*args)
    elif cmd == "check":
        check(args[0], int(args[1]))
    else:
        sys.exit(f"unknown command {cmd}")
