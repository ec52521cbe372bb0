# The demo recipe on Gemma 3 270M (Q4_K_M GGUF, no chat template: plain prompts), 18 layers:
# LoRA on the upper half (lora-train.toml) and a student of a third of them (distill.toml), the
# proportions the SmolLM2 demo uses.
DEFAULT_MODEL := $(ROOT)/models/gemma-3-270m-Q4_K_M.gguf
