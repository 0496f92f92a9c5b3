#!/usr/bin/env python3
"""End-to-end throughput: N synthetic syslog lines through
agent -> embedded broker -> lianfangd -> LMDB.

Prints events/s (first record read to last record stored), the CPU seconds
and peak RSS of the agent and of lianfangd (lianfangd includes the embedded
broker, which runs in its process). A benchmark, not a test: it prints
figures and never fails on them.

  python3 bench/e2e_throughput.py [--lines N] [--bindir build/release]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stored(c, agent_id):
    status, body = c.get_json("/api/v1/agents")
    for a in body.get("agents", []):
        if a["id"] == agent_id:
            return a["events_stored"]
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--bindir", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                     "release"))
    ap.add_argument("--sync", default="true", help="store.sync (true: fsync every commit)")
    args = ap.parse_args()
    harness.BINDIR = os.path.abspath(args.bindir)

    c = harness.Cluster("bench", server_extra="")
    with open(c.server_config, "a") as f:
        f.write("")
    # store.sync is in the generated config's store section
    text = open(c.server_config).read().replace("  map_size: 2GiB",
                                                f"  map_size: 8GiB\n  sync: {args.sync}")
    open(c.server_config, "w").write(text)
    try:
        path = os.path.join(c.dir, "bench.log")
        t0 = time.time()
        with open(path, "w") as f:
            for i in range(args.lines):
                f.write(f"Mar 10 09:{(i // 60) % 60:02d}:{i % 60:02d} web01 sshd[{1000 + i % 900}]: "
                        f"Failed password for invalid user u{i % 97} from 203.0.113.{i % 250} "
                        f"port {40000 + i % 20000} ssh2\n")
        size = os.path.getsize(path)
        print(f"generated {args.lines} lines ({size / 1e6:.1f} MB) in {time.time() - t0:.1f}s")
        server = c.start_server()
        c.add_agent("bench", "TC-01", [("auth", path)])
        s_cpu0 = cpu_seconds(server.p.pid)
        start = time.time()
        agent = c.start_agent("bench")
        last = -1
        while True:
            n = stored(c, "bench")
            if n != last:
                last = n
            if n >= args.lines:
                break
            if time.time() - start > 900:
                print(f"timeout: {n} of {args.lines} stored")
                break
            time.sleep(0.2)
        elapsed = time.time() - start
        a_cpu = cpu_seconds(agent.p.pid)
        s_cpu = cpu_seconds(server.p.pid) - s_cpu0
        a_rss = peak_rss_mib(agent.p.pid)
        s_rss = peak_rss_mib(server.p.pid)
        rate = last / elapsed if elapsed > 0 else 0
        print(f"lines stored:        {last}")
        print(f"wall time:           {elapsed:.2f} s (agent start to last record stored)")
        print(f"throughput:          {rate:,.0f} events/s end to end")
        print(f"agent CPU:           {a_cpu:.2f} s ({a_cpu / elapsed * 100:.0f}% of a core), "
              f"peak RSS {a_rss:.1f} MiB")
        print(f"lianfangd CPU:       {s_cpu:.2f} s ({s_cpu / elapsed * 100:.0f}% of a core), "
              f"peak RSS {s_rss:.1f} MiB (includes the embedded broker)")
        print(f"store.sync:          {args.sync}")
    finally:
        c.close()


if __name__ == "__main__":
    main()
