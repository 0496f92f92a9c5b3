/* Unit tests of the store's alerts: ids, atomicity with the batch, scans
 * newest first with cursors and filters, reopen. */
#include "store_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
    lf_store_config_t cfg = test_config(&f->dir, 64 * MIB, false);
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

static void put_alerts(lf_store_t *st, int n, bool commit)
{
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(st, &b), LF_OK);
    for (int i = 0; i < n; i++) {
        char doc[128], rule[32];
        uint64_t id = lf_store_batch_next_alert_id(b);
        snprintf(doc, sizeof doc, "{\"alert\":{\"id\":%llu}}", (unsigned long long)id);
        snprintf(rule, sizeof rule, "rule-%d", (int)(id % 3));
        lf_store_alert_in_t a = {.timestamp_ms = 1000 + (int64_t)id,
                                 .agency = lf_str_c(id % 2 ? "TC-01" : "CH-07"),
                                 .rule_id = lf_str_c(rule),
                                 .level = (int)(id % 5),
                                 .doc = doc,
                                 .doc_len = strlen(doc)};
        assert_int_equal(lf_store_batch_put_alert(b, &a), LF_OK);
        assert_int_equal(lf_store_batch_next_alert_id(b), id + 1);
    }
    if (commit)
        assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    else
        lf_store_batch_abort(b);
}

typedef struct collected {
    uint64_t ids[256];
    size_t n;
} collected_t;

static bool collect(void *opaque, const lf_store_alert_out_t *a)
{
    collected_t *c = opaque;
    char want[128];
    snprintf(want, sizeof want, "{\"alert\":{\"id\":%llu}}", (unsigned long long)a->id);
    assert_int_equal(a->doc_len, strlen(want));
    assert_memory_equal(a->doc, want, a->doc_len);
    assert_int_equal(a->timestamp_ms, 1000 + (int64_t)a->id);
    assert_true(c->n < 256);
    c->ids[c->n++] = a->id;
    return true;
}

static void test_ids_and_abort(void **state)
{
    fixture_t *f = *state;
    put_alerts(f->st, 3, false); /* aborted: ids are not used up */
    put_alerts(f->st, 5, true);
    lf_store_stats_t stats;
    assert_int_equal(lf_store_stats(f->st, &stats), LF_OK);
    assert_int_equal(stats.alerts, 5);
    collected_t c = {0};
    assert_int_equal(lf_store_alert_get(f->st, 1, collect, &c), LF_OK);
    assert_int_equal(lf_store_alert_get(f->st, 6, collect, &c), LF_ENOTFOUND);
    assert_int_equal(c.n, 1);
}

static void test_scan_pages_newest_first(void **state)
{
    fixture_t *f = *state;
    put_alerts(f->st, 25, true);
    put_alerts(f->st, 10, true);
    char cursor[LF_STORE_CURSOR_MAX] = "";
    collected_t c = {0};
    int pages = 0;
    do {
        lf_store_alert_query_t q = {.cursor = cursor, .limit = 8};
        assert_int_equal(lf_store_alerts_scan(f->st, &q, collect, &c, cursor), LF_OK);
        pages++;
    } while (cursor[0]);
    assert_int_equal(c.n, 35);
    assert_int_equal(pages, 5);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.ids[i], 35 - i);
}

static void test_scan_filters(void **state)
{
    fixture_t *f = *state;
    put_alerts(f->st, 30, true);
    collected_t c = {0};
    char next[LF_STORE_CURSOR_MAX];
    lf_store_alert_query_t q = {.limit = 100, .agency = lf_str_c("TC-01"), .min_level = 3};
    assert_int_equal(lf_store_alerts_scan(f->st, &q, collect, &c, next), LF_OK);
    assert_string_equal(next, "");
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.ids[i] % 2 == 1);
        assert_true(c.ids[i] % 5 >= 3);
    }
    /* ids 1..30 that are odd with id%5 in {3,4}: 3,9,13,19,23,29 */
    assert_int_equal(c.n, 6);
    collected_t r = {0};
    lf_store_alert_query_t qr = {.limit = 100, .rule_id = lf_str_c("rule-0")};
    assert_int_equal(lf_store_alerts_scan(f->st, &qr, collect, &r, next), LF_OK);
    assert_int_equal(r.n, 10);
}

static void test_bad_input(void **state)
{
    fixture_t *f = *state;
    char next[LF_STORE_CURSOR_MAX];
    collected_t c = {0};
    lf_store_alert_query_t q = {.limit = 0};
    assert_int_equal(lf_store_alerts_scan(f->st, &q, collect, &c, next), LF_EINVAL);
    q.limit = 10;
    q.cursor = "xyz";
    assert_int_equal(lf_store_alerts_scan(f->st, &q, collect, &c, next), LF_EINVAL);
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    lf_store_alert_in_t a = {.level = 5, .doc = "{}", .doc_len = 2};
    assert_int_equal(lf_store_batch_put_alert(b, &a), LF_EINVAL);
    lf_store_batch_abort(b);
}

static void test_reopen_keeps_ids(void **state)
{
    fixture_t *f = *state;
    put_alerts(f->st, 4, true);
    lf_store_close(f->st);
    lf_store_config_t cfg = test_config(&f->dir, 64 * MIB, false);
    char err[256] = "";
    assert_int_equal(lf_store_open(&cfg, NULL, &f->st, err, sizeof err), LF_OK);
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(f->st, &b), LF_OK);
    assert_int_equal(lf_store_batch_next_alert_id(b), 5);
    lf_store_batch_abort(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_pages_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
