"""Reference peer for hone's jinja interpreter (tests/text/test_jinja_parity.cpp): renders chat
templates through transformers' own path, transformers.utils.chat_template_utils.
render_jinja_template (what apply_chat_template calls), with datetime.now() fixed so that
strftime_now() is reproducible.

  jinja_peer.py render IN.json OUT.json
      IN:  {"now": unix seconds,
            "templates": [{"name", "source"}],
            "conversations": [{"messages", "tools" (list or null), "add_generation_prompt",
                               "kwargs" (extra template variables: bos_token, ...)}]}
      OUT: {"templates": [{"name", "source"}]: the input templates, then every jinja chat template
                         shipped in the installed llama_cpp package (read from its sources here),
            "results": one list per template, one entry per conversation:
                       {"text": rendered} or {"error": message, "type": exception class}}

  jinja_peer.py expect IN.json OUT.json
      Any template with any variables, in the environment transformers compiles chat templates in
      (the expected strings of tests/text/test_jinja.cpp come from here).
      IN:  [{"template", "context": {variables}}]
      OUT: [{"text": rendered} or {"error": message, "type": exception class}]
"""
import ast
import datetime
import importlib.util
import json
import os
import sys

import transformers.utils.chat_template_utils as ctu


def fix_now(unix_seconds):
    # strftime_now() calls datetime.now() through the module's `datetime` name.
    class FixedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(unix_seconds, tz)

    ctu.datetime = FixedDatetime


def llama_cpp_templates():
    """Every string literal in llama_cpp's Python sources that is a jinja chat template (it has
    jinja tags and reads `messages`), plus any .jinja/.j2 files in the package."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, os.path.dirname(root))
            if filename.endswith((".jinja", ".j2")):
                with open(path, encoding="utf-8") as f:
                    found.append({"name": rel, "source": f.read()})
            if not filename.endswith(".py"):
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    s = node.value
                    if ("{%" in s or "{{" in s) and "messages" in s:
                        found.append({"name": f"{rel}:{node.lineno}", "source": s})
    found.sort(key=lambda t: (t["name"].split(":")[0], int(t["name"].split(":")[1]) if ":" in t["name"] else 0))
    return found


def render(source, conversation):
    try:
        rendered, _ = ctu.render_jinja_template(
            conversations=[conversation["messages"]],
            tools=conversation.get("tools"),
            chat_template=source,
            add_generation_prompt=conversation["add_generation_prompt"],
            **conversation.get("kwargs", {}),
        )
        return {"text": rendered[0]}
    except Exception as e:  # every failure of the template is an outcome to compare
        return {"error": str(e), "type": type(e).__name__}


def expect(case):
    try:
        return {"text": ctu._compile_jinja_template(case["template"]).render(**case["context"])}
    except Exception as e:
        return {"error": str(e), "type": type(e).__name__}


def main(mode, src, dst):
    with open(src, encoding="utf-8") as f:
        job = json.load(f)
    if mode == "render":
        fix_now(job["now"])
        templates = job["templates"] + llama_cpp_templates()
        out = {"templates": templates, "results": [[render(t["source"], c) for c in job["conversations"]] for t in templates]}
    else:
        out = [expect(case) for case in job]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("render", "expect"):
        sys.exit(__doc__)
    main(*sys.argv[1:])
