/* Unit tests of correlate/lf_incidents.c over a real store: grouping into
 * incidents, the suggested level from tactics and asset class, joint
 * defence across agencies of one region (and not across regions or on
 * private addresses), analyst actions and their refusals, lights, the
 * report draft, and that an aborted batch leaves no incident behind. */
#include "store_test_util.h"

#include "lf_incidents.h"
#include "lf_time.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)
#define T0  1773104520000LL /* 2026-03-10T09:02:00+08:00 */

typedef struct fixture {
    test_dir_t dir;
    lf_store_t *st;
    lf_incidents_t *inc;
    lf_incidents_config_t cfg;
    lf_buf_t out;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_dir_make(&f->dir);
    lf_store_config_t scfg = test_config(&f->dir, 64 * MIB, false);
    char err[512] = "";
    assert_int_equal(lf_store_open(&scfg, NULL, &f->st, err, sizeof err), LF_OK);
    assert_int_equal(lf_config_set_defaults(lf_incidents_config_options, &f->cfg, err, sizeof err),
                     LF_OK);
    free(f->cfg.regions_file);
    f->cfg.regions_file = strdup(LF_SOURCE_DIR "/rules/regions/taiwan.yaml");
    if (lf_incidents_new(&f->cfg, f->st, &f->inc, err, sizeof err) != LF_OK)
        fail_msg("%s", err);
    lf_buf_init(&f->out, 16u << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lf_incidents_free(f->inc);
    lf_config_free(lf_incidents_config_options, &f->cfg);
    lf_store_close(f->st);
    test_dir_remove(&f->dir);
    lf_buf_free(&f->out);
    free(f);
    return 0;
}

typedef struct alert_spec {
    const char *agency, *rule, *ip, *host, *tactic;
    int level;
    int64_t time_ms;
} alert_spec_t;

/* Stores one alert and groups it in one batch; commit or abort. */
static void raise_alert(fixture_t *f, const alert_spec_t *s, bool commit)
{
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    uint64_t id = lf_store_batch_next_alert_id(b);
    lf_store_alert_in_t in = {.timestamp_ms = s->time_ms,
                              .agency = lf_str_c(s->agency),
                              .rule_id = lf_str_c(s->rule),
                              .level = s->level,
                              .doc = "{}",
                              .doc_len = 2};
    assert_int_equal(lf_store_batch_put_alert(b, &in), LF_OK);
    const char *tactics[1] = {s->tactic};
    lf_incident_alert_t a = {.alert_id = id,
                             .time_ms = s->time_ms,
                             .level = s->level,
                             .kind = "sigma",
                             .agency = lf_str_c(s->agency),
                             .rule_id = lf_str_c(s->rule),
                             .rule_title = lf_str_c(s->rule),
                             .host = lf_str_c(s->host ? s->host : ""),
                             .source_ip = lf_str_c(s->ip ? s->ip : ""),
                             .tactics = tactics,
                             .tactic_count = s->tactic ? 1 : 0};
    assert_int_equal(lf_incidents_on_alert(f->inc, b, &a), LF_OK);
    if (commit) {
        assert_int_equal(lf_incidents_batch_end(f->inc, b, true), LF_OK);
        assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    } else {
        lf_store_batch_abort(b);
        assert_int_equal(lf_incidents_batch_end(f->inc, b, false), LF_OK);
    }
}

static json_t *list(fixture_t *f, const char *status, const char *agency)
{
    lf_incident_query_t q = {.limit = 100,
                             .status = lf_str_c(status ? status : ""),
                             .agency = lf_str_c(agency ? agency : ""),
                             .now_ms = lf_time_now_ms()};
    assert_int_equal(lf_incidents_list_json(f->inc, &q, &f->out), LF_OK);
    json_error_t e;
    json_t *o = json_loadb(f->out.data, f->out.len, 0, &e);
    assert_non_null(o);
    return o;
}

static size_t incident_count(fixture_t *f, const char *agency)
{
    json_t *o = list(f, NULL, agency);
    size_t n = json_array_size(json_object_get(o, "incidents"));
    json_decref(o);
    return n;
}

static json_t *get(fixture_t *f, uint64_t id)
{
    assert_int_equal(lf_incidents_get_json(f->inc, id, lf_time_now_ms(), &f->out), LF_OK);
    json_t *o = json_loadb(f->out.data, f->out.len, 0, NULL);
    assert_non_null(o);
    return o;
}

static lf_err_t act(fixture_t *f, uint64_t id, const char *body, char *err, size_t errlen)
{
    return lf_incidents_act(f->inc, id, body, strlen(body), lf_time_now_ms(), &f->out, err, errlen);
}

static void test_grouping_and_window(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++) {
        alert_spec_t s = {"TC-01",  "ssh-brute", "198.51.100.7", "web01",
                          "TA0006", 3,           T0 + i * 60000};
        raise_alert(f, &s, true);
    }
    assert_int_equal(incident_count(f, "TC-01"), 1);
    json_t *inc = get(f, 1);
    assert_int_equal(json_integer_value(json_object_get(inc, "alert_count")), 3);
    assert_int_equal(json_array_size(json_object_get(inc, "alerts")), 3);
    assert_string_equal(json_string_value(json_object_get(inc, "status")), "new");
    assert_string_equal(json_string_value(json_object_get(inc, "region")), "taichung");
    json_decref(inc);
    /* Another entity: its own incident; beyond the window: a new one. */
    alert_spec_t other = {"TC-01", "ssh-brute", "198.51.100.8", "web01", "TA0006", 3, T0};
    raise_alert(f, &other, true);
    alert_spec_t late = {
        "TC-01", "ssh-brute", "198.51.100.7", "web01", "TA0006", 3, T0 + 2 * 60000 + 61 * 60000};
    raise_alert(f, &late, true);
    assert_int_equal(incident_count(f, "TC-01"), 3);
    /* Below min_alert_level: no incident. */
    alert_spec_t low = {"TC-01", "noise", "198.51.100.9", "web01", NULL, 1, T0};
    raise_alert(f, &low, true);
    assert_int_equal(incident_count(f, "TC-01"), 3);
    lf_incidents_stats_t st;
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.incidents_opened, 3);
    assert_int_equal(st.alerts_below_level, 1);
}

