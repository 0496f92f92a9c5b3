"""kill -9 of the agent at random points, 20 rounds, while a writer appends
and the file is rotated by rename every fifth round (sometimes right before
the kill, so the path can be rotated again before the agent has finished
the previous file): nothing lost, nothing stored twice."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main  # noqa: E402

ROUNDS = int(os.environ.get("LF_KILL_ROUNDS", "20"))


def test(new_cluster):
    c = new_cluster("kill-agent")
    c.start_server()
    logfile = os.path.join(c.dir, "auth.log")
    open(logfile, "w").close()
    c.add_agent("db-02", "CH-07", [("auth", logfile)], extra="  partial_line_timeout: 1s\n")
    w = LineWriter(logfile, tag="sshd")
    stop = threading.Event()
    lock = threading.Lock()

    def writer():
        while not stop.is_set():
            with lock:
                w.write(120, chunk=60, delay=0.01)
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        agent = c.start_agent("db-02")
        for r in range(ROUNDS):
            time.sleep(random.uniform(0.3, 1.5))
            if r % 5 == 4:
                with lock:  # rename rotation between two writes
                    os.rename(logfile, f"{logfile}.{r}")
                time.sleep(random.uniform(0.0, 0.3))
            agent.kill9()
            log(f"round {r + 1}/{ROUNDS}: {w.n} lines written so far")
            time.sleep(random.uniform(0.0, 0.5))
            agent = c.start_agent("db-02")
    finally:
        stop.set()
        t.join()
    log(f"writer done: {w.n} lines")
    # Two rotations while the agent is down: the file it was reading, the
    # generation in between and the new file are all read, in that order.
    agent.kill9()
    w.write(500)
    os.rename(logfile, f"{logfile}.x1")
    w.write(500)
    os.rename(logfile, f"{logfile}.x2")
    w.write(500)
    agent = c.start_agent("db-02")
    log(f"rotated twice while stopped: {w.n} lines")
    # Generous: after 20 restarts the broker holds many re-sent copies,
    # which an ASan build of lianfangd stores (as duplicates) slowly.
    check_exactly_once(c, "db-02", [w], timeout=420)


if __name__ == "__main__":
    main(test)
