/* Unit tests of store/: idempotent puts, watermarks, batches, agents, scans
 * with cursors and filters, offsets, schema version, map full, metrics. */
#include "store_test_util.h"

#include "lf_metrics.h"
#include "lf_time.h"

#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MIB (1024LL * 1024)

typedef struct fixture {
    test_dir_t dir;
    lf_store_t *st;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_dir_make(&f->dir);
    lf_store_config_t cfg = test_config(&f->dir, 256 * MIB, false);
    char err[256] = "";
    assert_int_equal(lf_store_open(&cfg, NULL, &f->st, err, sizeof err), LF_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lf_store_close(f->st);
    test_dir_remove(&f->dir);
    free(f);
    return 0;
}

/* Collects the commit callbacks. */
typedef struct agent_report {
    char id[LF_STORE_MAX_AGENT_ID + 1];
    uint64_t watermark, added, duplicates;
} agent_report_t;

typedef struct reports {
    agent_report_t items[16];
    size_t count;
} reports_t;

static void on_commit(void *opaque, lf_str_t agent_id, uint64_t watermark, uint64_t added,
                      uint64_t duplicates)
{
    reports_t *r = opaque;
    assert_true(r->count < 16);
    agent_report_t *a = &r->items[r->count++];
    memcpy(a->id, agent_id.ptr, agent_id.len);
    a->id[agent_id.len] = '\0';
    a->watermark = watermark;
    a->added = added;
    a->duplicates = duplicates;
}

static const agent_report_t *report_of(const reports_t *r, const char *id)
{
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->items[i].id, id))
            return &r->items[i];
    fail_msg("no commit report for agent %s", id);
    return NULL;
}

static uint64_t watermark_of(lf_store_t *st, const char *id)
{
    uint64_t w = 99999;
    assert_int_equal(lf_store_agent_watermark(st, lf_str_c(id), &w), LF_OK);
    return w;
}

/* Copies one fetched event. */
typedef struct got_event {
    char agent[LF_STORE_MAX_AGENT_ID + 1];
    char agency[64];
    char doc[128];
    uint64_t seq;
    int64_t ts, stored;
} got_event_t;

static bool copy_event(void *opaque, const lf_store_event_out_t *ev)
{
    got_event_t *g = opaque;
    snprintf(g->agent, sizeof g->agent, "%.*s", (int)ev->agent_id.len, ev->agent_id.ptr);
    snprintf(g->agency, sizeof g->agency, "%.*s", (int)ev->agency.len, ev->agency.ptr);
    snprintf(g->doc, sizeof g->doc, "%.*s", (int)ev->doc_len, ev->doc);
    g->seq = ev->seq;
    g->ts = ev->timestamp_ms;
    g->stored = ev->stored_ms;
    return true;
}

static bool event_exists(lf_store_t *st, const char *agent, uint64_t seq)
{
    got_event_t g;
    lf_err_t rc = lf_store_event_get(st, lf_str_c(agent), seq, copy_event, &g);
    assert_true(rc == LF_OK || rc == LF_ENOTFOUND);
    return rc == LF_OK;
}

static uint64_t stored_events(lf_store_t *st)
{
    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(st, &s), LF_OK);
    return s.events;
}

typedef struct page {
    got_event_t items[LF_STORE_SCAN_LIMIT_MAX];
    size_t count;
    size_t stop_after; /* 0 = never stop */
} page_t;

static bool collect_event(void *opaque, const lf_store_event_out_t *ev)
{
    page_t *p = opaque;
    assert_true(p->count < LF_STORE_SCAN_LIMIT_MAX);
    copy_event(&p->items[p->count++], ev);
    return !p->stop_after || p->count < p->stop_after;
}

/* ---- put, duplicates, watermark ------------------------------------------ */

