#!/usr/bin/env python3
"""Golden decoder tests: runs lianfang-logtest over <format>.input and
compares every event, field by field, with <format>.expected (one ECS JSON
object per line). --update rewrites the expected files from the current
output (review the diff before committing it)."""
import argparse, json, os, subprocess, sys

REFERENCE = "2026-03-10T09:30:00+08:00"


def flatten(obj, prefix="", out=None):
    out = {} if out is None else out
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out)
    else:
        out[prefix] = obj
    return out


def run(logtest, decoders, path):
    cmd = [logtest, "--decoders", decoders, "--reference", REFERENCE, "--agent", "golden",
           "--source", "golden", "--agency", "TEST-01", path]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        sys.exit(f"{path}: lianfang-logtest exited {p.returncode}: {p.stderr.decode()}")
    return [json.loads(l) for l in p.stdout.decode("utf-8").splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logtest", required=True)
    ap.add_argument("--decoders", required=True)
    ap.add_argument("--update", action="store_true")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    failures = 0
    for inp in a.inputs:
        exp_path = inp[: -len(".input")] + ".expected"
        got = run(a.logtest, a.decoders, inp)
        if a.update:
            with open(exp_path, "w", encoding="utf-8") as f:
                for ev in got:
                    f.write(json.dumps(ev, ensure_ascii=False, sort_keys=True) + "\n")
            print(f"{exp_path}: {len(got)} events written")
            continue
        with open(exp_path, encoding="utf-8") as f:
            want = [json.loads(l) for l in f if l.strip()]
        if len(want) != len(got):
            print(f"{inp}: {len(got)} events, expected {len(want)}")
            failures += 1
            continue
        for n, (w, g) in enumerate(zip(want, got), 1):
            fw, fg = flatten(w), flatten(g)
            for k in sorted(set(fw) | set(fg)):
                if fw.get(k, "<absent>") != fg.get(k, "<absent>"):
                    failures += 1
                    print(f"{inp}:{n}: {k}: expected {json.dumps(fw.get(k, '<absent>'), ensure_ascii=False)[:200]}"
                          f" got {json.dumps(fg.get(k, '<absent>'), ensure_ascii=False)[:200]}")
        print(f"{inp}: {len(got)} events checked")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
