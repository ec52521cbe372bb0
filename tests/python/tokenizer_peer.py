"""Reference peer for hone's tokenizer tests (tests/text/).

  tokenizer_peer.py llama GGUF IN.jsonl OUT.jsonl
      llama.cpp's ids (llama-cpp-python, vocab only) for every line of IN: {"hex": bytes as hex,
      "special": parse_special}. OUT gets {"ids": [...]} per line, in order.
  tokenizer_peer.py hf DIR IN.jsonl OUT.jsonl
      HF tokenizers' ids from DIR/tokenizer.json (add_special_tokens=False), same formats.
  tokenizer_peer.py export-hf GGUF OUTDIR
      An HF tokenizer directory for the GGUF's vocabulary, written by transformers
      (AutoTokenizer.from_pretrained(..., gguf_file=...).save_pretrained). transformers' GGUF
      reader does not know the "smollm" pre-tokenizer and writes a plain ByteLevel one, so the
      pre_tokenizer is replaced by the one SmolLM2's published tokenizer.json has:
      Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)].

One process handles a whole batch so that a test pays the model load once.
"""
import json
import os
import sys


def read_cases(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_ids(path, all_ids):
    with open(path, "w", encoding="utf-8") as f:
        for ids in all_ids:
            f.write(json.dumps({"ids": [int(i) for i in ids]}) + "\n")


def run_llama(gguf, src, dst):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    out = []
    for case in read_cases(src):
        data = bytes.fromhex(case["hex"])
        out.append(llm.tokenize(data, add_bos=False, special=bool(case["special"])) if data else [])
    write_ids(dst, out)


def run_hf(directory, src, dst):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    out = []
    for case in read_cases(src):
        text = bytes.fromhex(case["hex"]).decode("utf-8")
        out.append(tok.encode(text, add_special_tokens=False).ids)
    write_ids(dst, out)


SMOLLM2_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}


def export_hf(gguf, outdir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf))
    tok.save_pretrained(outdir)
    path = os.path.join(outdir, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    j["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    print(json.dumps(sorted(os.listdir(outdir))))


def main(argv):
    if len(argv) == 5 and argv[1] == "llama":
        run_llama(argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[1] == "hf":
        run_hf(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "export-hf":
        export_hf(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
