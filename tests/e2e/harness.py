"""End-to-end test harness: starts real lianfangd, lianfang-broker and
lianfang-agent processes on loopback with generated configurations in a
temporary directory, and talks to them through the HTTP API.

Every test is bounded in time; processes are killed when the test ends.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

BINDIR = os.environ.get("LF_BINDIR", "")


def binary(name):
    sub = {"lianfangd": "server", "lianfang-agent": "agent", "lianfang-broker": "broker"}[name]
    path = os.path.join(BINDIR, sub, name)
    if not os.path.exists(path):
        raise SystemExit(f"missing binary {path}: build first (LF_BINDIR={BINDIR})")
    return path


def free_port_block(count=1):
    """Finds `count` consecutive free loopback TCP ports."""
    for _ in range(200):
        base = random.randint(20000, 60000 - count)
        socks = []
        try:
            for i in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Proc:
    def __init__(self, name, args, logpath):
        self.name = name
        self.args = args
        self.logpath = logpath
        self.p = None

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.p = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        log(f"started {self.name} pid {self.p.pid}")
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(timeout=30)
            log(f"killed -9 {self.name}")

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, timeout=30):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                rc = self.p.wait()
                raise AssertionError(f"{self.name} did not stop on SIGTERM within {timeout}s")
            log(f"stopped {self.name} rc={rc}")
            return rc
        return self.p.returncode if self.p else None

    def tail(self, n=40):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


class Cluster:
    """One lianfangd (with embedded broker unless external_broker) and agents."""

    def __init__(self, name, external_broker=False, server_extra="", brokers=1):
        self.dir = tempfile.mkdtemp(prefix=f"lf-e2e-{name}-")
        self.external_broker = external_broker
        self.broker_port = free_port_block(brokers + 1)
        self.broker_count = brokers
        self.api_port = free_port_block(1)
        while self.broker_port <= self.api_port < self.broker_port + brokers:
            self.api_port = free_port_block(1)
        self.bootstrap = ",".join(f"127.0.0.1:{self.broker_port + i}" for i in range(brokers))
        self.procs = []
        self.server = None
        self.broker = None
        self.agents = {}
        cfg = f"""
log_level: info
embedded_broker:
  enabled: {"false" if external_broker else "true"}
  listen: 127.0.0.1:{self.broker_port}
  brokers: {brokers}
kafka:
  brokers: {self.bootstrap}
  linger: 2ms
ingest:
  ack_republish: 1s
  decoders_dir: {os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'rules', 'decoders'))}
detect:
  rules_dir: {os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'rules'))}
store:
  path: {self.dir}/store
  map_size: 2GiB
api:
  listen: 127.0.0.1:{self.api_port}
{server_extra}
"""
        self.server_config = os.path.join(self.dir, "lianfangd.yaml")
        with open(self.server_config, "w") as f:
            f.write(cfg)

    # -- processes ---------------------------------------------------------
    def start_broker(self):
        self.broker = Proc("lianfang-broker",
                           [binary("lianfang-broker"), "--listen",
                            f"127.0.0.1:{self.broker_port}", "--brokers", str(self.broker_count)],
                           os.path.join(self.dir, "broker.log")).start()
        self.procs.append(self.broker)
        wait_for(lambda: port_open(self.broker_port), 20, "broker port")

    def start_server(self, wait=True):
        self.server = Proc("lianfangd", [binary("lianfangd"), "--config", self.server_config],
                           os.path.join(self.dir, "lianfangd.log")).start()
        self.procs.append(self.server)
        if wait:
            wait_for(lambda: self.api_ok(), 60, "lianfangd API", self.server)
        return self.server

    def add_agent(self, agent_id, agency, files, extra=""):
        state = os.path.join(self.dir, f"agent-{agent_id}")
        sources = "\n".join(
            f"  - name: {src}\n    path: {path}\n    start_at: beginning" for src, path in files)
        cfg = f"""
agent:
  id: {agent_id}
  agency: {agency}
  host: host-{agent_id}
  state_dir: {state}
  status_interval: 5s
kafka:
  brokers: {self.bootstrap}
  linger: 2ms
sources:
{sources}
limits:
  ack_timeout: 5s
{extra}
"""
        path = os.path.join(self.dir, f"agent-{agent_id}.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        self.agents[agent_id] = path
        return path

    def add_syslog_agent(self, agent_id, agency, listeners, limits=""):
        """An agent whose sources are syslog listeners. `listeners` is the
        YAML of the list items (each line indented by two spaces), `limits`
        extra lines of the limits section (indented by two spaces)."""
        state = os.path.join(self.dir, f"agent-{agent_id}")
        cfg = f"""
agent:
  id: {agent_id}
  agency: {agency}
  host: host-{agent_id}
  state_dir: {state}
  status_interval: 1s
kafka:
  brokers: {self.bootstrap}
  linger: 2ms
