/* Unit tests of the Sigma correlation engine (correlate/lf_sigcorr*.c):
 * every correlation type in order, out of order within the lateness, late
 * beyond it, at window edges; missing group-by values; every condition
 * operator and ranges; decisions at window end; chained correlations;
 * aliases; multi-document files; the limits; persistence (take, restore
 * after a simulated kill -9 in the middle of a window, discard of an
 * aborted batch, transfer on reload); damaged state; bad rules with their
 * diagnostics; and the lf_detect integration with the shipped rules. */
#include "sigma_test_util.h"

#include "lf_detect.h"
#include "lf_sigcorr.h"

#include <jansson.h>
#include <math.h>
#include <unistd.h>

#ifndef LF_SOURCE_DIR
#error LF_SOURCE_DIR must be defined
#endif

#define T0   1773106920000LL /* 2026-03-10T01:42:00Z */
#define SEC  1000LL
#define MIN  60000LL
#define FAIL "b-fail", "failed_login"
#define OK   "b-ok", "successful_login"
#define RA   "b-ra", "recon_a"
#define RB   "b-rb", "recon_b"
#define RC   "b-rc", "recon_c"
#define IE   "b-ie", "internal_error"
#define NC   "b-nc", "new_network_connection"
#define XFER "b-xfer", "transfer"

/* Base rules the correlations reference (their detection is irrelevant:
 * the tests feed hits directly). */
static const char base_rules[] = "title: Failed login\n"
                                 "id: b-fail\n"
                                 "name: failed_login\n"
                                 "detection: {sel: {message|contains: failed}, condition: sel}\n"
                                 "level: low\n"
                                 "tags: [attack.credential-access, attack.t1110.001]\n"
                                 "---\n"
                                 "title: Successful login\n"
                                 "id: b-ok\n"
                                 "name: successful_login\n"
                                 "detection: {sel: {message|contains: accepted}, condition: sel}\n"
                                 "level: informational\n"
                                 "---\n"
                                 "title: Recon A\nid: b-ra\nname: recon_a\n"
                                 "detection: {sel: {message|contains: whoami}, condition: sel}\n"
                                 "level: medium\n"
                                 "---\n"
                                 "title: Recon B\nid: b-rb\nname: recon_b\n"
                                 "detection: {sel: {message|contains: ipconfig}, condition: sel}\n"
                                 "level: low\n"
                                 "---\n"
                                 "title: Recon C\nid: b-rc\nname: recon_c\n"
                                 "detection: {sel: {message|contains: netstat}, condition: sel}\n"
                                 "---\n"
                                 "title: Internal error\nid: b-ie\nname: internal_error\n"
                                 "detection: {sel: {message|contains: ' 500 '}, condition: sel}\n"
                                 "---\n"
                                 "title: New connection\nid: b-nc\nname: new_network_connection\n"
                                 "detection: {sel: {message|contains: connect}, condition: sel}\n"
                                 "---\n"
                                 "title: Transfer\nid: b-xfer\nname: transfer\n"
                                 "detection: {sel: {message|contains: sent}, condition: sel}\n";

/* ---- helpers --------------------------------------------------------------------------------- */

typedef struct msgs {
    int errors, warnings;
    char all[8192];
} msgs_t;

static void collect(const lf_sigma_diag_t *d, void *ud)
{
    msgs_t *m = ud;
    if (d->severity == LF_SIGMA_ERROR)
        m->errors++;
    else
        m->warnings++;
    size_t n = strlen(m->all);
    snprintf(m->all + n, sizeof m->all - n, "%s %s:%d:%d: [%s] %s\n",
             d->severity == LF_SIGMA_ERROR ? "E" : "W", d->file, d->line, d->column, d->rule_id,
             d->message);
    if (getenv("SIGMA_TEST_VERBOSE"))
        fprintf(stderr, "%s:%d:%d: [%s] %s\n", d->file, d->line, d->column, d->rule_id, d->message);
}

static lf_sigma_matcher_t *base_matcher(void)
{
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = compile_text(NULL, NULL, base_rules, &log);
    assert_int_equal(log.errors, 0);
    return m;
}

/* The engine as the Sigma specification has it: without the agency that
 * lianfangd adds to every group-by (test_group_by_agency covers that). */
static void test_options(lf_sigcorr_options_t *o)
{
    lf_sigcorr_options_default(o);
    o->group_by_agency = false;
}

static const lf_sigcorr_options_t *plain_options(void)
{
    static lf_sigcorr_options_t o;
    test_options(&o);
    return &o;
}

static lf_sigcorr_t *engine_opts(const char *corr, const lf_sigcorr_options_t *opts, msgs_t *m)
{
    lf_sigma_matcher_t *base = base_matcher();
    lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(opts ? opts : plain_options());
    assert_non_null(set);
    lf_sigcorr_load_buffer(set, "corr.yml", corr, strlen(corr), collect, m);
    lf_sigcorr_t *c = lf_sigcorr_new(set, base, collect, m);
    lf_sigma_matcher_unref(base);
    assert_non_null(c);
    return c;
}

static lf_sigcorr_t *engine(const char *corr)
{
    msgs_t m = {0};
    lf_sigcorr_t *c = engine_opts(corr, NULL, &m);
    if (m.errors)
        fail_msg("unexpected diagnostics:\n%s", m.all);
    return c;
}

typedef struct rec {
    char rule[96];
    double value;
    uint32_t hits;
    int64_t ws, we, first, last;
    char g[2][64];
} rec_t;

typedef struct alerts {
    rec_t a[64];
    size_t n;
} alerts_t;

static void on_alert(void *ud, const lf_sigcorr_alert_t *a)
{
    alerts_t *out = ud;
    assert_true(out->n < 64);
    rec_t *r = &out->a[out->n++];
    snprintf(r->rule, sizeof r->rule, "%s", a->rule->key);
    r->value = a->value;
    r->hits = a->hits;
    r->ws = a->window_start_ms;
    r->we = a->window_end_ms;
    r->first = a->first_ms;
    r->last = a->last_ms;
    for (size_t i = 0; i < a->rule->group_count && i < 2; i++)
        snprintf(r->g[i], sizeof r->g[i], "%.*s", (int)a->group_values[i].len,
                 a->group_values[i].ptr);
}

/* Fields: NULL-terminated name, value pairs. */
static lf_str_t get_kv(void *opaque, const char *field)
{
    const char *const *kv = opaque;
    for (; kv && kv[0]; kv += 2)
        if (!strcmp(kv[0], field))
            return lf_str_c(kv[1]);
    return LF_STR_NULL;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static int feed(lf_sigcorr_t *c, const char *id, const char *name, int64_t ts,
                const char *const *kv, alerts_t *out)
{
    lf_sigcorr_hit_t h = {
        .rule_id = id, .rule_name = name, .time_ms = ts, .get = get_kv, .opaque = (void *)kv};
    return lf_sigcorr_feed(c, &h, on_alert, out);
}

static lf_sigcorr_stats_t stats(const lf_sigcorr_t *c)
{
    lf_sigcorr_stats_t st;
    lf_sigcorr_stats(c, &st);
    return st;
}

/* A key-value store with a pending transaction, standing in for LMDB. */
typedef struct kv {
    uint8_t key[LF_SIGCORR_MAX_KEY];
    size_t klen;
    uint8_t *val; /* NULL: delete (pending only) */
    size_t vlen;
} kv_t;

typedef struct store {
    kv_t items[128];
    size_t n;
    kv_t pending[128];
    size_t npending;
    size_t puts, dels;
} store_t;

static void store_put(void *opaque, const void *key, size_t klen, const void *val, size_t vlen)
{
    store_t *s = opaque;
    assert_true(klen > 0 && klen <= LF_SIGCORR_MAX_KEY);
    assert_true(s->npending < 128);
    kv_t *p = &s->pending[s->npending++];
    memcpy(p->key, key, klen);
    p->klen = klen;
    p->val = NULL;
    p->vlen = 0;
    if (val) {
        p->val = malloc(vlen);
        memcpy(p->val, val, vlen);
        p->vlen = vlen;
        s->puts++;
    } else {
        s->dels++;
    }
}

static kv_t *store_find(store_t *s, const uint8_t *key, size_t klen)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].klen == klen && !memcmp(s->items[i].key, key, klen))
            return &s->items[i];
    return NULL;
}

static void store_commit(store_t *s)
{
    for (size_t i = 0; i < s->npending; i++) {
        kv_t *p = &s->pending[i];
        kv_t *it = store_find(s, p->key, p->klen);
        if (p->val) {
            if (!it) {
                assert_true(s->n < 128);
                it = &s->items[s->n++];
                memcpy(it->key, p->key, p->klen);
                it->klen = p->klen;
            } else {
                free(it->val);
            }
            it->val = p->val;
            it->vlen = p->vlen;
        } else if (it) {
            free(it->val);
            *it = s->items[--s->n];
        }
    }
    s->npending = 0;
}

static void store_abort(store_t *s)
{
    for (size_t i = 0; i < s->npending; i++)
        free(s->pending[i].val);
    s->npending = 0;
}

static void store_free(store_t *s)
{
    store_abort(s);
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].val);
    s->n = 0;
}

static void restore_all(lf_sigcorr_t *c, store_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(lf_sigcorr_restore(c, s->items[i].key, s->items[i].klen, s->items[i].val,
                                            s->items[i].vlen),
                         LF_OK);
}

static const char brute_force[] = "title: Brute force\n"
                                  "id: c-bf\n"
                                  "name: brute_force\n"
                                  "correlation:\n"
                                  "  type: event_count\n"
                                  "  rules: [failed_login]\n"
                                  "  group-by: [source.ip]\n"
                                  "  timespan: 1m\n"
                                  "  condition: {gte: 3}\n"
                                  "level: high\n";

/* lianfangd's default: the agency joins every group-by, so two agencies'
 * hits never fill one window, and each alert names its agency. */