static void test_put_duplicate_and_watermark_gaps(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    reports_t rep = {0};
    int64_t before = lf_time_now_ms();

    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "a1", 1, 1, 1000, "ag"), LF_OK);
    assert_int_equal(test_put(b, "a1", 2, 1, 1001, "ag"), LF_OK);
    assert_int_equal(test_put(b, "a1", 4, 1, 1003, "ag"), LF_OK);
    assert_int_equal(test_put(b, "a1", 5, 1, 1004, "ag"), LF_OK);
    /* same key twice in one batch: found by lookup, above the watermark */
    assert_int_equal(test_put(b, "a1", 5, 1, 1004, "ag"), LF_EDUPLICATE);
    assert_int_equal(lf_store_batch_commit(b, on_commit, &rep), LF_OK);
    assert_int_equal(rep.count, 1);
    assert_string_equal(rep.items[0].id, "a1");
    assert_int_equal(rep.items[0].watermark, 2);
    assert_int_equal(rep.items[0].added, 4);
    assert_int_equal(rep.items[0].duplicates, 1);
    assert_int_equal(watermark_of(f->st, "a1"), 2);

    /* the gap is filled later: the watermark jumps over 4 and 5 */
    rep.count = 0;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "a1", 3, 1, 1002, "ag"), LF_OK);
    assert_int_equal(test_put(b, "a1", 4, 1, 1003, "ag"), LF_EDUPLICATE);
    assert_int_equal(test_put(b, "a1", 7, 1, 1006, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, on_commit, &rep), LF_OK);
    assert_int_equal(report_of(&rep, "a1")->watermark, 5);
    assert_int_equal(report_of(&rep, "a1")->added, 2);
    assert_int_equal(report_of(&rep, "a1")->duplicates, 1);
    assert_int_equal(watermark_of(f->st, "a1"), 5);
    assert_int_equal(stored_events(f->st), 6);

    got_event_t g;
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("a1"), 3, copy_event, &g), LF_OK);
    assert_string_equal(g.agent, "a1");
    assert_string_equal(g.agency, "ag");
    assert_string_equal(g.doc, "{\"agent\":\"a1\",\"seq\":3}");
    assert_int_equal(g.seq, 3);
    assert_int_equal(g.ts, 1002);
    assert_true(g.stored >= before && g.stored <= lf_time_now_ms());
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("a1"), 6, copy_event, &g), LF_ENOTFOUND);
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("nobody"), 1, copy_event, &g),
                     LF_ENOTFOUND);
    assert_int_equal(watermark_of(f->st, "nobody"), 0);
}

static void test_epoch_raises_watermark(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    reports_t rep = {0};

    /* A fresh agent state numbers from its epoch: everything below it is
     * not expected, so the watermark starts at epoch - 1. */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep", 1002, 1000, 10, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, on_commit, &rep), LF_OK);
    assert_int_equal(report_of(&rep, "ep")->watermark, 999);

    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep", 1000, 1000, 11, "ag"), LF_OK);
    assert_int_equal(test_put(b, "ep", 1001, 1000, 12, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "ep"), 1002);

    /* The agent lost its state and starts a new epoch at 5000; an event of
     * the new epoch that arrives first (5001) is stored above the gap. */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep", 5001, 5000, 13, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "ep"), 4999);
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep", 5000, 5000, 14, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "ep"), 5001);

    /* epoch_seq given with an already stored number just above epoch - 1:
     * raising the watermark also advances over stored numbers */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep2", 8, 1, 20, "ag"), LF_OK);
    assert_int_equal(test_put(b, "ep2", 9, 1, 21, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "ep2"), 0);
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "ep2", 11, 8, 22, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "ep2"), 9);
}

static void test_seq_below_watermark_is_duplicate_without_storage(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    reports_t rep = {0};
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "w", 100, 100, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    uint64_t events = stored_events(f->st);

    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    /* never stored, but below the watermark: not expected any more */
    assert_int_equal(test_put(b, "w", 5, 100, 2, "ag"), LF_EDUPLICATE);
    assert_int_equal(test_put(b, "w", 99, 100, 2, "ag"), LF_EDUPLICATE);
    assert_int_equal(test_put(b, "w", 100, 100, 2, "ag"), LF_EDUPLICATE);
    assert_int_equal(lf_store_batch_commit(b, on_commit, &rep), LF_OK);
    assert_int_equal(report_of(&rep, "w")->duplicates, 3);
    assert_int_equal(report_of(&rep, "w")->added, 0);
    assert_int_equal(report_of(&rep, "w")->watermark, 100);
    assert_int_equal(stored_events(f->st), events);
    assert_false(event_exists(f->st, "w", 5));
    assert_false(event_exists(f->st, "w", 99));
}

static void test_abort_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "x", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(test_put(b, "y", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "events", 0, 42), LF_OK);
    lf_store_batch_abort(b);

    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(f->st, &s), LF_OK);
    assert_int_equal(s.events, 0);
    assert_int_equal(s.agents, 0);
    assert_false(event_exists(f->st, "x", 1));
    assert_int_equal(watermark_of(f->st, "x"), 0);
    int64_t off = -7;
    assert_int_equal(lf_store_offset_get(f->st, "events", 0, &off), LF_ENOTFOUND);
    char cursor[LF_STORE_CURSOR_MAX];
    page_t p = {0};
    lf_store_query_t q = {.limit = 10};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, cursor), LF_OK);
    assert_int_equal(p.count, 0);
    assert_string_equal(cursor, "");

    /* agent numbers handed out in the aborted batch are handed out again
     * without mixing agents up */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "y", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    got_event_t g;
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("y"), 1, copy_event, &g), LF_OK);
    assert_string_equal(g.doc, "{\"agent\":\"y\",\"seq\":1}");
    assert_false(event_exists(f->st, "x", 1));
}

