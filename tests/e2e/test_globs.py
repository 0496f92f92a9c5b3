"""Glob sources: an agent tails every file matching /dir/*.log, picks up a
file created while it runs (read from its beginning), follows a rename
rotation of a matching file (x.log -> x.log.1, which no longer matches)
without reading the rotated file twice, lets go of a matching file that is
deleted once it was read, and is killed -9 and restarted in the middle:
every line of every file is stored exactly once."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import LineWriter, check_exactly_once, log, main, wait_for  # noqa: E402


def test(new_cluster):
    c = new_cluster("globs")
    c.start_server()
    d = os.path.join(c.dir, "logs")
    os.makedirs(d)
    a = LineWriter(os.path.join(d, "a.log"), tag="alpha")
    b = LineWriter(os.path.join(d, "b.log"), tag="bravo")
    a.write(2000)
    b.write(1500)
    with open(os.path.join(d, "notes.txt"), "w") as f:  # does not match
        f.write("not a log\n")
    path = c.add_agent("glob-01", "TC-01", [("app", os.path.join(d, "*.log"))],
                       extra="  glob_interval: 300ms\n")
    # start_at: beginning for files present at start (harness default)
    agent = c.start_agent("glob-01")
    wait_for(lambda: c.count_events(agent="glob-01") >= 3500, 120, "first two files", agent)

    # A new matching file while running: read from its beginning.
    cw = LineWriter(os.path.join(d, "c.log"), tag="charlie")
    cw.write(1200)
    a.write(1000, chunk=100, delay=0.01)
    wait_for(lambda: c.count_events(agent="glob-01") >= 5700, 120, "the new file", agent)

    # Rotation by rename to a name the pattern does not match.
    os.rename(a.path, a.path + ".1")
    a2 = LineWriter(a.path, tag="alpha2")
    a2.write(800)
    # kill -9 in the middle, more lines while it is down, restart.
    b.write(700, chunk=50, delay=0.01)
    agent.kill9()
    log("agent killed -9")
    cw.write(500)
    agent = c.start_agent("glob-01")

    # A matching file is deleted after it was read: the agent lets it go.
    wait_for(lambda: c.count_events(agent="glob-01") >= 7700, 180, "after restart", agent)
    os.remove(cw.path)
    time.sleep(8)
    check_exactly_once(c, "glob-01", [a, b, cw, a2])
    text = c.agent_log("glob-01")
    assert "c.log matches" in text, "the new file was not reported"
    assert "no longer tailed" in text, "the deleted file was not let go"
    assert "notes.txt" not in text
    assert agent.alive()


if __name__ == "__main__":
    main(test)