static void test_group_by_agency(void **state)
{
    (void)state;
    lf_sigcorr_options_t o;
    lf_sigcorr_options_default(&o);
    assert_true(o.group_by_agency);
    msgs_t m = {0};
    lf_sigcorr_t *c = engine_opts(brute_force, &o, &m);
    assert_int_equal(m.errors, 0);
    const lf_sigcorr_rule_t *r = lf_sigcorr_rule(c, 0);
    assert_int_equal(r->group_count, 2);
    assert_string_equal(r->group_by[1], LF_SIGCORR_AGENCY_FIELD);
    alerts_t a = {0};
    const char *const *tc = KV("source.ip", "203.0.113.9", "organization.id", "TC-01");
    const char *const *ch = KV("source.ip", "203.0.113.9", "organization.id", "CH-07");
    feed(c, FAIL, T0, tc, &a);
    feed(c, FAIL, T0 + SEC, ch, &a);
    feed(c, FAIL, T0 + 2 * SEC, tc, &a);
    assert_int_equal(a.n, 0); /* 2 + 1, not 3 */
    feed(c, FAIL, T0 + 3 * SEC, tc, &a);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.a[0].g[0], "203.0.113.9");
    assert_string_equal(a.a[0].g[1], "TC-01");
    lf_sigcorr_free(c);
    /* A rule that groups by the agency itself keeps its group-by. */
    static const char own[] = "title: Per agency\n"
                              "id: c-own\n"
                              "correlation:\n"
                              "  type: event_count\n"
                              "  rules: [failed_login]\n"
                              "  group-by: [organization.id]\n"
                              "  timespan: 1m\n"
                              "  condition: {gte: 2}\n";
    m = (msgs_t){0};
    c = engine_opts(own, &o, &m);
    assert_int_equal(lf_sigcorr_rule(c, 0)->group_count, 1);
    lf_sigcorr_free(c);
}

/* ---- event_count ----------------------------------------------------------------------------- */

static void test_event_count_in_order(void **state)
{
    lf_sigcorr_t *c = engine(brute_force);
    alerts_t a = {0};
    const char *const *ip1 = KV("source.ip", "10.0.0.1");
    const char *const *ip2 = KV("source.ip", "10.0.0.2");
    assert_int_equal(feed(c, FAIL, T0, ip1, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 10 * SEC, ip1, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 15 * SEC, ip2, &a), 0); /* other group */
    assert_int_equal(feed(c, FAIL, T0 + 20 * SEC, ip1, &a), 1);
    assert_string_equal(a.a[0].rule, "c-bf");
    assert_string_equal(a.a[0].g[0], "10.0.0.1");
    assert_true(a.a[0].value == 3);
    assert_int_equal(a.a[0].hits, 3);
    assert_int_equal(a.a[0].first, T0);
    assert_int_equal(a.a[0].last, T0 + 20 * SEC);
    assert_int_equal(a.a[0].we, T0 + 20 * SEC);
    assert_int_equal(a.a[0].ws, T0 + 20 * SEC - MIN);
    /* the window reset: the 4th and 5th hit raise nothing, the 6th the next alert */
    assert_int_equal(feed(c, FAIL, T0 + 21 * SEC, ip1, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 22 * SEC, ip1, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 23 * SEC, ip1, &a), 1);
    assert_int_equal(a.a[1].first, T0 + 21 * SEC);
    assert_int_equal(a.a[1].hits, 3);
    lf_sigcorr_stats_t st = stats(c);
    assert_int_equal(st.hits, 7);
    assert_int_equal(st.alerts, 2);
    assert_int_equal(st.groups, 1); /* ip2 */
    /* hits of a rule no correlation uses are ignored */
    assert_int_equal(feed(c, OK, T0, ip1, &a), 0);
    assert_int_equal(stats(c).hits, 7);
    assert_string_equal(lf_sigcorr_type_name(lf_sigcorr_rule(c, 0)->type), "event_count");
    lf_sigcorr_free(c);
}

static void test_event_count_window_edges(void **state)
{
    lf_sigcorr_t *c = engine(brute_force);
    alerts_t a = {0};
    /* 0, 30 s, 60.001 s: the first lies just outside the window of the third */
    const char *const *ip1 = KV("source.ip", "10.0.0.1");
    feed(c, FAIL, T0, ip1, &a);
    feed(c, FAIL, T0 + 30 * SEC, ip1, &a);
    assert_int_equal(feed(c, FAIL, T0 + MIN + 1, ip1, &a), 0);
    /* ...but a fourth within the window of the second fires, without the first */
    assert_int_equal(feed(c, FAIL, T0 + 80 * SEC, ip1, &a), 1);
    assert_int_equal(a.a[0].first, T0 + 30 * SEC);
    assert_int_equal(a.a[0].hits, 3);
    /* exactly timespan apart: inside (the window is closed at both ends) */
    const char *const *ip2 = KV("source.ip", "10.0.0.2");
    feed(c, FAIL, T0, ip2, &a);
    feed(c, FAIL, T0 + 30 * SEC, ip2, &a);
    assert_int_equal(feed(c, FAIL, T0 + MIN, ip2, &a), 1);
    assert_int_equal(a.a[1].first, T0);
    lf_sigcorr_free(c);
}

static void test_out_of_order_within_lateness(void **state)
{
    lf_sigcorr_t *c = engine(brute_force);
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "10.0.0.1");
    feed(c, FAIL, T0 + 50 * SEC, ip, &a);
    feed(c, FAIL, T0 + 40 * SEC, ip, &a); /* 10 s late: counted */
    assert_int_equal(feed(c, FAIL, T0 + 45 * SEC, ip, &a), 1);
    assert_int_equal(a.a[0].first, T0 + 40 * SEC);
    assert_int_equal(a.a[0].last, T0 + 50 * SEC);
    assert_int_equal(a.a[0].hits, 3);
    /* a late hit completes a window that ends at a later hit */
    const char *const *ip2 = KV("source.ip", "10.0.0.2");
    feed(c, FAIL, T0 + 100 * SEC, ip2, &a);
    feed(c, FAIL, T0 + 130 * SEC, ip2, &a);
    assert_int_equal(feed(c, FAIL, T0 + 90 * SEC, ip2, &a), 1);
    assert_int_equal(a.a[1].first, T0 + 90 * SEC);
    assert_int_equal(a.a[1].we, T0 + 130 * SEC);
    assert_int_equal(stats(c).hits_late, 0);
    lf_sigcorr_free(c);
}

static void test_late_beyond_lateness(void **state)
{
    lf_sigcorr_options_t o;
    test_options(&o);
    o.lateness_ms = 30 * SEC;
    msgs_t m = {0};
    lf_sigcorr_t *c = engine_opts(brute_force, &o, &m);
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "10.0.0.1");
    feed(c, FAIL, T0 + 100 * SEC, ip, &a);
    feed(c, FAIL, T0 + 95 * SEC, ip, &a); /* 5 s behind: counted */
    feed(c, FAIL, T0 + 60 * SEC, ip, &a); /* 40 s behind the group's newest: late */
    assert_int_equal(stats(c).hits_late, 1);
    assert_int_equal(stats(c).hits, 2);
    assert_int_equal(a.n, 0);
    /* the watermark makes hits of new groups late too */
    lf_sigcorr_advance(c, T0 + 1000 * SEC, on_alert, &a);
    const char *const *ip2 = KV("source.ip", "10.0.0.2");
    feed(c, FAIL, T0 + 960 * SEC, ip2, &a);
    assert_int_equal(stats(c).hits_late, 2);
    feed(c, FAIL, T0 + 990 * SEC, ip2, &a);
    assert_int_equal(stats(c).hits_late, 2);
    /* the advance dropped the first group, which could no longer fire */
    assert_int_equal(stats(c).groups, 1);
    lf_sigcorr_free(c);
}

static void test_missing_group_by_value(void **state)
{
    lf_sigcorr_t *c = engine(brute_force);
    alerts_t a = {0};
    for (int i = 0; i < 5; i++)
        feed(c, FAIL, T0 + i * SEC, KV("user.name", "root"), &a);
    assert_int_equal(a.n, 0);
    lf_sigcorr_stats_t st = stats(c);
    assert_int_equal(st.hits_missing_group, 5);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.groups, 0);
    /* present but empty is a value of its own */
    for (int i = 0; i < 3; i++)
        feed(c, FAIL, T0 + i * SEC, KV("source.ip", ""), &a);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.a[0].g[0], "");
    lf_sigcorr_free(c);
}

static void test_no_group_by(void **state)
{
    lf_sigcorr_t *c = engine("title: Any\nid: c-any\ncorrelation:\n  type: event_count\n"
                             "  rules: b-fail\n  timespan: 10s\n  condition: {gt: 1}\n");
    alerts_t a = {0};
    feed(c, FAIL, T0, NULL, &a);
    assert_int_equal(feed(c, FAIL, T0 + SEC, KV("source.ip", "x"), &a), 1);
    assert_int_equal(lf_sigcorr_rule(c, 0)->group_count, 0);
    lf_sigcorr_free(c);
}

/* ---- value_count, temporal, temporal_ordered ------------------------------------------------- */

static void test_value_count(void **state)
{
    lf_sigcorr_t *c = engine("title: Spray\nid: c-spray\ncorrelation:\n"
                             "  type: value_count\n  rules: [failed_login]\n"
                             "  group-by: [source.ip]\n  timespan: 10m\n"
                             "  condition: {field: user.name, gt: 2}\n");
    alerts_t a = {0};
    const char *ip = "198.51.100.7";
    feed(c, FAIL, T0, KV("source.ip", ip, "user.name", "u1"), &a);
    feed(c, FAIL, T0 + SEC, KV("source.ip", ip, "user.name", "u1"), &a);
    feed(c, FAIL, T0 + 2 * SEC, KV("source.ip", ip, "user.name", "u2"), &a);
    feed(c, FAIL, T0 + 3 * SEC, KV("source.ip", ip), &a); /* no user: not counted */
    assert_int_equal(a.n, 0);
    assert_int_equal(feed(c, FAIL, T0 + 4 * SEC, KV("source.ip", ip, "user.name", "u3"), &a), 1);
    assert_true(a.a[0].value == 3);
    assert_int_equal(a.a[0].hits, 3); /* one (the newest) hit per value is kept */
    assert_int_equal(a.a[0].first, T0 + SEC);
    assert_int_equal(stats(c).hits_missing_value, 1);
    assert_int_equal(stats(c).hits, 4);
    assert_string_equal(lf_sigcorr_rule(c, 0)->field, "user.name");
    /* a flood of one value keeps one hit: nothing is evicted */
    for (int i = 0; i < 5000; i++)
        feed(c, FAIL, T0 + MIN + i, KV("source.ip", ip, "user.name", "root"), &a);
    assert_int_equal(stats(c).values_evicted, 0);
    assert_int_equal(a.n, 1);
    feed(c, FAIL, T0 + 2 * MIN, KV("source.ip", ip, "user.name", "a"), &a);
    assert_int_equal(feed(c, FAIL, T0 + 2 * MIN, KV("source.ip", ip, "user.name", "b"), &a), 1);
    assert_int_equal(a.a[1].hits, 3);
    lf_sigcorr_free(c);
}

