/* Table-driven tests of correlate/lf_incident.c: every row of the level
 * table, the deadline rules (incl. awareness just before midnight and month
 * ends in UTC+8), threat lights per agency and region, and the worked
 * example of domain.md §7. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lf_incident.h"
#include "lf_time.h"

#define H (3600LL * 1000)

/* Epoch ms of a local time in UTC+8. */
static int64_t tw(int y, int mo, int d, int h, int mi)
{
    return ((lf_time_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h - 8) * 60 + mi) *
           60000LL;
}

static void test_level_table_every_cell(void **state)
{
    lf_incident_rules_t r;
    lf_incident_rules_default(&r);
    static const struct {
        lf_asset_class_t asset;
        lf_cia_t dim;
        lf_severity_t sev;
        int want;
    } rows[] = {
        {LF_ASSET_NON_CORE, LF_CIA_C, LF_SEVERITY_MINOR, 1},
        {LF_ASSET_NON_CORE, LF_CIA_I, LF_SEVERITY_SEVERE, 2},
        {LF_ASSET_NON_CORE, LF_CIA_A, LF_SEVERITY_MINOR, 1},
        {LF_ASSET_NON_CORE, LF_CIA_A, LF_SEVERITY_SEVERE, 2},
        {LF_ASSET_CORE, LF_CIA_C, LF_SEVERITY_MINOR, 2},
        {LF_ASSET_CORE, LF_CIA_I, LF_SEVERITY_SEVERE, 3},
        {LF_ASSET_CORE, LF_CIA_A, LF_SEVERITY_MINOR, 2},
        {LF_ASSET_CORE, LF_CIA_A, LF_SEVERITY_SEVERE, 3},
        {LF_ASSET_CORE_CI, LF_CIA_C, LF_SEVERITY_MINOR, 3},
        {LF_ASSET_CORE_CI, LF_CIA_A, LF_SEVERITY_SEVERE, 4},
        {LF_ASSET_SENSITIVE, LF_CIA_C, LF_SEVERITY_MINOR, 3},
        {LF_ASSET_SENSITIVE, LF_CIA_I, LF_SEVERITY_SEVERE, 4},
        /* The secret rows apply to C and I; availability is judged as core. */
        {LF_ASSET_SENSITIVE, LF_CIA_A, LF_SEVERITY_MINOR, 2},
        {LF_ASSET_NATIONAL_SECRET, LF_CIA_C, LF_SEVERITY_MINOR, 4},
        {LF_ASSET_NATIONAL_SECRET, LF_CIA_I, LF_SEVERITY_SEVERE, 4},
        {LF_ASSET_NATIONAL_SECRET, LF_CIA_A, LF_SEVERITY_SEVERE, 3},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        lf_impact_t im = {.asset = rows[i].asset};
        im.cia[rows[i].dim] = rows[i].sev;
        int got = lf_incident_level(&r, &im, 1);
        if (got != rows[i].want)
            fail_msg("row %zu: level %d, want %d", i, got, rows[i].want);
    }
}

static void test_level_is_max_over_assets_and_dimensions(void **state)
{
    lf_incident_rules_t r;
    lf_incident_rules_default(&r);
    lf_impact_t none = {.asset = LF_ASSET_CORE_CI};
    assert_int_equal(lf_incident_level(&r, &none, 1), 0);
    lf_impact_t two[2] = {
        {.asset = LF_ASSET_NON_CORE, .cia = {LF_SEVERITY_SEVERE, 0, 0}},
        {.asset = LF_ASSET_CORE, .cia = {0, LF_SEVERITY_MINOR, LF_SEVERITY_SEVERE}},
    };
    assert_int_equal(lf_incident_level(&r, two, 2), 3);
}

static void test_deadlines_by_level(void **state)
{
    lf_incident_rules_t r;
    lf_incident_rules_default(&r);
    int64_t t0 = tw(2026, 3, 10, 9, 40);
    for (int level = 1; level <= 4; level++) {
        lf_incident_times_t t = {.level = level, .awareness_ms = t0};
        lf_incident_deadlines_t d;
        assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
        assert_int_equal(d.report_ms, t0 + 1 * H);
        assert_int_equal(d.review_ms, 0);
        assert_int_equal(d.recovery_ms, t0 + (level <= 2 ? 72 : 36) * H);
        assert_int_equal(d.improvement_ms, 0);
        t.reported_ms = t0 + 35 * 60000;
        assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
        assert_int_equal(d.review_ms, t.reported_ms + (level <= 2 ? 8 : 2) * H);
    }
    lf_incident_times_t bad = {.level = 5, .awareness_ms = t0};
    lf_incident_deadlines_t d;
    assert_int_equal(lf_incident_deadlines(&r, &bad, &d), LF_EINVAL);
    bad.level = 0;
    assert_int_equal(lf_incident_deadlines(&r, &bad, &d), LF_EINVAL);
}

