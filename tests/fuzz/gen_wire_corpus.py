#!/usr/bin/env python3
"""Writes the seed corpus of the `wire` fuzz target (tests/fuzz/corpus/wire).

Byte layout as in common/lf_wire.c (all integers little-endian):
  batch: "LFE1", version u8, 3 reserved bytes, first_seq u64, count u32,
         read_time_ms i64, epoch_seq u64, then agent_id, agency, host, source,
         path as u16 length + bytes, then per record: offset u64, flags u8,
         len u32, data.
  ack:   "LFA1", watermark u64, stored_time_ms i64, agent_id (u16 + bytes).
  heartbeat: "LFH1", see heartbeat() below.
Run from anywhere: python3 tests/fuzz/gen_wire_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")
NO_OFFSET = 0xFFFFFFFFFFFFFFFF


def s(text):
    b = text.encode()
    return struct.pack("<H", len(b)) + b


def batch(first_seq, records, epoch=1, read_time=1773104520123, agent="agent-7f3a",
          agency="tc-gov-042", host="web01", source="syslog", path="/var/log/auth.log",
          count=None, version=1):
    out = b"LFE1" + bytes([version, 0, 0, 0])
    out += struct.pack("<QIqQ", first_seq, len(records) if count is None else count,
                       read_time, epoch)
    out += s(agent) + s(agency) + s(host) + s(source) + s(path)
    for offset, flags, data in records:
        out += struct.pack("<QBI", offset, flags, len(data)) + data
    return out


def ack(watermark, agent="agent-7f3a", stored=1773104520456):
    return b"LFA1" + struct.pack("<Qq", watermark, stored) + s(agent)


def heartbeat(agent="ch07-app", agency="CH-07", counters=(("records_read", 4200),
              ("records_lost", 3)), proof=True, version=1, flags=None):
    """LFH1: magic, version, flags (0x01 proof), 2 reserved, sent_ms,
    started_ms, interval_ms, last_error_ms, then agent_id, agency, host, os,
    version, last_error, u16 counter count, (name, u64) pairs, and with the
    flag a 32-byte HMAC-SHA256 keyed with SHA-256(token)."""
    import hashlib
    import hmac
    fl = (1 if proof else 0) if flags is None else flags
    out = b"LFH1" + bytes([version, fl, 0, 0])
    out += struct.pack("<qqqq", 1773104520123, 1773104000000, 30000, 0)
    out += s(agent) + s(agency) + s("appt-web-01") + s("Debian GNU/Linux 12 (bookworm)")
    out += s("0.1.0") + s("")
    out += struct.pack("<H", len(counters))
    for name, value in counters:
        out += s(name) + struct.pack("<Q", value)
    if proof:
        key = hashlib.sha256(b"ch07-enrolment-token-9876543210").digest()
        out += hmac.new(key, out, hashlib.sha256).digest()
    return out


SEEDS = {
    "batch-syslog.bin": batch(1, [
        (0, 0, b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick"),
        (63, 0, b"<13>Feb  5 17:32:18 10.0.0.99 sshd[42]: Accepted publickey for root"),
        (131, 1, b"truncated by max_record_bytes"),
    ]),
    "batch-epoch.bin": batch(1700000000000001, [(NO_OFFSET, 0, b'{"event":"login"}')],
                             epoch=1700000000000000),
    "batch-lost.bin": batch(42, [(NO_OFFSET, 2, b""), (100, 0, "使用者登入失敗".encode())]),
    "batch-empty.bin": batch(7, [], agency="", host="", source="", path=""),
    "batch-negative-time.bin": batch(5, [(0, 0, b"x")], read_time=-1),
    "batch-truncated.bin": batch(1, [(0, 0, b"0123456789")])[:-3],
    "batch-count-mismatch.bin": batch(1, [(0, 0, b"a"), (1, 0, b"b")], count=3),
    "batch-bad-version.bin": batch(1, [(0, 0, b"a")], version=9),
    "batch-seq-wrap.bin": batch(0xFFFFFFFFFFFFFFFF, [(0, 0, b"a")]),
    "ack.bin": ack(1700000000000123),
    "ack-truncated.bin": ack(99)[:-1],
    "ack-empty-agent.bin": ack(1, agent=""),
    "heartbeat.bin": heartbeat(),
    "heartbeat-no-proof.bin": heartbeat(proof=False),
    "heartbeat-no-counters.bin": heartbeat(counters=()),
    "heartbeat-bad-name.bin": heartbeat(counters=(("Records-Read", 1),)),
    "heartbeat-truncated.bin": heartbeat()[:-40],
    "heartbeat-bad-flags.bin": heartbeat(proof=False, flags=0x80),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
