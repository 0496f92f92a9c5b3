"""The broker goes away for a while and comes back, twice: once the
embedded broker is taken down and up (SIGUSR1/SIGUSR2 to lianfangd), once a
separate in-memory broker process is killed -9 and restarted empty. Nothing
lost, nothing stored twice."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main  # noqa: E402


def outage(c, agent_id, down, up):
    logfile = os.path.join(c.dir, f"{agent_id}.log")
    open(logfile, "w").close()
    c.add_agent(agent_id, "KH-01", [("syslog", logfile)])
    w = LineWriter(logfile, tag=agent_id)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            w.write(200, chunk=100, delay=0.01)
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        c.start_agent(agent_id)
        time.sleep(2)
        down()
        log(f"broker down with {w.n} lines written")
        time.sleep(8)
        up()
        log(f"broker up with {w.n} lines written")
        time.sleep(2)
    finally:
        stop.set()
        t.join()
    check_exactly_once(c, agent_id, [w], timeout=240)


def test(new_cluster):
    c = new_cluster("outage-embedded")
    c.start_server()
    outage(c, "embedded", lambda: c.server.signal(signal.SIGUSR1),
           lambda: c.server.signal(signal.SIGUSR2))

    e = new_cluster("outage-external", external_broker=True)
    e.start_broker()
    e.start_server()

    def restart_broker():
        e.start_broker()

    outage(e, "external", lambda: e.broker.kill9(), restart_broker)


if __name__ == "__main__":
    main(test)
