/* The shipped starter pack: every rule loads without error, and every rule
 * has an event that must fire it and one that must not
 * (rules/sigma/tests/<rule file>.jsonl: {"rule", "match", "event"}). */
#include "sigma_test_util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>

#define PACK LF_SOURCE_DIR "/rules/sigma"

static lf_sigma_matcher_t *load_pack(diag_log_t *log)
{
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
    assert_int_equal(
        lf_sigma_load_mappings(set, LF_SOURCE_DIR "/rules/sigma-mappings", diag_collect, log),
        LF_OK);
    assert_int_equal(lf_sigma_load_placeholders(set, LF_SOURCE_DIR "/rules/placeholders.yaml",
                                                diag_collect, log),
                     LF_OK);
    lf_err_t rc = lf_sigma_load_dir(set, PACK, diag_collect, log);
    if (rc != LF_OK)
        fail_msg("starter pack: %s: %s", lf_err_name(rc), log->last);
    lf_sigma_load_stats_t st;
    lf_sigma_ruleset_stats(set, &st);
    assert_true(st.rules >= 8);
    assert_int_equal(st.skipped_unmapped, 0);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, log);
    assert_non_null(m);
    return m;
}

static void test_pack_loads_cleanly(void **state)
{
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = load_pack(&log);
    assert_int_equal(log.errors, 0);
    size_t n = lf_sigma_matcher_rule_count(m);
    for (size_t i = 0; i < n; i++) {
        const lf_sigma_rule_meta_t *r = lf_sigma_matcher_rule(m, i);
        assert_true(r->id[0] && r->title[0]);
        assert_true(r->level != LF_SIGMA_LEVEL_NONE);
        assert_true(r->attack_techniques.count > 0);
    }
    lf_sigma_matcher_unref(m);
}

/* Returns false when the event names a field this build does not know. */
static bool build_event(json_t *obj, lf_event_t *ev, const char **missing)
{
    lf_event_reset(ev);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        lf_field_id_t id = lf_field_lookup(key, strlen(key));
        if (id == LF_F_COUNT) {
            *missing = key;
            return false;
        }
        if (json_is_integer(v))
            lf_event_set_num(ev, id, (int64_t)json_integer_value(v));
        else if (json_is_string(v))
            lf_event_set_str(ev, id, lf_str_n(json_string_value(v), json_string_length(v)));
        else
            fail_msg("%s: values are strings or integers", key);
    }
    return true;
}

static void test_pack_positive_and_negative_events(void **state)
{
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = load_pack(&log);
    DIR *d = opendir(PACK "/tests");
    assert_non_null(d);
    struct dirent *de;
    int checked = 0, skipped = 0;
    size_t nrules = lf_sigma_matcher_rule_count(m);
    bool *pos = calloc(nrules, 1), *neg = calloc(nrules, 1);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".jsonl") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/%s", PACK, de->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[8192];
        int lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            if (line[0] == '\n' || line[0] == '#')
                continue;
            json_error_t jerr;
            json_t *t = json_loads(line, 0, &jerr);
            if (!t)
                fail_msg("%s:%d: %s", path, lineno, jerr.text);
            const char *rule = json_string_value(json_object_get(t, "rule"));
            json_t *want = json_object_get(t, "match");
            assert_non_null(rule);
            assert_true(json_is_boolean(want));
            lf_event_t ev;
            const char *missing = NULL;
            if (!build_event(json_object_get(t, "event"), &ev, &missing)) {
                print_message("skip %s:%d: field %s is not in this build's table\n", path, lineno,
                              missing);
                skipped++;
                json_decref(t);
                continue;
            }
            bool got = fires(m, &ev, rule);
            if (got != json_is_true(want))
                fail_msg("%s:%d: rule %s %s", path, lineno, rule,
                         got ? "fired but must not" : "did not fire");
            for (size_t i = 0; i < nrules; i++)
                if (strcmp(lf_sigma_matcher_rule(m, i)->id, rule) == 0)
                    (json_is_true(want) ? pos : neg)[i] = true;
            checked++;
            json_decref(t);
        }
        fclose(f);
    }
    closedir(d);
    print_message("checked %d events, skipped %d\n", checked, skipped);
    /* every rule has both a positive and a negative event (unless skipped) */
    if (skipped == 0)
        for (size_t i = 0; i < nrules; i++)
            if (!pos[i] || !neg[i])
                fail_msg("rule %s lacks a %s test event", lf_sigma_matcher_rule(m, i)->id,
                         pos[i] ? "negative" : "positive");
    assert_true(checked > 0);
    free(pos);
    free(neg);
    lf_sigma_matcher_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_loads_cleanly),
        cmocka_unit_test(test_pack_positive_and_negative_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
