#!/usr/bin/env python3
"""Counts the SQL statements of the store and how many are written twice.

Usage: python3 scripts/sql-census.py [src/store]

A statement is a Rust string literal under src/store whose text starts with
an SQL verb (SELECT, INSERT, UPDATE, DELETE, WITH, LOCK), outside the
unit tests (#[cfg(test)] onwards). Fragments that are
completed with format! (column lists such as RUN_COLS) count as the
literal they are. Literals are grouped by where they live:

  shared       src/store/sql/ and the files directly under src/store
  sqlite       src/store/sqlite/
  postgres     src/store/postgres/

For the two dialect folders it also prints how many of their statements are
identical once `?N` is written `$N` and white space is collapsed: those
could be written once. Migrations (migrations/*) are not counted; they stay
per dialect on purpose.

Issue 12 (one store in two dialects) records the figures before and after.
"""

import re
import sys
from pathlib import Path

VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "LOCK")


def literals(text):
    """Yields the contents of the string literals of Rust source `text`."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "'":
            # a char literal ('a', '\n', '$') or a lifetime ('a)
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1] if i else " "):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            start = i + len(m.group(0))
            j = text.find(end, start)
            yield text[start:j]
            i = j + len(end)
        elif c == '"':
            j, out = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    nxt = text[j + 1]
                    if nxt == "\n":  # line continuation: skip leading blanks
                        j += 2
                        while j < n and text[j] in " \t\n":
                            j += 1
                        continue
                    out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            yield "".join(out)
            i = j + 1
        else:
            i += 1


def statements(files):
    out = []
    for f in files:
        text = f.read_text()
        # Unit tests sit at the end of a file, after #[cfg(test)]: their
        # strings are examples, not statements of the store.
        text = text.split("#[cfg(test)]")[0]
        for lit in literals(text):
            s = " ".join(lit.split())
            if s.upper().startswith(VERBS):
                out.append(s)
    return out


def normal(s):
    return re.sub(r"\?(\d+)", r"$\1", s)


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src/store")
    groups = {
        "shared": sorted(
            [p for p in root.glob("*.rs")] + list((root / "sql").rglob("*.rs"))
        ),
        "sqlite": sorted((root / "sqlite").rglob("*.rs")),
        "postgres": sorted((root / "postgres").rglob("*.rs")),
    }
    found = {name: statements(files) for name, files in groups.items()}
    for name, stmts in found.items():
        print(f"{name:9} {len(stmts):4} statement literals in {len(groups[name])} files")
    lite = [normal(s) for s in found["sqlite"]]
    pg = [normal(s) for s in found["postgres"]]
    remaining = list(pg)
    twins = 0
    for s in lite:
        if s in remaining:
            remaining.remove(s)
            twins += 1
    print(f"identical in both dialects modulo placeholders: {twins}")
    print(f"written once (shared): {len(found['shared'])}; "
          f"per dialect: {len(lite)} sqlite + {len(pg)} postgres")
    if "-v" in sys.argv:
        for s in sorted(set(lite) - set(pg)):
            print("sqlite only:  ", s[:160])
        for s in sorted(set(pg) - set(lite)):
            print("postgres only:", s[:160])


if __name__ == "__main__":
    main()
