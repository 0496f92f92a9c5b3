#!/usr/bin/env python3
"""Syslog reception: lianfang-agent against rsyslog and syslog-ng, same load,
same run. A benchmark: it prints figures and never fails on them.

For each receiver and mode the driver starts the receiver fresh, sends N
messages from one connection with bench/syslog_loadgen (RFC 3164, newline
framing over TCP; one datagram each over UDP), waits until everything that
will arrive has arrived, and prints messages/s, CPU seconds of the receiver
(utime+stime of /proc/<pid>/stat, all threads, from just before the first
message to the end), messages per CPU-second and loss (sent - received).

What "received" means:
  lianfang  (and lianfang-nosync, the same without fsyncs)
            records acknowledged by the broker and read back from it by
            bench/ack_sink, which also publishes the stored watermark the way
            lianfangd does, so the agent's send window runs as in production.
            The agent spools each message to disk (fsync per loop iteration),
            journals each batch in LMDB (fsync) and produces it with acks=all
            to lianfang-broker (the embedded broker as its own process).
  rsyslog   lines in its output file (imtcp/imudp -> omfile, %rawmsg%).
  syslog-ng lines in its output file (network() -> file(), flow-control).
Elapsed time runs from the first message sent to the last record/line seen.

  python3 bench/syslog_compare.py [--tcp-count N] [--udp-count N] [--udp-rate R]
                                  [--rounds 3] [--bindir build/release]

Needs rsyslogd (apt-get install -y rsyslog) and syslog-ng. Debian's rsyslog
and syslog-ng-core packages conflict; to have both, install rsyslog and
unpack syslog-ng-core beside it with --fetch-syslog-ng (apt-get download
syslog-ng-core, dpkg -x into --syslog-ng-root, its library dependencies
from apt: libivykis0 libnet1 libjson-c5 libwrap0 libpcre3).
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return 0.0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    for _ in range(100):
        s_t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s_u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s_t.bind(("127.0.0.1", 0))
            port = s_t.getsockname()[1]
            s_u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s_t.close()
            s_u.close()
    raise RuntimeError("no free port")


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parse_kv(line):
    return {k: v for k, v in (w.split("=", 1) for w in line.split() if "=" in w)}


def loadgen(tools, mode, port, count, rate):
    out = subprocess.run([os.path.join(tools, "syslog_loadgen"), f"--{mode}",
                          f"127.0.0.1:{port}", "--count", str(count), "--rate", str(rate)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"syslog_loadgen failed: {out.stderr.strip()}")
    kv = parse_kv(out.stdout)
    return int(kv["sent"]), float(kv["start_unix"]), float(kv["end_unix"])


class FileCounter:
    """Counts newline-terminated lines of a growing file incrementally."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.lines = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                while True:
                    b = f.read(1 << 22)
                    if not b:
                        break
                    self.lines += b.count(b"\n")
                    self.pos += len(b)
        except FileNotFoundError:
            pass
        return self.lines


def wait_file(counter, expect, idle, start_unix):
    """Polls until `expect` lines or `idle` seconds without growth; returns
    (lines, unix time the last growth was seen)."""
    last_n, last_t = counter.poll(), time.time()
    while last_n < expect:
        time.sleep(0.01)
        n = counter.poll()
        now = time.time()
        if n != last_n:
            last_n, last_t = n, now
        elif now - last_t >= idle:
            break
    return last_n, last_t


# ---- receivers -------------------------------------------------------------

