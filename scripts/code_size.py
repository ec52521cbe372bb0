#!/usr/bin/env python3
"""Sizes of hone's sources against the style rules (../shared/STYLE.md): files under about 600
lines, functions under about 120. Prints the largest files and functions of lib/ and tools/, and
exits 1 when any is over the limit.

  scripts/code_size.py [--top N] [--max-file 600] [--max-function 120]

A function is a top-level (namespace-scope) or class-member body: a line that ends a signature
with '{' at brace depth of its enclosing namespaces and classes, to the matching '}'. Lambdas and
blocks inside a function count as part of it. Comments and string literals are skipped when
braces are counted.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("lib", "tools")
EXTS = (".cpp", ".h", ".cu")
SCOPE = re.compile(r"^\s*(namespace\b[^;]*|(class|struct|union)\s+[^;()]*|extern\s+\"C\"\s*)\{\s*$")


def strip_code(text):
    """The text with comments and string/char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, length) of each function body in the file."""
    lines = strip_code(open(path, encoding="utf-8").read()).split("\n")
    found, scopes, depth = [], [], 0
    start, name = None, None
    for no, line in enumerate(lines, 1):
        if start is None and depth == len(scopes) and line.rstrip().endswith("{") and not SCOPE.match(line):
            head = " ".join(l.strip() for l in lines[max(0, no - 4):no])
            m = re.search(r"([~\w:]+)\s*\([^;{]*\)[^;{]*\{\s*$", head)
            if m and not re.match(r"(if|for|while|switch|catch|return)$", m.group(1)):
                start, name = no, m.group(1)
        elif start is None and SCOPE.match(line) and depth == len(scopes):
            scopes.append(depth)
        depth += line.count("{") - line.count("}")
        if start is not None and depth == len(scopes):
            found.append((name, start, no - start + 1))
            start = None
        while scopes and depth < len(scopes):
            scopes.pop()
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--max-file", type=int, default=600)
    ap.add_argument("--max-function", type=int, default=120)
    a = ap.parse_args()
    files, funcs = [], []
    for d in DIRS:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            for f in names:
                if not f.endswith(EXTS) or f == "unicode_tables.cpp":  # generated tables
                    continue
                path = os.path.join(base, f)
                rel = os.path.relpath(path, ROOT)
                files.append((sum(1 for _ in open(path, encoding="utf-8")), rel))
                funcs += [(n, f"{rel}:{line} {name}") for name, line, n in functions(path)]
    files.sort(reverse=True)
    funcs.sort(reverse=True)
    print(f"largest files (limit {a.max_file} lines):")
    for n, rel in files[: a.top]:
        print(f"  {n:5d}  {rel}")
    print(f"largest functions (limit {a.max_function} lines):")
    for n, where in funcs[: a.top]:
        print(f"  {n:5d}  {where}")
    over = [x for x in files if x[0] > a.max_file] + [x for x in funcs if x[0] > a.max_function]
    print(f"{len(over)} over the limits")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