static void test_temporal(void **state)
{
    lf_sigcorr_t *c = engine("title: Recon\nid: c-recon\ncorrelation:\n  type: temporal\n"
                             "  rules: [recon_a, recon_b, recon_c]\n"
                             "  group-by: [host.name, user.name]\n  timespan: 5m\n");
    alerts_t a = {0};
    const char *const *h1 = KV("host.name", "pc1", "user.name", "bob");
    const char *const *h2 = KV("host.name", "pc2", "user.name", "bob");
    feed(c, RA, T0, h1, &a);
    feed(c, RB, T0 + MIN, h1, &a);
    feed(c, RA, T0 + 2 * MIN, h1, &a);
    feed(c, RC, T0 + 3 * MIN, h2, &a); /* other host */
    assert_int_equal(a.n, 0);
    assert_int_equal(feed(c, RC, T0 + 4 * MIN, h1, &a), 1);
    assert_true(a.a[0].value == 3);
    assert_string_equal(a.a[0].g[0], "pc1");
    assert_string_equal(a.a[0].g[1], "bob");
    /* any order; but not when the first is outside the window */
    feed(c, RC, T0 + 10 * MIN, h1, &a);
    feed(c, RB, T0 + 11 * MIN, h1, &a);
    assert_int_equal(feed(c, RA, T0 + 15 * MIN + 1, h1, &a), 0);
    assert_int_equal(feed(c, RC, T0 + 16 * MIN, h1, &a), 1);
    lf_sigcorr_free(c);
}

static void test_temporal_ordered(void **state)
{
    lf_sigcorr_t *c = engine("title: Then\nid: c-then\ncorrelation:\n  type: temporal_ordered\n"
                             "  rules: [failed_login, successful_login]\n"
                             "  group-by: [user.name]\n  timespan: 1h\n");
    alerts_t a = {0};
    const char *const *u = KV("user.name", "alice");
    assert_int_equal(feed(c, OK, T0, u, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + MIN, u, &a), 0); /* wrong order so far */
    assert_int_equal(feed(c, OK, T0 + 2 * MIN, u, &a), 1);
    assert_true(a.a[0].value == 2);
    assert_int_equal(a.a[0].first, T0);
    /* out of order arrival: the failure (10 s) arrives after the success (20 s) */
    const char *const *v = KV("user.name", "carol");
    assert_int_equal(feed(c, OK, T0 + 20 * SEC, v, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 10 * SEC, v, &a), 1);
    assert_int_equal(a.a[1].first, T0 + 10 * SEC);
    assert_int_equal(a.a[1].last, T0 + 20 * SEC);
    /* reversed order in event time never fires */
    const char *const *w = KV("user.name", "dave");
    feed(c, OK, T0, w, &a);
    assert_int_equal(feed(c, FAIL, T0 + SEC, w, &a), 0);
    assert_int_equal(a.n, 2);
    lf_sigcorr_free(c);
}

/* ---- value_sum, value_avg, value_percentile, value_median ------------------------------------ */

static void test_value_metrics(void **state)
{
    lf_sigcorr_t *c = engine(
        "title: Sum\nid: c-sum\ncorrelation:\n  type: value_sum\n  rules: [transfer]\n"
        "  group-by: [user.name]\n  timespan: 1h\n  condition: {field: bytes, gt: 1000}\n"
        "---\n"
        "title: Avg\nid: c-avg\ncorrelation:\n  type: value_avg\n  rules: [transfer]\n"
        "  group-by: [user.name]\n  timespan: 1h\n  condition: {field: bytes, gte: 400}\n"
        "---\n"
        "title: P90\nid: c-p90\ncorrelation:\n  type: value_percentile\n  rules: [transfer]\n"
        "  group-by: [user.name]\n  timespan: 1h\n"
        "  condition: {field: ms, percentile: 90, gte: 900}\n"
        "---\n"
        "title: Median\nid: c-med\ncorrelation:\n  type: value_median\n  rules: [transfer]\n"
        "  group-by: [user.name]\n  timespan: 1m\n  condition: {field: ms, lt: 10}\n");
    alerts_t a = {0};
    feed(c, XFER, T0, KV("user.name", "u", "bytes", "100", "ms", "100"), &a);
    assert_int_equal(a.n, 0);
    feed(c, XFER, T0 + SEC, KV("user.name", "u", "bytes", "400.5", "ms", "200"), &a);
    assert_int_equal(a.n, 0);
    /* sum 1200.5 > 1000 and average 400.17 >= 400 */
    feed(c, XFER, T0 + 2 * SEC, KV("user.name", "u", "bytes", " 700 ", "ms", "1000"), &a);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.a[0].rule, "c-sum");
    assert_true(fabs(a.a[0].value - 1200.5) < 1e-9);
    assert_string_equal(a.a[1].rule, "c-avg");
    assert_true(fabs(a.a[1].value - 1200.5 / 3) < 1e-9);
    /* p90 of 100, 200, 1000, 1000 (interpolated): 1000 */
    feed(c, XFER, T0 + 3 * SEC, KV("user.name", "u", "bytes", "1", "ms", "1000"), &a);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.a[2].rule, "c-p90");
    assert_true(fabs(a.a[2].value - 1000) < 1e-9);
    /* non-numeric values are not counted */
    feed(c, XFER, T0 + 4 * SEC, KV("user.name", "v", "bytes", "lots", "ms", "0x10"), &a);
    assert_int_equal(stats(c).hits_missing_value, 4);
    /* median at window end: 5, 20, 7 → 7 < 10 */
    feed(c, XFER, T0, KV("user.name", "w", "ms", "5"), &a);
    feed(c, XFER, T0 + SEC, KV("user.name", "w", "ms", "20"), &a);
    feed(c, XFER, T0 + 2 * SEC, KV("user.name", "w", "ms", "7"), &a);
    size_t before = a.n;
    /* T0 + 2 min is the window's end plus the lateness: still open */
    assert_int_equal(lf_sigcorr_advance(c, T0 + 2 * MIN, on_alert, &a), 0);
    assert_int_equal(lf_sigcorr_advance(c, T0 + 2 * MIN + 1, on_alert, &a), 1);
    assert_int_equal(a.n, before + 1);
    assert_string_equal(a.a[before].rule, "c-med");
    assert_true(fabs(a.a[before].value - 7) < 1e-9);
    assert_int_equal(a.a[before].ws, T0);
    assert_int_equal(a.a[before].we, T0 + MIN);
    assert_true(lf_sigcorr_rule(c, 3)->at_window_end);
    assert_true(lf_sigcorr_rule(c, 3)->percentile == 50);
    lf_sigcorr_free(c);
}

/* ---- conditions ------------------------------------------------------------------------------ */

/* Feeds n hits 1 s apart to a fresh engine with one event_count rule and
 * returns the alerts raised while feeding plus those at window end. */
static size_t count_alerts(const char *cond, int n, size_t *at_end)
{
    char rule[512];
    snprintf(rule, sizeof rule,
             "title: C\nid: c-cond\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
             "  group-by: [source.ip]\n  timespan: 1m\n  condition: %s\n",
             cond);
    lf_sigcorr_t *c = engine(rule);
    alerts_t a = {0};
    for (int i = 0; i < n; i++)
        feed(c, FAIL, T0 + i * SEC, KV("source.ip", "1.1.1.1"), &a);
    size_t during = a.n;
    lf_sigcorr_advance(c, T0 + 10 * MIN, on_alert, &a);
    *at_end = a.n - during;
    lf_sigcorr_free(c);
    return a.n;
}

static void test_condition_operators(void **state)
{
    size_t end;
    assert_int_equal(count_alerts("{gt: 2}", 2, &end), 0);
    assert_int_equal(count_alerts("{gt: 2}", 3, &end), 1);
    assert_int_equal(end, 0); /* decided at once */
    assert_int_equal(count_alerts("{gte: 2}", 2, &end), 1);
    assert_int_equal(count_alerts("{gte: 2}", 4, &end), 2); /* reset after each */
    assert_int_equal(count_alerts("{lt: 3}", 2, &end), 1);
    assert_int_equal(end, 1); /* decided at window end */
    assert_int_equal(count_alerts("{lt: 3}", 3, &end), 0);
    assert_int_equal(count_alerts("{lte: 3}", 3, &end), 1);
    assert_int_equal(count_alerts("{lte: 3}", 4, &end), 0);
    assert_int_equal(count_alerts("{eq: 2}", 2, &end), 1);
    assert_int_equal(count_alerts("{eq: 2}", 1, &end), 0);
    assert_int_equal(count_alerts("{eq: 2}", 3, &end), 0);
    assert_int_equal(count_alerts("{neq: 2}", 2, &end), 0);
    assert_int_equal(count_alerts("{neq: 2}", 3, &end), 1);
    /* ranges */
    assert_int_equal(count_alerts("{gt: 1, lte: 3}", 1, &end), 0);
    assert_int_equal(count_alerts("{gt: 1, lte: 3}", 2, &end), 1);
    assert_int_equal(count_alerts("{gt: 1, lte: 3}", 3, &end), 1);
    assert_int_equal(count_alerts("{gt: 1, lte: 3}", 4, &end), 0);
    assert_int_equal(count_alerts("{gte: 2, lt: 4, neq: 3}", 3, &end), 0);
    assert_int_equal(count_alerts("{gte: 2, lt: 4, neq: 3}", 2, &end), 1);
}