class Lianfang:
    name = "lianfang-agent"
    limits = []

    def __init__(self, work, tools, args):
        self.work, self.tools, self.args = work, tools, args


    def run(self, mode, count, rate, trial):
        d = os.path.join(self.work, f"lf-{trial}-{self.name}")
        os.makedirs(d)
        kport, port = free_port(), free_port()
        broker = subprocess.Popen([os.path.join(self.tools, "lianfang-broker"), "--listen",
                                   f"127.0.0.1:{kport}"], stdout=open(f"{d}/broker.log", "w"),
                                  stderr=subprocess.STDOUT)
        agent = sink = None
        try:
            wait_port(kport, broker)
            extra = "".join(f"  {line}\n" for line in self.limits + self.args.agent_limits)
            with open(f"{d}/agent.yaml", "w") as f:
                f.write(f"""agent:
  id: bench
  agency: TC-01
  host: bench-host
  state_dir: {d}/state
  status_interval: 5s
kafka:
  brokers: 127.0.0.1:{kport}
listeners:
  - name: net-tcp
    protocol: tcp
    listen: 127.0.0.1:{port}
  - name: net-udp
    protocol: udp
    listen: 127.0.0.1:{port}
    receive_buffer: {self.args.rcvbuf}
limits:
{extra or "  ack_timeout: 30s"}
""")
            agent = subprocess.Popen([os.path.join(self.tools, "lianfang-agent"), "--config",
                                      f"{d}/agent.yaml"], stdout=open(f"{d}/agent.log", "w"),
                                     stderr=subprocess.STDOUT)
            wait_port(port, agent)
            sink = subprocess.Popen([os.path.join(self.tools, "ack_sink"), "--brokers",
                                     f"127.0.0.1:{kport}", "--expect", str(count), "--idle",
                                     str(self.args.idle), "--timeout", "900"],
                                    stdout=subprocess.PIPE, stderr=open(f"{d}/sink.log", "w"),
                                    text=True)
            deadline = time.time() + 30
            while "reading events" not in open(f"{d}/sink.log").read():
                if time.time() > deadline or sink.poll() is not None:
                    raise RuntimeError("ack_sink did not start")
                time.sleep(0.05)
            time.sleep(0.5)  # let the agent's heartbeat and metadata settle
            c0 = cpu_seconds(agent.pid)
            b0 = cpu_seconds(broker.pid)
            s0 = cpu_seconds(sink.pid)
            sent, t_start, _ = loadgen(self.tools, mode, port, count, rate)
            b1 = s1 = c1 = 0.0
            out = ""
            while sink.poll() is None:
                c1, b1, s1 = cpu_seconds(agent.pid), cpu_seconds(broker.pid), cpu_seconds(sink.pid)
                time.sleep(0.02)
            out = sink.stdout.read()
            c2 = cpu_seconds(agent.pid)
            c1 = max(c1, c2)
            kv = parse_kv(out)
            received = int(kv.get("records", 0))
            t_last = float(kv.get("last_unix", 0)) or time.time()
            return dict(sent=sent, received=received, secs=t_last - t_start, cpu=c1 - c0,
                        extra=f"broker {b1 - b0:.2f} CPU-s, ack_sink {s1 - s0:.2f} CPU-s")
        finally:
            stop(sink)
            stop(agent)
            stop(broker)
            if not self.args.keep:
                shutil.rmtree(d, ignore_errors=True)


class LianfangNoSync(Lianfang):
    """The agent without fsyncs (spool and state), the durability rsyslog's
    and syslog-ng's file outputs have by default: a crash of the machine may
    lose or re-send the last records."""
    name = "lianfang-nosync"
    limits = ["state_sync: false", "spool_sync: off"]


class FileReceiver:
    def run(self, mode, count, rate, trial):
        d = os.path.join(self.work, f"{self.short}-{trial}")
        os.makedirs(d)
        port = free_port()
        out = f"{d}/out.log"
        proc = self.start(d, port, out)
        try:
            wait_port(port, proc)
            time.sleep(0.3)
            counter = FileCounter(out)
            c0 = cpu_seconds(proc.pid)
            sent, t_start, _ = loadgen(self.tools, mode, port, count, rate)
            received, t_last = wait_file(counter, sent, self.args.idle, t_start)
            cpu = cpu_seconds(proc.pid) - c0
            return dict(sent=sent, received=received, secs=t_last - t_start, cpu=cpu, extra="")
        finally:
            stop(proc)
            if not self.args.keep:
                shutil.rmtree(d, ignore_errors=True)


