#!/usr/bin/env python3
"""One agent tailing files into the broker. A benchmark: figures only.

1. Bulk: N pre-written lines (RFC 3164 sshd lines, ~120 bytes, written by
   bench/syslog_loadgen --file) read from the beginning by one agent and
   produced to lianfang-broker; bench/ack_sink counts the records read back
   from the broker and publishes the stored watermark as lianfangd does, so
   the agent's send window and journal run as in production. Prints lines/s
   (first record to last record in the broker, and agent start to last
   record), the agent's CPU seconds and peak RSS.
2. Steady: the agent tails a file that bench/syslog_loadgen appends to at
   --steady-rate lines/s for --steady-seconds (one write every
   --steady-tick-ms, default 1 ms: at 1,000 lines/s a write per line); prints the agent's CPU as a
   share of one core over that time, its RSS (largest sample, one a second)
   and its peak RSS (VmHWM), and how many lines reached the broker.

  python3 bench/tail_throughput.py [--lines 2000000] [--rounds 3]
                                   [--steady-rate 1000] [--steady-seconds 60]
                                   [--bindir build/release] [--perf perf.data]

With --perf PATH the first bulk round runs under `perf record -g` (agent
only), with --perf-steady PATH the steady run. Agent limits can be changed with --agent-limit 'state_sync: false'.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from syslog_compare import (cpu_seconds, free_port, loadavg, parse_kv, stop,  # noqa: E402
                            wait_port)

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Setup:
    """lianfang-broker + ack_sink + one agent tailing `path`."""

    def __init__(self, work, tools, name, path, args, expect=0, start_at="beginning"):
        self.d = os.path.join(work, name)
        os.makedirs(self.d)
        self.tools, self.args = tools, args
        self.kport = free_port()
        self.broker = subprocess.Popen([os.path.join(tools, "lianfang-broker"), "--listen",
                                        f"127.0.0.1:{self.kport}"],
                                       stdout=open(f"{self.d}/broker.log", "w"),
                                       stderr=subprocess.STDOUT)
        self.agent = self.sink = None
        wait_port(self.kport, self.broker)
        extra = "".join(f"  {line}\n" for line in args.agent_limits)
        with open(f"{self.d}/agent.yaml", "w") as f:
            f.write(f"""agent:
  id: bench
  agency: TC-01
  host: bench-host
  state_dir: {self.d}/state
  status_interval: 5s
kafka:
  brokers: 127.0.0.1:{self.kport}
sources:
  - name: auth
    path: {path}
    start_at: {start_at}
