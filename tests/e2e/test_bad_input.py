"""Bad input: configs with an unknown key or a wrong type are refused with
file, line and key; a non-UTF-8 line and a 1 MiB line are stored (the
latter cut and flagged), and nothing crashes."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import binary, check_exactly_once, log, main, wait_for  # noqa: E402


def refuse(cmd, path, text, *needles):
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(cmd + ["--config", path, "--check-config"], capture_output=True,
                       timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err)
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    log(f"refused: {err.strip()}")


def test(new_cluster):
    c = new_cluster("bad-input")
    d = c.dir
    refuse([binary("lianfangd")], f"{d}/s1.yaml", "store:\n  path: /tmp/x\n  mapsize: 1GiB\n",
           f"{d}/s1.yaml:3:", "store.mapsize", "unknown key")
    refuse([binary("lianfangd")], f"{d}/s2.yaml", "api:\n  threads: many\n",
           f"{d}/s2.yaml:2:", "api.threads", "integer")
    refuse([binary("lianfangd")], f"{d}/s3.yaml", "kafka:\n  linger: [1]\n",
           f"{d}/s3.yaml:2:", "kafka.linger")
    refuse([binary("lianfang-agent")], f"{d}/a1.yaml",
           "agent:\n  id: x\nsources:\n  - name: s\n    path: /x\n    tail: yes\n",
           f"{d}/a1.yaml:6:", "sources[0].tail", "unknown key")
    refuse([binary("lianfang-agent")], f"{d}/a2.yaml", "limits:\n  max_record_bytes: huge\n",
           f"{d}/a2.yaml:2:", "limits.max_record_bytes", "size")

    c.start_server()
    logfile = os.path.join(d, "bad.log")
    with open(logfile, "wb") as f:
        f.write(b"Mar 10 09:02:00 h app: before\n")
        f.write(b"Mar 10 09:02:01 h app: big5 \xa4\xa4\xa4\xe5 and stray \xff\xfe bytes\n")
        f.write(b"Mar 10 09:02:02 h app: huge " + b"A" * (1 << 20) + b"\n")
        f.write(b"\x00\x01\x02 control bytes \x1b[31m\n")
        f.write(b"Mar 10 09:02:03 h app: after\n")
    c.add_agent("bad-01", "PH-01", [("syslog", logfile)])
    agent = c.start_agent("bad-01")
    wait_for(lambda: c.count_events(agent="bad-01") >= 5, 120, "5 events", agent)
    events = c.all_events(agent="bad-01")
    assert len(events) == 5, len(events)
    by_seq = sorted(events, key=lambda e: e["event"]["sequence"])
    big5 = by_seq[1]
    assert "invalid_utf8" in big5["lianfang"]["flags"], big5
    assert "\ufffd" in big5["event"]["original"]
    import base64
    raw = base64.b64decode(big5["lianfang"]["original_base64"])
    assert raw == b"Mar 10 09:02:01 h app: big5 \xa4\xa4\xa4\xe5 and stray \xff\xfe bytes", raw
    huge = by_seq[2]
    assert "truncated" in huge["lianfang"]["flags"], huge["lianfang"]
    assert len(huge["event"]["original"]) <= 64 * 1024
    ctrl = by_seq[3]
    assert ctrl["event"]["original"].startswith("\u0000\u0001\u0002 control")
    assert by_seq[4]["message"] == "after"
    status, metrics = c.get("/metrics")
    assert b'lianfang_ingest_flagged_total{flag="truncated"} 1' in metrics
    assert b'lianfang_ingest_flagged_total{flag="invalid_utf8"} 1' in metrics
    # What no decoder took is kept for the operator with the reason.
    status, fails = c.get_json("/api/v1/decode-failures")
    assert status == 200, fails
    ours = [f for f in fails["failures"] if f["agent_id"] == "bad-01"]
    assert ours and any(f["record"].startswith("\u0000\u0001\u0002") for f in ours), fails
    assert all(f["error"] and f["decoder"] for f in ours), ours
    assert fails["by_agent"]["bad-01"] == len(ours)
    status, metrics = c.get("/metrics")
    assert f'lianfang_ingest_agent_decode_errors_total{{agent="bad-01"}} {len(ours)}'.encode() \
        in metrics, [m for m in metrics.split(b"\n") if b"agent_decode" in m]
    assert c.server.alive() and agent.alive()
    log(f"bad records stored, flagged and counted ({len(ours)} decode failures kept); "
        "processes alive")


if __name__ == "__main__":
    main(test)