static void test_window_end_by_later_hit(void **state)
{
    lf_sigcorr_t *c = engine("title: Few\nid: c-few\ncorrelation:\n  type: event_count\n"
                             "  rules: [b-fail]\n  group-by: [source.ip]\n  timespan: 1m\n"
                             "  condition: {eq: 2}\n");
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "1.1.1.1");
    feed(c, FAIL, T0, ip, &a);
    feed(c, FAIL, T0 + 10 * SEC, ip, &a);
    /* still open: a hit 59 s late could come */
    assert_int_equal(lf_sigcorr_advance(c, T0 + 2 * MIN, on_alert, &a), 0);
    /* a hit beyond end + lateness (the group's own clock) closes the window */
    assert_int_equal(feed(c, FAIL, T0 + 2 * MIN + 1, ip, &a), 1);
    assert_true(a.a[0].value == 2);
    assert_int_equal(a.a[0].we, T0 + MIN);
    /* the new hit opened the next window */
    assert_int_equal(stats(c).groups, 1);
    assert_int_equal(lf_sigcorr_advance(c, T0 + 10 * MIN, on_alert, &a), 0); /* 1 ≠ 2 */
    assert_int_equal(stats(c).groups, 0);
    lf_sigcorr_free(c);
}

/* ---- chains, aliases, multi-document files, generate, levels ----------------------------------
 */

static const char chain[] =
    "title: Brute force\nid: c-bf\nname: brute_force\n"
    "correlation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [source.ip]\n"
    "  timespan: 1m\n  condition: {gte: 3}\n"
    "---\n"
    "title: Brute force then success\nid: c-bfs\n"
    "correlation:\n  type: temporal_ordered\n  rules: [brute_force, successful_login]\n"
    "  group-by: [source.ip]\n  timespan: 10m\n"
    "level: critical\n"
    "tags: [attack.t1110, attack.initial-access]\n";

static void test_chained_correlation(void **state)
{
    lf_sigcorr_t *c = engine(chain);
    assert_int_equal(lf_sigcorr_rule_count(c), 2);
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "203.0.113.45");
    feed(c, OK, T0, ip, &a); /* a success before the brute force does not count */
    for (int i = 1; i <= 3; i++)
        feed(c, FAIL, T0 + i * SEC, ip, &a);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.a[0].rule, "c-bf");
    assert_int_equal(feed(c, OK, T0 + MIN, KV("source.ip", "10.9.9.9"), &a), 0);
    assert_int_equal(feed(c, OK, T0 + 2 * MIN, ip, &a), 1);
    assert_string_equal(a.a[1].rule, "c-bfs");
    assert_string_equal(a.a[1].g[0], "203.0.113.45");
    assert_int_equal(a.a[1].hits, 3); /* the early success, the brute force, the success */
    assert_int_equal(a.a[1].first, T0);
    const lf_sigcorr_rule_t *bf = lf_sigcorr_rule(c, 0), *bfs = lf_sigcorr_rule(c, 1);
    /* generate defaults to false: referenced rules are not reported alone */
    assert_false(bf->report);
    assert_true(bfs->report);
    assert_false(lf_sigcorr_keep_base_alert(c, "b-fail", "failed_login"));
    assert_false(lf_sigcorr_keep_base_alert(c, "b-ok", ""));
    assert_true(lf_sigcorr_keep_base_alert(c, "b-ra", "recon_a"));
    assert_true(lf_sigcorr_uses(c, "", "failed_login") || lf_sigcorr_uses(c, "b-fail", ""));
    assert_false(lf_sigcorr_uses(c, "b-ra", "recon_a"));
    /* metadata: level override, ATT&CK from tags, inherited level */
    assert_int_equal(bfs->meta.level, LF_SIGMA_LEVEL_CRITICAL);
    assert_string_equal(bfs->meta.attack_techniques.items[0], "T1110");
    assert_string_equal(bfs->meta.attack_tactics.items[0], "TA0001");
    assert_int_equal(bf->meta.level, LF_SIGMA_LEVEL_LOW); /* from failed_login */
    assert_string_equal(bf->meta.level_name, "low");
    lf_sigcorr_free(c);
}

static void test_generate_true(void **state)
{
    lf_sigcorr_t *c = engine("title: G\nid: c-g\ncorrelation:\n  type: event_count\n"
                             "  rules: [failed_login]\n  timespan: 1m\n  condition: {gte: 3}\n"
                             "  generate: true\n"
                             "---\n"
                             "title: G2\nid: c-g2\ngenerate: true\ncorrelation:\n"
                             "  type: temporal\n  rules: [c-g, b-ok]\n  timespan: 1m\n");
    assert_true(lf_sigcorr_keep_base_alert(c, "b-fail", "failed_login"));
    assert_true(lf_sigcorr_keep_base_alert(c, "b-ok", "successful_login"));
    assert_true(lf_sigcorr_rule(c, 0)->generate);
    assert_true(lf_sigcorr_rule(c, 0)->report);
    lf_sigcorr_free(c);
}

static void test_aliases(void **state)
{
    lf_sigcorr_t *c = engine("title: Error then connect\nid: c-al\ncorrelation:\n"
                             "  type: temporal\n  rules: [internal_error, new_network_connection]\n"
                             "  group-by: [internal_ip, remote_ip]\n  timespan: 10s\n"
                             "  aliases:\n"
                             "    internal_ip:\n"
                             "      internal_error: destination.ip\n"
                             "      new_network_connection: source.ip\n"
                             "    remote_ip:\n"
                             "      internal_error: source.ip\n"
                             "      new_network_connection: destination.ip\n");
    alerts_t a = {0};
    feed(c, IE, T0, KV("destination.ip", "10.0.0.5", "source.ip", "198.51.100.1"), &a);
    /* same addresses, swapped fields, in the other rule: one group */
    assert_int_equal(
        feed(c, NC, T0 + SEC, KV("source.ip", "10.0.0.5", "destination.ip", "198.51.100.1"), &a),
        1);
    assert_string_equal(a.a[0].g[0], "10.0.0.5");
    assert_string_equal(a.a[0].g[1], "198.51.100.1");
    /* not swapped: different groups */
    feed(c, IE, T0, KV("destination.ip", "10.0.0.6", "source.ip", "198.51.100.2"), &a);
    assert_int_equal(
        feed(c, NC, T0 + SEC, KV("destination.ip", "10.0.0.6", "source.ip", "198.51.100.2"), &a),
        0);
    lf_sigcorr_free(c);
}

static void test_multi_document_file(void **state)
{
    static const char file[] = "title: Failed sudo\n"
                               "id: b-sudo\n"
                               "name: failed_sudo\n"
                               "detection:\n"
                               "  sel: {message|contains: 'authentication failure'}\n"
                               "  condition: sel\n"
                               "level: medium\n"
                               "---\n"
                               "title: Many failed sudo\n"
                               "id: c-sudo\n"
                               "correlation:\n"
                               "  type: event_count\n"
                               "  rules: [failed_sudo]\n"
                               "  group-by: [user.name]\n"
                               "  timespan: 5m\n"
                               "  condition: {gte: 2}\n"
                               "---\n";
    diag_log_t log = {0};
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
    lf_sigma_load_buffer(set, "multi.yml", file, strlen(file), diag_collect, &log);
    lf_sigma_load_stats_t ls;
    lf_sigma_ruleset_stats(set, &ls);
    assert_int_equal(ls.rules, 1);
    assert_int_equal(ls.skipped_correlation, 1);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, &log);
    msgs_t msgs = {0};
    lf_sigcorr_ruleset_t *cs = lf_sigcorr_ruleset_new(plain_options());
    assert_int_equal(lf_sigcorr_load_buffer(cs, "multi.yml", file, strlen(file), collect, &msgs),
                     LF_OK);
    lf_sigcorr_t *c = lf_sigcorr_new(cs, m, collect, &msgs);
    lf_sigma_matcher_unref(m);
    assert_int_equal(msgs.errors, 0);
    assert_int_equal(lf_sigcorr_rule_count(c), 1);
    const lf_sigcorr_rule_t *r = lf_sigcorr_rule(c, 0);
    assert_string_equal(r->meta.file, "multi.yml");
    assert_int_equal(r->meta.line, 9);
    assert_int_equal(r->meta.level, LF_SIGMA_LEVEL_MEDIUM);
    alerts_t a = {0};
    feed(c, "b-sudo", "failed_sudo", T0, KV("user.name", "eve"), &a);
    assert_int_equal(feed(c, "b-sudo", "failed_sudo", T0 + SEC, KV("user.name", "eve"), &a), 1);
    lf_sigcorr_free(c);
}

/* ---- limits ------------------------------------------------------------------------------------
 */

