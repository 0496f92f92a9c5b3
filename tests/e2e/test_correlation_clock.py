"""Correlation windows that close on the clock: a rule whose condition is
decided at the window's end (fewer than three failed logins from one
address in 5 s, with 10 s of lateness) fires after the last event, while no further events
arrive, because lianfangd's correlation clock runs a batch of its own
(detect.correlation_clock). The alert is the agency's (its group-by
carries organization.id) and opens an incident of that agency; the
address with three failures raises nothing."""
import os
import shutil
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402
from test_correlation import failures  # noqa: E402

RULE = "5c2e9b17-0d4a-4f63-9b8e-7a1d3c5e2f90"
RULES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "rules"))
CLOCK_RULE = f"""title: Few failed logins from one address
id: {RULE}
correlation:
  type: event_count
  rules:
    - 7d1f2c3a-5b7e-4c1e-9a51-0c3f6e8b2a01
  group-by:
    - source.ip
  timespan: 5s
  condition:
    lt: 3
level: high
"""


def alerts(c):
    status, body = c.get_json("/api/v1/alerts?" + urllib.parse.urlencode({"rule": RULE}))
    assert status == 200, body
    return body["alerts"]


def test(new_cluster):
    c = new_cluster("corrclock")
    rules = os.path.join(c.dir, "rules")
    shutil.copytree(RULES, rules)
    with open(os.path.join(rules, "sigma", "correlations", "test_clock.yml"), "w") as f:
        f.write(CLOCK_RULE)
    with open(c.server_config) as f:
        cfg = f.read()
    cfg = cfg.replace(f"detect:\n  rules_dir: {RULES}\n",
                      f"detect:\n  rules_dir: {rules}\n  correlation_clock: 1s\n"
                      "  correlation:\n    lateness: 10s\n")
    assert "correlation_clock" in cfg, cfg
    with open(c.server_config, "w") as f:
        f.write(cfg)
    server = c.start_server()
    path = os.path.join(c.dir, "auth.log")
    open(path, "w").close()
    c.add_agent("ssh-01", "CH-07", [("auth", path)])
    agent = c.start_agent("ssh-01")
    failures(path, "203.0.113.50", 1, 0)
    failures(path, "203.0.113.51", 3, 10)
    wait_for(lambda: c.count_events(agent="ssh-01") >= 4, 60, "4 events", agent)
    stored = time.time()
    assert alerts(c) == []
    # No more events: only the clock can close the window.
    wait_for(lambda: len(alerts(c)) >= 1, 40, "the alert of the window closed on the clock",
             server)
    log(f"alert {time.time() - stored:.1f} s after the last event was stored")
    time.sleep(3)
    got = alerts(c)
    assert len(got) == 1, got
    assert "203.0.113.50" in str(got[0]), got[0]
    status, body = c.get_json("/api/v1/incidents?agency=CH-07")
    assert status == 200, body
    inc = [i for i in body["incidents"] if RULE in i.get("rule_ids", [])]
    assert len(inc) == 1, body
    assert "203.0.113.50" in inc[0]["entities"]["source.ip"], inc[0]
    log("one alert for the lone failure, closed on the clock; an incident of CH-07")


if __name__ == "__main__":
    main(test)
