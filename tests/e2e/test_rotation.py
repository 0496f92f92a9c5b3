"""Rotation while a writer appends as fast as it can (issue #4): rename
rotations (one path rotated twice before the agent finished the first
generation), copytruncate rotations (the agent behind when the file is
truncated: the lines it had not read yet exist only in the copy; one
copytruncate while the agent is still reading the previous copy) and a
plain truncation by the writer itself. Every line is stored exactly once.

The writer is a separate process that appends numbered lines unpaced, with
O_APPEND (so after a truncation it continues at offset 0), and performs the
rotations itself between two writes, at fixed line counts. It holds only
where the contract requires it:
 - copytruncate: between the copy and the truncation (lines written there
   would be lost by logrotate itself, not by the agent), and after the
   truncation until the agent has seen it: a truncation is recognised by
   the file being shorter than the agent's read offset, so it must not grow
   back past that offset first;
 - the plain truncation: until the agent has read everything (it truncates
   what was read) and, again, until the agent has seen it;
 - before the bursts that end in a copytruncate or the truncation, until
   everything so far is stored, so that the agent reads the file at the
   path then (not a rotated one) and is behind only by that burst.
A sanitizer build runs the same steps with 35 % of the lines
(LF_ROTATION_SCALE overrides).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import binary, log, main, wait_for  # noqa: E402

TAG = "rot"
CHUNK = 200  # lines per write(2)

# (step, argument); "write" counts lines.
PLAN = [
    ("write", 20000),
    ("rename", 1), ("write", 2000), ("reopen", None),  # a few lines after the rename
    ("write", 28000),
    ("rename", 2), ("write", 1000), ("reopen", None),
    ("write", 2000),
    ("rename", 3), ("write", 1000), ("reopen", None),  # rotated again right away
    ("write", 26000),
    # copytruncate with the agent reading the path (everything so far is
    # stored) and behind: a burst is written, copied and truncated before
    # the agent has read it all.
    ("sync", None), ("write", 30000), ("copytruncate", 4), ("detect", "copy"),
    # copytruncate while the agent still reads the previous copy (it stays on
    # a rotated file until it has been idle for partial_line_timeout).
    ("write", 1000), ("copytruncate", 5),
    ("write", 30000),
    # plain truncation by the writer of what the agent has read
    ("sync", None), ("truncate", None), ("detect", "nocopy"),
    ("write", 25000),
    ("sync", None), ("write", 25000), ("copytruncate", 6), ("detect", "copy"),
    ("write", 25000),
    ("rename", 7), ("write", 1000), ("reopen", None),
    ("write", 24000),
]


def scaled_plan(scale):
    """PLAN with every write scaled (a sanitizer build stores about 20 times
    slower: the same steps with fewer lines)."""
    return [(step, max(1, int(arg * scale)) if step == "write" else arg) for step, arg in PLAN]


def sanitized(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    return "libasan" in out.stdout


def line(i, ts):
    return f"{ts} src-host {TAG}[{1000 + i % 50}]: {TAG} line {i:07d} payload={'x' * (i % 37)}\n"


def writer_main(path, scale):
    """The writer process: follows PLAN; asks the test to wait through
    stdout ("wait <what> <lines written>"), continues on a line on stdin."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    fd = os.open(path, flags, 0o644)
    n = 0

    def ask(what):
        print(f"wait {what} {n}", flush=True)
        if not sys.stdin.readline():
            sys.exit(1)

    for step, arg in scaled_plan(scale):
        if step == "write":
            end = n + arg
            while n < end:
                k = min(CHUNK, end - n)
                ts = time.strftime("%b %e %H:%M:%S", time.localtime())
                os.write(fd, "".join(line(i, ts) for i in range(n, n + k)).encode())
                n += k
        elif step == "rename":
            os.rename(path, f"{path}.{arg}")
        elif step == "reopen":
            os.close(fd)
            fd = os.open(path, flags, 0o644)
        elif step == "copytruncate":
            ask("mark")
            shutil.copyfile(path, f"{path}.{arg}")
            os.truncate(path, 0)
        elif step == "truncate":
            ask("mark")
            os.ftruncate(fd, 0)
        elif step in ("detect", "sync"):
            ask(step if step != "detect" else f"detect-{arg}")
        print(f"did {step} {arg} {n}", flush=True)
    os.close(fd)
    print(f"done {n}", flush=True)