static void test_limits(void **state)
{
    lf_sigcorr_options_t o;
    test_options(&o);
    o.max_groups = 2;
    o.max_values = 3;
    msgs_t m = {0};
    lf_sigcorr_t *c = engine_opts(brute_force, &o, &m);
    alerts_t a = {0};
    feed(c, FAIL, T0, KV("source.ip", "1"), &a);
    feed(c, FAIL, T0, KV("source.ip", "2"), &a);
    feed(c, FAIL, T0, KV("source.ip", "3"), &a); /* a third group: refused */
    lf_sigcorr_stats_t st = stats(c);
    assert_int_equal(st.groups_full, 1);
    assert_int_equal(st.groups, 2);
    /* a group that fires and closes makes room */
    feed(c, FAIL, T0 + 1, KV("source.ip", "1"), &a);
    assert_int_equal(feed(c, FAIL, T0 + 2, KV("source.ip", "1"), &a), 1);
    feed(c, FAIL, T0 + 3, KV("source.ip", "3"), &a);
    assert_int_equal(stats(c).groups, 2);
    assert_int_equal(stats(c).groups_full, 1);
    lf_sigcorr_free(c);

    /* a condition that needs more hits than a group keeps is refused */
    m = (msgs_t){0};
    c = engine_opts("title: Big\nid: c-big\ncorrelation:\n  type: event_count\n"
                    "  rules: [b-fail]\n  timespan: 1m\n  condition: {gte: 4}\n",
                    &o, &m);
    assert_int_equal(lf_sigcorr_rule_count(c), 0);
    assert_int_equal(m.errors, 1);
    assert_non_null(strstr(m.all, "max_values"));
    lf_sigcorr_free(c);

    /* retained values: the oldest is evicted and counted */
    m = (msgs_t){0};
    c = engine_opts("title: Few\nid: c-few\ncorrelation:\n  type: event_count\n"
                    "  rules: [b-fail]\n  timespan: 1m\n  condition: {lt: 100}\n",
                    &o, &m);
    assert_int_equal(m.errors, 0);
    for (int i = 0; i < 5; i++)
        feed(c, FAIL, T0 + i * SEC, NULL, &a);
    assert_int_equal(stats(c).values_evicted, 2);
    size_t before = a.n;
    lf_sigcorr_advance(c, T0 + 10 * MIN, on_alert, &a);
    assert_int_equal(a.n, before + 1);
    assert_int_equal(a.a[before].hits, 3);
    assert_int_equal(a.a[before].first, T0 + 2 * SEC);
    lf_sigcorr_free(c);

    /* the timespan bound */
    o.max_timespan_ms = 3600 * SEC;
    m = (msgs_t){0};
    c = engine_opts("title: Long\nid: c-long\ncorrelation:\n  type: event_count\n"
                    "  rules: [b-fail]\n  timespan: 2d\n  condition: {gte: 2}\n",
                    &o, &m);
    assert_int_equal(lf_sigcorr_rule_count(c), 0);
    assert_non_null(strstr(m.all, "max_timespan"));
    lf_sigcorr_free(c);
}

/* ---- persistence -------------------------------------------------------------------------------
 */

static void test_restart_mid_window_fires_once(void **state)
{
    store_t s = {0};
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "10.0.0.1");
    lf_sigcorr_t *c = engine(brute_force);
    /* batch 1: two hits, committed */
    feed(c, FAIL, T0, ip, &a);
    feed(c, FAIL, T0 + SEC, ip, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.npending, 1);
    store_commit(&s);
    assert_int_equal(s.n, 1);
    lf_str_t rk;
    assert_true(lf_sigcorr_key_rule(s.items[0].key, s.items[0].klen, &rk));
    assert_true(lf_str_eq_c(rk, "c-bf"));
    /* batch 2: the third hit fires, but the process dies before the commit */
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, ip, &a), 1);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_abort(&s);
    lf_sigcorr_free(c); /* kill -9 */

    /* restart: restore, the batch is delivered again: the alert is raised
     * again (its first copy died with the transaction), and only once */
    a.n = 0;
    c = engine(brute_force);
    restore_all(c, &s);
    assert_int_equal(stats(c).restored, 1);
    assert_int_equal(stats(c).groups, 1);
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, ip, &a), 1);
    assert_int_equal(a.a[0].hits, 3);
    assert_int_equal(a.a[0].first, T0);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.dels, 2); /* the fired group is deleted (both attempts) */
    store_commit(&s);
    assert_int_equal(s.n, 0);
    /* restart again: nothing left, further hits start afresh */
    lf_sigcorr_free(c);
    c = engine(brute_force);
    restore_all(c, &s);
    assert_int_equal(feed(c, FAIL, T0 + 3 * SEC, ip, &a), 0);
    assert_int_equal(a.n, 1);
    lf_sigcorr_free(c);
    store_free(&s);
}

static void test_restore_every_type_round_trip(void **state)
{
    static const char rules[] =
        "title: V\nid: c-v\ncorrelation:\n  type: value_count\n  rules: [b-fail]\n"
        "  group-by: [source.ip, host.name]\n  timespan: 1h\n  condition: {field: user.name, gte: "
        "3}\n"
        "---\n"
        "title: T\nid: c-t\ncorrelation:\n  type: temporal_ordered\n"
        "  rules: [recon_a, recon_b, recon_c]\n  group-by: [host.name]\n  timespan: 1h\n"
        "---\n"
        "title: P\nid: c-p\ncorrelation:\n  type: value_percentile\n  rules: [transfer]\n"
        "  group-by: [host.name]\n  timespan: 1h\n  condition: {field: ms, percentile: 50, "
        "gte: 100}\n";
    store_t s = {0};
    alerts_t a = {0}, b = {0};
    const char *const *h =
        KV("source.ip", "1.2.3.4", "host.name", "pc", "user.name", "u1", "ms", "40");
    lf_sigcorr_t *c = engine(rules);
    feed(c, FAIL, T0, h, &a);
    feed(c, FAIL, T0 + SEC, KV("source.ip", "1.2.3.4", "host.name", "pc", "user.name", "u2"), &a);
    feed(c, RA, T0, h, &a);
    feed(c, RB, T0 + SEC, h, &a);
    feed(c, XFER, T0, h, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    assert_int_equal(s.n, 3);
    lf_sigcorr_t *d = engine(rules);
    restore_all(d, &s);
    /* the same next hits give the same alerts in both */
    const char *const *h3 =
        KV("source.ip", "1.2.3.4", "host.name", "pc", "user.name", "u3", "ms", "500");
    feed(c, FAIL, T0 + 2 * SEC, h3, &a);
    feed(d, FAIL, T0 + 2 * SEC, h3, &b);
    feed(c, RC, T0 + 2 * SEC, h3, &a);
    feed(d, RC, T0 + 2 * SEC, h3, &b);
    feed(c, XFER, T0 + 2 * SEC, h3, &a);
    feed(d, XFER, T0 + 2 * SEC, h3, &b);
    assert_int_equal(a.n, 3);
    assert_int_equal(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.a[i].rule, b.a[i].rule);
        assert_true(a.a[i].value == b.a[i].value);
        assert_int_equal(a.a[i].hits, b.a[i].hits);
        assert_int_equal(a.a[i].first, b.a[i].first);
        assert_string_equal(a.a[i].g[0], b.a[i].g[0]);
    }
    assert_true(a.a[2].value == 270); /* median of 40, 500 */
    lf_sigcorr_free(c);
    lf_sigcorr_free(d);
    store_free(&s);
}

static void test_discard_aborted_batch(void **state)
{
    store_t s = {0};
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "10.0.0.1");
    const char *const *ip2 = KV("source.ip", "10.0.0.2");
    lf_sigcorr_t *c = engine(brute_force);
    feed(c, FAIL, T0, ip, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    /* batch fails before take: the two hits and the new group are undone */
    feed(c, FAIL, T0 + SEC, ip, &a);
    feed(c, FAIL, T0 + SEC, ip2, &a);
    assert_int_equal(lf_sigcorr_discard_changes(c), LF_OK);
    assert_int_equal(stats(c).groups, 1);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.npending, 0); /* nothing changed since the last take */
    /* batch fails after take: fired group, advance and all undone */
    feed(c, FAIL, T0 + SEC, ip, &a);
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, ip, &a), 1);
    lf_sigcorr_advance(c, T0 + 10 * MIN, NULL, NULL);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.npending, 1);
    store_abort(&s);
    assert_int_equal(lf_sigcorr_discard_changes(c), LF_OK);
    assert_int_equal(stats(c).groups, 1);
    /* the retry: same alert, once; the watermark was rolled back too */
    assert_int_equal(feed(c, FAIL, T0 + SEC, ip, &a), 0);
    assert_int_equal(stats(c).hits_late, 0);
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, ip, &a), 1);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    assert_int_equal(s.n, 0);
    /* a batch that changed nothing fails after a committed one: nothing to undo */
    feed(c, FAIL, T0 + 3 * SEC, ip, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_abort(&s);
    assert_int_equal(lf_sigcorr_discard_changes(c), LF_OK);
    assert_int_equal(stats(c).groups, 1);
    assert_int_equal(s.n, 1);
    /* a committed batch is not undone by a later discard */
    feed(c, FAIL, T0 + 3 * SEC, ip2, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    feed(c, FAIL, T0 + 4 * SEC, ip2, &a);
    assert_int_equal(lf_sigcorr_discard_changes(c), LF_OK);
    assert_int_equal(stats(c).groups, 2);
    assert_int_equal(feed(c, FAIL, T0 + 5 * SEC, ip2, &a), 0);
    assert_int_equal(feed(c, FAIL, T0 + 6 * SEC, ip2, &a), 1);
    lf_sigcorr_free(c);
    store_free(&s);

    /* without tracking: a full snapshot, and no discard */
    lf_sigcorr_options_t o;
    test_options(&o);
    o.track_changes = false;
    msgs_t m = {0};
    c = engine_opts(brute_force, &o, &m);
    feed(c, FAIL, T0, ip, &a);
    feed(c, FAIL, T0, ip2, &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.npending, 2);
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_int_equal(s.npending, 4);
    assert_int_equal(lf_sigcorr_discard_changes(c), LF_ESTATE);
    lf_sigcorr_free(c);
    store_free(&s);
}

/* Counts puts ([0]) and deletions ([1]). */
static void count_put(void *opaque, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t *counts = opaque;
    counts[val ? 0 : 1]++;
}

static void test_corrupted_state(void **state)
{
    store_t s = {0};
    alerts_t a = {0};
    lf_sigcorr_t *c = engine(brute_force);
    feed(c, FAIL, T0, KV("source.ip", "10.0.0.1"), &a);
    feed(c, FAIL, T0 + SEC, KV("source.ip", "10.0.0.1"), &a);
    lf_sigcorr_take_changes(c, store_put, &s);
    store_commit(&s);
    lf_sigcorr_free(c);
    kv_t good = s.items[0];
    uint8_t *val = malloc(good.vlen);
    c = engine(brute_force);
    /* every single-byte change of the value is refused */
    for (size_t i = 0; i < good.vlen; i++) {
        memcpy(val, good.val, good.vlen);
        val[i] ^= 0x5a;
        lf_err_t rc = lf_sigcorr_restore(c, good.key, good.klen, val, good.vlen);
        assert_true(rc == LF_EINVAL);
    }
    /* every truncation */
    for (size_t n = 0; n < good.vlen; n++)
        assert_int_equal(lf_sigcorr_restore(c, good.key, good.klen, good.val, n), LF_EINVAL);
    /* a changed key: digest mismatch, unknown rule, malformed */
    uint8_t key[LF_SIGCORR_MAX_KEY];
    memcpy(key, good.key, good.klen);
    key[good.klen - 1] ^= 1;
    assert_int_equal(lf_sigcorr_restore(c, key, good.klen, good.val, good.vlen), LF_EINVAL);
    memcpy(key, good.key, good.klen);
    key[0] = 'x';
    assert_int_equal(lf_sigcorr_restore(c, key, good.klen, good.val, good.vlen), LF_ENOTFOUND);
    assert_int_equal(lf_sigcorr_restore(c, "c-bf", 4, good.val, good.vlen), LF_EINVAL);
    assert_int_equal(lf_sigcorr_restore(c, NULL, 0, NULL, 0), LF_EINVAL);
    /* random garbage of every size up to 300 bytes */
    srand(7);
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)rand() % 300;
        for (size_t j = 0; j < n && j < good.vlen; j++)
            val[j] = (uint8_t)rand();
        lf_sigcorr_restore(c, good.key, good.klen, val, n < good.vlen ? n : good.vlen);
    }
    assert_int_equal(stats(c).groups, 0);
    assert_true(stats(c).restore_invalid > good.vlen);
    /* the original still loads, and the refused keys are deleted at the next take */
    assert_int_equal(lf_sigcorr_restore(c, good.key, good.klen, good.val, good.vlen), LF_OK);
    size_t counts[2] = {0, 0};
    lf_sigcorr_take_changes(c, count_put, counts);
    assert_true(counts[1] > good.vlen);
    assert_int_equal(counts[0], 0);
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, KV("source.ip", "10.0.0.1"), &a), 1);
    free(val);
    lf_sigcorr_free(c);

    /* the rule changed its group-by: the entry does not fit any more */
    c = engine("title: Brute force\nid: c-bf\ncorrelation:\n  type: event_count\n"
               "  rules: [failed_login]\n  group-by: [user.name]\n  timespan: 1m\n"
               "  condition: {gte: 3}\n");
    assert_int_equal(lf_sigcorr_restore(c, good.key, good.klen, good.val, good.vlen), LF_ENOTFOUND);
    assert_int_equal(stats(c).restore_unknown, 1);
    lf_sigcorr_free(c);
    /* but a changed threshold keeps the window */
    c = engine("title: Brute force\nid: c-bf\ncorrelation:\n  type: event_count\n"
               "  rules: [failed_login]\n  group-by: [source.ip]\n  timespan: 5m\n"
               "  condition: {gte: 4}\n");
    assert_int_equal(lf_sigcorr_restore(c, good.key, good.klen, good.val, good.vlen), LF_OK);
    lf_sigcorr_free(c);
    store_free(&s);
}

