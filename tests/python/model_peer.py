"""Reference peer for hone's decoder: transformers' own model classes, float32, on the CPU.

  logits MODEL IDS.json OUT.safetensors STEPS
      MODEL is a .gguf file (transformers dequantises it and undoes llama.cpp's q/k permutation)
      or an HF directory. For each prompt (a list of token ids) in IDS.json writes
      logits.<i> [T, vocab] and greedy.<i> [STEPS] (greedy continuation, full recompute per step,
      no end-of-sequence stop).
  adapter BASE_DIR OUT_DIR IDS.json OUT.safetensors RSLORA
      makes a PEFT LoRA adapter (r=4, alpha=8, all seven linear projections, random A and B) for
      the HF model in BASE_DIR, saves it to OUT_DIR with save_pretrained, and writes the logits of
      PeftModel (base + adapter) for each prompt as logits.<i>.
  tiny DIR FAMILY
      writes a small random model of FAMILY (qwen2: q/k/v biases, tied head; llama3: llama3 rope
      scaling, separate head, sharded safetensors; llama32: llama3 rope scaling and a tied head, as
      Llama 3.2 1B/3B; mistral: sliding window; qwen3: q/k norms, head_dim apart from hidden / heads;
      gemma3: local and global layers, a window shorter than the test sequence, its own query
      scale; phi3: fused qkv/gate_up, 12 of 16 channels rotated, LongRoPE switching to its long
      factors past 16 positions, a sliding window of 12) with save_pretrained.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, MistralConfig, Phi3Config,
                          Qwen2Config, Qwen3Config)

torch.set_grad_enabled(False)


def load(model):
    if model.endswith(".gguf"):
        return AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(model)),
                                                    gguf_file=os.path.basename(model), dtype=torch.float32)
    return AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)


def logits(model, ids_path, out, steps):
    m = load(model).eval()
    prompts = json.load(open(ids_path))
    result = {}
    for i, ids in enumerate(prompts):
        x = torch.tensor([ids], dtype=torch.long)
        result[f"logits.{i}"] = m(input_ids=x).logits[0].float().contiguous()
        greedy = []
        for _ in range(steps):
            nxt = int(m(input_ids=x).logits[0, -1].argmax())
            greedy.append(nxt)
            x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
        result[f"greedy.{i}"] = torch.tensor(greedy, dtype=torch.long)
    save_file(result, out)


def tiny(out, family):
    torch.manual_seed(0)
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6)
    if family == "qwen2":
        cfg = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True)
    elif family == "llama3":
        cfg = LlamaConfig(**common, rope_theta=500000.0, tie_word_embeddings=False,
                          rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 32})
    elif family == "llama32":
        cfg = LlamaConfig(**common, rope_theta=500000.0, tie_word_embeddings=True,
                          rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    elif family == "mistral":
        cfg = MistralConfig(**common, rope_theta=10000.0, sliding_window=8)
    elif family == "qwen3":
        cfg = Qwen3Config(**common, head_dim=24, rope_theta=1000000.0, tie_word_embeddings=True)
    elif family == "gemma3":
        cfg = Gemma3TextConfig(**common, head_dim=24, query_pre_attn_scalar=20, sliding_window=8,
                               layer_types=["sliding_attention", "full_attention"], rope_theta=1000000.0,
                               rope_local_base_freq=10000.0, pad_token_id=0, bos_token_id=2, eos_token_id=1)
    elif family == "phi3":
        cfg = Phi3Config(**common, rope_theta=10000.0, partial_rotary_factor=0.75, sliding_window=12,
                         original_max_position_embeddings=16, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                         rope_scaling={"type": "longrope", "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                                       "long_factor": [1.5, 2.0, 3.0, 5.0, 8.0, 13.0]})
    else:
        sys.exit(f"unknown family {family}")
    m = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    # Random init leaves biases at zero and norms at one: perturb them so the test sees them.
    for name, p in m.named_parameters():
        if name.endswith("bias") or "norm" in name:
            p.data.normal_(1.0 if "norm" in name else 0.0, 0.1)
    m.save_pretrained(out, max_shard_size="200KB" if family == "llama3" else "100MB")


def adapter(base, out, ids_path, logits_out, rslora):
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(1)
    m = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=8, use_rslora=rslora, init_lora_weights=False, task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(m, cfg).eval()
    pm.save_pretrained(out)
    result = {}
    for i, ids in enumerate(json.load(open(ids_path))):
        result[f"logits.{i}"] = pm(input_ids=torch.tensor([ids])).logits[0].float().contiguous()
    save_file(result, logits_out)


if __name__ == "__main__":
    if sys.argv[1] == "adapter":
        adapter(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == "1")
    elif sys.argv[1] == "logits":
        logits(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        tiny(sys.argv[2], sys.argv[3])
