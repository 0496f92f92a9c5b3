/* Unit tests of common/lf_time: RFC 3339 formatting and civil dates. */
#include "lf_time.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void expect_format(int64_t ms, const char *want)
{
    char out[40];
    size_t n = lf_time_format_rfc3339_ms(ms, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_rfc3339(void **state)
{
    expect_format(0, "1970-01-01T00:00:00.000Z");
    expect_format(1773104520123LL, "2026-03-10T01:02:00.123Z");
    expect_format(951782400000LL, "2000-02-29T00:00:00.000Z");
    expect_format(4102444799999LL, "2099-12-31T23:59:59.999Z");
}

static void test_rfc3339_negative(void **state)
{
    expect_format(-1, "1969-12-31T23:59:59.999Z");
    expect_format(-1000, "1969-12-31T23:59:59.000Z");
    expect_format(-1001, "1969-12-31T23:59:58.999Z");
    expect_format(-86400000LL, "1969-12-31T00:00:00.000Z");
}

static void test_rfc3339_small_buffer(void **state)
{
    char out[11];
    size_t n = lf_time_format_rfc3339_ms(0, out, sizeof out);
    assert_int_equal(n, 10);
    assert_string_equal(out, "1970-01-01");
}

static void test_days_from_civil(void **state)
{
    assert_int_equal(lf_time_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(lf_time_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(lf_time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(lf_time_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(lf_time_days_from_civil(1600, 3, 1), -135080);
    assert_int_equal(lf_time_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(lf_time_days_from_civil(2100, 12, 31), 47846);
    /* consistent with the formatter */
    char out[40];
    lf_time_format_rfc3339_ms(lf_time_days_from_civil(2026, 3, 10) * 86400000LL, out, sizeof out);
    assert_string_equal(out, "2026-03-10T00:00:00.000Z");
}

static void test_clocks(void **state)
{
    int64_t now = lf_time_now_ms();
    assert_true(now > 1577836800000LL); /* after 2020-01-01 */
    int64_t m1 = lf_time_mono_ms(), m2 = lf_time_mono_ms();
    assert_true(m2 >= m1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_rfc3339_negative),
        cmocka_unit_test(test_rfc3339_small_buffer),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