static void test_transfer_on_reload(void **state)
{
    alerts_t a = {0};
    const char *const *ip = KV("source.ip", "10.0.0.1");
    lf_sigcorr_t *old = engine(chain);
    feed(old, FAIL, T0, ip, &a);
    feed(old, FAIL, T0 + SEC, ip, &a);
    lf_sigcorr_advance(old, T0 + 5 * SEC, NULL, NULL);
    /* the new content drops c-bfs and keeps c-bf */
    lf_sigcorr_t *c = engine(brute_force);
    assert_int_equal(lf_sigcorr_transfer(c, old), LF_OK);
    lf_sigcorr_free(old);
    assert_int_equal(stats(c).groups, 1);
    assert_int_equal(feed(c, FAIL, T0 + 2 * SEC, ip, &a), 1);
    /* the watermark carried over */
    assert_int_equal(feed(c, FAIL, T0 - 2 * MIN, ip, &a), 0);
    assert_int_equal(stats(c).hits_late, 1);
    /* pending changes carried over: the group is handed over (deleted now) */
    store_t s = {0};
    lf_sigcorr_take_changes(c, store_put, &s);
    assert_true(s.npending >= 1);
    store_free(&s);
    lf_sigcorr_free(c);
}

/* Exactly once under failures: a random stream of hits in random batches;
 * the subject's batches fail before or after the take, or the process dies
 * (free, restore from the store) and the batch is retried, while a reference
 * engine sees every batch once. The alerts of the committed batches must be
 * exactly the reference's. */
typedef struct sig {
    char rule[16], g[24];
    int64_t ws, we, first, last;
    double value;
    uint32_t hits;
} sig_t;

typedef struct sigs {
    sig_t *v;
    size_t n, cap;
} sigs_t;

