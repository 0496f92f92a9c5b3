"""Agent enrolment and heartbeats, end to end.

lianfangd requires enrolment (enrolment.required) with a tokens file holding
one agency's token in clear and another's as sha256:<hex>. An agent with the
right token is shown enrolled with its host, OS, version and counters that
match what it sent; an agent with a wrong token is shown as refused, its
events are neither stored nor lost: after its token is fixed and it is
restarted, all its events arrive exactly once. A stopped agent turns silent
after three of its heartbeat intervals."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main, wait_for  # noqa: E402

GOOD_TOKEN = "tc01-enrolment-token-0123456789abcdef"
CH07_TOKEN = "ch07-enrolment-token-fedcba9876543210"
WRONG_TOKEN = "ch07-this-is-not-the-token-000000000"


def write_token(path, token):
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)


def agent_with_token(c, agent_id, agency, logfile, token_file):
    path = c.add_agent(agent_id, agency, [("syslog", logfile)])
    with open(path) as f:
        cfg = f.read()
    cfg = cfg.replace("  status_interval: 5s\n",
                      "  status_interval: 5s\n  heartbeat_interval: 1s\n"
                      f"  enrolment_token_file: {token_file}\n")
    with open(path, "w") as f:
        f.write(cfg)


def agent(c, agent_id):
    status, body = c.get_json(f"/api/v1/agents/{agent_id}")
    return body if status == 200 else None


def test(new_cluster):
    c = new_cluster("agents", server_extra="enrolment:\n  required: true\n"
                    "  tokens_file: TOKENS\n")
    tokens = os.path.join(c.dir, "tokens.yaml")
    with open(tokens, "w") as f:
        f.write(f'tokens:\n  TC-01: "{GOOD_TOKEN}"\n'
                f'  CH-07: "sha256:{hashlib.sha256(CH07_TOKEN.encode()).hexdigest()}"\n')
    with open(c.server_config) as f:
        cfg = f.read().replace("TOKENS", tokens)
    with open(c.server_config, "w") as f:
        f.write(cfg)
    c.start_server()

    good_log = os.path.join(c.dir, "good.log")
    bad_log = os.path.join(c.dir, "bad.log")
    good_token = os.path.join(c.dir, "good.token")
    bad_token = os.path.join(c.dir, "bad.token")
    write_token(good_token, GOOD_TOKEN)
    write_token(bad_token, WRONG_TOKEN)
    gw, bw = LineWriter(good_log, tag="good"), LineWriter(bad_log, tag="bad")
    gw.write(200)
    bw.write(300)
    agent_with_token(c, "good", "TC-01", good_log, good_token)
    agent_with_token(c, "bad", "CH-07", bad_log, bad_token)
    good = c.start_agent("good")
    bad = c.start_agent("bad")

    # The enrolled agent: its events, its registry record, its counters.
    check_exactly_once(c, "good", [gw], timeout=120)

    def counters_caught_up():
        a = agent(c, "good")
        return a and a["counters"] and a["counters"]["records_read"] == 200 and \
            a["counters"]["records_acked"] == 200
    wait_for(counters_caught_up, 60, "good's heartbeat counters to reach 200 acked")
    a = agent(c, "good")
    assert a["status"] == "healthy", a
    assert a["enrolled"] is True and a["enrolment"]["state"] == "enrolled", a
    assert a["enrolment"]["agency"] == "TC-01" and a["agency"] == "TC-01", a
    assert a["host"] == "host-good" and a["version"] == "0.1.0" and a["os"], a
    assert a["heartbeat_interval_ms"] == 1000 and a["heartbeats"] >= 1, a
    assert a["events_stored"] == 200 and a["counters"]["records_lost"] == 0, a
    assert a["counters"]["sources"] == 1 and a["counters"]["records_unacked"] == 0, a
    log("good: enrolled, healthy, counters match what was sent")

    # The agent with the wrong token: refused, nothing stored, nothing lost.
    def refused():
        b = agent(c, "bad")
        return b and b["status"] == "refused" and b["enrolment"]["refused_batches"] >= 1
    wait_for(refused, 60, "bad to be shown as refused")
    b = agent(c, "bad")
    assert b["enrolment"]["reason"] == "bad_proof" and not b["enrolled"], b
    assert b["enrolment"]["accepting"] is False and b["enrolment"]["failures"] >= 1, b
    assert b["host"] == "host-bad" and b["events_stored"] == 0, b
    assert c.count_events(agent="bad") == 0
    status, listed = c.get_json("/api/v1/agents?status=refused")
    assert status == 200 and [x["id"] for x in listed["agents"]] == ["bad"], listed
    status, listed = c.get_json("/api/v1/agents?agency=TC-01")
    assert [x["id"] for x in listed["agents"]] == ["good"], listed
    status, _ = c.get_json("/api/v1/agents?status=bogus")
    assert status == 400
    status, _ = c.get_json("/api/v1/agents/nobody")
    assert status == 404
    status, metrics = c.get("/metrics")
    text = metrics.decode()
    assert 'lianfang_agents{status="refused"} 1' in text, text[-3000:]
    assert 'lianfang_agents{status="healthy"} 1' in text, text[-3000:]
    assert 'lianfang_enrolment_failures_total{reason="bad_proof"}' in text
    refused_line = next(ln for ln in text.splitlines()
                        if ln.startswith('lianfang_enrolment_refused_batches_total{reason="bad_proof"}'))
    assert int(refused_line.split()[-1]) >= 1, refused_line
    log("bad: refused with the reason, nothing stored, counted in /metrics")

    # Fix the token and restart: everything arrives exactly once.
    bad.stop()
    st = c.agent_status("bad")
    assert st["unacked"]["records"] == 300, st  # kept in the journal
    write_token(bad_token, CH07_TOKEN)
    bad = c.start_agent("bad")
    check_exactly_once(c, "bad", [bw], timeout=120)

    def bad_enrolled():
        b = agent(c, "bad")
        return b and b["enrolled"] and b["status"] == "healthy"
    wait_for(bad_enrolled, 60, "bad to be enrolled and healthy")
    log("bad: enrolled after the fix, all 300 events stored exactly once")

    # A stopped agent turns silent after 3 x its 1 s heartbeat interval.
    good.stop()
    t0 = time.time()
    wait_for(lambda: agent(c, "good")["status"] == "silent", 30, "good to turn silent")
    log(f"good: silent {time.time() - t0:.1f}s after it stopped")
    status, listed = c.get_json("/api/v1/agents?status=silent")
    assert [x["id"] for x in listed["agents"]] == ["good"], listed
    bad.stop()


if __name__ == "__main__":
    main(test)