limits:
{extra or "  ack_timeout: 30s"}
""")
        self.sink = subprocess.Popen([os.path.join(tools, "ack_sink"), "--brokers",
                                      f"127.0.0.1:{self.kport}", "--expect", str(expect),
                                      "--idle", str(args.idle if expect else 0), "--timeout",
                                      "900"], stdout=subprocess.PIPE,
                                     stderr=open(f"{self.d}/sink.log", "w"), text=True)
        deadline = time.time() + 30
        while "reading events" not in open(f"{self.d}/sink.log").read():
            if time.time() > deadline or self.sink.poll() is not None:
                raise RuntimeError("ack_sink did not start")
            time.sleep(0.05)

    def start_agent(self, perf=None):
        cmd = [os.path.join(self.tools, "lianfang-agent"), "--config", f"{self.d}/agent.yaml"]
        self.t_start = time.time()
        self.agent = subprocess.Popen(cmd, stdout=open(f"{self.d}/agent.log", "w"),
                                      stderr=subprocess.STDOUT)
        self.perf = None
        if perf:
            self.perf = subprocess.Popen(["perf", "record", "-g", "-F", "999", "-o", perf, "-p",
                                          str(self.agent.pid)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        return self.agent

    def sink_result(self):
        out = self.sink.stdout.read()
        return parse_kv(out)

    def close(self):
        if self.perf is not None and self.perf.poll() is None:
            self.perf.send_signal(2)
            self.perf.wait(timeout=30)
        stop(self.sink)
        stop(self.agent)
        stop(self.broker)


def bulk(work, tools, args, rnd, path, perf):
    s = Setup(work, tools, f"bulk-{rnd}", path, args, expect=args.lines)
    try:
        la = loadavg()
        agent = s.start_agent(perf)
        cpu = 0.0
        while s.sink.poll() is None:
            cpu = cpu_seconds(agent.pid)
            time.sleep(0.02)
        kv = s.sink_result()
        cpu = max(cpu, cpu_seconds(agent.pid))
        hwm = rss_kib(agent.pid, "VmHWM") / 1024
        anon, file_ = rss_kib(agent.pid, "RssAnon") / 1024, rss_kib(agent.pid, "RssFile") / 1024
        n = int(kv.get("records", 0))
        first, last = float(kv["first_unix"]), float(kv["last_unix"])
        return dict(n=n, rate=n / (last - first) if last > first else 0,
                    rate_start=n / (last - s.t_start), cpu=cpu, hwm=hwm, anon=anon, file=file_,
                    load=la)
    finally:
        s.close()
        if not args.keep:
            shutil.rmtree(s.d, ignore_errors=True)


def steady(work, tools, args):
    path = os.path.join(work, "steady.log")
    open(path, "w").close()
    s = Setup(work, tools, "steady", path, args, expect=0, start_at="end")
    try:
        agent = s.start_agent(args.perf_steady)
        time.sleep(3)  # start-up (metadata, heartbeat) is not part of the steady state
        la = loadavg()
        c0 = cpu_seconds(agent.pid)
        t0 = time.time()
        count = args.steady_rate * args.steady_seconds
        gen = subprocess.Popen([os.path.join(tools, "syslog_loadgen"), "--file", path,
                                "--count", str(count), "--rate", str(args.steady_rate),
                                "--tick-ms", str(args.steady_tick_ms)],
                               stdout=subprocess.PIPE, text=True)
        rss_max = 0
        while gen.poll() is None:
            rss_max = max(rss_max, rss_kib(agent.pid, "VmRSS"))
            time.sleep(1)
        elapsed = time.time() - t0
        cpu = cpu_seconds(agent.pid) - c0
        rss_end = rss_kib(agent.pid, "VmRSS")
        hwm = rss_kib(agent.pid, "VmHWM")
        time.sleep(2)
        s.sink.send_signal(15)
        s.sink.wait(timeout=30)
        kv = s.sink_result()
        return dict(lines=count, secs=elapsed, cpu=cpu, rss_max=max(rss_max, rss_end) / 1024,
                    hwm=hwm / 1024, received=int(kv.get("records", 0)), load=la)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steady-rate", type=int, default=1000)
    ap.add_argument("--steady-seconds", type=int, default=60)
    ap.add_argument("--steady-tick-ms", type=int, default=1,
                    help="the writer appends every this many ms (1: a write per line at 1,000/s)")
    ap.add_argument("--skip-bulk", action="store_true")
    ap.add_argument("--skip-steady", action="store_true")
    ap.add_argument("--idle", type=int, default=10)
    ap.add_argument("--bindir", default=os.path.join(HERE, "..", "build", "release"))
    ap.add_argument("--agent-limit", dest="agent_limits", action="append", default=[],
                    help="extra agent limits line, e.g. 'state_sync: false' (repeatable)")
    ap.add_argument("--perf", default="", help="perf.data path: profile the first bulk round")
    ap.add_argument("--perf-steady", default="", help="perf.data path: profile the steady run")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    bindir = os.path.abspath(args.bindir)
    work = tempfile.mkdtemp(prefix="lf-tail-bench-")
    tools = os.path.join(work, "bin")
    os.makedirs(tools)
    for sub, name in [("agent", "lianfang-agent"), ("broker", "lianfang-broker"),
                      ("bench", "ack_sink"), ("bench", "syslog_loadgen")]:
        src = os.path.join(bindir, sub, name)
        if not os.path.exists(src):
            sys.exit(f"missing {src}: ninja -C {args.bindir} lianfang-agent lianfang-broker "
                     "ack_sink syslog_loadgen")
        shutil.copy2(src, tools)
    print(f"work dir {work}; load average at start: {loadavg()}; cores: {os.cpu_count()}")
    try:
        if not args.skip_bulk:
            path = os.path.join(work, "bulk.log")
            subprocess.run([os.path.join(tools, "syslog_loadgen"), "--file", path, "--count",
                            str(args.lines)], check=True, stdout=subprocess.DEVNULL)
            size = os.path.getsize(path)
            print(f"bulk: {args.lines:,} lines, {size / 1e6:.1f} MB, read from the beginning")
            res = []
            for rnd in range(args.rounds):
                r = bulk(work, tools, args, rnd, path, args.perf if rnd == 0 else "")
                res.append(r)
                print(f"round {rnd + 1}: {r['n']:,} records in the broker; "
                      f"{r['rate']:,.0f} lines/s first to last record "
                      f"({r['rate_start']:,.0f} from agent start); agent CPU {r['cpu']:.2f} s "
                      f"({r['n'] / r['cpu'] if r['cpu'] else 0:,.0f} lines per CPU-s), "
                      f"peak RSS {r['hwm']:.1f} MiB (at the end: anon {r['anon']:.1f}, "
                      f"file-backed {r['file']:.1f} MiB); load {r['load']}", flush=True)
            rates = [r["rate"] for r in res]
            per_cpu = [r["n"] / r["cpu"] for r in res if r["cpu"]]
            print(f"bulk median {statistics.median(rates):,.0f} lines/s "
                  f"({min(rates):,.0f}-{max(rates):,.0f}); "
                  f"{statistics.median(per_cpu):,.0f} lines per agent CPU-s "
                  f"({min(per_cpu):,.0f}-{max(per_cpu):,.0f})")
        if not args.skip_steady:
            r = steady(work, tools, args)
            print(f"steady: {args.steady_rate:,} lines/s (a write every {args.steady_tick_ms} ms) "
                  f"for {r['secs']:.1f} s: agent CPU "
                  f"{r['cpu']:.2f} s = {r['cpu'] / r['secs'] * 100:.2f} % of a core; "
                  f"RSS max {r['rss_max']:.1f} MiB (VmHWM {r['hwm']:.1f} MiB); "
                  f"{r['received']:,} of {r['lines']:,} lines in the broker; load {r['load']}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
