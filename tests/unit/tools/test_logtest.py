#!/usr/bin/env python3
"""lianfang-logtest: bad rule files stop it with file:line:column errors (exit 2);
--format forces a decoder; stdin works; the output is one JSON object per line."""
import json, os, subprocess, sys, tempfile

logtest, rules = sys.argv[1], sys.argv[2]


def run(args, stdin=b""):
    return subprocess.run([logtest] + args, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "bad.yaml"), "w") as f:
        f.write("decoders:\n"
                "  - name: broken\n"
                "    when: {program: x}\n"
                "    rules:\n"
                "      - pattern: 'Accepted %{user.nam} from %{source.ip}'\n"
                "      - regex: '(unclosed'\n"
                "  - name: nowhen\n"
                "    rules: [{pattern: 'x'}]\n"
                "    bogus: 1\n")
    p = run(["--decoders", d, "--check"])
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert "bad.yaml:5:" in err and "'user.nam' is not an ECS field" in err, err
    assert "bad.yaml:6:" in err and "does not compile" in err, err
    assert "unknown key 'bogus'" in err and "when: required" in err, err
    with open(os.path.join(d, "syntax.yaml"), "w") as f:
        f.write("decoders: [\n")
    p = run(["--decoders", d, "--check"])
    assert p.returncode == 2 and "syntax.yaml:" in p.stderr.decode(), p.stderr

p = run(["--decoders", rules, "--check"])
assert p.returncode == 0, p.stderr
p = run(["--decoders", rules, "--list"])
names = [l.split()[0] for l in p.stdout.decode().splitlines()]
for want in ["sshd", "sudo", "web-access", "fortigate", "paloalto", "cisco-asa", "cef", "leef",
             "json", "windows-xml", "auditd", "raw", "syslog-3164"]:
    assert want in names, (want, names)

line = b"Mar 10 09:02:00 web01 sshd[1]: Failed password for root from 203.0.113.5 port 22 ssh2\n"
p = run(["--decoders", rules, "--reference", "2026-03-10T09:30:00+08:00", "--agency", "TC-01"], line)
ev = json.loads(p.stdout)
assert ev["lianfang"]["decoder"] == "sshd" and ev["event"]["outcome"] == "failure", ev
assert ev["organization"]["id"] == "TC-01" and ev["source"]["ip"] == "203.0.113.5", ev

# Forcing a decoder that does not fit: generic event plus the reason.
p = run(["--decoders", rules, "--format", "cef", "--strict"], line)
ev = json.loads(p.stdout)
assert p.returncode == 1 and ev["lianfang"]["decode_error"], ev
p = run(["--decoders", rules, "--format", "nope"], line)
assert p.returncode == 2
print("ok")
