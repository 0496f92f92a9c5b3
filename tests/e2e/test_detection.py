"""Detection end to end: sshd failures from a listed address reach the
store as events and raise Sigma and STIX-indicator alerts, each exactly once
per event even when lianfangd is killed -9 in the middle; benign lines raise
none. Alerts are visible through /api/v1/alerts with rule, ATT&CK and
indicator details."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

SSHD_RULE = "7d1f2c3a-5b7e-4c1e-9a51-0c3f6e8b2a01"


def alerts(c, **q):
    out, cursor = [], None
    while True:
        params = dict(q, limit=1000)
        if cursor:
            params["cursor"] = cursor
        import urllib.parse
        status, body = c.get_json("/api/v1/alerts?" + urllib.parse.urlencode(params))
        assert status == 200, body
        out += body["alerts"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def test(new_cluster):
    c = new_cluster("detection")
    c.start_server()
    path = os.path.join(c.dir, "auth.log")
    open(path, "w").close()
    c.add_agent("ssh-01", "CH-07", [("auth", path)])
    c.start_agent("ssh-01")
    failures = 0
    benign = 0
    stop = threading.Event()

    def writer():
        nonlocal failures, benign
        i = 0
        while not stop.is_set() and i < 3000:
            with open(path, "a") as f:
                for _ in range(50):
                    ts = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
                    if i % 3 == 0:
                        f.write(f"{ts} appt01 sshd[{2000 + i}]: Failed password for invalid user "
                                f"u{i} from 203.0.113.45 port {40000 + i} ssh2\n")
                        failures += 1
                    else:
                        f.write(f"{ts} appt01 CRON[{3000 + i}]: (root) CMD (job {i})\n")
                        benign += 1
                    i += 1
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.5)
    c.server.kill9()
    log("lianfangd killed mid-stream")
    time.sleep(0.5)
    c.start_server()
    t.join()
    total = failures + benign
    log(f"{failures} failures and {benign} benign lines written")
    wait_for(lambda: c.count_events(agent="ssh-01") >= total, 240, f"{total} events")
    time.sleep(2)

    sigma = alerts(c, rule=SSHD_RULE)
    assert len(sigma) == failures, f"{len(sigma)} sigma alerts for {failures} failures"
    seqs = [a["event"]["sequence"] for a in sigma]
    assert len(set(seqs)) == len(seqs), "an event raised the same alert twice"
    a = sigma[0]
    assert a["alert"]["type"] == "sigma" and a["alert"]["level"] == "low"
    assert a["organization"]["id"] == "CH-07" and a["agent"]["id"] == "ssh-01"
    assert "T1110.001" in a["threat"]["technique"]["id"]
    assert a["rule"]["name"].startswith("SSH login failure")

    every = alerts(c)
    intel = [x for x in every if x["alert"]["type"] == "intel"]
    events = c.all_events(agent="ssh-01")
    with_ip = [e for e in events if e.get("source", {}).get("ip") == "203.0.113.45"]
    if with_ip:
        # The decoder extracted source.ip: every such event hits the indicator once.
        assert len(intel) == len(with_ip), (len(intel), len(with_ip))
        assert intel[0]["indicator"]["matched_value"] == "203.0.113.45"
        assert intel[0]["indicator"]["tlp"]
    benign_alerts = [x for x in every if "CRON" in x.get("event", {}).get("original", "")]
    assert not benign_alerts, benign_alerts[:2]
    status, metrics = c.get("/metrics")
    assert f'lianfang_detect_alerts_total{{type="sigma"}}'.encode() in metrics
    log(f"{len(sigma)} sigma and {len(intel)} indicator alerts, each once")


if __name__ == "__main__":
    main(test)
