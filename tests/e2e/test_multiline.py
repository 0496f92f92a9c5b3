"""Multi-line records end to end: an application log with Java stack traces
(a timestamped first line, then 'at ...' lines) tailed with multiline_start,
written in bursts while the agent is killed -9 and restarted: every record
is stored once, whole, with its continuation lines."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

RECORDS = 600


def record(i):
    ts = f"2026-03-10 09:{i // 60 % 60:02d}:{i % 60:02d}"
    if i % 3:
        return f"{ts} INFO request {i} done\n"
    return (f"{ts} ERROR request {i} failed\n"
            f"java.lang.IllegalStateException: state {i}\n"
            f"\tat tw.gov.app.Handler.run(Handler.java:{i})\n"
            f"\tat java.base/java.lang.Thread.run(Thread.java:833)\n")


def test(new_cluster):
    c = new_cluster("multiline")
    c.start_server()
    path = os.path.join(c.dir, "app.log")
    open(path, "w").close()
    c.add_agent("ml-01", "CH-07", [("java", path)])
    cfg = c.agents["ml-01"]
    with open(cfg) as f:
        text = f.read()
    text = text.replace("    start_at: beginning",
                        "    start_at: beginning\n    multiline_start: '^[0-9]{4}-[0-9]{2}-[0-9]{2} '", 1)
    with open(cfg, "w") as f:
        f.write(text)
    agent = c.start_agent("ml-01")
    with open(path, "a") as f:
        for i in range(RECORDS // 2):
            f.write(record(i))
            if i % 50 == 49:
                f.flush()
                time.sleep(0.05)
    time.sleep(0.5)
    agent.kill9()
    log("agent killed -9")
    with open(path, "a") as f:
        for i in range(RECORDS // 2, RECORDS):
            f.write(record(i))
    agent = c.start_agent("ml-01")
    wait_for(lambda: c.count_events(agent="ml-01") >= RECORDS, 120, f"{RECORDS} records", agent)
    time.sleep(2)
    events = c.all_events(agent="ml-01")
    assert len(events) == RECORDS, len(events)
    by_text = {}
    for e in events:
        orig = e["event"]["original"]
        by_text[orig] = by_text.get(orig, 0) + 1
    for i in range(RECORDS):
        want = record(i).rstrip("\n")
        assert by_text.get(want) == 1, f"record {i} stored {by_text.get(want)} times: {want!r}"
    log(f"{RECORDS} records, {RECORDS // 3} of them stack traces, each stored once and whole")


if __name__ == "__main__":
    main(test)
