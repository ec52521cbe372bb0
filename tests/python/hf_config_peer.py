"""Reference peer for hone's config.json loading: transformers' own config classes.

  write ROOT          save_pretrained() of a small config of each family into ROOT/<family>
                      (llama, llama3 with rope scaling, qwen2, mistral, qwen3 with its own head_dim,
                      gemma3 with local and global layers, phi3 with partial rotary and LongRoPE; and
                      phi3-legacy: a config.json in the layout Phi-3.5/Phi-4-mini ship, written as text)
  check DIR...        AutoConfig.from_pretrained(DIR) of each, as one JSON object keyed by DIR
One process per command: importing transformers costs seconds.
"""
import json
import os
import sys

from transformers import (AutoConfig, Gemma3TextConfig, LlamaConfig, MistralConfig, Phi3Config, Qwen2Config,
                          Qwen3Config)

COMMON = dict(vocab_size=1000, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5)


def write(root):
    configs = {
        "llama": LlamaConfig(**COMMON, rope_theta=50000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
        "llama3": LlamaConfig(**COMMON, rope_theta=500000.0, bos_token_id=1, eos_token_id=[2, 3],
                              rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
        "qwen2": Qwen2Config(**COMMON, rope_theta=1000000.0, tie_word_embeddings=True, eos_token_id=2),
        "mistral": MistralConfig(**COMMON, rope_theta=10000.0, sliding_window=128, eos_token_id=2),
        "qwen3": Qwen3Config(**COMMON, head_dim=32, rope_theta=1000000.0, tie_word_embeddings=True, eos_token_id=2),
        "gemma3": Gemma3TextConfig(**{**COMMON, "num_hidden_layers": 3}, head_dim=32, query_pre_attn_scalar=24,
                                   sliding_window=16, layer_types=["sliding_attention", "full_attention",
                                                                   "sliding_attention"],
                                   rope_theta=1000000.0, rope_local_base_freq=20000.0, eos_token_id=1),
        "phi3": Phi3Config(**COMMON, rope_theta=10000.0, partial_rotary_factor=0.75, sliding_window=32,
                           original_max_position_embeddings=64, eos_token_id=2, pad_token_id=0,
                           rope_scaling={"type": "longrope", "short_factor": [1.0, 1.2, 1.4, 1.8, 2.4, 3.0],
                                         "long_factor": [2.0, 3.0, 5.0, 8.0, 12.0, 20.0]}),
    }
    for family, cfg in configs.items():
        cfg.save_pretrained(os.path.join(root, family))
    legacy = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", **COMMON, "hidden_act": "silu",
              "max_position_embeddings": 4096, "original_max_position_embeddings": 256, "partial_rotary_factor": 0.75,
              "rope_theta": 10000.0, "sliding_window": None, "tie_word_embeddings": True, "bos_token_id": 1,
              "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "bfloat16",
              "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
                               "long_factor": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]}}
    os.makedirs(os.path.join(root, "phi3-legacy"))
    with open(os.path.join(root, "phi3-legacy", "config.json"), "w") as f:
        json.dump(legacy, f)


def summary(path):
    cfg = AutoConfig.from_pretrained(path)
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    local = {}
    if "full_attention" in rope:  # per layer type (gemma3)
        rope, local = rope["full_attention"], rope.get("sliding_attention") or {}
    return {
        "layer_types": getattr(cfg, "layer_types", None) if local else None,
        "sliding_window": getattr(cfg, "sliding_window", None) if local else None,
        "rope_local_theta": local.get("rope_theta"),
        "query_pre_attn_scalar": getattr(cfg, "query_pre_attn_scalar", None),
        "model_type": cfg.model_type, "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads, "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
        "rms_norm_eps": cfg.rms_norm_eps, "rope_theta": rope.get("rope_theta", getattr(cfg, "rope_theta", None)),
        "rope_type": rope.get("rope_type", rope.get("type")), "factor": rope.get("factor"),
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "partial_rotary_factor": rope.get("partial_rotary_factor"),
        "original_max_position_embeddings": rope.get("original_max_position_embeddings"),
        "short_factor": rope.get("short_factor"), "long_factor": rope.get("long_factor"),
        "max_position_embeddings": cfg.max_position_embeddings,
        "phi3_sliding_window": getattr(cfg, "sliding_window", None) if cfg.model_type == "phi3" else None,
    }


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        json.dump({d: summary(d) for d in sys.argv[2:]}, sys.stdout)