static void test_batch_states_and_invalid_input(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b, *b2;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(lf_store_batch_begin(f->st, &b2), LF_ESTATE);

    char long_id[LF_STORE_MAX_AGENT_ID + 2];
    memset(long_id, 'i', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(test_put(b, long_id, 1, 1, 1, "ag"), LF_EINVAL);
    long_id[LF_STORE_MAX_AGENT_ID] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(test_put(b, long_id, 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(test_put(b, "", 1, 1, 1, "ag"), LF_EINVAL);
    assert_int_equal(test_put(b, "ok", 0, 1, 1, "ag"), LF_EINVAL);
    lf_store_event_in_t ev = {
        .agent_id = lf_str_c("ok"), .seq = 1, .doc = "x", .doc_len = LF_STORE_MAX_DOC + 1};
    assert_int_equal(lf_store_batch_put(b, &ev), LF_EINVAL);
    char agency[LF_STORE_MAX_LABEL + 1];
    memset(agency, 'a', sizeof agency);
    ev.doc_len = 1;
    ev.agency = lf_str_n(agency, sizeof agency);
    assert_int_equal(lf_store_batch_put(b, &ev), LF_EINVAL);
    ev.agency = lf_str_n(agency, LF_STORE_MAX_LABEL);
    assert_int_equal(lf_store_batch_put(b, &ev), LF_OK);
    assert_int_equal(lf_store_batch_put(b, NULL), LF_EINVAL);
    assert_int_equal(lf_store_batch_set_offset(b, "", 0, 1), LF_EINVAL);
    assert_int_equal(lf_store_batch_set_offset(b, "events", -1, 1), LF_EINVAL);
    /* invalid input left the batch usable */
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(stored_events(f->st), 2);
    assert_true(event_exists(f->st, long_id, 1));

    /* a finished batch accepts nothing */
    assert_int_equal(test_put(b, "ok", 2, 1, 1, "ag"), LF_ESTATE);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_ESTATE);
    lf_store_batch_abort(b); /* harmless */
    assert_int_equal(lf_store_batch_begin(f->st, &b2), LF_OK);
    assert_ptr_equal(b, b2); /* the batch object is reused */
    lf_store_batch_abort(b2);
}

static void test_many_agents_in_one_batch(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    char id[32];
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    for (unsigned i = 0; i < LF_STORE_BATCH_MAX_AGENTS; i++) {
        snprintf(id, sizeof id, "agent-%05u", i);
        assert_int_equal(test_put(b, id, 1, 1, i, "ag"), LF_OK);
    }
    /* one agent more than a batch may track: commit first */
    assert_int_equal(test_put(b, "one-more", 1, 1, 1, "ag"), LF_EAGAIN);
    assert_int_equal(test_put(b, "agent-00007", 2, 1, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "one-more", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(f->st, &s), LF_OK);
    assert_int_equal(s.agents, LF_STORE_BATCH_MAX_AGENTS + 1);
    assert_int_equal(s.events, LF_STORE_BATCH_MAX_AGENTS + 2);
    assert_int_equal(watermark_of(f->st, "agent-00007"), 2);
    assert_int_equal(watermark_of(f->st, "agent-04095"), 1);
}

/* ---- agents and stats ------------------------------------------------------ */

typedef struct agent_list {
    lf_store_agent_info_t items[8];
    char ids[8][32], agencies[8][32], hosts[8][32];
    size_t count;
    size_t stop_after;
} agent_list_t;

static bool collect_agent(void *opaque, const lf_store_agent_info_t *a)
{
    agent_list_t *l = opaque;
    assert_true(l->count < 8);
    size_t i = l->count++;
    l->items[i] = *a;
    snprintf(l->ids[i], 32, "%.*s", (int)a->agent_id.len, a->agent_id.ptr);
    snprintf(l->agencies[i], 32, "%.*s", (int)a->agency.len, a->agency.ptr);
    snprintf(l->hosts[i], 32, "%.*s", (int)a->host.len, a->host.ptr);
    return !l->stop_after || l->count < l->stop_after;
}

static void test_agents_list_and_stats(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    int64_t t0 = lf_time_now_ms();
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "charlie", 1, 1, 5, "ag-c"), LF_OK);
    assert_int_equal(test_put(b, "alpha", 1, 1, 5, "ag-a"), LF_OK);
    assert_int_equal(test_put(b, "alpha", 2, 1, 5, "ag-a"), LF_OK);
    assert_int_equal(test_put(b, "bravo", 3, 1, 5, "ag-b"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);

    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "alpha", 2, 1, 5, "ag-a"), LF_EDUPLICATE);
    /* the agent moved to another agency and host */
    lf_store_event_in_t ev = {.agent_id = lf_str_c("alpha"),
                              .agency = lf_str_c("ag-new"),
                              .host = lf_str_c("host-2"),
                              .seq = 3,
                              .epoch_seq = 1,
                              .timestamp_ms = 6,
                              .doc = "{}",
                              .doc_len = 2};
    assert_int_equal(lf_store_batch_put(b, &ev), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    int64_t t1 = lf_time_now_ms();

    agent_list_t l = {0};
    assert_int_equal(lf_store_agents_list(f->st, collect_agent, &l), LF_OK);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.ids[0], "alpha");
    assert_string_equal(l.ids[1], "bravo");
    assert_string_equal(l.ids[2], "charlie");
    assert_string_equal(l.agencies[0], "ag-new");
    assert_string_equal(l.hosts[0], "host-2");
    assert_string_equal(l.agencies[1], "ag-b");
    assert_string_equal(l.hosts[1], "host-1");
    assert_int_equal(l.items[0].watermark, 3);
    assert_int_equal(l.items[0].events_stored, 3);
    assert_int_equal(l.items[0].duplicates, 1);
    assert_int_equal(l.items[1].watermark, 0); /* bravo: 1 and 2 missing */
    assert_int_equal(l.items[1].events_stored, 1);
    assert_int_equal(l.items[2].watermark, 1);
    for (size_t i = 0; i < 3; i++) {
        assert_true(l.items[i].first_seen_ms >= t0);
        assert_true(l.items[i].first_seen_ms <= l.items[i].last_seen_ms);
        assert_true(l.items[i].last_seen_ms <= t1);
    }

    agent_list_t first_only = {.stop_after = 1};
    assert_int_equal(lf_store_agents_list(f->st, collect_agent, &first_only), LF_OK);
    assert_int_equal(first_only.count, 1);

    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(f->st, &s), LF_OK);
    assert_int_equal(s.events, 5);
    assert_int_equal(s.agents, 3);
    assert_int_equal(s.map_size, 256 * MIB);
    assert_true(s.map_used > 0 && s.map_used < s.map_size);
}

