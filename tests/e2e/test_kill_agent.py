"""kill -9 of the agent mid-stream, several rounds: nothing lost, nothing
stored twice."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main  # noqa: E402

ROUNDS = int(os.environ.get("LF_KILL_ROUNDS", "6"))


def test(new_cluster):
    c = new_cluster("kill-agent")
    c.start_server()
    logfile = os.path.join(c.dir, "auth.log")
    open(logfile, "w").close()
    c.add_agent("db-02", "CH-07", [("auth", logfile)])
    w = LineWriter(logfile, tag="sshd")
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            w.write(300, chunk=100, delay=0.01)
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        agent = c.start_agent("db-02")
        for r in range(ROUNDS):
            time.sleep(random.uniform(0.3, 1.5))
            agent.kill9()
            log(f"round {r + 1}/{ROUNDS}: {w.n} lines written so far")
            time.sleep(random.uniform(0.0, 0.5))
            agent = c.start_agent("db-02")
    finally:
        stop.set()
        t.join()
    log(f"writer done: {w.n} lines")
    check_exactly_once(c, "db-02", [w], timeout=180)


if __name__ == "__main__":
    main(test)
