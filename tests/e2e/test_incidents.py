"""Incidents and joint defence end to end (domain.md §7): one IP brute-forcing
SSH at the three agencies of the Taichung region raises exactly one regional
alert and one regional incident linking the three agency incidents, even
with lianfangd killed -9 mid-stream; the same attacker seen at three
agencies of three different regions raises none. Analysts then work the
incidents through the API: lifecycle, refused changes, level with reason,
lights per agency and region (with the cluster step-up), and the printable
notification draft."""
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import log, main, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TAICHUNG = ["TC-01", "CH-07", "NT-21"]
ELSEWHERE = ["TP-01", "TY-01", "KH-01"]  # three agencies, three other regions
LINES = 40


def get_all(c, path, key, **q):
    out, cursor = [], None
    while True:
        params = dict(q, limit=1000)
        if cursor:
            params["cursor"] = cursor
        status, body = c.get_json(path + "?" + urllib.parse.urlencode(params))
        assert status == 200, body
        out += body[key]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def post(c, path, body, content_type="application/json"):
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    req = urllib.request.Request(f"http://127.0.0.1:{c.api_port}{path}", data=data,
                                 method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def write_attack(path, ip, host, first):
    with open(path, "a") as f:
        for i in range(LINES):
            ts = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
            f.write(f"{ts} {host} sshd[{first + i}]: Failed password for invalid user u{i} "
                    f"from {ip} port {40000 + i} ssh2\n")


def light_of(lights, kind, ident):
    key = "agency" if kind == "agencies" else "region"
    return next(x for x in lights[kind] if x[key] == ident)


def test(new_cluster):
    extra = f"""
incidents:
  regions_file: {ROOT}/rules/regions/taiwan.yaml
  min_alert_level: 1
  joint:
    window: 1h
    min_agencies: 3
"""
    c = new_cluster("incidents", server_extra=extra)
    c.start_server()
    paths = {}
    for agency in TAICHUNG + ELSEWHERE:
        paths[agency] = os.path.join(c.dir, f"{agency}.log")
        open(paths[agency], "w").close()
        c.add_agent(f"a-{agency}", agency, [("auth", paths[agency])])
        c.start_agent(f"a-{agency}")

    write_attack(paths["TC-01"], "203.0.113.45", "web01", 1000)
    time.sleep(1.0)
    c.server.kill9()
    log("lianfangd killed after the first agency's lines")
    write_attack(paths["CH-07"], "203.0.113.45", "appt01", 2000)
    c.start_server()
    write_attack(paths["NT-21"], "203.0.113.45", "pc07", 3000)
    for agency in ELSEWHERE:
        write_attack(paths[agency], "198.51.100.77", "srv", 4000)
    for agency in TAICHUNG + ELSEWHERE:
        wait_for(lambda a=agency: c.count_events(agent=f"a-{a}") >= LINES, 180,
                 f"{LINES} events of {agency}")
    time.sleep(2)

    joint = get_all(c, "/api/v1/alerts", "alerts", rule="lianfang.joint.source.ip")
    assert len(joint) == 1, f"{len(joint)} regional alerts: {joint}"
    j = joint[0]["lianfang"]
    assert j["region"]["id"] == "taichung"
    assert j["joint"]["value"] == "203.0.113.45"
    assert sorted(s["agency"] for s in j["joint"]["sightings"]) == sorted(TAICHUNG)
    others = get_all(c, "/api/v1/alerts", "alerts", rule="lianfang.joint.indicator")
    assert not others, "the same attack raised a second regional alert by indicator"

    incidents = get_all(c, "/api/v1/incidents", "incidents")
    regional = [i for i in incidents if i["scope"] == "region"]
    assert len(regional) == 1, regional
    reg = regional[0]
    assert reg["region"] == "taichung" and len(reg["member_incidents"]) >= 3
    by_agency = {}
    for i in incidents:
        if i["scope"] == "agency":
            by_agency.setdefault(i["agency"], []).append(i)
    for agency in TAICHUNG:
        # Every incident of the attacker's IP at a member joins the cluster.
        assert all(i.get("cluster", {}).get("agencies") == 3 for i in by_agency[agency]), agency
    assert sorted(reg["member_incidents"]) == sorted(
        i["id"] for a in TAICHUNG for i in by_agency[a])
    for agency in ELSEWHERE:
        assert by_agency[agency] and not any("cluster" in i for i in by_agency[agency]), agency
    # Exactly once: one incident per agency, rule and entity despite the kill.
    keys = [(i["agency"], tuple(i["rule_ids"]), tuple(i["entities"]["source.ip"]))
            for i in incidents if i["scope"] == "agency"]
    assert len(keys) == len(set(keys)), keys
    total = sum(i["alert_count"] for i in incidents if i["scope"] == "agency")
    alerts = get_all(c, "/api/v1/alerts", "alerts")
    assert total == len(alerts) - 1, (total, len(alerts))
    log(f"{len(incidents)} incidents, one regional; {len(alerts)} alerts")

    ch = by_agency["CH-07"][0]
    iid = ch["id"]
    status, body = post(c, f"/api/v1/incidents/{iid}/actions", {"action": "status",
                                                                 "status": "acknowledged"})
    assert status == 400 and "by" in body["error"]["message"], body
    status, body = post(c, f"/api/v1/incidents/{iid}/actions",
                        {"action": "note", "by": "amy", "text": "x"}, "text/plain")
    assert status == 415, body
    status, body = post(c, f"/api/v1/incidents/{iid}/actions",
                        {"action": "status", "status": "acknowledged", "by": "amy"})
    assert status == 200, body
    assert body["status"] == "acknowledged" and body["awareness"] and body["deadlines"]["report"]
    status, body = post(c, f"/api/v1/incidents/{iid}/actions",
                        {"action": "status", "status": "new", "by": "amy"})
    assert status == 400 and "forward" in body["error"]["message"], body
    status, body = post(c, f"/api/v1/incidents/{iid}/actions",
                        {"action": "level", "level": 3, "by": "amy"})
    assert status == 400 and "reason" in body["error"]["message"], body
    status, body = post(c, f"/api/v1/incidents/{iid}/actions",
                        {"action": "level", "level": 3, "by": "amy",
                         "reason": "citizens' data exported"})
    assert status == 200 and body["level"] == 3, body
    status, body = c.get_json(f"/api/v1/incidents/{iid}")
    assert [h["action"] for h in body["history"]] == ["created", "status", "level"], body["history"]
    assert body["alerts"] and body["alerts"][0]["agent_id"] == "a-CH-07"
    status, _ = c.get_json("/api/v1/incidents/999999")
    assert status == 404

    status, lights = c.get_json("/api/v1/lights")
    assert status == 200
    assert light_of(lights, "agencies", "CH-07")["light"] == "orange"  # open level 3
    assert light_of(lights, "agencies", "NT-21")["light"] in ("yellow", "orange")
    assert light_of(lights, "regions", "taichung")["light"] == "orange"
    assert not light_of(lights, "regions", "taichung")["cluster_step_up"]
    # A second confirmed member in another county steps the region up.
    tc = by_agency["TC-01"][0]["id"]
    status, body = post(c, f"/api/v1/incidents/{tc}/actions",
                        {"action": "status", "status": "acknowledged", "by": "bob"})
    assert status == 200, body
    status, lights = c.get_json("/api/v1/lights")
    assert light_of(lights, "regions", "taichung")["cluster_step_up"]
    assert light_of(lights, "regions", "taichung")["light"] == "red"

    status, html = c.get(f"/api/v1/incidents/{iid}/report?format=html")
    assert status == 200
    text = html.decode()
    assert "資通安全事件通報單" in text and "彰化縣衛生局" in text and "citizens&#39;" not in text
    status, rep = c.get_json(f"/api/v1/incidents/{iid}/report")
    assert rep["agency_detail"]["reviewer"] == "彰化縣政府" and rep["level"] == 3
    status, overdue = c.get_json("/api/v1/incidents?overdue=true")
    assert status == 200 and overdue["incidents"] == []
    status, bad = c.get_json("/api/v1/incidents?status=sleeping")
    assert status == 400
    log("actions, lights and report checked")


if __name__ == "__main__":
    main(test)