static void test_aborted_batch_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    alert_spec_t s = {"CH-07", "webshell", NULL, "appt01", "TA0003", 4, T0};
    raise_alert(f, &s, false);
    assert_int_equal(incident_count(f, NULL), 0);
    raise_alert(f, &s, true);
    assert_int_equal(incident_count(f, NULL), 1);
}

static void test_suggested_level(void **state)
{
    fixture_t *f = *state;
    /* Persistence on a core, non-CI system, not critical: I minor -> level 2. */
    alert_spec_t web = {"CH-07", "webshell", NULL, "appt01", "TA0003", 3, T0};
    raise_alert(f, &web, true);
    json_t *a = get(f, 1);
    assert_int_equal(json_integer_value(json_object_get(a, "level")), 2);
    json_t *impact = json_object_get(a, "impact");
    assert_string_equal(json_string_value(json_object_get(impact, "asset")), "core");
    assert_string_equal(json_string_value(json_object_get(impact, "i")), "minor");
    json_decref(a);
    /* Critical exfiltration from the sensitive database: C severe -> 4. */
    alert_spec_t exfil = {"CH-07", "bulk-export", NULL, "db01", "TA0010", 4, T0};
    raise_alert(f, &exfil, true);
    json_t *b = get(f, 2);
    assert_int_equal(json_integer_value(json_object_get(b, "level")), 4);
    json_decref(b);
    /* An unknown host counts as non-core: level 1. */
    alert_spec_t other = {"CH-07", "webshell", NULL, "pc17", "TA0003", 3, T0};
    raise_alert(f, &other, true);
    json_t *c = get(f, 3);
    assert_int_equal(json_integer_value(json_object_get(c, "level")), 1);
    json_decref(c);
}

