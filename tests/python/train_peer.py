"""Reference gradients for hone's LoRA training tests (HF transformers + PEFT).

usage: train_peer.py grads MODEL ADAPTER_DIR BATCH_JSON OUT.safetensors
    Loads MODEL (a .gguf file through transformers' GGUF loader, or an HF directory) in float32,
    applies the PEFT adapter in ADAPTER_DIR as trainable (PeftModel.from_pretrained,
    is_trainable=True), runs one forward/backward pass on the batch (input_ids, attention_mask,
    labels with -100 where no loss), and writes the gradient of every LoRA factor under PEFT's
    saved names (".default" removed) to OUT. Prints {"loss": mean cross-entropy, "tensors": N}.
usage: train_peer.py bf16-native
    Prints {"native": B}: whether PyTorch multiplies bf16 natively on this CPU (oneDNN's test).
"""
import json
import sys

import torch
from peft import PeftModel
from safetensors.torch import save_file

from model_peer import load  # a .gguf file through transformers' GGUF loader, or an HF directory

torch.set_grad_enabled(True)  # model_peer turns gradients off for its inference-only peers


def grads(model, adapter, batch_path, out):
    torch.manual_seed(0)
    base = load(model)
    base.config.use_cache = False
    m = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    m.train()  # the adapter was saved with lora_dropout 0, so train mode changes nothing but grads
    batch = json.load(open(batch_path))
    ids = torch.tensor(batch["input_ids"])
    mask = torch.tensor(batch["attention_mask"])
    labels = torch.tensor(batch["labels"])
    loss = m(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    result = {}
    for name, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
            result[name.replace(".default", "")] = p.grad.detach().contiguous()
    save_file(result, out)
    print(json.dumps({"loss": loss.item(), "tensors": len(result)}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "grads":
        grads(*sys.argv[2:])
    elif sys.argv[1:] == ["bf16-native"]:
        print(json.dumps({"native": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