static void test_deadlines_across_midnight_utc8(void **state)
{
    lf_incident_rules_t r;
    lf_incident_rules_default(&r);
    /* Awareness at 23:30 Taipei on 03-10 is 15:30 UTC the same day. */
    int64_t t0 = tw(2026, 3, 10, 23, 30);
    lf_incident_times_t t = {.level = 3, .awareness_ms = t0};
    lf_incident_deadlines_t d;
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.report_ms, tw(2026, 3, 11, 0, 30));
    assert_int_equal(d.recovery_ms, tw(2026, 3, 12, 11, 30));
    /* Recovery at 23:59 Taipei on 01-31: the report is due 02-28 23:59 Taipei
     * (not 03-02, not a UTC date). */
    t.recovered_ms = tw(2026, 1, 31, 23, 59);
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.improvement_ms, tw(2026, 2, 28, 23, 59));
    /* Leap year. */
    assert_int_equal(lf_add_calendar_months(tw(2028, 1, 31, 0, 5), 1, 480), tw(2028, 2, 29, 0, 5));
    /* Across a year end, and 00:10 Taipei (the previous day in UTC). */
    assert_int_equal(lf_add_calendar_months(tw(2026, 12, 15, 0, 10), 1, 480),
                     tw(2027, 1, 15, 0, 10));
    assert_int_equal(lf_add_calendar_months(tw(2026, 3, 31, 12, 0), 1, 480),
                     tw(2026, 4, 30, 12, 0));
}

static void test_domain_example(void **state)
{
    /* domain.md §7: CH-07, webshell confirmed 03-10 09:40 (L2), reported
     * 10:15, raised to L3 at 21:00, re-reported 21:30, recovered 03-11 16:30. */
    lf_incident_rules_t r;
    lf_incident_rules_default(&r);
    int64_t t0 = tw(2026, 3, 10, 9, 40);
    lf_incident_times_t t = {.level = 2, .awareness_ms = t0};
    lf_incident_deadlines_t d;
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.report_ms, tw(2026, 3, 10, 10, 40));
    assert_int_equal(d.recovery_ms, tw(2026, 3, 13, 9, 40));
    t.reported_ms = tw(2026, 3, 10, 10, 15);
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.review_ms, tw(2026, 3, 10, 18, 15));

    /* 21:00: C/severe on a core asset -> L3. */
    lf_impact_t im[2] = {{.asset = LF_ASSET_CORE, .cia = {0, LF_SEVERITY_MINOR, 0}},
                         {.asset = LF_ASSET_CORE, .cia = {LF_SEVERITY_SEVERE, 0, 0}}};
    t.level = lf_incident_level(&r, im, 2);
    assert_int_equal(t.level, 3);
    t.level_changed_ms = tw(2026, 3, 10, 21, 0);
    t.reported_ms = tw(2026, 3, 10, 21, 30);
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.report_ms, tw(2026, 3, 10, 22, 0));
    assert_int_equal(d.review_ms, tw(2026, 3, 10, 23, 30));
    assert_int_equal(d.recovery_ms, tw(2026, 3, 11, 21, 40));

    /* Orange while open at L3 within its deadlines. */
    lf_light_incident_t in = {.level = 3,
                              .status = LF_STATUS_ACKNOWLEDGED,
                              .due = d,
                              .reported = true,
                              .reviewed = false};
    lf_light_agency_t ag = {.incidents = &in, .count = 1, .now_ms = tw(2026, 3, 10, 22, 0)};
    assert_int_equal(lf_light_agency(&ag), LF_LIGHT_ORANGE);
    /* Region: one confirmed agency, no step-up. */
    lf_light_t lights[3] = {LF_LIGHT_GREEN, lf_light_agency(&ag), LF_LIGHT_GREEN};
    assert_int_equal(lf_light_region(lights, 3, false), LF_LIGHT_ORANGE);
    /* Review missed at 23:31 while still open at L3: red. */
    ag.now_ms = tw(2026, 3, 10, 23, 31);
    assert_int_equal(lf_light_agency(&ag), LF_LIGHT_RED);
    /* Recovered 03-11 16:30: blue until the improvement report (due 04-11 16:30). */
    t.recovered_ms = tw(2026, 3, 11, 16, 30);
    assert_int_equal(lf_incident_deadlines(&r, &t, &d), LF_OK);
    assert_int_equal(d.improvement_ms, tw(2026, 4, 11, 16, 30));
    in.status = LF_STATUS_RECOVERED;
    in.reviewed = true;
    in.due = d;
    ag.now_ms = tw(2026, 3, 12, 9, 0);
    assert_int_equal(lf_light_agency(&ag), LF_LIGHT_BLUE);
    in.improvement_submitted = true;
    in.status = LF_STATUS_CLOSED;
    assert_int_equal(lf_light_agency(&ag), LF_LIGHT_GREEN);
}