/* ---- scans ---------------------------------------------------------------- */

typedef struct expect {
    const char *agent;
    uint64_t seq;
    int64_t ts;
    const char *agency;
} expect_t;

/* Agents a (agency A), b (agency B), c (agency A), stored in that order so
 * their numbers are 1, 2, 3. Timestamps repeat across agents so ties are
 * ordered by (agent number, seq) descending. */
static const expect_t scan_data[] = {
    {"a", 1, 100, "A"}, {"b", 1, 100, "B"}, {"c", 1, 105, "A"}, {"a", 2, 110, "A"},
    {"b", 2, 110, "B"}, {"c", 2, 110, "A"}, {"a", 3, 120, "A"}, {"a", 4, 90, "A"},
    {"b", 3, 130, "B"}, {"c", 3, -50, "A"}, {"a", 5, 140, "A"}, {"b", 4, 140, "B"},
    {"c", 4, 150, "A"}, {"a", 6, 160, "A"}, {"b", 5, 170, "B"}, {"c", 5, 170, "A"},
    {"a", 7, 180, "A"}, {"b", 6, 0, "B"},   {"c", 6, 190, "A"}, {"a", 8, 200, "A"},
    {"b", 7, 210, "B"}, {"c", 7, 220, "A"}, {"a", 9, 230, "A"},
};
#define SCAN_N (sizeof scan_data / sizeof scan_data[0])

static void load_scan_data(lf_store_t *st)
{
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(st, &b), LF_OK);
    for (size_t i = 0; i < SCAN_N; i++)
        assert_int_equal(test_put(b, scan_data[i].agent, scan_data[i].seq, 1, scan_data[i].ts,
                                  scan_data[i].agency),
                         LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
}

static int agent_number(const char *agent)
{
    return agent[0] - 'a' + 1;
}

