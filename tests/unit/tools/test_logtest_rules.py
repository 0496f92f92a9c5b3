#!/usr/bin/env python3
"""lianfang-logtest --rules: the shipped content checks clean; a broken Sigma
rule and a broken YARA file are reported with file and line and make
--check exit 1 while the rest still loads; records print their matches."""
import json
import os
import subprocess
import sys
import tempfile

logtest, root = sys.argv[1], sys.argv[2]
rules, decoders = os.path.join(root, "rules"), os.path.join(root, "rules", "decoders")


def run(args, stdin=b""):
    return subprocess.run([logtest, "--decoders", decoders] + args, input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


p = run(["--rules", rules, "--check"])
out = p.stdout.decode()
assert p.returncode == 0, (p.returncode, out, p.stderr.decode()[-2000:])
assert "0 problems" in out, out

with tempfile.TemporaryDirectory() as d:
    bad = os.path.join(d, "bad.yml")
    with open(bad, "w") as f:
        f.write("title: broken\nid: 0b0b0b0b-0000-4000-8000-000000000001\n"
                "logsource: {product: linux}\n"
                "detection:\n  sel:\n    message|nosuchmodifier: x\n  condition: sel\n")
    good = os.path.join(d, "good.yml")
    with open(good, "w") as f:
        f.write("title: cron job\nid: 0c0c0c0c-0000-4000-8000-000000000002\nlevel: medium\n"
                "logsource: {product: linux}\n"
                "detection:\n  sel:\n    message|contains: 'CMD (backup'\n  condition: sel\n")
    yar = os.path.join(d, "bad.yar")
    with open(yar, "w") as f:
        f.write("rule ok { strings: $a = \"x\" condition: $a }\nrule broken { condition: $nope }\n")
    mappings = os.path.join(rules, "sigma-mappings")
    p = run(["--rules", bad, "--rules", good, "--rules", yar, "--mappings", mappings, "--check"])
    err, out = p.stderr.decode(), p.stdout.decode()
    assert p.returncode == 1, (p.returncode, out, err)
    assert "bad.yml:6" in err and "nosuchmodifier" in err, err
    assert "bad.yar" in err and ":2" in err, err
    assert "1 Sigma rules" in out, out

    line = b"Mar 10 09:02:00 web01 CRON[12]: (root) CMD (backup.sh)\n"
    p = run(["--rules", good, "--mappings", mappings, "--reference", "2026-03-10T09:05:00+08:00"],
            line)
    assert p.returncode == 0, p.stderr.decode()
    rec = json.loads(p.stdout.decode().splitlines()[0])
    assert rec["event"]["process"]["name"] == "CRON", rec["event"]
    assert rec["matches"] == [{"type": "sigma", "id": "0c0c0c0c-0000-4000-8000-000000000002",
                               "title": "cron job", "level": "medium"}], rec["matches"]

line = (b"Mar 10 09:02:00 web01 sshd[4100]: Failed password for invalid user admin from "
        b"203.0.113.45 port 52211 ssh2\n")
p = run(["--rules", rules, "--reference", "2026-03-10T09:05:00+08:00"], line)
rec = json.loads(p.stdout.decode().splitlines()[0])
types = sorted(m["type"] for m in rec["matches"])
assert types == ["intel", "sigma"], rec["matches"]
print("logtest --rules: check, problems with file and line, matches: OK")
