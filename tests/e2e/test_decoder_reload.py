"""Decoder reload: lianfangd re-reads ingest.decoders_dir on SIGHUP. A
vendor format no decoder knows is stored with its syslog header fields
only; a new rule file for it, then SIGHUP, and the next records are
decoded into ECS fields by it; a broken rule file on the next SIGHUP is
refused with file and line in the log and the running decoders stay."""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

RULE = """decoders:
  - name: acme-vpn
    description: ACME VPN gateway login lines
    when:
      program: [acmevpn]
    set:
      event.module: acme
      event.dataset: acme.vpn
      event.category: authentication
    rules:
      - name: login
        regex: '^login (?<_result>ok|failed) user=(?<user__name>\\S+) src=(?<source__ip>\\S+)'
        set: {event.action: vpn_login}
"""


def line(i, result="failed"):
    ts = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
    return f"{ts} vpn01 acmevpn[77]: login {result} user=u{i} src=198.51.100.{i % 250}\n"


def test(new_cluster):
    c = new_cluster("decoder-reload")
    decoders = os.path.join(c.dir, "decoders")
    shutil.copytree(os.path.join(ROOT, "rules", "decoders"), decoders)
    with open(c.server_config) as f:
        cfg = f.read()
    cfg = cfg.replace(os.path.join(ROOT, "rules", "decoders"), decoders)
    with open(c.server_config, "w") as f:
        f.write(cfg)
    server = c.start_server()
    path = os.path.join(c.dir, "vpn.log")
    with open(path, "w") as f:
        for i in range(10):
            f.write(line(i))
    c.add_agent("vpn-01", "TY-01", [("vpn", path)])
    agent = c.start_agent("vpn-01")
    wait_for(lambda: c.count_events(agent="vpn-01") >= 10, 60, "10 events", agent)
    before = c.all_events(agent="vpn-01")
    # Only the syslog framing knows these lines: no user, no source address.
    assert all(e["lianfang"]["decoder"] == "syslog-3164" and "user" not in e
               for e in before), before[0]

    with open(os.path.join(decoders, "acme-vpn.yaml"), "w") as f:
        f.write(RULE)
    server.signal(signal.SIGHUP)
    wait_for(lambda: "decoders reloaded" in open(os.path.join(c.dir, "lianfangd.log")).read(),
             30, "the reload", server)
    with open(path, "a") as f:
        for i in range(10, 20):
            f.write(line(i))
    wait_for(lambda: c.count_events(agent="vpn-01") >= 20, 60, "20 events", agent)
    after = [e for e in c.all_events(agent="vpn-01") if e["event"]["sequence"] > max(
        x["event"]["sequence"] for x in before)]
    assert len(after) == 10
    for e in after:
        assert e["lianfang"]["decoder"] == "acme-vpn", e["lianfang"]
        assert e["event"]["dataset"] == "acme.vpn" and e["user"]["name"].startswith("u")
        assert e["source"]["ip"].startswith("198.51.100.")
    status, metrics = c.get("/metrics")
    assert b'lianfang_ingest_decoded_total{decoder="acme-vpn"} 10' in metrics, metrics[:200]

    # A broken file: refused, the running decoders stay.
    with open(os.path.join(decoders, "broken.yaml"), "w") as f:
        f.write("decoders:\n  - name: broken\n    rules:\n      - regex: '(unclosed'\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "decoders not reloaded" in open(os.path.join(c.dir, "lianfangd.log")).read(),
             30, "the refusal", server)
    text = open(os.path.join(c.dir, "lianfangd.log")).read()
    assert "broken.yaml:" in text, text[-2000:]
    with open(path, "a") as f:
        f.write(line(99, "ok"))
    wait_for(lambda: c.count_events(agent="vpn-01") >= 21, 60, "21 events", agent)
    last = max(c.all_events(agent="vpn-01"), key=lambda e: e["event"]["sequence"])
    assert last["lianfang"]["decoder"] == "acme-vpn"
    assert server.alive()
    log("new decoder taken on SIGHUP; broken rule file refused, running decoders kept")


if __name__ == "__main__":
    main(test)