/* Newest first; ties by agent number then seq, both descending. */
static int expect_cmp(const void *x, const void *y)
{
    const expect_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts > b->ts ? -1 : 1;
    if (agent_number(a->agent) != agent_number(b->agent))
        return agent_number(a->agent) > agent_number(b->agent) ? -1 : 1;
    return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* Pages through q with `limit`, checks every page but the last is full and
 * that the concatenation equals the expected (filtered) sequence. */
static void check_paged_scan(lf_store_t *st, lf_store_query_t q, bool (*keep)(const expect_t *),
                             size_t *pages_out)
{
    expect_t want[SCAN_N];
    size_t nwant = 0;
    for (size_t i = 0; i < SCAN_N; i++)
        if (keep(&scan_data[i]))
            want[nwant++] = scan_data[i];
    qsort(want, nwant, sizeof want[0], expect_cmp);

    char cursor[LF_STORE_CURSOR_MAX] = "";
    size_t seen = 0, pages = 0;
    do {
        page_t p = {0};
        char next[LF_STORE_CURSOR_MAX];
        q.cursor = cursor;
        assert_int_equal(lf_store_events_scan(st, &q, collect_event, &p, next), LF_OK);
        pages++;
        assert_true(pages <= SCAN_N + 1);
        if (next[0])
            assert_int_equal(p.count, q.limit); /* more follow: the page is full */
        else
            assert_true(p.count <= q.limit);
        for (size_t i = 0; i < p.count; i++, seen++) {
            assert_true(seen < nwant);
            assert_string_equal(p.items[i].agent, want[seen].agent);
            assert_int_equal(p.items[i].seq, want[seen].seq);
            assert_int_equal(p.items[i].ts, want[seen].ts);
            assert_string_equal(p.items[i].agency, want[seen].agency);
        }
        assert_true(strlen(next) < LF_STORE_CURSOR_MAX);
        snprintf(cursor, sizeof cursor, "%s", next);
    } while (cursor[0]);
    assert_int_equal(seen, nwant);
    if (pages_out)
        *pages_out = pages;
}

static bool keep_all(const expect_t *e)
{
    return true;
}

static void test_scan_newest_first_paginated(void **state)
{
    fixture_t *f = *state;
    load_scan_data(f->st);
    size_t pages;
    check_paged_scan(f->st, (lf_store_query_t){.limit = 5}, keep_all, &pages);
    assert_int_equal(pages, 5); /* 23 events: 5+5+5+5+3 */
    check_paged_scan(f->st, (lf_store_query_t){.limit = 1}, keep_all, &pages);
    assert_int_equal(pages, SCAN_N);
    check_paged_scan(f->st, (lf_store_query_t){.limit = 23}, keep_all, &pages);
    assert_int_equal(pages, 1);
    check_paged_scan(f->st, (lf_store_query_t){.limit = 1000}, keep_all, &pages);
    assert_int_equal(pages, 1);

    /* the first page starts at the newest event and the doc is intact */
    page_t p = {0};
    char next[LF_STORE_CURSOR_MAX];
    lf_store_query_t q = {.limit = 2};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].doc, "{\"agent\":\"a\",\"seq\":9}");
    assert_int_equal(p.items[1].ts, 220);
    assert_int_equal(strlen(next), 40);

    /* events committed after a page do not shift older pages */
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "a", 10, 1, 1000, "A"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    page_t p2 = {0};
    q.cursor = next;
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p2, NULL), LF_OK);
    assert_int_equal(p2.count, 2);
    assert_int_equal(p2.items[0].ts, 210);
    assert_int_equal(p2.items[1].ts, 200);
}

static void test_scan_callback_stops_early(void **state)
{
    fixture_t *f = *state;
    load_scan_data(f->st);
    page_t p = {.stop_after = 3};
    char next[LF_STORE_CURSOR_MAX];
    lf_store_query_t q = {.limit = 10};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_OK);
    assert_int_equal(p.count, 3);
    assert_int_equal(p.items[2].ts, 210);
    page_t p2 = {0};
    q.cursor = next;
    q.limit = 1;
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p2, next), LF_OK);
    assert_int_equal(p2.count, 1);
    assert_int_equal(p2.items[0].ts, 200); /* continues right after the third */
}

static bool keep_agent_b(const expect_t *e)
{
    return !strcmp(e->agent, "b");
}
static bool keep_agency_a(const expect_t *e)
{
    return !strcmp(e->agency, "A");
}
static bool keep_110_to_170(const expect_t *e)
{
    return e->ts >= 110 && e->ts < 170;
}
static bool keep_c_from_0(const expect_t *e)
{
    return !strcmp(e->agent, "c") && e->ts >= -100 && e->ts < 200;
}
static bool keep_agency_a_before_150(const expect_t *e)
{
    return !strcmp(e->agency, "A") && e->ts < 150;
}
static bool keep_none(const expect_t *e)
{
    return false;
}

