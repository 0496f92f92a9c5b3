/* Malformed rules, regex bombs and limits: a clear error with file and line,
 * bounded time, and the other rules keep working. */
#include "sigma_test_util.h"

#include <stdlib.h>
#include <time.h>

static lf_sigma_matcher_t *load(const char *text, diag_log_t *log)
{
    *log = (diag_log_t){0};
    return compile_text(NULL, NULL, text, log);
}

static void expect_error(const char *text, const char *needle)
{
    diag_log_t log;
    lf_sigma_matcher_t *m = load(text, &log);
    if (log.errors != 1 || !strstr(log.last, needle))
        fail_msg("expected one error with '%s', got %d: %s", needle, log.errors, log.last);
    assert_int_equal(lf_sigma_matcher_rule_count(m), 0);
    lf_sigma_matcher_unref(m);
}

#define RULE(det) "title: t\nid: bad\ndetection:\n" det

static void test_yaml_syntax_error_has_position(void **state)
{
    diag_log_t log;
    lf_sigma_matcher_t *m = load("title: t\ndetection:\n  sel: [unclosed\n", &log);
    assert_int_equal(log.errors, 1);
    assert_true(log.last_line >= 3);
    assert_non_null(strstr(log.last, "rules.yml:"));
    lf_sigma_matcher_unref(m);
}

static void test_bad_rule_is_skipped_others_load(void **state)
{
    diag_log_t log;
    lf_sigma_matcher_t *m = load("title: one\nid: one\ndetection:\n  sel:\n    message: a\n"
                                 "  condition: sel\n"
                                 "---\n"
                                 "title: two\nid: two\ndetection:\n  sel:\n"
                                 "    message|nosuchmod: a\n  condition: sel\n"
                                 "---\n"
                                 "title: three\nid: three\ndetection:\n  sel:\n    message: b\n"
                                 "  condition: sel\n",
                                 &log);
    assert_int_equal(log.errors, 1);
    assert_int_equal(log.last_line, 12);
    assert_non_null(strstr(log.last, "nosuchmod"));
    assert_non_null(strstr(log.last, ":two:") ? strstr(log.last, ":two:")
                                              : strstr(log.last, "two"));
    assert_int_equal(lf_sigma_matcher_rule_count(m), 2);
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "message", "b");
    assert_true(fires(m, &ev, "three"));
    lf_sigma_matcher_unref(m);
}

static void test_condition_errors(void **state)
{
    const char *sel = "  sel:\n    message: a\n";
    struct {
        const char *cond, *needle;
    } cases[] = {
        {"nope", "unknown search identifier 'nope'"},
        {"sel and", "expression expected"},
        {"(sel", "')' expected"},
        {"sel)", "unexpected ')'"},
        {"sel | count() > 5", "aggregation"},
        {"1 of nothing*", "matches no search identifier"},
        {"sel sel", "unexpected 'sel'"},
        {"0 of them", "at least 1"},
        {"and sel", "unexpected 'and'"},
        {"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((sel)))))))))"
         ")))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
         "too deep"},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text, RULE("%s  condition: '%s'\n"), sel, cases[i].cond);
        expect_error(text, cases[i].needle);
    }
    expect_error(RULE("  sel:\n    message: a\n"), "no condition");
    expect_error("title: t\ndetection: 5\n", "detection must be a map");
    expect_error("title: t\nlogsource: [a]\ndetection:\n  sel: {a: b}\n  condition: sel\n",
                 "logsource must be a map");
    expect_error("detection:\n  sel: {a: b}\n  condition: sel\n", "title is missing");
    expect_error("- a\n- b\n", "must be a map");
    expect_error("title: t\n", "neither a rule");
}

