"""Reference peer for hone's chat-template tests: renders jinja chat templates the way
transformers' apply_chat_template does (ImmutableSandboxedEnvironment with trim_blocks and
lstrip_blocks, raise_exception and tojson available; bos_token / eos_token passed in).

  tokenizer_chat_peer.py IN.json OUT.json
      IN: [{"template", "messages": [{"role", "content"}], "add_generation_prompt",
            "bos_token", "eos_token"}]; OUT: [{"text": rendered} or {"error": message}].
"""
import json
import sys

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main(src, dst):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    with open(src, encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    for c in cases:
        try:
            text = env.from_string(c["template"]).render(
                messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                bos_token=c["bos_token"], eos_token=c["eos_token"])
            out.append({"text": text})
        except TemplateError as e:
            out.append({"error": str(e)})
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
