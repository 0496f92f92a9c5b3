/* Unit tests of common/lf_metrics: registration, lookup, Prometheus text. */
#include "lf_metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_register_find_render(void **state)
{
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    static lf_metric_t ms[] = {
        {.name = "lianfang_test_records_total", .help = "Records.", .kind = LF_METRIC_COUNTER},
        {.name = "lianfang_test_dropped_total",
         .labels = "reason=\"bad\"",
         .help = "Dropped.",
         .kind = LF_METRIC_COUNTER},
        {.name = "lianfang_test_dropped_total",
         .labels = "reason=\"full\"",
         .help = "Dropped.",
         .kind = LF_METRIC_COUNTER},
        {.name = "lianfang_test_queue", .help = "Queue depth.", .kind = LF_METRIC_GAUGE},
    };
    assert_int_equal(lf_metrics_register(&reg, ms, 4), LF_OK);
    lf_metric_add(lf_metrics_find(&reg, "lianfang_test_records_total", NULL), 5);
    lf_metric_add(lf_metrics_find(&reg, "lianfang_test_records_total", ""), 2);
    lf_metric_add(lf_metrics_find(&reg, "lianfang_test_dropped_total", "reason=\"full\""), 3);
    lf_metric_set(lf_metrics_find(&reg, "lianfang_test_queue", NULL), -4);
    assert_null(lf_metrics_find(&reg, "lianfang_test_dropped_total", NULL));
    assert_null(lf_metrics_find(&reg, "nope", NULL));
    assert_ptr_equal(lf_metrics_find(&reg, "lianfang_test_dropped_total", "reason=\"bad\""),
                     &ms[1]);
    assert_int_equal(lf_metric_get(&ms[0]), 7);

    lf_buf_t out;
    lf_buf_init(&out, 1 << 16);
    assert_int_equal(lf_metrics_write_prometheus(&reg, &out), LF_OK);
    assert_string_equal(lf_buf_cstr(&out), "# HELP lianfang_test_records_total Records.\n"
                                           "# TYPE lianfang_test_records_total counter\n"
                                           "lianfang_test_records_total 7\n"
                                           "# HELP lianfang_test_dropped_total Dropped.\n"
                                           "# TYPE lianfang_test_dropped_total counter\n"
                                           "lianfang_test_dropped_total{reason=\"bad\"} 0\n"
                                           "lianfang_test_dropped_total{reason=\"full\"} 3\n"
                                           "# HELP lianfang_test_queue Queue depth.\n"
                                           "# TYPE lianfang_test_queue gauge\n"
                                           "lianfang_test_queue -4\n");
    lf_buf_free(&out);
    lf_metrics_destroy(&reg);
}

static void test_registry_bound(void **state)
{
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    static lf_metric_t many[LF_METRICS_MAX];
    for (size_t i = 0; i < LF_METRICS_MAX; i++)
        many[i] = (lf_metric_t){.name = "m", .help = "h", .kind = LF_METRIC_GAUGE};
    assert_int_equal(lf_metrics_register(&reg, many, LF_METRICS_MAX - 1), LF_OK);
    static lf_metric_t two[2] = {{.name = "a", .help = "h"}, {.name = "b", .help = "h"}};
    assert_int_equal(lf_metrics_register(&reg, two, 2), LF_EFULL);
    assert_int_equal(reg.count, LF_METRICS_MAX - 1); /* all or nothing */
    assert_int_equal(lf_metrics_register(&reg, two, 1), LF_OK);
    assert_int_equal(reg.count, LF_METRICS_MAX);
    lf_metrics_destroy(&reg);
}

static void test_render_respects_buffer_max(void **state)
{
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    static lf_metric_t m = {.name = "lianfang_test_total", .help = "A long help text."};
    assert_int_equal(lf_metrics_register(&reg, &m, 1), LF_OK);
    lf_buf_t out;
    lf_buf_init(&out, 16);
    assert_int_equal(lf_metrics_write_prometheus(&reg, &out), LF_EFULL);
    lf_buf_free(&out);
    lf_metrics_destroy(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_find_render),
        cmocka_unit_test(test_registry_bound),
        cmocka_unit_test(test_render_respects_buffer_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