static void test_value_errors(void **state)
{
    expect_error(RULE("  sel:\n    message|re: 'a(b'\n  condition: sel\n"), "regular expression");
    expect_error(RULE("  sel:\n    message|base64: 'a*'\n  condition: sel\n"), "wildcards");
    expect_error(RULE("  sel:\n    message|cidr: '10.0.0.0/33'\n  condition: sel\n"), "cidr");
    expect_error(RULE("  sel:\n    message|cidr: 'x'\n  condition: sel\n"), "cidr");
    expect_error(RULE("  sel:\n    message|gt: 'ten'\n  condition: sel\n"), "not a number");
    expect_error(RULE("  sel:\n    message|exists: maybe\n  condition: sel\n"), "true or false");
    expect_error(RULE("  sel:\n    message|hour: 'x'\n  condition: sel\n"), "not an integer");
    expect_error(RULE("  sel:\n    message|i: 'x'\n  condition: sel\n"), "need 're'");
    expect_error(RULE("  sel:\n    message|re|cidr: 'x'\n  condition: sel\n"), "combined");
    expect_error(RULE("  sel:\n    message|windash|re: 'x'\n  condition: sel\n"), "combined");
    expect_error(RULE("  sel:\n    message: []\n  condition: sel\n"), "empty value list");
    expect_error(RULE("  sel:\n    message: {a: b}\n  condition: sel\n"), "cannot be a map");
    expect_error(RULE("  sel:\n    - [a, b]\n  condition: sel\n"), "nested lists");
    expect_error(RULE("  sel:\n    '|exists': true\n  condition: sel\n"), "exists needs a field");
    expect_error(RULE("  sel: {}\n  condition: sel\n"), "empty");
    expect_error(RULE("  sel: null\n  condition: sel\n"), "empty");
    /* windash over many dashes is refused instead of exploding */
    expect_error(RULE("  sel:\n    message|windash: ' -a -b -c -d -e -f -g'\n  condition: sel\n"),
                 "variants");
}

static void test_yaml_bombs_refused(void **state)
{
    expect_error("title: t\nid: x\na: &a [1, 2]\nb: *a\n", "aliases");
    char deep[4096] = "title: t\ndetection: ";
    size_t n = strlen(deep);
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = 0;
    expect_error(deep, "nesting");
}

static void test_regex_bomb_is_bounded(void **state)
{
    for (int jit = 0; jit < 2; jit++) {
        lf_sigma_options_t opts;
        lf_sigma_options_default(&opts);
        opts.regex_jit = jit;
        lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&opts);
        const char *text = "title: bomb\nid: bomb\ndetection:\n  sel:\n"
                           "    message|re: '^(a+)+$'\n  condition: sel\n---\n"
                           "title: other\nid: other\ndetection:\n  sel:\n"
                           "    message|contains: '!'\n  condition: sel\n";
        diag_log_t log = {0};
        assert_int_equal(lf_sigma_load_buffer(set, "b.yml", text, strlen(text), diag_collect, &log),
                         LF_OK);
        lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, &log);
        char msg[4096];
        memset(msg, 'a', sizeof msg - 2);
        msg[sizeof msg - 2] = '!';
        msg[sizeof msg - 1] = 0;
        lf_event_t ev;
        lf_event_reset(&ev);
        set_s(&ev, "message", msg);
        lf_sigma_scratch_t *s = lf_sigma_scratch_new();
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        hits_t h = {0};
        int n = lf_sigma_match(m, &ev, s, collect_hit, &h);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_int_equal(n, 1);
        assert_string_equal(h.ids[0], "other");
        assert_true(lf_sigma_scratch_regex_limit_hits(s) >= 1);
        if (secs > 2.0)
            fail_msg("regex bomb took %.2f s (jit %d)", secs, jit);
        lf_sigma_scratch_free(s);
        lf_sigma_matcher_unref(m);
    }
}

