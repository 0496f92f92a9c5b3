"""kill -9 of lianfangd mid-stream: its in-memory embedded broker loses
everything, the agent re-sends from its journal, the store drops the
duplicates. Nothing lost, nothing stored twice."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main  # noqa: E402


def test(new_cluster):
    c = new_cluster("kill-server")
    c.start_server()
    logfile = os.path.join(c.dir, "fw.log")
    open(logfile, "w").close()
    c.add_agent("fw-03", "NT-21", [("firewall", logfile)])
    w = LineWriter(logfile, tag="kernel")
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            w.write(200, chunk=100, delay=0.01)
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        c.start_agent("fw-03")
        for r in range(3):
            time.sleep(2.0)
            c.server.kill9()
            log(f"round {r + 1}: lianfangd killed with {w.n} lines written")
            time.sleep(1.0)
            c.start_server()
    finally:
        stop.set()
        t.join()
    check_exactly_once(c, "fw-03", [w], timeout=240)


if __name__ == "__main__":
    main(test)