static void test_scan_filters(void **state)
{
    fixture_t *f = *state;
    load_scan_data(f->st);
    lf_store_query_t q = {.limit = 2, .agent_id = lf_str_c("b")};
    check_paged_scan(f->st, q, keep_agent_b, NULL);
    q = (lf_store_query_t){.limit = 3, .agency = lf_str_c("A")};
    check_paged_scan(f->st, q, keep_agency_a, NULL);
    q = (lf_store_query_t){.limit = 2, .from_ms = 110, .to_ms = 170};
    check_paged_scan(f->st, q, keep_110_to_170, NULL);
    q = (lf_store_query_t){.limit = 2, .agent_id = lf_str_c("c"), .from_ms = -100, .to_ms = 200};
    check_paged_scan(f->st, q, keep_c_from_0, NULL);
    q = (lf_store_query_t){.limit = 4, .agency = lf_str_c("A"), .to_ms = 150};
    check_paged_scan(f->st, q, keep_agency_a_before_150, NULL);
    q = (lf_store_query_t){.limit = 4, .agent_id = lf_str_c("unknown")};
    check_paged_scan(f->st, q, keep_none, NULL);
    q = (lf_store_query_t){.limit = 4, .agency = lf_str_c("nope")};
    check_paged_scan(f->st, q, keep_none, NULL);
    q = (lf_store_query_t){.limit = 4, .from_ms = 300};
    check_paged_scan(f->st, q, keep_none, NULL);
    q = (lf_store_query_t){.limit = 4, .from_ms = 150, .to_ms = 150};
    check_paged_scan(f->st, q, keep_none, NULL);
}

static void test_scan_bad_arguments(void **state)
{
    fixture_t *f = *state;
    load_scan_data(f->st);
    page_t p = {0};
    char next[LF_STORE_CURSOR_MAX];
    const char *bad[] = {
        "zz",
        "00",
        "0123456789abcdef0123456789abcdef0123456g",  /* non-hex */
        "0123456789abcdef0123456789abcdef012345678", /* 41 chars */
        "0123456789abcdef0123456789abcdef01234567 ",
        "0123456789abcdef0123456789abcdef0123456789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lf_store_query_t q = {.limit = 5, .cursor = bad[i]};
        snprintf(next, LF_STORE_CURSOR_MAX, "%s", "junk");
        assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_EINVAL);
        assert_string_equal(next, "");
    }
    assert_int_equal(p.count, 0);
    lf_store_query_t q = {.limit = 0};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_EINVAL);
    q.limit = LF_STORE_SCAN_LIMIT_MAX + 1;
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_EINVAL);
    q.limit = LF_STORE_SCAN_LIMIT_MAX;
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_OK);
    assert_int_equal(p.count, SCAN_N);
    /* a well-formed cursor past every key simply starts at the newest */
    page_t p2 = {0};
    q = (lf_store_query_t){.limit = 1, .cursor = "ffffffffffffffffffffffffffffffffffffffff"};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p2, next), LF_OK);
    assert_int_equal(p2.count, 1);
    assert_int_equal(p2.items[0].ts, 230);
    /* upper-case hex is accepted as well */
    page_t p3 = {0};
    q.cursor = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p3, next), LF_OK);
    assert_int_equal(p3.count, 1);
}

static void test_scan_work_is_bounded(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    /* one event of agent "rare" older than 100,100 events of agent "busy" */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "rare", 1, 1, 1, "R"), LF_OK);
    const uint64_t busy = LF_STORE_SCAN_MAX_EXAMINED + 100;
    for (uint64_t i = 1; i <= busy; i++)
        assert_int_equal(test_put(b, "busy", i, 1, (int64_t)(10 + i), "B"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "busy"), busy);

    page_t p = {0};
    char next[LF_STORE_CURSOR_MAX];
    lf_store_query_t q = {.limit = 10, .agent_id = lf_str_c("rare")};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next), LF_OK);
    assert_int_equal(p.count, 0);
    assert_string_not_equal(next, ""); /* stopped by the bound: continue */
    q.cursor = next;
    char next2[LF_STORE_CURSOR_MAX];
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &p, next2), LF_OK);
    assert_int_equal(p.count, 1);
    assert_string_equal(p.items[0].agent, "rare");
    assert_string_equal(next2, "");

    /* same through the agency filter */
    page_t pa = {0};
    q = (lf_store_query_t){.limit = 10, .agency = lf_str_c("R")};
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &pa, next), LF_OK);
    assert_int_equal(pa.count, 0);
    assert_string_not_equal(next, "");
    q.cursor = next;
    assert_int_equal(lf_store_events_scan(f->st, &q, collect_event, &pa, next2), LF_OK);
    assert_int_equal(pa.count, 1);
    assert_string_equal(next2, "");
}

/* ---- offsets, persistence, schema, limits, metrics -------------------------- */

