"""journald source end to end: journal files written by systemd-journal-remote
into a directory, read by the agent's journald source (with a match), the
agent killed -9 in the middle and restarted, more entries appended while it
runs. Every matching entry is stored exactly once with its ECS fields;
entries the match excludes are not sent; a re-sent batch carries the same
sequence numbers."""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
FIRST = 3000    # written before the agent starts
LATER = 300     # written while it runs, across the kill
APPENDED = 200  # written after the restart
BOOT_ID = "0123456789abcdef0123456789abcdef"


class JournalWriter:
    """Appends entries to DIR/remote.journal through systemd-journal-remote
    (Journal Export Format on its stdin). Every fifth entry is from
    other.service (excluded by the source's match)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "remote.journal")
        self.n = 0
        self.t0 = int(time.time() * 1e6)
        self.lock = threading.Lock()

    def entry(self, i):
        unit = "other.service" if i % 5 == 4 else "app.service"
        return (f"__REALTIME_TIMESTAMP={self.t0 + i}\n__MONOTONIC_TIMESTAMP={1000 + i}\n"
                f"_BOOT_ID={BOOT_ID}\n_HOSTNAME=jhost\nSYSLOG_IDENTIFIER=app\n"
                f"_PID={2000 + i % 7}\nPRIORITY={i % 8}\nSYSLOG_FACILITY=3\n"
                f"_SYSTEMD_UNIT={unit}\nMESSAGE=journal entry {i:06d} \"quoted\"\n\n")

    def write(self, count):
        with self.lock:
            text = "".join(self.entry(self.n + i) for i in range(count))
            subprocess.run([JOURNAL_REMOTE, "-o", self.path, "-"], input=text.encode(),
                           check=True, capture_output=True, timeout=60)
            self.n += count

    def expected(self):
        return {i for i in range(self.n) if i % 5 != 4}


def add_journald_agent(c, agent_id, directory):
    state = os.path.join(c.dir, f"agent-{agent_id}")
    cfg = f"""
agent:
  id: {agent_id}
  agency: TP-03
  host: host-{agent_id}
  state_dir: {state}
  status_interval: 1s
kafka:
  brokers: {c.bootstrap}
  linger: 2ms
journald:
  - name: journal
    directory: {directory}
    start_at: beginning
    matches: [_SYSTEMD_UNIT=app.service]
limits:
  ack_timeout: 5s
  batch_max_records: 25
"""
    path = os.path.join(c.dir, f"agent-{agent_id}.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    c.agents[agent_id] = path


def check(c, agent_id, w):
    expected = w.expected()
    wait_for(lambda: c.count_events(agent=agent_id) >= len(expected), 180,
             f"{len(expected)} journal entries stored")
    time.sleep(2)
    events = c.all_events(agent=agent_id)
    seen, seqs = {}, set()
    for ev in events:
        msg = ev["message"]
        assert msg.startswith("journal entry ") and msg.endswith(' "quoted"'), msg
        i = int(msg.split(" ")[2])
        seen[i] = seen.get(i, 0) + 1
        seq = ev["event"]["sequence"]
        assert seq not in seqs, f"sequence {seq} stored twice"
        seqs.add(seq)
        assert ev["lianfang"]["decoder"] == "journald", ev["lianfang"]
        assert ev["lianfang"]["source"] == "journal"
        assert ev["host"]["name"] == f"host-{agent_id}"
        assert ev["log"]["syslog"]["hostname"] == "jhost"
        assert ev["process"]["name"] == "app"
        assert ev["process"]["pid"] == 2000 + i % 7
        assert ev["log"]["syslog"]["severity"]["code"] == i % 8
        assert ev["log"]["syslog"]["facility"]["code"] == 3
        assert ev["systemd"]["unit"] == "app.service"
        want_ms = (w.t0 + i) // 1000
        got = ev["@timestamp"]
        assert got.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(want_ms / 1000))), \
            (got, want_ms)
        assert "flags" not in ev["lianfang"] or "record_lost" not in ev["lianfang"]["flags"]
    missing = expected - set(seen)
    dups = {k: n for k, n in seen.items() if n > 1}
    extra = set(seen) - expected
    assert not missing, f"{len(missing)} entries never stored, e.g. {sorted(missing)[:5]}"
    assert not dups, f"{len(dups)} entries stored more than once, e.g. {list(dups.items())[:5]}"
    assert not extra, f"entries outside the match stored: {sorted(extra)[:5]}"
    assert len(events) == len(expected)
    return events


def test(new_cluster):
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        raise AssertionError(f"{JOURNAL_REMOTE} is missing: install systemd-journal-remote "
                             "(packaging/install-deps.sh)")
    c = new_cluster("journald")
    jdir = os.path.join(c.dir, "journal")
    os.mkdir(jdir)
    w = JournalWriter(jdir)
    for _ in range(3):
        w.write(FIRST // 3)
    add_journald_agent(c, "jd-01", jdir)

    # lianfangd (and its broker) not up yet: the agent reads and journals
    # batches it cannot deliver; kill -9 leaves them in its journal.
    agent = c.start_agent("jd-01")
    wait_for(lambda: "batches_produced=0 " not in c.agent_log("jd-01").split("records_read=")[-1]
             and "records_read=" in c.agent_log("jd-01"), 60, "batches journalled", agent)
    agent.kill9()
    log("agent killed -9 with journalled, undelivered batches")
    c.start_server()
    agent = c.start_agent("jd-01")

    # Entries keep coming while the agent is killed -9 in the middle.
    stop = threading.Event()

    def writer():
        written = 0
        while not stop.is_set() and written < LATER:
            w.write(30)
            written += 30
            time.sleep(0.1)

    t = threading.Thread(target=writer)
    t.start()
    try:
        # Killed as soon as the first entries are stored: batches are still
        # journalled and unacknowledged, so the restart re-sends them.
        wait_for(lambda: c.count_events(agent="jd-01") >= 1, 60, "the first entries stored",
                 agent)
        agent.kill9()
        log(f"agent killed -9 after {c.count_events(agent='jd-01')} stored, {w.n} written")
        time.sleep(0.5)
        agent = c.start_agent("jd-01")
    finally:
        t.join()
    events = check(c, "jd-01", w)
    log(f"{len(events)} entries stored exactly once across the kill")
    resent = [int(n) for n in re.findall(r"(\d+) journalled batches to re-send",
                                         c.agent_log("jd-01"))]
    assert len(resent) == 3 and resent[1] > 0, f"no re-send after the kill: {resent}"
    log(f"the restarts re-sent {resent[1]} and {resent[2]} journalled batches")

    # Appended while the agent runs: they arrive without a restart.
    w.write(APPENDED)
    events = check(c, "jd-01", w)
    log(f"{len(events)} entries after {APPENDED} more were appended while running")
    status = c.agent_status("jd-01")
    assert status is not None and status["unacked"]["lost_records"] == 0, status
    assert agent.alive()
    agent_log = c.agent_log("jd-01")
    assert "journald source journal: reading" in agent_log, agent_log[-2000:]


if __name__ == "__main__":
    main(test)