static void test_joint_defence(void **state)
{
    fixture_t *f = *state;
    /* domain.md §7: one IP at the three agencies of the Taichung region. */
    const char *agencies[] = {"TC-01", "CH-07", "NT-21"};
    for (int i = 0; i < 3; i++) {
        alert_spec_t s = {agencies[i], "ssh-brute", "203.0.113.45", "h",
                          "TA0006",    2,           T0 + i * 180000};
        raise_alert(f, &s, true);
    }
    lf_incidents_stats_t st;
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.joint_alerts, 1);
    lf_store_stats_t ss;
    assert_int_equal(lf_store_stats(f->st, &ss), LF_OK);
    assert_int_equal(ss.alerts, 4); /* three agency alerts, one regional */
    /* The regional incident links the three member incidents. */
    json_t *o = list(f, NULL, NULL);
    json_t *items = json_object_get(o, "incidents");
    assert_int_equal(json_array_size(items), 4);
    json_t *regional = json_array_get(items, 0); /* newest first */
    assert_string_equal(json_string_value(json_object_get(regional, "scope")), "region");
    assert_int_equal(json_array_size(json_object_get(regional, "member_incidents")), 3);
    for (size_t i = 1; i < 4; i++) {
        json_t *cl = json_object_get(json_array_get(items, i), "cluster");
        assert_non_null(cl);
        assert_int_equal(json_integer_value(json_object_get(cl, "agencies")), 3);
    }
    json_decref(o);
    /* More of the same within the window: no second regional alert. */
    alert_spec_t again = {"TC-01", "ssh-brute", "203.0.113.45", "h", "TA0006", 2, T0 + 600000};
    raise_alert(f, &again, true);
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.joint_alerts, 1);

    /* Each agency in the cluster is at least yellow; the region too. */
    assert_int_equal(lf_incidents_lights_json(f->inc, lf_time_now_ms(), &f->out), LF_OK);
    json_t *l = json_loadb(f->out.data, f->out.len, 0, NULL);
    assert_non_null(l);
    size_t i;
    json_t *ag;
    int seen = 0;
    json_array_foreach(json_object_get(l, "agencies"), i, ag)
    {
        const char *id = json_string_value(json_object_get(ag, "agency"));
        if (strcmp(id, "TC-01") == 0 || strcmp(id, "CH-07") == 0 || strcmp(id, "NT-21") == 0) {
            /* No agents ever reported for them: sources silent. */
            assert_true(json_is_true(json_object_get(ag, "sources_silent")));
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    json_decref(l);
}

static void test_joint_needs_one_region_and_public_ip(void **state)
{
    fixture_t *f = *state;
    /* TC-01 and CH-07 are Taichung; a third agency from another region. */
    const lf_region_model_t *m = lf_incidents_regions(f->inc);
    assert_non_null(m);
    const char *outsider = NULL;
    for (size_t r = 0; r < m->region_count && !outsider; r++)
        if (strcmp(m->regions[r].id, "taichung") != 0 && m->regions[r].agency_count)
            outsider = m->regions[r].agencies[0].id;
    assert_non_null(outsider);
    const char *agencies[] = {"TC-01", "CH-07", outsider};
    for (int i = 0; i < 3; i++) {
        alert_spec_t s = {agencies[i], "ssh-brute", "203.0.113.99", "h", NULL, 2, T0 + i};
        raise_alert(f, &s, true);
    }
    /* A private address at all three Taichung agencies: not joined. */
    const char *local[] = {"TC-01", "CH-07", "NT-21"};
    for (int i = 0; i < 3; i++) {
        alert_spec_t s = {local[i], "ssh-brute", "10.0.0.5", "h", NULL, 2, T0 + i};
        raise_alert(f, &s, true);
    }
    lf_incidents_stats_t st;
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.joint_alerts, 0);
}