static void test_offsets(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "events", 0, 100), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "events", 1, 7), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "events", 0, 150), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "control", 0, 3), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    int64_t off = 0;
    assert_int_equal(lf_store_offset_get(f->st, "events", 0, &off), LF_OK);
    assert_int_equal(off, 150);
    assert_int_equal(lf_store_offset_get(f->st, "events", 1, &off), LF_OK);
    assert_int_equal(off, 7);
    assert_int_equal(lf_store_offset_get(f->st, "control", 0, &off), LF_OK);
    assert_int_equal(off, 3);
    assert_int_equal(lf_store_offset_get(f->st, "events", 2, &off), LF_ENOTFOUND);
    assert_int_equal(lf_store_offset_get(f->st, "event", 0, &off), LF_ENOTFOUND);
    assert_int_equal(lf_store_offset_get(f->st, NULL, 0, &off), LF_EINVAL);
    assert_int_equal(lf_store_offset_get(f->st, "events", -1, &off), LF_EINVAL);
}

static void test_reopen_keeps_everything(void **state)
{
    fixture_t *f = *state;
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "old", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(test_put(b, "old", 3, 1, 3, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_set_offset(b, "events", 2, 9), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    lf_store_close(f->st);
    f->st = NULL;

    lf_store_config_t cfg = test_config(&f->dir, 256 * MIB, true);
    char err[256];
    assert_int_equal(lf_store_open(&cfg, NULL, &f->st, err, sizeof err), LF_OK);
    assert_int_equal(watermark_of(f->st, "old"), 1);
    assert_true(event_exists(f->st, "old", 3));
    int64_t off;
    assert_int_equal(lf_store_offset_get(f->st, "events", 2, &off), LF_OK);
    assert_int_equal(off, 9);
    /* a new agent after reopening gets a fresh number */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "new", 1, 1, 5, "ag"), LF_OK);
    assert_int_equal(test_put(b, "old", 2, 1, 2, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(watermark_of(f->st, "old"), 3);
    assert_int_equal(watermark_of(f->st, "new"), 1);
    got_event_t g;
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("new"), 1, copy_event, &g), LF_OK);
    assert_string_equal(g.doc, "{\"agent\":\"new\",\"seq\":1}");
    assert_int_equal(lf_store_event_get(f->st, lf_str_c("old"), 1, copy_event, &g), LF_OK);
    assert_string_equal(g.doc, "{\"agent\":\"old\",\"seq\":1}");
}

static void test_newer_schema_refused(void **state)
{
    fixture_t *f = *state;
    lf_store_close(f->st);
    f->st = NULL;
    /* pretend a future build wrote the store */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir.store_path, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t v2[4] = {0, 0, 0, LF_STORE_SCHEMA_VERSION + 1};
    MDB_val k = {.mv_size = 14, .mv_data = "schema_version"}, v = {.mv_size = 4, .mv_data = v2};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    lf_store_config_t cfg = test_config(&f->dir, 256 * MIB, false);
    char err[512] = "";
    assert_int_equal(lf_store_open(&cfg, NULL, &f->st, err, sizeof err), LF_ESTORE);
    assert_null(f->st);
    assert_non_null(strstr(err, "schema version 2"));
    assert_non_null(strstr(err, f->dir.store_path));
}

