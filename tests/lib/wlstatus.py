#!/usr/bin/env python3
"""Judge a self-checking workload from its status lines read twice.

usage: wlstatus.py [--final] BEFORE AFTER
       wlstatus.py [--final] --watch SECONDS FILE...

BEFORE and AFTER are the text of status files (workloads/wlreport.h: one JSON
line per process, e.g. `cat s s.child`), or @PATH to read it from a file. With
--watch, each FILE is read, then read again SECONDS later.

Each process (keyed by prog and role) in AFTER must be in BEFORE with the same
pid, state "running" (with --final: "pass"), a later mono_ns (its status is
being updated: it is alive), a larger iter and min_part_iter (it and every part
of it, e.g. each thread, made progress) and 0 errors. Prints one line per
process and a summary; exit 0 if all are fine, 1 if not, 2 on a usage error.
Importable: check(before_text, after_text, final=False) -> (ok, [lines]).
"""
import json
import sys
import time


def parse(text):
    """{(prog, role): status} from status lines; raises ValueError on a bad line."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            st = json.loads(line)
        except ValueError as e:
            raise ValueError(f"not a status line ({e}): {line[:120]!r}") from None
        if not isinstance(st, dict) or "prog" not in st:
            raise ValueError(f"not a status line: {line[:120]!r}")
        out[(st["prog"], st.get("role", "main"))] = st
    return out


def check(before_text, after_text, final=False):
    lines = []
    try:
        before, after = parse(before_text), parse(after_text)
    except ValueError as e:
        return False, [f"FAIL {e}"]
    if not after:
        return False, ["FAIL no status line"]
    ok = True
    for key, a in sorted(after.items()):
        name = f"{key[0]}[{a.get('pid')}] {key[1]}"
        b = before.get(key)
        bad = []
        if b is None:
            bad.append("no earlier status line")
        else:
            if b.get("pid") != a.get("pid"):
                bad.append(f"pid changed from {b.get('pid')} to {a.get('pid')}")
            if a.get("mono_ns", 0) <= b.get("mono_ns", 0):
                bad.append("status not updated (mono_ns "
                           f"{b.get('mono_ns')} -> {a.get('mono_ns')}): not alive or clock stuck")
            if a.get("iter", 0) <= b.get("iter", 0):
                bad.append(f"no progress (iter {b.get('iter')} -> {a.get('iter')})")
            elif a.get("min_part_iter", a.get("iter", 0)) <= b.get("min_part_iter", b.get("iter", 0)):
                bad.append(f"a part of it (of {a.get('parts', 1)}) made no progress "
                           f"(min_part_iter {b.get('min_part_iter')} -> {a.get('min_part_iter')})")
        want = "pass" if final else "running"
        if a.get("state") != want:
            bad.append(f"state {a.get('state')}, expected {want}")
        if a.get("errors", 1):
            bad.append(f"{a.get('errors')} errors, last: {a.get('last_error')}")
        gap = a.get("max_gap_ns", 0) / 1e9
        desc = (f"iter {b.get('iter') if b else '?'} -> {a.get('iter')}, "
                f"errors {a.get('errors')}, threads {a.get('threads')}, longest pause {gap:.3f} s")
        if bad:
            ok = False
            lines.append(f"FAIL {name}: " + "; ".join(bad) + f" ({desc})")
        else:
            lines.append(f"ok   {name}: alive, progressing, 0 errors ({desc})")
    for key in sorted(set(before) - set(after)):
        ok = False
        lines.append(f"FAIL {key[0]} {key[1]}: status line gone")
    lines.append(("PASS" if ok else "FAIL") + f": {len(after)} process(es)")
    return ok, lines


def read(arg):
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            return f.read()
    return arg


def main(argv):
    final = "--final" in argv
    argv = [a for a in argv if a != "--final"]
    try:
        if argv and argv[0] == "--watch":
            secs, files = float(argv[1]), argv[2:]
            if not files:
                raise IndexError
            before = "".join(read("@" + f) for f in files)
            time.sleep(secs)
            after = "".join(read("@" + f) for f in files)
        elif len(argv) == 2:
            before, after = read(argv[0]), read(argv[1])
        else:
            raise IndexError
    except (IndexError, ValueError):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    except OSError as e:
        print(f"FAIL {e}")
        return 1
    ok, lines = check(before, after, final)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