listeners:
{listeners}
limits:
  ack_timeout: 5s
{limits}
"""
        path = os.path.join(self.dir, f"agent-{agent_id}.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        self.agents[agent_id] = path
        return path

    def agent_log(self, agent_id):
        try:
            with open(os.path.join(self.dir, f"agent-{agent_id}.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start_agent(self, agent_id):
        p = Proc(f"agent {agent_id}", [binary("lianfang-agent"), "--config", self.agents[agent_id]],
                 os.path.join(self.dir, f"agent-{agent_id}.log")).start()
        self.procs.append(p)
        return p

    def agent_status(self, agent_id):
        out = subprocess.run([binary("lianfang-agent"), "--config", self.agents[agent_id],
                              "--status"], capture_output=True, timeout=30)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def close(self, keep=False):
        for p in self.procs:
            if p.alive():
                p.p.kill()
                p.p.wait()
        if not keep and os.environ.get("LF_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self):
        for p in self.procs:
            print(f"----- {p.name} ({p.logpath}) -----")
            print(p.tail(60))

    # -- API ----------------------------------------------------------------
    def get(self, path, timeout=10):
        url = f"http://127.0.0.1:{self.api_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path):
        status, body = self.get(path)
        return status, json.loads(body)

    def api_ok(self):
        try:
            status, _ = self.get("/api/v1/health", timeout=2)
            return status in (200, 503)
        except (OSError, urllib.error.URLError):
            return False

    def all_events(self, **filters):
        """Every stored event matching filters, following cursors."""
        events = []
        cursor = None
        for _ in range(100000):
            q = dict(filters, limit=1000)
            if cursor:
                q["cursor"] = cursor
            status, body = self.get_json("/api/v1/events?" + urllib.parse.urlencode(q))
            assert status == 200, (status, body)
            events.extend(body["events"])
            cursor = body.get("next_cursor")
            if not cursor:
                return events
        raise AssertionError("pagination did not end")

    def count_events(self, **filters):
        return len(self.all_events(**filters))


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(pred, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class LineWriter:
    """Appends numbered lines to a log file: 'Mar 10 09:02:00 host app[1]: line N ...'."""

    def __init__(self, path, tag="app", start=0):
        self.path = path
        self.n = start
        self.tag = tag

    def line(self, i):
        ts = time.strftime("%b %e %H:%M:%S", time.localtime())
        return f"{ts} src-host {self.tag}[{1000 + i % 50}]: {self.tag} line {i:07d} payload={'x' * (i % 37)}"

    def write(self, count, chunk=500, delay=0.0):
        with open(self.path, "a") as f:
            for i in range(count):
                f.write(self.line(self.n) + "\n")
                self.n += 1
                if (i + 1) % chunk == 0:
                    f.flush()
                    if delay:
                        time.sleep(delay)

    def expected(self):
        return {f"{self.tag} line {i:07d}" for i in range(self.n)}


def check_exactly_once(cluster, agent_id, writers, timeout=180):
    """Waits until every line of every writer is stored, then asserts that
    each is stored exactly once with the right fields."""
    expected = set()
    for w in writers:
        expected |= w.expected()
    total = len(expected)
    last = -1
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = cluster.count_events(agent=agent_id)
        if n != last:
            log(f"{agent_id}: {n}/{total} stored")
            last = n
        if n >= total:
            break
        time.sleep(1)
    events = cluster.all_events(agent=agent_id)
    seen = {}
    seqs = set()
    for ev in events:
        msg = ev.get("message", "")
        key = " ".join(msg.split(" ")[:3])  # "<tag> line NNNNNNN"
        seen[key] = seen.get(key, 0) + 1
        seq = ev["event"]["sequence"]
        assert seq not in seqs, f"sequence {seq} stored twice"
        seqs.add(seq)
        assert ev["agent"]["id"] == agent_id
    missing = expected - set(seen)
    dups = {k: c for k, c in seen.items() if c > 1}
    extra = set(seen) - expected
    assert not missing, f"{len(missing)} lines never stored, e.g. {sorted(missing)[:5]}"
    assert not dups, f"{len(dups)} lines stored more than once, e.g. {list(dups.items())[:5]}"
    assert not extra, f"unexpected events: {sorted(extra)[:5]}"
    assert len(events) == total
    log(f"{agent_id}: all {total} lines stored exactly once")
    return events


def main(test):
    """Runs test(cluster_factory) and reports; exits non-zero on failure."""
    clusters = []

    def factory(*a, **kw):
        c = Cluster(*a, **kw)
        clusters.append(c)
        return c

    started = time.time()
    try:
        test(factory)
    except BaseException:
        for c in clusters:
            c.dump_logs()
        for c in clusters:
            c.close(keep=True)
            print(f"kept {c.dir} for inspection")
        raise
    for c in clusters:
        c.close()
    log(f"PASS in {time.time() - started:.1f}s")
