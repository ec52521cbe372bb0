"""Reference peer for `hone generate`: transformers end to end (tokenizer, chat template, greedy
generation with its end-of-sequence stop, decoding), float32 on the CPU.

  generate MODEL.gguf N PROMPT...    prints a JSON list with the completion of each prompt given as
                                     one user turn of the model's chat template
  chat-ids MODEL.gguf SYSTEM PROMPT... prints a JSON list with the ids of each prompt as one user
                                     turn after the system turn SYSTEM, with the generation prompt
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    model_path = sys.argv[2]
    d, f = os.path.dirname(os.path.abspath(model_path)), os.path.basename(model_path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    if sys.argv[1] == "chat-ids":
        system, prompts = sys.argv[3], sys.argv[4:]
        json.dump([list(tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": p}],
                                                tokenize=True, add_generation_prompt=True, return_dict=False))
                   for p in prompts], sys.stdout)
        return
    n, prompts = int(sys.argv[3]), sys.argv[4:]
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    out = []
    for p in prompts:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)["input_ids"]
        gen = model.generate(input_ids=ids, max_new_tokens=n, do_sample=False, eos_token_id=[0, 2], pad_token_id=2)
        out.append({"ids": ids[0].tolist(), "text": tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