static sig_t *sig_add(sigs_t *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    sig_t *x = &s->v[s->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static void on_sig(void *ud, const lf_sigcorr_alert_t *a)
{
    sig_t *x = sig_add(ud);
    snprintf(x->rule, sizeof x->rule, "%s", a->rule->key);
    if (a->rule->group_count)
        snprintf(x->g, sizeof x->g, "%.*s", (int)a->group_values[0].len, a->group_values[0].ptr);
    x->ws = a->window_start_ms;
    x->we = a->window_end_ms;
    x->first = a->first_ms;
    x->last = a->last_ms;
    x->value = a->value;
    x->hits = a->hits;
}

static int sig_cmp(const void *pa, const void *pb)
{
    const sig_t *a = pa, *b = pb;
    int c = strcmp(a->rule, b->rule);
    if (!c)
        c = strcmp(a->g, b->g);
    if (!c)
        c = (a->we > b->we) - (a->we < b->we);
    if (!c)
        c = (a->first > b->first) - (a->first < b->first);
    if (!c)
        c = (a->hits > b->hits) - (a->hits < b->hits);
    return c;
}

typedef struct rhit {
    int rule; /* 0 failed_login, 1 successful_login */
    int64_t ts;
    char ip[8], user[8];
} rhit_t;

static void feed_batch(lf_sigcorr_t *c, const rhit_t *h, size_t n, int64_t now, sigs_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *const kv[] = {"source.ip", h[i].ip, "user.name", h[i].user, NULL};
        lf_sigcorr_hit_t hit = {.rule_id = h[i].rule ? "b-ok" : "b-fail",
                                .rule_name = h[i].rule ? "successful_login" : "failed_login",
                                .time_ms = h[i].ts,
                                .get = get_kv,
                                .opaque = (void *)kv};
        assert_true(lf_sigcorr_feed(c, &hit, on_sig, out) >= 0);
    }
    assert_true(lf_sigcorr_advance(c, now, on_sig, out) >= 0);
}

static void test_exactly_once_random(void **state)
{
    static const char rules[] =
        "title: Brute force\nid: c-bf\nname: brute_force\ncorrelation:\n"
        "  type: event_count\n  rules: [failed_login]\n  group-by: [source.ip]\n"
        "  timespan: 20s\n  condition: {gte: 4}\n"
        "---\n"
        "title: Spray\nid: c-sp\ncorrelation:\n  type: value_count\n  rules: [failed_login]\n"
        "  group-by: [source.ip]\n  timespan: 30s\n  condition: {field: user.name, gte: 3}\n"
        "---\n"
        "title: Then\nid: c-th\ncorrelation:\n  type: temporal_ordered\n"
        "  rules: [brute_force, successful_login]\n  group-by: [source.ip]\n  timespan: 1m\n"
        "---\n"
        "title: Quiet\nid: c-q\ncorrelation:\n  type: event_count\n"
        "  rules: [successful_login]\n  group-by: [user.name]\n  timespan: 15s\n"
        "  condition: {lte: 2}\n";
    enum { N = 3000 };
    rhit_t *h = calloc(N, sizeof *h);
    assert_non_null(h);
    srand(42);
    for (int i = 0; i < N; i++) {
        h[i].rule = rand() % 5 == 0;
        h[i].ts = T0 + i * 400 + rand() % 3000; /* out of order within 3 s */
        snprintf(h[i].ip, sizeof h[i].ip, "ip%d", rand() % 3);
        snprintf(h[i].user, sizeof h[i].user, "u%d", rand() % 4);
    }
    lf_sigcorr_t *ref = engine(rules), *sub = engine(rules);
    sigs_t want = {0}, got = {0}, pending = {0};
    store_t st = {0};
    int failures = 0, crashes = 0;
    int64_t max_ts = 0;
    for (size_t i = 0; i < N;) {
        size_t n = 1 + (size_t)rand() % 40;
        if (i + n > N)
            n = N - i;
        for (size_t j = i; j < i + n; j++)
            max_ts = h[j].ts > max_ts ? h[j].ts : max_ts;
        feed_batch(ref, h + i, n, max_ts, &want);
        for (;;) {
            pending.n = 0;
            feed_batch(sub, h + i, n, max_ts, &pending);
            int fate = rand() % 10;
            if (fate == 0) { /* the batch fails before the take */
                assert_int_equal(lf_sigcorr_discard_changes(sub), LF_OK);
                failures++;
                continue;
            }
            lf_sigcorr_take_changes(sub, store_put, &st);
            if (fate == 1) { /* the commit fails */
                store_abort(&st);
                assert_int_equal(lf_sigcorr_discard_changes(sub), LF_OK);
                failures++;
                continue;
            }
            if (fate == 2) { /* kill -9 before the commit */
                store_abort(&st);
                lf_sigcorr_free(sub);
                sub = engine(rules);
                restore_all(sub, &st);
                crashes++;
                continue;
            }
            store_commit(&st);
            for (size_t k = 0; k < pending.n; k++)
                *sig_add(&got) = pending.v[k];
            break;
        }
        i += n;
    }
    assert_true(failures > 10 && crashes > 5);
    assert_true(want.n > 100);
    qsort(want.v, want.n, sizeof *want.v, sig_cmp);
    qsort(got.v, got.n, sizeof *got.v, sig_cmp);
    if (want.n != got.n)
        fail_msg("%zu alerts with failures, %zu without", got.n, want.n);
    bool seen[4] = {false};
    for (size_t k = 0; k < want.n; k++) {
        assert_string_equal(want.v[k].rule, got.v[k].rule);
        assert_string_equal(want.v[k].g, got.v[k].g);
        assert_int_equal(want.v[k].we, got.v[k].we);
        assert_int_equal(want.v[k].first, got.v[k].first);
        assert_int_equal(want.v[k].hits, got.v[k].hits);
        assert_true(want.v[k].value == got.v[k].value);
        static const char *const keys[] = {"c-bf", "c-sp", "c-th", "c-q"};
        for (int t = 0; t < 4; t++)
            seen[t] = seen[t] || !strcmp(want.v[k].rule, keys[t]);
    }
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
    lf_sigcorr_free(ref);
    lf_sigcorr_free(sub);
    store_free(&st);
    free(want.v);
    free(got.v);
    free(pending.v);
    free(h);
}

/* ---- bad rules ------------------------------------------------------------------------------- */

static void expect_error(const char *rule, const char *message, int line)
{
    char text[2048];
    snprintf(text, sizeof text,
             "%s---\n"
             "title: Good\nid: c-good\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
             "  timespan: 1m\n  condition: {gte: 2}\n",
             rule);
    msgs_t m = {0};
    lf_sigcorr_t *c = engine_opts(text, NULL, &m);
    if (!strstr(m.all, message))
        fail_msg("expected '%s' in:\n%s", message, m.all);
    char where[64];
    snprintf(where, sizeof where, "corr.yml:%d:", line);
    if (line && !strstr(m.all, where))
        fail_msg("expected %s in:\n%s", where, m.all);
    assert_true(m.errors >= 1);
    /* the good rule still loads */
    bool good = false;
    for (size_t i = 0; i < lf_sigcorr_rule_count(c); i++)
        good = good || !strcmp(lf_sigcorr_rule(c, i)->key, "c-good");
    assert_true(good);
    lf_sigcorr_free(c);
}

static void test_bad_rules(void **state)
{
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_sum\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n",
                 "unknown correlation type 'event_sum'", 4);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  condition: {gte: 2}\n",
                 "timespan is missing", 4);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 5x\n  condition: {gte: 2}\n",
                 "timespan '5x'", 6);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 0s\n  condition: {gte: 2}\n",
                 "greater than zero", 6);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n"
                 "  rules: [b-fail, nosuchrule]\n  timespan: 1m\n  condition: {gte: 2}\n",
                 "references unknown rule 'nosuchrule'", 5);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: many}\n",
                 "condition.gte must be a number", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gt: 5, lt: 3}\n",
                 "can never hold", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {above: 3}\n",
                 "unknown key 'above'", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n",
                 "condition is missing", 4);
    expect_error("title: X\nid: x\ncorrelation:\n  type: value_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 3}\n",
                 "needs condition.field", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: value_percentile\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {field: ms, gte: 3}\n",
                 "needs condition.percentile", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: temporal\n  rules: [b-ra, b-rb]\n"
                 "  timespan: 1m\n  condition: b-ra and b-rb\n",
                 "boolean expressions", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: temporal\n  rules: [b-ra, b-rb]\n"
                 "  timespan: 1m\n  condition: {gte: 3}\n",
                 "the number of rules", 7);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n  generate: maybe\n",
                 "generate must be true or false", 8);
    expect_error("id: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n",
                 "title is missing", 1);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail, b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n",
                 "listed twice", 5);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n"
                 "  rules: [b-fail, failed_login]\n  timespan: 1m\n  condition: {gte: 2}\n",
                 "are the same rule", 5);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [x]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n",
                 "references itself", 5);
    expect_error("title: X\nid: b-fail\ncorrelation:\n  type: event_count\n  rules: [b-ok]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n",
                 "also the id or name of a Sigma rule", 1);
    expect_error("title: X\nid: x\ncorrelation: [event_count]\n", "correlation must be a map", 3);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  group-by: {a: b}\n  timespan: 1m\n  condition: {gte: 2}\n",
                 "group-by must be a name or a list", 6);
    expect_error("title: X\nid: x\ncorrelation:\n  type: event_count\n  rules: [b-fail]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n  aliases: [a]\n",
                 "aliases must be a map", 8);
    /* a cycle A → B → A, and C on top of it */
    expect_error("title: A\nid: a\ncorrelation:\n  type: event_count\n  rules: [b]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n"
                 "---\n"
                 "title: B\nid: b\ncorrelation:\n  type: event_count\n  rules: [a]\n"
                 "  timespan: 1m\n  condition: {gte: 2}\n"
                 "---\n"
                 "title: C\nid: cc\ncorrelation:\n  type: temporal\n  rules: [a, b-ok]\n"
                 "  timespan: 1m\n",
                 "reference cycle", 0);
    msgs_t m = {0};
    lf_sigcorr_t *c =
        engine_opts("title: A\nid: a\ncorrelation:\n  type: event_count\n  rules: [b]\n"
                    "  timespan: 1m\n  condition: {gte: 2}\n"
                    "---\n"
                    "title: B\nid: b\ncorrelation:\n  type: event_count\n  rules: [a]\n"
                    "  timespan: 1m\n  condition: {gte: 2}\n"
                    "---\n"
                    "title: C\nid: cc\ncorrelation:\n  type: temporal\n  rules: [a, b-ok]\n"
                    "  timespan: 1m\n",
                    NULL, &m);
    assert_int_equal(lf_sigcorr_rule_count(c), 0);
    assert_int_equal(m.errors, 3);
    assert_non_null(strstr(m.all, "[cc]"));
    lf_sigcorr_free(c);
    /* the second of two rules with one id is skipped */
    m = (msgs_t){0};
    c = engine_opts("title: A\nid: dup\ncorrelation:\n  type: event_count\n  rules: [b-ok]\n"
                    "  timespan: 1m\n  condition: {gte: 2}\n"
                    "---\n"
                    "title: B\nname: dup\ncorrelation:\n  type: event_count\n  rules: [b-ok]\n"
                    "  timespan: 1m\n  condition: {gte: 3}\n",
                    NULL, &m);
    assert_int_equal(lf_sigcorr_rule_count(c), 1);
    assert_string_equal(lf_sigcorr_rule(c, 0)->meta.title, "A");
    assert_non_null(strstr(m.all, "corr.yml:9:1: [dup] correlation 'dup' has the id or name"));
    lf_sigcorr_free(c);
    /* warnings do not skip the rule */
    m = (msgs_t){0};
    c = engine_opts("title: W\nid: w\nfoo: bar\ncorrelation:\n  type: event_count\n"
                    "  rules: [b-fail]\n  timespan: 1m\n  condition: {gte: 2}\n"
                    "  aliases: {nowhere: {failed_login: x}}\n",
                    NULL, &m);
    assert_int_equal(m.errors, 0);
    assert_true(m.warnings >= 2);
    assert_int_equal(lf_sigcorr_rule_count(c), 1);
    lf_sigcorr_free(c);
    /* syntax errors, non-maps and non-correlation documents */
    m = (msgs_t){0};
    c = engine_opts("- a list\n---\ntitle: rule\ndetection: {}\n---\n{unclosed: [\n", NULL, &m);
    assert_int_equal(lf_sigcorr_rule_count(c), 0);
    lf_sigcorr_free(c);
}

static void test_load_files(void **state)
{
    msgs_t m = {0};
    lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(plain_options());
    assert_int_equal(lf_sigcorr_load_file(set, "/nonexistent/x.yml", collect, &m), LF_EIO);
    assert_int_equal(lf_sigcorr_load_dir(set, "/nonexistent", collect, &m), LF_EIO);
    assert_int_equal(m.errors, 2);
    lf_sigcorr_ruleset_free(set);
    /* the shipped pack: every correlation resolves against the shipped Sigma rules */
    lf_sigma_ruleset_t *ss = lf_sigma_ruleset_new(NULL);
    diag_log_t log = {0};
    lf_sigma_load_mappings(ss, LF_SOURCE_DIR "/rules/sigma-mappings", diag_collect, &log);
    lf_sigma_load_placeholders(ss, LF_SOURCE_DIR "/rules/placeholders.yaml", diag_collect, &log);
    lf_sigma_load_dir(ss, LF_SOURCE_DIR "/rules/sigma", diag_collect, &log);
    lf_sigma_matcher_t *base = lf_sigma_compile(ss, diag_collect, &log);
    assert_int_equal(log.errors, 0);
    set = lf_sigcorr_ruleset_new(plain_options());
    m = (msgs_t){0};
    assert_int_equal(lf_sigcorr_load_dir(set, LF_SOURCE_DIR "/rules/sigma", collect, &m), LF_OK);
    lf_sigcorr_t *c = lf_sigcorr_new(set, base, collect, &m);
    lf_sigma_matcher_unref(base);
    if (m.errors || m.warnings)
        fail_msg("shipped correlation rules:\n%s", m.all);
    assert_true(lf_sigcorr_rule_count(c) >= 3);
    for (size_t i = 0; i < lf_sigcorr_rule_count(c); i++) {
        const lf_sigcorr_rule_t *r = lf_sigcorr_rule(c, i);
        assert_true(r->meta.id[0] && r->meta.title[0]);
        assert_true(r->meta.attack_techniques.count > 0);
        assert_true(r->meta.level >= LF_SIGMA_LEVEL_HIGH);
        assert_true(r->report);
    }
    lf_sigcorr_free(c);
}

/* ---- lf_detect integration ----------------------------------------------------------------------
 */

typedef struct dhits {
    const lf_event_t *ev;
    int sigma, corr;
    json_t *docs[32];
    size_t n;
} dhits_t;