def agent_markers(c, agent_id, path):
    """The agent's messages about which file of the path it reads."""
    marks = []
    for ln in c.agent_log(agent_id).splitlines():
        if f"reading {path} (inode" in ln:
            marks.append("path")
        elif "reading the rest of its copy" in ln:
            marks.append("copy")
        elif "no copy of it holds" in ln:
            marks.append("nocopy")
        elif "finishing the old file" in ln or "rotated again" in ln:
            marks.append("rotated")
    return marks


def stored(c, agent_id):
    status, body = c.get_json("/api/v1/agents")
    assert status == 200, body
    for a in body["agents"]:
        if a["id"] == agent_id:
            return a["events_stored"]
    return 0


def test(new_cluster):
    asan = sanitized(binary("lianfang-agent"))
    scale = float(os.environ.get("LF_ROTATION_SCALE", "0.35" if asan else "1"))
    total = sum(n for step, n in scaled_plan(scale) if step == "write")
    log(f"{total} lines{' (sanitizer build)' if asan else ''}")
    c = new_cluster("rotation")
    c.start_server()
    path = os.path.join(c.dir, "app.log")
    open(path, "w").close()
    agent_id = "rot-01"
    c.add_agent(agent_id, "TC-01", [("app", path)], extra="  partial_line_timeout: 1s\n")
    agent = c.start_agent(agent_id)
    wait_for(lambda: "path" in agent_markers(c, agent_id, path), 30, "agent reading", agent)

    started = time.time()
    w = subprocess.Popen([sys.executable, "-u", __file__, "--writer", path, str(scale)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    baseline = 0
    written = 0
    try:
        for msg in w.stdout:
            words = msg.split()
            if words[0] == "did":
                log(f"writer: {' '.join(words[1:3])} at line {words[3]}")
                continue
            if words[0] == "done":
                written = int(words[1])
                break
            what, n = words[1], int(words[2])
            if what == "mark":
                baseline = len(agent_markers(c, agent_id, path))
            elif what.startswith("detect-"):
                want = what[len("detect-"):]
                wait_for(lambda: want in agent_markers(c, agent_id, path)[baseline:], 60,
                         f"the agent to see the truncation ({want})", agent)
            elif what == "sync":
                wait_for(lambda: stored(c, agent_id) >= n, 120, f"{n} lines stored", agent)
            w.stdin.write("go\n")
            w.stdin.flush()
    finally:
        if w.poll() is None:
            w.stdin.close()
            w.wait(timeout=30)
    assert w.wait() == 0 and written == total, (w.returncode, written)
    log(f"writer done: {written} lines in {time.time() - started:.1f}s")

    deadline = time.time() + 300
    last = -1
    while time.time() < deadline:
        n = stored(c, agent_id)
        if n != last:
            log(f"{n}/{total} stored")
            last = n
        if n >= total:
            break
        assert agent.alive(), agent.tail()
        time.sleep(1)

    counts = [0] * total
    extra = []
    num = re.compile(rf"{TAG} line (\d{{7}}) ")
    cursor = None
    while True:
        q = {"agent": agent_id, "limit": 1000}
        if cursor:
            q["cursor"] = cursor
        status, body = c.get("/api/v1/events?" + urllib.parse.urlencode(q), timeout=60)
        assert status == 200, body[:500]
        page = json.loads(body)
        for ev in page["events"]:
            m = num.search(ev.get("message", ""))
            if m and int(m.group(1)) < total:
                counts[int(m.group(1))] += 1
            else:
                extra.append(ev.get("message", ""))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    missing = [i for i, k in enumerate(counts) if k == 0]
    dups = [i for i, k in enumerate(counts) if k > 1]
    marks = agent_markers(c, agent_id, path)
    log(f"agent: {marks.count('copy')} copies followed, {marks.count('nocopy')} truncations "
        f"without a copy, {marks.count('rotated')} rotations, {marks.count('path')} opens")
    assert not missing, f"{len(missing)} lines never stored, e.g. {missing[:10]}"
    assert not dups, f"{len(dups)} lines stored more than once, e.g. {dups[:10]}"
    assert not extra, f"{len(extra)} unexpected events, e.g. {extra[:3]}"
    assert marks.count("copy") >= 2 and marks.count("nocopy") == 1, marks
    text = c.agent_log(agent_id)
    assert "rotated again" in text, "the second copy was not read as a generation"
    lost = re.findall(r"records_lost=(\d+)", text)
    assert not lost or lost[-1] == "0", f"the agent counts {lost[-1]} records lost"
    log(f"all {total} lines stored exactly once")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], float(sys.argv[3]))
    else:
        main(test)
