"""YARA scans on the agent end to end: lianfangd publishes the agent rule
set on the control topic; the agent scans a directory, a file holding the
test marker raises an alert with the right rule, path and SHA-256; a file
created later is found on change; a kill -9 of the agent after a match
leaves exactly one alert per match; a rule set that does not compile is
refused on SIGHUP while the previous set keeps detecting."""
import glob
import hashlib
import os
import shutil
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARKER = "LIANFANG-YARA-TEST-MARKER-7f3a9c"
RULE = "lianfang_scan_test_marker"


def yara_alerts(c):
    out, cursor = [], None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        status, body = c.get_json("/api/v1/alerts?" + urllib.parse.urlencode(params))
        assert status == 200, body
        out += [a for a in body["alerts"] if a.get("yara", {}).get("scanned_by") == "agent"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def by_path(c, path):
    return [a for a in yara_alerts(c) if a.get("file", {}).get("path") == path]


def write_marked(path, extra=""):
    data = f"harmless test file {extra}\n{MARKER}\n".encode()
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def test(new_cluster):
    rules_dir = None
    c = new_cluster("yara-scan", server_extra="")
    rules_dir = os.path.join(c.dir, "yara-agent")
    os.makedirs(rules_dir)
    for f in glob.glob(os.path.join(ROOT, "rules", "yara-agent", "*.yar")):
        shutil.copy(f, rules_dir)
    with open(c.server_config, "a") as f:
        f.write(f"agents:\n  yara_rules_dir: {rules_dir}\n")
    scan = os.path.join(c.dir, "www")
    os.makedirs(os.path.join(scan, "sub"))
    first = os.path.join(scan, "sub", "marked.txt")
    first_sha = write_marked(first, "one")
    with open(os.path.join(scan, "clean.txt"), "w") as f:
        f.write("nothing to see\n")
    c.start_server()
    log_path = os.path.join(c.dir, "app.log")
    open(log_path, "w").close()
    c.add_agent("yara-01", "TC-01", [("app", log_path)], extra=f"""
yara_scans:
  - name: webroot
    paths: [{scan}]
    interval: 10m
    exclude: ["*.skip"]
yara:
  settle: 300ms
  cpu_percent: 100
""")
    agent = c.start_agent("yara-01")

    # 1. The full scan at start finds the marked file.
    wait_for(lambda: len(by_path(c, first)) >= 1, 90, "alert for the marked file", agent)
    a = by_path(c, first)[0]
    assert a["rule"]["name"] == RULE, a["rule"]
    assert a["alert"]["type"] == "yara" and a["alert"]["level"] == "low", a["alert"]
    assert a["file"]["hash"]["sha256"] == first_sha, a["file"]
    assert "test" in a["rule"].get("tags", []), a["rule"]
    assert a["agent"]["id"] == "yara-01" and a["organization"]["id"] == "TC-01"
    version = a["yara"]["rule_set"]
    log(f"start-up scan: {first} matched {RULE} with rule set {version}")

    # 2. A file created later is scanned on change; excluded and clean ones are not.
    second = os.path.join(scan, "later.php")
    second_sha = write_marked(second, "two")
    write_marked(os.path.join(scan, "ignored.skip"), "three")
    wait_for(lambda: len(by_path(c, second)) >= 1, 60, "alert for the new file", agent)
    assert by_path(c, second)[0]["file"]["hash"]["sha256"] == second_sha
    log("a file created later was detected on change")

    # 3. kill -9 after the matches are stored: each match stays exactly one alert.
    agent.kill9()
    agent = c.start_agent("yara-01")
    wait_for(lambda: "rule set " + version + " loaded" in c.agent_log("yara-01").split(
        "killed")[-1] or c.agent_log("yara-01").count(f"rule set {version} loaded") >= 2,
        60, "the kept rule set loaded again", agent)
    time.sleep(8)
    assert len(by_path(c, first)) == 1, by_path(c, first)
    assert len(by_path(c, second)) == 1, by_path(c, second)
    assert not [x for x in yara_alerts(c) if x["file"]["path"].endswith(".skip")]
    assert not [x for x in yara_alerts(c) if x["file"]["path"].endswith("clean.txt")]
    log("after kill -9 and restart: one alert per match")

    # 4. A rule set that does not compile is refused; the previous one keeps detecting.
    with open(os.path.join(rules_dir, "broken.yar"), "w") as f:
        f.write("rule broken { strings: $a = \"x\" condition: $b }\n")
    c.server.signal(signal.SIGHUP)
    wait_for(lambda: "broken.yar:1" in open(os.path.join(c.dir, "lianfangd.log")).read(), 30,
             "the broken set refused with file:line", c.server)
    third = os.path.join(scan, "third.txt")
    third_sha = write_marked(third, "four")
    wait_for(lambda: len(by_path(c, third)) >= 1, 60, "alert with the previous set", agent)
    a = by_path(c, third)[0]
    assert a["file"]["hash"]["sha256"] == third_sha
    assert a["yara"]["rule_set"] == version, (a["yara"], version)
    assert " refused, " not in c.agent_log("yara-01")
    log("broken set refused by lianfangd; the agent kept detecting with the previous set")

    # 5. A good update is taken: the agent loads the new set and rescans.
    os.unlink(os.path.join(rules_dir, "broken.yar"))
    with open(os.path.join(rules_dir, "extra.yar"), "w") as f:
        f.write("rule extra_marker : test { strings: $a = \"LIANFANG-EXTRA-9d1e\" "
                "condition: $a }\n")
    c.server.signal(signal.SIGHUP)
    wait_for(lambda: c.agent_log("yara-01").count("loaded:") >= 3, 60, "the new set loaded",
             agent)
    fourth = os.path.join(scan, "fourth.txt")
    with open(fourth, "w") as f:
        f.write("LIANFANG-EXTRA-9d1e\n")
    wait_for(lambda: any(x["rule"]["name"] == "extra_marker" for x in by_path(c, fourth)), 60,
             "alert of the new rule", agent)
    log("an updated set was loaded and detects")


if __name__ == "__main__":
    main(test)