static void test_limits(void **state)
{
    lf_sigma_options_t opts;
    lf_sigma_options_default(&opts);
    opts.max_file_bytes = 1024;
    opts.max_rules = 1;
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&opts);
    diag_log_t log = {0};
    char big[2048];
    memset(big, '#', sizeof big);
    assert_int_equal(lf_sigma_load_buffer(set, "big.yml", big, sizeof big, diag_collect, &log),
                     LF_EFULL);
    assert_int_equal(log.errors, 1);
    const char *two = "title: a\ndetection:\n  s: x\n  condition: s\n---\n"
                      "title: b\ndetection:\n  s: y\n  condition: s\n";
    assert_int_equal(lf_sigma_load_buffer(set, "two.yml", two, strlen(two), diag_collect, &log),
                     LF_EPARSE);
    assert_non_null(strstr(log.last, "more than 1 rules"));
    lf_sigma_load_stats_t st;
    lf_sigma_ruleset_stats(set, &st);
    assert_int_equal(st.rules, 1);
    lf_sigma_ruleset_free(set);
}

static void test_missing_path_is_eio(void **state)
{
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
    diag_log_t log = {0};
    assert_int_equal(lf_sigma_load_dir(set, "/nonexistent/sigma", diag_collect, &log), LF_EIO);
    assert_int_equal(log.errors, 1);
    assert_non_null(strstr(log.last, "/nonexistent/sigma"));
    lf_sigma_ruleset_free(set);
}

static void test_logsource_and_documents(void **state)
{
    const char *mapping = "logsources:\n  - name: linux-auth\n    product: linux\n"
                          "    service: auth\n    events:\n      process.name: [sshd, sudo]\n"
                          "    fields:\n      Host: host.name\n";
    const char *rules = "title: mapped\nid: mapped\nlogsource: {product: linux, service: auth}\n"
                        "detection:\n  sel:\n    Host: web01\n  condition: sel\n---\n"
                        "title: unmapped\nid: unmapped\nlogsource: {product: zos}\n"
                        "detection:\n  sel:\n    x: y\n  condition: sel\n---\n"
                        "title: corr\ncorrelation:\n  type: event_count\n---\n"
                        "title: f\nid: f1\nlogsource: {product: linux}\nfilter:\n"
                        "  rules: [no-such-rule]\n  sel:\n    message: x\n  condition: sel\n";
    diag_log_t log = {0};
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
    lf_sigma_load_mappings_buffer(set, "m.yml", mapping, strlen(mapping), diag_collect, &log);
    lf_sigma_load_buffer(set, "r.yml", rules, strlen(rules), diag_collect, &log);
    lf_sigma_load_stats_t st;
    lf_sigma_ruleset_stats(set, &st);
    assert_int_equal(st.rules, 1);
    assert_int_equal(st.filters, 1);
    assert_int_equal(st.skipped_unmapped, 1);
    assert_int_equal(st.skipped_correlation, 1);
    assert_int_equal(log.errors, 0);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, &log);
    assert_non_null(strstr(log.last, "no-such-rule"));
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "host.name", "WEB01");
    set_s(&ev, "process.name", "sshd");
    assert_true(fires(m, &ev, "mapped"));
    set_s(&ev, "process.name", "nginx"); /* not an auth event: the logsource gate stops it */
    assert_false(fires(m, &ev, "mapped"));
    lf_sigma_matcher_unref(m);
}

static void test_filters_apply_and_not(void **state)
{
    const char *rules = "title: r\nid: r\nname: failed_login\ndetection:\n  sel:\n"
                        "    message|contains: failed\n  condition: sel\n---\n"
                        "title: tune out the scanner host\nid: f\nfilter:\n"
                        "  rules: [failed_login]\n  scanner:\n    host.name: scanner01\n"
                        "  condition: scanner\n";
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = compile_text(NULL, NULL, rules, &log);
    assert_int_equal(log.errors + log.warnings, 0);
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "message", "Failed password");
    set_s(&ev, "host.name", "web01");
    assert_true(fires(m, &ev, "r"));
    set_s(&ev, "host.name", "SCANNER01");
    assert_false(fires(m, &ev, "r"));
    lf_sigma_matcher_unref(m);
}

