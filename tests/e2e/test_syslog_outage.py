"""Broker unavailable under syslog load: a sender writes to the agent's TCP
listener while lianfangd's embedded broker is taken down (SIGUSR1). The
agent's send window fills, then its spool fills to limits.spool_max_bytes,
then it stops reading the socket (the sender blocks). The broker comes back
(SIGUSR2): the spool drains, every line is stored exactly once with its
sender's address, the spool never passed its bound by more than one read,
and the agent's memory stayed bounded throughout."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import binary, check_exactly_once, free_port_block, log, main, port_open, wait_for  # noqa: E402

SPOOL_MAX = 8 << 20
SEGMENT = 1 << 20
TOTAL = 150000


class TcpSyslogSender:
    """Sends numbered RFC 3164 lines over one TCP connection (newline
    framing), about `rate` lines per second, blocking when the agent stops
    reading."""

    def __init__(self, port, tag, total, rate=20000):
        self.port = port
        self.tag = tag
        self.total = total
        self.rate = rate
        self.sent = 0
        self.last_progress = time.time()
        self.error = None
        self.local = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def line(self, i):
        ts = time.strftime("%b %e %H:%M:%S", time.localtime())
        return (f"<13>{ts} src-host {self.tag}[{1000 + i % 50}]: {self.tag} line {i:07d} "
                f"payload={'x' * (100 + i % 37)}\n")

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=600)
            self.local = "%s:%d" % s.getsockname()
            chunk = 500
            while self.sent < self.total:
                n = min(chunk, self.total - self.sent)
                data = "".join(self.line(self.sent + i) for i in range(n)).encode()
                started = time.time()
                s.sendall(data)
                self.sent += n
                self.last_progress = time.time()
                pause = n / self.rate - (time.time() - started)
                if pause > 0:
                    time.sleep(pause)
            s.close()
        except BaseException as e:  # reported by the test
            self.error = e

    def expected(self):
        return {f"{self.tag} line {i:07d}" for i in range(self.sent)}


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sanitized(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    return "libasan" in out.stdout


def test(new_cluster):
    c = new_cluster("syslog-outage")
    c.start_server()
    port = free_port_block(1)
    c.add_syslog_agent(
        "relay", "KH-01",
        f"  - name: net\n    protocol: tcp\n    listen: 127.0.0.1:{port}\n",
        f"  spool_max_bytes: {SPOOL_MAX}\n  spool_segment_bytes: {SEGMENT}\n")
    agent = c.start_agent("relay")
    wait_for(lambda: port_open(port), 30, "the agent's syslog port", agent)
    sender = TcpSyslogSender(port, "relay", TOTAL)
    sender.thread.start()
    time.sleep(2)
    assert sender.error is None, sender.error

    c.server.signal(signal.SIGUSR1)
    log(f"broker down with {sender.sent} lines sent")
    max_spool = 0
    rss_kib = []
    deadline = time.time() + 60
    full_since = None
    while time.time() < deadline:
        st = c.agent_status("relay")
        if st:
            max_spool = max(max_spool, st["spool"]["bytes"])
        rss_kib.append(proc_kib(agent.p.pid, "VmRSS"))
        blocked = time.time() - sender.last_progress > 2 and sender.sent < TOTAL
        if blocked and max_spool >= SPOOL_MAX and full_since is None:
            full_since = time.time()
            log(f"spool full ({max_spool} bytes), sender blocked after {sender.sent} lines")
        if full_since and time.time() - full_since > 3:
            break
        time.sleep(0.5)
    assert full_since, f"the spool never filled (max {max_spool} bytes, {sender.sent} sent)"
    assert "spool full" in c.agent_log("relay")

    c.server.signal(signal.SIGUSR2)
    log(f"broker up with {sender.sent} lines sent")
    while sender.thread.is_alive():
        st = c.agent_status("relay")
        if st:
            max_spool = max(max_spool, st["spool"]["bytes"])
        rss_kib.append(proc_kib(agent.p.pid, "VmRSS"))
        time.sleep(0.5)
    assert sender.error is None, sender.error
    assert sender.sent == TOTAL

    events = check_exactly_once(c, "relay", [sender], timeout=300)
    for e in events:
        assert e["log"]["source"]["address"] == sender.local, e["log"]
    log(f"every event carries log.source.address {sender.local}")

    # The spool stayed within its bound (plus at most one 64 KiB read and
    # the record being written), and drains once everything is stored.
    assert max_spool <= SPOOL_MAX + (256 << 10), max_spool
    wait_for(lambda: (c.agent_status("relay") or {}).get("spool", {}).get("bytes", 1 << 40)
             <= SEGMENT + (256 << 10), 60, "the spool to drain")
    peak = max(rss_kib)
    hwm = proc_kib(agent.p.pid, "VmHWM")
    asan = sanitized(binary("lianfang-agent"))
    bound = (1024 if asan else 96) << 10
    log(f"agent RSS peak {peak} KiB (VmHWM {hwm} KiB), bound {bound} KiB"
        f"{' (sanitizer build)' if asan else ''}; spool peak {max_spool} bytes")
    assert hwm <= bound, f"agent memory {hwm} KiB above {bound} KiB"
    assert agent.stop() == 0
    counters = c.agent_status("relay")["counters"]
    log(f"counters: {counters}")
    assert counters["spool_paused"] >= 1
    assert counters["syslog_received"] == TOTAL
    assert counters["syslog_malformed"] == 0


if __name__ == "__main__":
    main(test)