static void test_agency_light_rows(void **state)
{
    int64_t now = tw(2026, 3, 10, 12, 0);
    lf_incident_deadlines_t future = {.report_ms = now + H, .recovery_ms = now + 10 * H};
    lf_incident_deadlines_t recovery_past = {.report_ms = now + H, .recovery_ms = now - 1};
    lf_incident_deadlines_t report_past = {.report_ms = now - 1, .recovery_ms = now + 10 * H};
    struct {
        lf_light_incident_t in[3];
        int n;
        bool untriaged, silent;
        lf_light_t want;
    } cases[] = {
        {{{.level = 4, .status = LF_STATUS_NEW, .due = future}}, 1, false, false, LF_LIGHT_RED},
        {{{.level = 3, .status = LF_STATUS_CONTAINED, .due = recovery_past}},
         1,
         false,
         false,
         LF_LIGHT_RED},
        {{{.level = 3, .status = LF_STATUS_NEW, .due = future}}, 1, false, false, LF_LIGHT_ORANGE},
        {{{.level = 1, .status = LF_STATUS_NEW, .due = recovery_past, .reported = true}},
         1,
         false,
         false,
         LF_LIGHT_ORANGE},
        {{{.level = 2, .status = LF_STATUS_NEW, .due = future}}, 1, false, false, LF_LIGHT_YELLOW},
        {{{.level = 1, .status = LF_STATUS_NEW, .due = future},
          {.level = 1, .status = LF_STATUS_ACKNOWLEDGED, .due = future},
          {.level = 1, .status = LF_STATUS_CONTAINED, .due = future}},
         3,
         false,
         false,
         LF_LIGHT_YELLOW},
        {{{.level = 1, .status = LF_STATUS_NEW, .due = report_past}},
         1,
         false,
         false,
         LF_LIGHT_YELLOW},
        {{{.level = 1, .status = LF_STATUS_NEW, .due = future, .in_cross_agency_cluster = true}},
         1,
         false,
         false,
         LF_LIGHT_YELLOW},
        {{{.level = 1, .status = LF_STATUS_NEW, .due = future}}, 1, false, false, LF_LIGHT_BLUE},
        {{{.level = 2,
           .status = LF_STATUS_RECOVERED,
           .due = future,
           .reported = true,
           .reviewed = true}},
         1,
         false,
         false,
         LF_LIGHT_BLUE},
        {{{0}}, 0, true, false, LF_LIGHT_BLUE},
        {{{.level = 4, .status = LF_STATUS_CLOSED, .due = future}},
         1,
         false,
         false,
         LF_LIGHT_GREEN},
        {{{0}}, 0, false, true, LF_LIGHT_GREY},
        {{{.level = 2, .status = LF_STATUS_NEW, .due = future}}, 1, false, true, LF_LIGHT_YELLOW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lf_light_agency_t ag = {.incidents = cases[i].in,
                                .count = cases[i].n,
                                .untriaged_high_alert = cases[i].untriaged,
                                .sources_silent = cases[i].silent,
                                .now_ms = now};
        lf_light_t got = lf_light_agency(&ag);
        if (got != cases[i].want)
            fail_msg("case %zu: %s, want %s", i, lf_light_name(got), lf_light_name(cases[i].want));
    }
}

static void test_region_light(void **state)
{
    lf_light_t a[] = {LF_LIGHT_GREEN, LF_LIGHT_YELLOW, LF_LIGHT_BLUE};
    assert_int_equal(lf_light_region(a, 3, false), LF_LIGHT_YELLOW);
    assert_int_equal(lf_light_region(a, 3, true), LF_LIGHT_ORANGE);
    lf_light_t r[] = {LF_LIGHT_RED, LF_LIGHT_GREEN};
    assert_int_equal(lf_light_region(r, 2, true), LF_LIGHT_RED);
    lf_light_t g[] = {LF_LIGHT_GREY, LF_LIGHT_GREY};
    assert_int_equal(lf_light_region(g, 2, false), LF_LIGHT_GREY);
    lf_light_t mix[] = {LF_LIGHT_GREY, LF_LIGHT_BLUE};
    assert_int_equal(lf_light_region(mix, 2, false), LF_LIGHT_BLUE);
    assert_int_equal(lf_light_region(NULL, 0, false), LF_LIGHT_GREEN);
    assert_string_equal(lf_light_name(LF_LIGHT_ORANGE), "orange");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_table_every_cell),
        cmocka_unit_test(test_level_is_max_over_assets_and_dimensions),
        cmocka_unit_test(test_deadlines_by_level),
        cmocka_unit_test(test_deadlines_across_midnight_utc8),
        cmocka_unit_test(test_domain_example),
        cmocka_unit_test(test_agency_light_rows),
        cmocka_unit_test(test_region_light),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
