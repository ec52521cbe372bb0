"""Reference peer for hone's config.json loading: transformers' own config classes.

  write DIR FAMILY   save_pretrained() of a small config of that family (llama, llama3, qwen2, mistral)
  check DIR          AutoConfig.from_pretrained(DIR) as JSON (the fields hone reads)
"""
import json
import sys

from transformers import AutoConfig, LlamaConfig, MistralConfig, Qwen2Config


def write(out, family):
    common = dict(vocab_size=1000, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5)
    if family == "llama":
        cfg = LlamaConfig(**common, rope_theta=50000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    elif family == "llama3":
        cfg = LlamaConfig(**common, rope_theta=500000.0, bos_token_id=1, eos_token_id=[2, 3],
                          rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    elif family == "qwen2":
        cfg = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True, eos_token_id=2)
    elif family == "mistral":
        cfg = MistralConfig(**common, rope_theta=10000.0, sliding_window=128, eos_token_id=2)
    else:
        sys.exit(f"unknown family {family}")
    cfg.save_pretrained(out)


def check(path):
    cfg = AutoConfig.from_pretrained(path)
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    theta = rope.get("rope_theta", getattr(cfg, "rope_theta", None))
    json.dump({
        "model_type": cfg.model_type, "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads, "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
        "rms_norm_eps": cfg.rms_norm_eps, "rope_theta": theta,
        "rope_type": rope.get("rope_type", rope.get("type")), "factor": rope.get("factor"),
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2])
