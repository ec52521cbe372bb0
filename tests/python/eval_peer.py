"""Reference for `hone eval`'s constrained scoring: transformers, written the plain way.

  score MODEL.gguf INGESTED_DIR SPLIT N OUT.json
      For each of the first N records of INGESTED_DIR/SPLIT.jsonl: the prompt is the chat template
      with the record's prompt as the user turn and the generation prompt; each label's answer is
      what the template adds for the assistant turn up to and including <|im_end|>. The score of a
      label is the sum of the log-probabilities of its answer tokens (prompt computed once, its KV
      cache repeated for all labels). Writes [{id, best, best_logprob, second_logprob, gold_logprob}].
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.set_grad_enabled(False)


def score(model, data_dir, split, n, out):
    d, f = os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    labels = sorted(json.load(open(os.path.join(data_dir, "manifest.json")))["labels"])
    records = [json.loads(l) for l in open(os.path.join(data_dir, f"{split}.jsonl"))][:n]
    result = []
    for r in records:
        user = [{"role": "user", "content": r["prompt"]}]
        prompt = list(tok.apply_chat_template(user, tokenize=True, add_generation_prompt=True, return_dict=False))
        answers = []
        for label in labels:
            full = list(tok.apply_chat_template(user + [{"role": "assistant", "content": label}], tokenize=True,
                                                return_dict=False))
            assert full[:len(prompt)] == prompt
            a = full[len(prompt):]
            answers.append(a[:a.index(end) + 1])
        o = m(input_ids=torch.tensor([prompt]), use_cache=True)
        first = torch.log_softmax(o.logits[0, -1].float(), -1)
        width = max(len(a) for a in answers) - 1
        ids = torch.zeros((len(labels), width), dtype=torch.long)
        for i, a in enumerate(answers):
            ids[i, :len(a) - 1] = torch.tensor(a[:-1])
        cache = o.past_key_values
        cache.batch_repeat_interleave(len(labels))
        logp = torch.log_softmax(m(input_ids=ids, past_key_values=cache, use_cache=True).logits.float(), -1)
        scores = []
        for i, a in enumerate(answers):
            s = float(first[a[0]]) + sum(float(logp[i, j - 1, a[j]]) for j in range(1, len(a)))
            scores.append(s)
        order = sorted(range(len(labels)), key=lambda i: -scores[i])
        result.append({"id": r["id"], "best": labels[order[0]], "best_logprob": scores[order[0]],
                       "second_logprob": scores[order[1]], "gold_logprob": scores[labels.index(r["label"])]})
    json.dump(result, open(out, "w"))


if __name__ == "__main__":
    if sys.argv[1] != "score":
        sys.exit(f"unknown command {sys.argv[1]}")
    score(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
