"""Syslog listeners under bad input: UDP, TCP and TLS (client certificates
required) listeners serve good senders while others send malformed frames,
an oversized frame, a TLS client certificate from the wrong CA, and a
connection that stalls inside a frame. Each bad case is counted and logged
with its reason; every good message is stored exactly once.

Test certificates are made at test time with the openssl CLI in the test's
temporary directory (nothing secret is committed)."""
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import free_port_block, log, main, port_open, wait_for  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """CA, server cert (127.0.0.1), a client cert from the CA and one
    self-signed client cert that the CA did not issue."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Lianfang test CA", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext",
                cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
            "-subj", "/CN=rogue", cwd=d)
    return {n: os.path.join(d, n) for n in os.listdir(d)}


def tls_client(port, certs, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs["ca.pem"])
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_peer(s, timeout=10):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True


def test(new_cluster):
    c = new_cluster("syslog-limits")
    c.start_server()
    certs = make_certs(c.dir)
    udp, tcp, tls = free_port_block(1), free_port_block(1), free_port_block(1)
    listeners = f"""  - name: fw-udp
    protocol: udp
    listen: 127.0.0.1:{udp}
    max_frame_bytes: 1KiB
  - name: sw-tcp
    protocol: tcp
    listen: 127.0.0.1:{tcp}
    max_frame_bytes: 1KiB
    stall_timeout: 1s
  - name: relay-tls
    protocol: tls
    listen: 127.0.0.1:{tls}
    stall_timeout: 1s
    tls_cert: {certs["server.pem"]}
    tls_key: {certs["server.key"]}
    tls_ca: {certs["ca.pem"]}
    tls_client_auth: required
"""
    c.add_syslog_agent("edge", "TN-02", listeners)
    agent = c.start_agent("edge")
    wait_for(lambda: port_open(tcp) and port_open(tls), 30, "the agent's ports", agent)

    good = []

    def msg(tag, i):
        text = f"<13>Mar 10 09:02:00 dev-{tag} app[7]: {tag} line {i:07d} ok"
        good.append(f"{tag} line {i:07d}")
        return text

    # A sender that connects, begins a frame and stalls.
    stall = socket.create_connection(("127.0.0.1", tcp))
    stall.sendall(b"<13>Mar 10 09:02:00 stalled app[1]: never finished")
    # A TLS client that connects and never starts its handshake.
    mute = socket.create_connection(("127.0.0.1", tls))

    # Good TCP senders: newline framing and octet counting, several at once.
    nl = socket.create_connection(("127.0.0.1", tcp))
    oc = socket.create_connection(("127.0.0.1", tcp))
    for i in range(50):
        nl.sendall((msg("tcpnl", i) + "\n").encode())
        m = msg("tcpoc", i).encode()
        oc.sendall(b"%d %s" % (len(m), m))
    # An oversized frame on the newline connection (cut at 1 KiB, flagged).
    nl.sendall(b"<13>Mar 10 09:02:00 dev-big app[7]: big " + b"B" * 5000 + b"\n")
    # A malformed octet-counted stream: closed, the others keep going.
    bad = socket.create_connection(("127.0.0.1", tcp))
    m = msg("tcpbad", 0).encode()
    bad.sendall(b"%d %s" % (len(m), m) + b"X99 garbage")
    assert closed_by_peer(bad), "a stream with a bad octet count must be closed"
    bad.close()

    # UDP, with an empty datagram among them.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(50):
        u.sendto(msg("udp", i).encode(), ("127.0.0.1", udp))
        if i == 25:
            u.sendto(b"\n", ("127.0.0.1", udp))
        time.sleep(0.002)

    # TLS with a certificate from the CA: served.
    t = tls_client(tls, certs, certs["client.pem"], certs["client.key"])
    for i in range(50):
        m = msg("tls", i).encode()
        t.sendall(b"%d %s" % (len(m), m))
    # TLS with a certificate the CA did not issue: refused.
    rogue_failed = False
    try:
        r = tls_client(tls, certs, certs["rogue.pem"], certs["rogue.key"])
        r.sendall(b"30 <13>Mar 10 09:02:00 rogue x")  # TLS 1.3: refused after the handshake
        rogue_failed = closed_by_peer(r)
        r.close()
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        rogue_failed = True
    assert rogue_failed, "a client certificate from another CA must be refused"

    # The stalled senders are dropped; the good connections still work.
    assert closed_by_peer(stall, 15), "a stalled sender must be dropped"
    assert closed_by_peer(mute, 15), "a TLS client that never completes its handshake must go"
    for i in range(50, 60):
        nl.sendall((msg("tcpnl", i) + "\n").encode())
        m = msg("tls", i).encode()
        t.sendall(b"%d %s" % (len(m), m))
    for s in (nl, oc, t, u, stall, mute):
        s.close()

    # Every good message exactly once, with the listener as dataset.
    want = set(good)
    deadline = time.time() + 120
    while time.time() < deadline:
        events = c.all_events(agent="edge")
        if len(events) >= len(want) + 2:  # + the oversized and the stalled frame
            break
        time.sleep(1)
    seen = {}
    for e in events:
        text = e.get("message", "") or e.get("event", {}).get("original", "")
        for key in want:
            if key in text:
                seen[key] = seen.get(key, 0) + 1
    missing = want - set(seen)
    dups = {k: n for k, n in seen.items() if n > 1}
    assert not missing, f"{len(missing)} messages not stored, e.g. {sorted(missing)[:5]}"
    assert not dups, f"stored twice: {list(dups)[:5]}"
    originals = [e.get("event", {}).get("original", "") for e in events]
    assert any("never finished" in o for o in originals), "the stalled partial frame is kept"
    big = [o for o in originals if "dev-big" in o]
    assert len(big) == 1 and len(big[0]) == 1024, [len(o) for o in big]
    assert not any("rogue" in o for o in originals)
    assert len(events) == len(want) + 2, (len(events), len(want))
    for e in events:
        assert e["log"]["source"]["address"].startswith("127.0.0.1:"), e["log"]
        assert e["log"]["file"]["path"].split("://")[0] in ("udp", "tcp", "tls"), e["log"]
    log(f"{len(want)} good messages stored once, each with its log.source.address")

    # Counted and logged with reasons.
    def counters():
        st = c.agent_status("edge")
        return st["counters"] if st else {}

    wait_for(lambda: counters().get("syslog_stalled", 0) >= 2, 15, "the counters to be saved")
    k = counters()
    log(f"counters: {k}")
    assert k["syslog_stalled"] == 2, k
    assert k["syslog_tls_failures"] >= 1, k  # the rogue certificate
    assert k["syslog_malformed"] == 2, k  # bad octet count, empty datagram
    assert k["syslog_truncated"] == 2, k  # oversized, stalled partial frame
    text = c.agent_log("edge")
    for needle in ("malformed frame from", "octet-counted frame does not start with a length",
                   "malformed datagram from", "longer than max_frame_bytes", "stalled for",
                   "TLS handshake with", "certificate"):
        assert needle in text, f"agent log lacks '{needle}'"
    assert agent.stop() == 0


if __name__ == "__main__":
    main(test)
