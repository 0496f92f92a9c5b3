"""10,000 lines appended to a file reach the API through agent -> embedded
broker -> lianfangd -> LMDB, each exactly once, with the right ECS fields."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main, wait_for  # noqa: E402


def test(new_cluster):
    c = new_cluster("pipeline")
    c.start_server()
    logfile = os.path.join(c.dir, "app.log")
    open(logfile, "w").close()
    c.add_agent("web-01", "TC-01", [("syslog", logfile)])
    c.start_agent("web-01")
    w = LineWriter(logfile)
    w.write(10000, chunk=1000, delay=0.05)
    events = check_exactly_once(c, "web-01", [w], timeout=180)

    ev = next(e for e in events if e["message"].startswith("app line 0000042 "))
    assert ev["agent"]["id"] == "web-01"
    assert ev["agent"]["type"] == "lianfang-agent"
    assert ev["organization"]["id"] == "TC-01"
    assert ev["host"]["name"] == "host-web-01"
    assert ev["event"]["original"] == w.line(42) or ev["event"]["original"].endswith(
        "app line 0000042 payload=" + "x" * (42 % 37))
    assert ev["event"]["dataset"] == "syslog"
    assert ev["log"]["file"]["path"] == logfile
    assert ev["log"]["syslog"]["hostname"] == "src-host"
    assert ev["process"]["name"] == "app" and ev["process"]["pid"] == 1000 + 42 % 50
    assert ev["@timestamp"].endswith("Z") and ev["event"]["ingested"].endswith("Z")
    assert ev["lianfang"]["decoder"] == "syslog-3164"
    # log.offset is the byte offset of the line in the file
    with open(logfile, "rb") as f:
        f.seek(ev["log"]["offset"])
        assert f.readline().decode().rstrip("\n") == ev["event"]["original"]

    # newest first: @timestamp never increases along the listing
    stamps = [e["@timestamp"] for e in c.all_events(agent="web-01")]
    assert stamps == sorted(stamps, reverse=True)

    # one event by (agent, seq)
    status, one = c.get_json(f"/api/v1/events/web-01/{ev['event']['sequence']}")
    assert status == 200 and one["event"]["sequence"] == ev["event"]["sequence"]

    # agents: the watermark covers everything, the agent's journal empties
    def acked():
        st = c.agent_status("web-01")
        return st is not None and st["unacked"]["batches"] == 0
    c.procs[-1].stop()
    wait_for(acked, 60, "agent journal to empty")
    status, agents = c.get_json("/api/v1/agents")
    a = next(a for a in agents["agents"] if a["id"] == "web-01")
    assert a["events_stored"] == 10000 and a["agency"] == "TC-01", a
    # the page is served
    status, page = c.get("/")
    assert status == 200 and b"<html" in page.lower()
    status, metrics = c.get("/metrics")
    assert status == 200 and b"lianfang_ingest_events_stored_total 10000" in metrics, metrics[:2000]
    log("fields, order, agents, page and metrics verified")


if __name__ == "__main__":
    main(test)