static void on_dhit(void *opaque, const lf_detect_hit_t *hit)
{
    dhits_t *h = opaque;
    if (hit->kind == LF_DETECT_SIGMA)
        h->sigma++;
    if (hit->kind != LF_DETECT_CORRELATION)
        return;
    h->corr++;
    assert_non_null(hit->correlation);
    assert_true(h->n < 32);
    lf_buf_t out;
    lf_buf_init(&out, 1 << 20);
    assert_int_equal(lf_detect_alert_json(hit, h->ev, 500 + h->n, 0, &out), LF_OK);
    json_error_t jerr;
    h->docs[h->n] = json_loadb(out.data, out.len, 0, &jerr);
    if (!h->docs[h->n])
        fail_msg("alert is not JSON: %s: %.*s", jerr.text, (int)out.len, out.data);
    lf_buf_free(&out);
    h->n++;
}

static void sshd_event(lf_event_t *ev, const char *msg, const char *ip, const char *user)
{
    lf_event_reset(ev);
    set_s(ev, "process.name", "sshd");
    set_s(ev, "message", msg);
    set_s(ev, "source.ip", ip);
    set_s(ev, "user.name", user);
    set_s(ev, "organization.id", "TC-01");
}

static void put_count(void *opaque, const void *key, size_t klen, const void *val, size_t vlen)
{
    store_put(opaque, key, klen, val, vlen);
}

static void test_detect_integration(void **state)
{
    lf_detect_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(lf_config_set_defaults(lf_detect_config_options, &cfg, err, sizeof err),
                     LF_OK);
    free(cfg.rules_dir);
    cfg.rules_dir = strdup(LF_SOURCE_DIR "/rules");
    cfg.correlation_persist = true;
    assert_int_equal(cfg.correlation.lateness_ms, 60 * SEC);
    assert_int_equal(cfg.correlation.max_groups, 10000);
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    lf_detect_t *d;
    assert_int_equal(lf_detect_new(&cfg, &reg, &d, err, sizeof err), LF_OK);
    lf_detect_stats_t st;
    lf_detect_stats(d, &st);
    assert_true(st.correlation_rules >= 3);
    assert_int_equal(st.problems, 0);

    /* 10 failures for 10 users from one address: brute force and spray */
    lf_event_t ev;
    dhits_t h = {.ev = &ev};
    char msg[128], user[16];
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(msg, sizeof msg, "Failed password for %s from 203.0.113.45 port %d ssh2", user,
                 40000 + i);
        sshd_event(&ev, msg, "203.0.113.45", user);
        lf_detect_event(d, &ev, T0 + i * SEC, on_dhit, &h);
    }
    assert_int_equal(h.sigma, 10); /* generate: true keeps the single failures */
    /* the brute force at the 10th, the spray at the 5th and the 10th (reset) */
    assert_int_equal(h.corr, 3);
    bool saw_bf = false;
    int spray = 0;
    for (size_t i = 0; i < h.n; i++) {
        json_t *doc = h.docs[i];
        json_t *corr = json_object_get(doc, "correlation");
        const char *type = json_string_value(json_object_get(corr, "type"));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(doc, "alert"), "type")),
            "correlation");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(corr, "group_by"), "source.ip")),
            "203.0.113.45");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(doc, "rule"), "category")),
            "correlation");
        assert_non_null(json_object_get(json_object_get(doc, "threat"), "technique"));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(doc, "organization"), "id")),
            "TC-01");
        const char *when = spray == 0 && !strcmp(type, "value_count") ? "2026-03-10T01:42:04.000Z"
                                                                      : "2026-03-10T01:42:09.000Z";
        assert_string_equal(json_string_value(json_object_get(doc, "@timestamp")), when);
        json_t *win = json_object_get(corr, "window");
        assert_string_equal(json_string_value(json_object_get(win, "end")), when);
        assert_int_equal(json_integer_value(json_object_get(corr, "timespan_s")),
                         !strcmp(type, "value_count") ? 600 : 300);
        if (!strcmp(type, "event_count")) {
            saw_bf = true;
            assert_int_equal(json_integer_value(json_object_get(corr, "value")), 10);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(doc, "alert"), "level")), "high");
        } else if (!strcmp(type, "value_count")) {
            spray++;
            assert_int_equal(json_integer_value(json_object_get(corr, "hits")), 5);
            assert_int_equal(json_integer_value(json_object_get(corr, "value")), 5);
            assert_string_equal(json_string_value(json_object_get(corr, "field")), "user.name");
        }
    }
    assert_true(saw_bf);
    assert_int_equal(spray, 2);
    lf_metric_t *mc = lf_metrics_find(&reg, "lianfang_detect_alerts_total", "type=\"correlation\"");
    assert_non_null(mc);
    assert_int_equal(lf_metric_get(mc), 3);
    for (size_t i = 0; i < h.n; i++)
        json_decref(h.docs[i]);

    /* the open window of the chained rule (the brute force seen, no success
     * yet) is persisted; restart; the success raises the critical alert */
    store_t s = {0};
    lf_detect_take_changes(d, put_count, &s);
    store_commit(&s);
    assert_int_equal(s.n, 1);
    lf_detect_free(d);
    lf_metrics_destroy(&reg);
    assert_int_equal(lf_detect_new(&cfg, NULL, &d, err, sizeof err), LF_OK);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(
            lf_detect_restore(d, s.items[i].key, s.items[i].klen, s.items[i].val, s.items[i].vlen),
            LF_OK);
    h = (dhits_t){.ev = &ev};
    sshd_event(&ev, "Accepted password for root from 203.0.113.45 port 41000 ssh2", "203.0.113.45",
               "root");
    lf_detect_event(d, &ev, T0 + MIN, on_dhit, &h);
    assert_int_equal(h.corr, 1);
    json_t *corr = json_object_get(h.docs[0], "correlation");
    assert_string_equal(json_string_value(json_object_get(corr, "type")), "temporal_ordered");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(h.docs[0], "alert"), "level")),
        "critical");
    json_decref(h.docs[0]);

    /* advance: nothing decided at window end in the shipped pack; alert
     * documents without an event still render */
    h = (dhits_t){.ev = NULL};
    assert_int_equal(lf_detect_advance(d, T0 + 2 * 3600 * SEC, on_dhit, &h), 0);
    lf_sigcorr_stats_t cs;
    lf_detect_correlation_stats(d, &cs);
    assert_int_equal(cs.groups, 0);
    /* the batch failed: back to the restored window */
    assert_int_equal(lf_detect_discard_changes(d), LF_OK);
    lf_detect_correlation_stats(d, &cs);
    assert_int_equal(cs.groups, 1);

    /* reload keeps the windows */
    assert_int_equal(lf_detect_reload(d, err, sizeof err), LF_OK);
    lf_detect_correlation_stats(d, &cs);
    assert_int_equal(cs.groups, 1);
    lf_detect_free(d);
    store_free(&s);
    lf_config_free(lf_detect_config_options, &cfg);
}

static void test_detect_advance_alert_document(void **state)
{
    /* a rule decided at window end, loaded as an explicit path */
    char dir[] = "/tmp/lf_sigcorr_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/quiet.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("title: Few failures\nid: c-quiet\ncorrelation:\n  type: event_count\n"
          "  rules: [7d1f2c3a-5b7e-4c1e-9a51-0c3f6e8b2a01]\n  group-by: [User]\n"
          "  timespan: 1m\n  condition: {lt: 3}\nlevel: medium\n",
          f);
    fclose(f);
    lf_detect_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(lf_config_set_defaults(lf_detect_config_options, &cfg, err, sizeof err),
                     LF_OK);
    free(cfg.rules_dir);
    cfg.rules_dir = strdup(LF_SOURCE_DIR "/rules");
    const char *paths[] = {path};
    cfg.paths = paths;
    cfg.path_count = 1;
    lf_detect_t *d;
    assert_int_equal(lf_detect_new(&cfg, NULL, &d, err, sizeof err), LF_OK);
    lf_event_t ev;
    dhits_t h = {.ev = &ev};
    /* `User` resolves through the linux mapping to user.name */
    sshd_event(&ev, "Failed password for bob from 192.0.2.1 port 1 ssh2", "192.0.2.1", "bob");
    lf_detect_event(d, &ev, T0, on_dhit, &h);
    assert_int_equal(h.corr, 0);
    h = (dhits_t){.ev = NULL};
    assert_int_equal(lf_detect_advance(d, T0 + 5 * MIN, on_dhit, &h), 1);
    json_t *doc = h.docs[0];
    json_t *corr = json_object_get(doc, "correlation");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(corr, "group_by"), "User")), "bob");
    assert_true(json_is_true(json_object_get(corr, "decided_at_window_end")));
    assert_null(json_object_get(doc, "source"));
    assert_string_equal(json_string_value(json_object_get(doc, "@timestamp")),
                        "2026-03-10T01:42:00.000Z");
    json_decref(doc);
    /* without correlation_persist nothing is tracked */
    assert_int_equal(lf_detect_discard_changes(d), LF_ESTATE);
    lf_detect_free(d);
    lf_config_free(lf_detect_config_options, &cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_by_agency),
        cmocka_unit_test(test_event_count_in_order),
        cmocka_unit_test(test_event_count_window_edges),
        cmocka_unit_test(test_out_of_order_within_lateness),
        cmocka_unit_test(test_late_beyond_lateness),
        cmocka_unit_test(test_missing_group_by_value),
        cmocka_unit_test(test_no_group_by),
        cmocka_unit_test(test_value_count),
        cmocka_unit_test(test_temporal),
        cmocka_unit_test(test_temporal_ordered),
        cmocka_unit_test(test_value_metrics),
        cmocka_unit_test(test_condition_operators),
        cmocka_unit_test(test_window_end_by_later_hit),
        cmocka_unit_test(test_chained_correlation),
        cmocka_unit_test(test_generate_true),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_multi_document_file),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_restart_mid_window_fires_once),
        cmocka_unit_test(test_restore_every_type_round_trip),
        cmocka_unit_test(test_discard_aborted_batch),
        cmocka_unit_test(test_corrupted_state),
        cmocka_unit_test(test_transfer_on_reload),
        cmocka_unit_test(test_exactly_once_random),
        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_detect_integration),
        cmocka_unit_test(test_detect_advance_alert_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
