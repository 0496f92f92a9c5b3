"""Sigma correlation across a kill -9 of lianfangd: six failed SSH logins
from one address, lianfangd killed -9 once they are stored, restarted,
six more: the brute-force correlation (10 failures in 5 minutes from one
source) fires exactly once, because its window was committed with the
events and restored at start; a second address with only eight failures
raises nothing. The alert is the agency's and joins one of its incidents."""
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

RULE = "9a4f2d61-3b8c-4e7a-a5d2-1f6c8b3e9d21"


def failures(path, ip, n, first):
    with open(path, "a") as f:
        for i in range(n):
            ts = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
            f.write(f"{ts} appt01 sshd[{first + i}]: Failed password for invalid user u{first + i} "
                    f"from {ip} port {40000 + first + i} ssh2\n")


def correlation_alerts(c):
    status, body = c.get_json("/api/v1/alerts?" + urllib.parse.urlencode({"rule": RULE}))
    assert status == 200, body
    return body["alerts"]


def test(new_cluster):
    c = new_cluster("correlation")
    server = c.start_server()
    path = os.path.join(c.dir, "auth.log")
    open(path, "w").close()
    c.add_agent("ssh-01", "CH-07", [("auth", path)])
    agent = c.start_agent("ssh-01")
    failures(path, "203.0.113.77", 6, 0)
    failures(path, "198.51.100.23", 8, 100)
    wait_for(lambda: c.count_events(agent="ssh-01") >= 14, 60, "14 events", agent)
    time.sleep(1)
    assert correlation_alerts(c) == []
    server.kill9()
    log("lianfangd killed -9 in the middle of the window")
    server = c.start_server()
    failures(path, "203.0.113.77", 6, 200)
    wait_for(lambda: c.count_events(agent="ssh-01") >= 20, 60, "20 events", agent)
    wait_for(lambda: len(correlation_alerts(c)) >= 1, 30, "the correlation alert", server)
    time.sleep(2)
    alerts = correlation_alerts(c)
    assert len(alerts) == 1, alerts
    a = alerts[0]
    assert "203.0.113.77" in str(a.get("correlation", a)), a
    # The correlation alert belongs to the agency (group_by_agency) and is
    # grouped into an incident of that agency with the attacking address.
    status, body = c.get_json("/api/v1/incidents?agency=CH-07")
    assert status == 200, body
    corr = [i for i in body["incidents"] if RULE in i.get("rule_ids", [])]
    assert len(corr) == 1, body
    assert corr[0]["alert_count"] == 1, corr[0]
    assert "203.0.113.77" in corr[0]["entities"]["source.ip"], corr[0]
    text = open(os.path.join(c.dir, "lianfangd.log")).read()
    assert "window group(s) restored" in text, text[-1500:]
    log("one brute-force alert across the restart; none for the address below threshold")


if __name__ == "__main__":
    main(test)