static void test_actions(void **state)
{
    fixture_t *f = *state;
    alert_spec_t web = {"CH-07", "webshell", NULL, "appt01", "TA0003", 3, T0};
    raise_alert(f, &web, true);
    char err[512] = "";
    assert_int_equal(
        act(f, 1, "{\"action\":\"status\",\"status\":\"acknowledged\"}", err, sizeof err),
        LF_EINVAL);
    assert_non_null(strstr(err, "by"));
    assert_int_equal(act(f, 1, "{\"action\":\"reported\",\"by\":\"amy\"}", err, sizeof err),
                     LF_EINVAL);
    assert_non_null(strstr(err, "awareness"));
    assert_int_equal(act(f, 1, "{\"action\":\"status\",\"status\":\"acknowledged\",\"by\":\"amy\"}",
                         err, sizeof err),
                     LF_OK);
    json_t *o = json_loadb(f->out.data, f->out.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "acknowledged");
    assert_true(json_is_string(json_object_get(o, "awareness")));
    assert_true(json_is_string(json_object_get(json_object_get(o, "deadlines"), "report")));
    json_decref(o);
    assert_int_equal(
        act(f, 1, "{\"action\":\"status\",\"status\":\"new\",\"by\":\"amy\"}", err, sizeof err),
        LF_EINVAL);
    assert_non_null(strstr(err, "forward"));
    assert_int_equal(
        act(f, 1, "{\"action\":\"level\",\"level\":3,\"by\":\"amy\"}", err, sizeof err), LF_EINVAL);
    assert_non_null(strstr(err, "reason"));
    assert_int_equal(act(f, 1,
                         "{\"action\":\"level\",\"level\":3,\"by\":\"amy\",\"reason\":\"bulk "
                         "export of citizens' data found\"}",
                         err, sizeof err),
                     LF_OK);
    assert_int_equal(act(f, 1, "{\"action\":\"reported\",\"by\":\"amy\"}", err, sizeof err), LF_OK);
    assert_int_equal(
        act(f, 1, "{\"action\":\"note\",\"by\":\"amy\",\"text\":\"IP blocked\"}", err, sizeof err),
        LF_OK);
    assert_int_equal(act(f, 1, "{\"action\":\"fly\",\"by\":\"amy\"}", err, sizeof err), LF_EINVAL);
    assert_int_equal(
        act(f, 99, "{\"action\":\"note\",\"by\":\"a\",\"text\":\"x\"}", err, sizeof err),
        LF_ENOTFOUND);
    assert_int_equal(act(f, 1, "not json", err, sizeof err), LF_EINVAL);

    json_t *inc = get(f, 1);
    assert_int_equal(json_integer_value(json_object_get(inc, "level")), 3);
    json_t *hist = json_object_get(inc, "history");
    assert_int_equal(json_array_size(hist), 5); /* created, status, level, reported, note */
    assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 2), "reason")),
                        "bulk export of citizens' data found");
    json_decref(inc);

    /* Level 3 with its open incident: CH-07 orange. */
    assert_int_equal(lf_incidents_lights_json(f->inc, lf_time_now_ms(), &f->out), LF_OK);
    json_t *l = json_loadb(f->out.data, f->out.len, 0, NULL);
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(l, "agencies"), i, ag)
    {
        if (strcmp(json_string_value(json_object_get(ag, "agency")), "CH-07") == 0) {
            assert_int_equal(json_integer_value(json_object_get(ag, "open_level_3")), 1);
        }
    }
    json_decref(l);

    /* The report draft names the agency and the level; HTML escapes. */
    assert_int_equal(lf_incidents_report(f->inc, 1, lf_time_now_ms(), false, &f->out), LF_OK);
    json_t *r = json_loadb(f->out.data, f->out.len, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "agency")), "CH-07");
    assert_int_equal(json_integer_value(json_object_get(r, "level")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "agency_detail"), "reviewer")),
        "彰化縣政府");
    json_decref(r);
    assert_int_equal(lf_incidents_report(f->inc, 1, lf_time_now_ms(), true, &f->out), LF_OK);
    assert_non_null(
        memmem(f->out.data, f->out.len, "資通安全事件通報單", strlen("資通安全事件通報單")));
    assert_int_equal(lf_incidents_report(f->inc, 42, lf_time_now_ms(), true, &f->out),
                     LF_ENOTFOUND);
}

static void test_unknown_agency(void **state)
{
    fixture_t *f = *state;
    alert_spec_t s = {"XX-99", "ssh-brute", "203.0.113.7", "h", NULL, 3, T0};
    raise_alert(f, &s, true);
    lf_incidents_stats_t st;
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.unknown_agency, 1);
    json_t *inc = get(f, 1);
    assert_string_equal(json_string_value(json_object_get(inc, "agency")), "XX-99");
    assert_null(json_object_get(inc, "region")); /* kept, but in no region */
    json_decref(inc);
    /* It still gets a light of its own. */
    assert_int_equal(lf_incidents_lights_json(f->inc, lf_time_now_ms(), &f->out), LF_OK);
    assert_non_null(memmem(f->out.data, f->out.len, "\"XX-99\"", 7));
}

static int64_t jget(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Repeated alerts only touch the counts record; alerts that add an entity,
 * a tactic or a higher level change the document. Both show in the views. */
static void test_counts_and_document(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        alert_spec_t s = {"TC-01",  "ssh-brute", "198.51.100.7", "web01",
                          "TA0006", 2,           T0 + i * 1000};
        raise_alert(f, &s, true);
    }
    /* Out of order (earlier first alert), a new host, a higher level. */
    alert_spec_t early = {"TC-01", "ssh-brute", "198.51.100.7", "web01", "TA0006", 2, T0 - 5000};
    raise_alert(f, &early, true);
    alert_spec_t host2 = {"TC-01", "ssh-brute", "198.51.100.7", "web02", "TA0006", 2, T0 + 9000};
    raise_alert(f, &host2, true);
    alert_spec_t crit = {"TC-01", "ssh-brute", "198.51.100.7", "web01", "TA0004", 4, T0 + 8000};
    raise_alert(f, &crit, true);
    json_t *inc = get(f, 1);
    assert_int_equal(jget(inc, "alert_count"), 8);
    assert_int_equal(json_array_size(json_object_get(inc, "alerts")), 8);
    assert_int_equal(jget(inc, "max_alert_level"), 4);
    json_t *hosts = json_object_get(json_object_get(inc, "entities"), "host.name");
    assert_int_equal(json_array_size(hosts), 2);
    assert_int_equal(json_array_size(json_object_get(inc, "tactics")), 2);
    /* Critical privilege escalation: severe integrity impact, level above 1. */
    assert_true(jget(inc, "suggested_level") >= 2);
    assert_string_equal(json_string_value(json_object_get(inc, "first_alert")),
                        "2026-03-10T01:01:55.000Z");
    assert_string_equal(json_string_value(json_object_get(inc, "last_alert")),
                        "2026-03-10T01:02:09.000Z");
    json_decref(inc);
    /* The list shows the same counts. */
    json_t *l = list(f, NULL, "TC-01");
    json_t *li = json_array_get(json_object_get(l, "incidents"), 0);
    assert_int_equal(jget(li, "alert_count"), 8);
    json_decref(l);
}