class Rsyslog(FileReceiver):
    name = "rsyslog"
    short = "rs"

    def __init__(self, work, tools, args):
        self.work, self.tools, self.args = work, tools, args
        self.bin = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"

    def version(self):
        out = subprocess.run([self.bin, "-v"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "?"

    def start(self, d, port, out):
        # Both inputs feed one ruleset whose only action writes the message as
        # received (%rawmsg%) to a file: the closest rsyslog comes to the
        # agent's job (which does not parse). rsyslog still runs its default
        # RFC 3164/5424 parsers; omfile writes without fsync; no DNS lookups
        # of senders (the agent records the address only).
        conf = f"""global(workDirectory="{d}" net.enableDNS="off")
module(load="imtcp")
module(load="imudp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="raw")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="bench" rcvbufSize="{self.args.rcvbuf}")
"""
        with open(f"{d}/rsyslog.conf", "w") as f:
            f.write(conf)
        return subprocess.Popen([self.bin, "-n", "-f", f"{d}/rsyslog.conf", "-i", f"{d}/pid"],
                                stdout=open(f"{d}/rsyslog.log", "w"), stderr=subprocess.STDOUT)


class SyslogNg(FileReceiver):
    name = "syslog-ng"
    short = "ng"

    def __init__(self, work, tools, args):
        self.work, self.tools, self.args = work, tools, args
        self.env = dict(os.environ)
        self.modpath = []
        root = args.syslog_ng_root
        if shutil.which("syslog-ng") and not root:
            self.bin = shutil.which("syslog-ng")
        else:
            self.bin = os.path.join(root, "usr/sbin/syslog-ng")
            libdir = os.path.join(root, "usr/lib/syslog-ng")
            self.env["LD_LIBRARY_PATH"] = libdir
            ver = sorted(x for x in os.listdir(libdir) if x[:1].isdigit())[-1]
            self.modpath = [f"--module-path={os.path.join(libdir, ver)}"]

    def version(self):
        out = subprocess.run([self.bin, "--version"] + self.modpath, capture_output=True,
                             text=True, env=self.env).stdout
        return out.splitlines()[0] if out else "?"

    def start(self, d, port, out):
        # network() parses RFC 3164/5424 by default (no DNS lookups, as the
        # agent and rsyslog are configured); flow-control makes the
        # TCP source wait for the file destination instead of dropping when
        # its queue fills (the agent and rsyslog do not drop over TCP either).
        conf = f"""@version: 3.38
options {{ stats_freq(0); use_dns(no); keep_hostname(yes); }};
source s_net {{
  network(ip("127.0.0.1") port({port}) transport("tcp"));
  network(ip("127.0.0.1") port({port}) transport("udp") so-rcvbuf({self.args.rcvbuf}));
}};
destination d_file {{ file("{out}"); }};
log {{ source(s_net); destination(d_file); flags(flow-control); }};
"""
        with open(f"{d}/syslog-ng.conf", "w") as f:
            f.write(conf)
        return subprocess.Popen([self.bin, "-F", "-f", f"{d}/syslog-ng.conf", "--no-caps",
                                 "-R", f"{d}/persist", "-p", f"{d}/pid", "-c", f"{d}/ctl"]
                                + self.modpath, env=self.env,
                                stdout=open(f"{d}/syslog-ng.log", "w"), stderr=subprocess.STDOUT)


def fetch_syslog_ng(root):
    print(f"unpacking Debian's syslog-ng-core into {root} (apt-get download + dpkg -x; "
          "it conflicts with the rsyslog package, so it is not installed)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "libivykis0", "libnet1", "libjson-c5",
                    "libwrap0", "libpcre3", "libglib2.0-0", "libcap2"], check=True,
                   stdout=subprocess.DEVNULL)
    os.makedirs(root, exist_ok=True)
    subprocess.run(["apt-get", "download", "syslog-ng-core"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    deb = [f for f in os.listdir(root) if f.endswith(".deb")][0]
    subprocess.run(["dpkg", "-x", deb, root], cwd=root, check=True)


def fmt_rate(x):
    return f"{x:,.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tcp-count", type=int, default=2_000_000)
    ap.add_argument("--udp-count", type=int, default=1_000_000)
    ap.add_argument("--udp-rate", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="tcp,udp")
    ap.add_argument("--receivers", default="lianfang,lianfang-nosync,rsyslog,syslog-ng",
                    help="lianfang (defaults: fsync of spool and state), lianfang-nosync "
                         "(state_sync: false, spool_sync: off), rsyslog, syslog-ng")
    ap.add_argument("--bindir", default=os.path.join(HERE, "..", "build", "release"))
    ap.add_argument("--rcvbuf", type=int, default=8 * 1024 * 1024,
                    help="UDP receive buffer asked for by every receiver (bytes)")
    ap.add_argument("--idle", type=int, default=5,
                    help="seconds without new records that end a trial")
    ap.add_argument("--agent-limit", dest="agent_limits", action="append", default=[],
                    help="extra agent limits line, e.g. 'spool_sync: off' (repeatable)")
    ap.add_argument("--syslog-ng-root", default="",
                    help="directory where syslog-ng-core was unpacked (dpkg -x)")
    ap.add_argument("--fetch-syslog-ng", action="store_true",
                    help="unpack syslog-ng-core into --syslog-ng-root if it is missing")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    bindir = os.path.abspath(args.bindir)
    work = tempfile.mkdtemp(prefix="lf-syslog-compare-")
    tools = os.path.join(work, "bin")
    os.makedirs(tools)
    # A private copy, so a rebuild during the run does not change the binaries.
    for sub, name in [("agent", "lianfang-agent"), ("broker", "lianfang-broker"),
                      ("bench", "ack_sink"), ("bench", "syslog_loadgen")]:
        src = os.path.join(bindir, sub, name)
        if not os.path.exists(src):
            sys.exit(f"missing {src}: ninja -C {args.bindir} lianfang-agent lianfang-broker "
                     "ack_sink syslog_loadgen")
        shutil.copy2(src, tools)

    wanted = args.receivers.split(",")
    if "rsyslog" in wanted and not (shutil.which("rsyslogd") or os.path.exists(
            "/usr/sbin/rsyslogd")):
        sys.exit("rsyslogd not found: apt-get install -y rsyslog (or --receivers without it)")
    if "syslog-ng" in wanted and not shutil.which("syslog-ng"):
        if not args.syslog_ng_root:
            args.syslog_ng_root = "/tmp/lf-bench-syslog-ng"
        if not os.path.exists(os.path.join(args.syslog_ng_root, "usr/sbin/syslog-ng")):
            if not args.fetch_syslog_ng:
                sys.exit("syslog-ng not found: apt-get install -y syslog-ng-core, or rerun with "
                         "--fetch-syslog-ng to unpack it beside rsyslog (the packages conflict)")
            fetch_syslog_ng(args.syslog_ng_root)
    receivers = {"lianfang": Lianfang, "lianfang-nosync": LianfangNoSync, "rsyslog": Rsyslog,
                 "syslog-ng": SyslogNg}
    recs = [receivers[w](work, tools, args) for w in wanted]

    print(f"work dir {work}; load average at start: {loadavg()}; cores: {os.cpu_count()}")
    for r in recs:
        if hasattr(r, "version"):
            print(f"{r.name}: {r.version()}")
    results = {}
    trial = 0
    try:
        for rnd in range(args.rounds):
            for mode in args.modes.split(","):
                count = args.tcp_count if mode == "tcp" else args.udp_count
                rate = 0 if mode == "tcp" else args.udp_rate
                # Alternate the order so that no receiver always runs first.
                order = recs[rnd % len(recs):] + recs[:rnd % len(recs)]
                for r in order:
                    trial += 1
                    la = loadavg()
                    res = r.run(mode, count, rate, trial)
                    res["load"] = la
                    results.setdefault((r.name, mode), []).append(res)
                    rate_s = res["received"] / res["secs"] if res["secs"] > 0 else 0
                    per_cpu = res["received"] / res["cpu"] if res["cpu"] > 0 else 0
                    print(f"round {rnd + 1} {mode:3} {r.name:15} sent {res['sent']:>9,} "
                          f"received {res['received']:>9,} loss {res['sent'] - res['received']:>7,} "
                          f"{res['secs']:6.2f} s {fmt_rate(rate_s):>9} msg/s "
                          f"CPU {res['cpu']:6.2f} s {fmt_rate(per_cpu):>9} msg/CPU-s "
                          f"load {la} {res['extra']}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nload average at end: {loadavg()}")
    print("\nmedian over rounds (min-max)")
    summary = {}
    for (name, mode), rs in results.items():
        rates = [x["received"] / x["secs"] for x in rs]
        cpus = [x["received"] / x["cpu"] if x["cpu"] > 0 else 0 for x in rs]
        losses = [x["sent"] - x["received"] for x in rs]
        summary[(name, mode)] = (statistics.median(rates), statistics.median(cpus))
        print(f"{mode:3} {name:15} {fmt_rate(statistics.median(rates)):>9} msg/s "
              f"({fmt_rate(min(rates))}-{fmt_rate(max(rates))})  "
              f"{fmt_rate(statistics.median(cpus)):>9} msg/CPU-s "
              f"({fmt_rate(min(cpus))}-{fmt_rate(max(cpus))})  "
              f"loss median {statistics.median(losses):,.0f} (max {max(losses):,})")
    print("\nratios lianfang / other (medians)")
    for mode in args.modes.split(","):
        for lf in (Lianfang.name, LianfangNoSync.name):
            for other in ("rsyslog", "syslog-ng"):
                if (lf, mode) in summary and (other, mode) in summary:
                    a, b = summary[(lf, mode)], summary[(other, mode)]
                    print(f"{mode:3} {lf:15} vs {other:9}: msg/s {a[0] / b[0]:.2f}x, "
                          f"msg per CPU-s {a[1] / b[1]:.2f}x" if b[0] and b[1] else "n/a")


if __name__ == "__main__":
    main()