static void test_metadata(void **state)
{
    const char *rules = "title: Meta\nid: 5b0b7f7e-0000-4000-8000-000000000001\nstatus: test\n"
                        "level: critical\nauthor: SOC\ndate: 2025-01-01\n"
                        "tags: [attack.credential-access, attack.t1110.001, attack.TA0001, "
                        "attack.g0007, car.2016-04-004]\n"
                        "references: ['https://example.org/a']\nfalsepositives: [admins]\n"
                        "logsource: {product: linux}\n"
                        "detection:\n  sel: x\n  condition: sel\n";
    lf_sigma_options_t opts;
    lf_sigma_options_default(&opts);
    opts.strict_logsource = false;
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&opts);
    diag_log_t log = {0};
    lf_sigma_load_buffer(set, "meta.yml", rules, strlen(rules), diag_collect, &log);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, &log);
    const lf_sigma_rule_meta_t *r = lf_sigma_matcher_rule(m, 0);
    assert_non_null(r);
    assert_string_equal(r->title, "Meta");
    assert_int_equal(r->level, LF_SIGMA_LEVEL_CRITICAL);
    assert_string_equal(r->level_name, "critical");
    assert_string_equal(r->status, "test");
    assert_string_equal(r->product, "linux");
    assert_string_equal(r->file, "meta.yml");
    assert_int_equal(r->line, 1);
    assert_int_equal(r->tags.count, 5);
    assert_int_equal(r->attack_techniques.count, 1);
    assert_string_equal(r->attack_techniques.items[0], "T1110.001");
    assert_int_equal(r->attack_tactics.count, 2);
    assert_string_equal(r->attack_tactics.items[0], "TA0006");
    assert_string_equal(r->attack_tactics.items[1], "TA0001");
    assert_int_equal(r->references.count, 1);
    assert_string_equal(r->falsepositives.items[0], "admins");
    assert_null(lf_sigma_matcher_rule(m, 1));
    lf_sigma_matcher_unref(m);
}

static void test_matcher_refcount_and_reload(void **state)
{
    diag_log_t log = {0};
    lf_sigma_matcher_t *a =
        compile_text(NULL, NULL, "title: a\nid: a\ndetection:\n  s: alpha\n  condition: s\n", &log);
    lf_sigma_matcher_t *b =
        compile_text(NULL, NULL,
                     "title: b\nid: b\ndetection:\n  s: beta\n  condition: s\n---\n"
                     "title: c\nid: c\ndetection:\n  s: gamma\n  condition: s\n",
                     &log);
    lf_sigma_scratch_t *s = lf_sigma_scratch_new();
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "message", "alpha beta gamma");
    lf_sigma_matcher_t *held = lf_sigma_matcher_ref(a);
    assert_int_equal(lf_sigma_match(a, &ev, s, NULL, NULL), 1);
    /* one scratch serves every matcher it is given */
    assert_int_equal(lf_sigma_match(b, &ev, s, NULL, NULL), 2);
    lf_sigma_matcher_unref(a);
    assert_int_equal(lf_sigma_match(held, &ev, s, NULL, NULL), 1);
    lf_sigma_matcher_unref(held);
    lf_sigma_matcher_unref(b);
    lf_sigma_matcher_unref(NULL);
    lf_sigma_scratch_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_syntax_error_has_position),
        cmocka_unit_test(test_bad_rule_is_skipped_others_load),
        cmocka_unit_test(test_condition_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_yaml_bombs_refused),
        cmocka_unit_test(test_regex_bomb_is_bounded),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_missing_path_is_eio),
        cmocka_unit_test(test_logsource_and_documents),
        cmocka_unit_test(test_filters_apply_and_not),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_matcher_refcount_and_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