/* A closed incident is not joined again: the status kept beside the counts
 * follows the analyst's change. */
static void test_closed_incident_not_joined(void **state)
{
    fixture_t *f = *state;
    alert_spec_t s = {"TC-01", "ssh-brute", "198.51.100.7", "web01", "TA0006", 2, T0};
    raise_alert(f, &s, true);
    raise_alert(f, &s, true);
    char err[512] = "";
    assert_int_equal(
        act(f, 1, "{\"action\":\"status\",\"status\":\"closed\",\"by\":\"amy\"}", err, sizeof err),
        LF_OK);
    s.time_ms = T0 + 1000;
    raise_alert(f, &s, true);
    assert_int_equal(incident_count(f, "TC-01"), 2);
    json_t *inc = get(f, 1);
    assert_int_equal(jget(inc, "alert_count"), 2);
    assert_string_equal(json_string_value(json_object_get(inc, "status")), "closed");
    json_decref(inc);
    inc = get(f, 2);
    assert_int_equal(jget(inc, "alert_count"), 1);
    json_decref(inc);
}

/* Pages of one incident each: every incident once, each with its counts. */
static void test_list_pages(void **state)
{
    fixture_t *f = *state;
    static const char *const ips[] = {"198.51.100.1", "198.51.100.2", "198.51.100.3"};
    for (int i = 0; i < 3; i++)
        for (int n = 0; n <= i; n++) {
            alert_spec_t s = {"TC-01", "ssh-brute", ips[i], "web01", "TA0006", 2, T0 + n};
            raise_alert(f, &s, true);
        }
    char cursor[32] = "";
    int seen = 0;
    for (int page = 0; page < 4; page++) {
        lf_incident_query_t q = {.limit = 1, .cursor = cursor, .now_ms = lf_time_now_ms()};
        assert_int_equal(lf_incidents_list_json(f->inc, &q, &f->out), LF_OK);
        json_t *o = json_loadb(f->out.data, f->out.len, 0, NULL);
        assert_non_null(o);
        json_t *items = json_object_get(o, "incidents");
        if (json_array_size(items) == 1) {
            json_t *it = json_array_get(items, 0);
            /* Newest first: incident 3 has 3 alerts, 2 has 2, 1 has 1. */
            assert_int_equal(jget(it, "id"), 3 - seen);
            assert_int_equal(jget(it, "alert_count"), 3 - seen);
            seen++;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(o, "next_cursor")));
        json_decref(o);
        if (!cursor[0])
            break;
    }
    assert_int_equal(seen, 3);
}

/* A damaged joint record is logged and counted anew, nothing crashes. */
static void test_damaged_joint_record(void **state)
{
    fixture_t *f = *state;
    lf_store_wtx_t *w;
    assert_int_equal(lf_store_update_begin(f->st, &w), LF_OK);
    const char key[] = "taichung\x1fsource.ip=203.0.113.9";
    assert_int_equal(lf_store_wtx_put(w, LF_TABLE_JOINT, key, sizeof key - 1, "\x01garbage", 8),
                     LF_OK);
    assert_int_equal(lf_store_update_commit(w), LF_OK);
    static const char *const ag[] = {"TC-01", "CH-07", "NT-21"};
    for (int i = 0; i < 3; i++) {
        alert_spec_t s = {ag[i], "web-scan", "203.0.113.9", "web01", "TA0043", 2, T0 + i};
        raise_alert(f, &s, true);
    }
    lf_incidents_stats_t st;
    lf_incidents_stats(f->inc, &st);
    assert_int_equal(st.joint_alerts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grouping_and_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aborted_batch_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suggested_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_joint_defence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_joint_needs_one_region_and_public_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_agency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_and_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_incident_not_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_joint_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