static void test_open_errors(void **state)
{
    fixture_t *f = *state;
    lf_store_t *st = NULL;
    char err[512] = "";
    lf_store_config_t cfg = test_config(&f->dir, 1 * MIB, false);
    assert_int_equal(lf_store_open(&cfg, NULL, &st, err, sizeof err), LF_EINVAL);
    assert_non_null(strstr(err, "map_size"));
    cfg = test_config(&f->dir, 64 * MIB, false);
    cfg.max_readers = 0;
    assert_int_equal(lf_store_open(&cfg, NULL, &st, err, sizeof err), LF_EINVAL);
    assert_non_null(strstr(err, "max_readers"));
    /* a path below a regular file cannot be created */
    char file_path[160], below[200];
    snprintf(file_path, sizeof file_path, "%s/plain-file", f->dir.root);
    FILE *fp = fopen(file_path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(below, sizeof below, "%s/sub", file_path);
    cfg.max_readers = 10;
    cfg.path = below;
    assert_int_equal(lf_store_open(&cfg, NULL, &st, err, sizeof err), LF_EIO);
    assert_non_null(strstr(err, below));
    assert_null(st);
}

static void test_config_table_defaults(void **state)
{
    lf_store_config_t cfg = {0};
    char err[256];
    assert_int_equal(lf_config_set_defaults(lf_store_config_options, &cfg, err, sizeof err), LF_OK);
    assert_string_equal(cfg.path, "/var/lib/lianfang/store");
    assert_int_equal(cfg.map_size, 8LL << 30);
    assert_int_equal(cfg.max_readers, 126);
    assert_true(cfg.sync);
    lf_config_free(lf_store_config_options, &cfg);

    static const char yaml[] = "path: /tmp/x\nmap_size: 1MiB\n";
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(lf_config_load_string(yaml, sizeof yaml - 1, "store.yaml",
                                           lf_store_config_options, &cfg, err, sizeof err),
                     LF_ECONFIG);
    assert_non_null(strstr(err, "map_size"));
    lf_config_free(lf_store_config_options, &cfg);
    for (const lf_config_option_t *o = lf_store_config_options; o->name; o++)
        assert_true(o->description && strlen(o->description) > 40);
}

static void test_map_full(void **state)
{
    fixture_t *f = *state;
    lf_store_close(f->st);
    f->st = NULL;
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    lf_store_config_t cfg = test_config(&f->dir, 16 * MIB, false);
    char err[256];
    assert_int_equal(lf_store_open(&cfg, &reg, &f->st, err, sizeof err), LF_OK);

    size_t doc_len = 1u << 20;
    char *doc = malloc(doc_len);
    assert_non_null(doc);
    memset(doc, 'd', doc_len);
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    lf_err_t rc = LF_OK;
    uint64_t seq;
    for (seq = 1; seq < 64 && rc == LF_OK; seq++) {
        lf_store_event_in_t ev = {.agent_id = lf_str_c("big"),
                                  .seq = seq,
                                  .timestamp_ms = (int64_t)seq,
                                  .doc = doc,
                                  .doc_len = doc_len};
        rc = lf_store_batch_put(b, &ev);
    }
    assert_int_equal(rc, LF_EFULL);
    assert_int_equal(test_put(b, "big", 100, 1, 1, "ag"), LF_ESTATE); /* failed batch */
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_ESTATE);
    assert_int_equal(
        lf_metric_get(lf_metrics_find(&reg, "lianfang_store_commit_errors_total", NULL)), 1);
    assert_int_equal(stored_events(f->st), 0);

    /* the store still works for batches that fit */
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "small", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(stored_events(f->st), 1);
    free(doc);
    lf_store_close(f->st);
    f->st = NULL;
    lf_metrics_destroy(&reg);
}

static void test_metrics(void **state)
{
    fixture_t *f = *state;
    lf_store_close(f->st);
    f->st = NULL;
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    lf_store_config_t cfg = test_config(&f->dir, 64 * MIB, false);
    char err[256];
    assert_int_equal(lf_store_open(&cfg, &reg, &f->st, err, sizeof err), LF_OK);
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "m", 1, 1, 1, "ag"), LF_OK);
    assert_int_equal(test_put(b, "m", 2, 1, 1, "ag"), LF_OK);
    assert_int_equal(test_put(b, "m", 2, 1, 1, "ag"), LF_EDUPLICATE);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "m", 1, 1, 1, "ag"), LF_EDUPLICATE);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(test_put(b, "m", 3, 1, 1, "ag"), LF_OK);
    lf_store_batch_abort(b); /* aborted batches count nothing */

    assert_int_equal(
        lf_metric_get(lf_metrics_find(&reg, "lianfang_store_events_written_total", NULL)), 2);
    assert_int_equal(lf_metric_get(lf_metrics_find(&reg, "lianfang_store_duplicates_total", NULL)),
                     2);
    assert_int_equal(lf_metric_get(lf_metrics_find(&reg, "lianfang_store_commits_total", NULL)), 2);
    assert_int_equal(
        lf_metric_get(lf_metrics_find(&reg, "lianfang_store_commit_errors_total", NULL)), 0);
    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(f->st, &s), LF_OK);
    assert_int_equal(lf_metric_get(lf_metrics_find(&reg, "lianfang_store_map_used_bytes", NULL)),
                     (int64_t)s.map_used);
    lf_buf_t out;
    lf_buf_init(&out, 1 << 16);
    assert_int_equal(lf_metrics_write_prometheus(&reg, &out), LF_OK);
    assert_non_null(strstr(lf_buf_cstr(&out), "# TYPE lianfang_store_map_used_bytes gauge\n"));
    assert_non_null(strstr(lf_buf_cstr(&out), "lianfang_store_events_written_total 2\n"));
    lf_buf_free(&out);
    lf_store_close(f->st);
    f->st = NULL;
    lf_metrics_destroy(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_duplicate_and_watermark_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_raises_watermark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_below_watermark_is_duplicate_without_storage,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_states_and_invalid_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_agents_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_list_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_newest_first_paginated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_callback_stops_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_work_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test(test_config_table_defaults),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
