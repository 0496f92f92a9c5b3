/* Unit tests of correlate/lf_region.c: the shipped six-region file, and
 * clear errors for duplicate agencies, counties in two regions, unknown
 * counties and schema mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lf_region.h"

#include <string.h>

#ifndef LF_SOURCE_DIR
#error LF_SOURCE_DIR must be defined
#endif

static void test_shipped_model(void **state)
{
    lf_region_model_t m;
    char err[512] = "";
    lf_err_t rc =
        lf_region_model_load(LF_SOURCE_DIR "/rules/regions/taiwan.yaml", &m, err, sizeof err);
    if (rc != LF_OK)
        fail_msg("%s", err);
    assert_int_equal(m.region_count, 6);
    size_t counties = 0;
    for (size_t r = 0; r < m.region_count; r++)
        counties += m.regions[r].county_count;
    assert_int_equal(counties, 22); /* every county and city, each once */
    const lf_region_t *reg = NULL;
    const lf_region_agency_t *ag = lf_region_find_agency(&m, lf_str_c("CH-07"), &reg);
    assert_non_null(ag);
    assert_string_equal(reg->id, "taichung");
    assert_string_equal(ag->county, "彰化縣");
    assert_string_equal(ag->reviewer, "彰化縣政府");
    assert_string_equal(lf_region_level_name(ag->level), "C");
    assert_int_equal(ag->asset_count, 2);
    assert_int_equal(ag->assets[1].asset_class, LF_ASSET_SENSITIVE);
    assert_string_equal(ag->assets[0].hosts[0], "appt01");
    assert_null(lf_region_find_agency(&m, lf_str_c("XX-99"), NULL));
    lf_region_model_free(&m);
}

static void expect_error(const char *yaml, const char *needle)
{
    lf_region_model_t m;
    char err[512] = "";
    lf_err_t rc =
        lf_region_model_load_string(yaml, strlen(yaml), "regions.yaml", &m, err, sizeof err);
    assert_int_equal(rc, LF_ECONFIG);
    if (!strstr(err, needle))
        fail_msg("'%s' not in '%s'", needle, err);
}

static void test_errors(void **state)
{
    expect_error("regions:\n"
                 "  - {id: a, lead: A, counties: [X], agencies: [{id: D1, county: X}]}\n"
                 "  - {id: b, lead: B, counties: [Y], agencies: [{id: D1, county: Y}]}\n",
                 "agency D1 appears twice");
    expect_error("regions:\n"
                 "  - {id: a, lead: A, counties: [X, Y]}\n"
                 "  - {id: b, lead: B, counties: [Y]}\n",
                 "county Y is in regions a and b");
    expect_error("regions:\n"
                 "  - {id: a, lead: A, counties: [X], agencies: [{id: D1, county: Z}]}\n",
                 "county Z is not one of region a's counties");
    expect_error("regions:\n"
                 "  - {id: a, lead: A, counties: [X], agencies: [{id: D1, county: X, level: F}]}\n",
                 "regions.yaml:2:");
    expect_error("regions:\n  - {id: a, counties: [X]}\n", "regions[0].lead: required key");
    expect_error("regions:\n  - {id: a, lead: A, counties: [X], colour: red}\n",
                 "regions[0].colour: unknown key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_model),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
