/* sigma_test_util.h - helpers shared by the Sigma unit tests. */
#ifndef SIGMA_TEST_UTIL_H
#define SIGMA_TEST_UTIL_H

#include "lf_sigma.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct diag_log {
    int errors, warnings;
    char last[1024];
    int last_line;
} diag_log_t;

static inline void diag_collect(const lf_sigma_diag_t *d, void *ud)
{
    diag_log_t *log = ud;
    if (d->severity == LF_SIGMA_ERROR)
        log->errors++;
    else
        log->warnings++;
    snprintf(log->last, sizeof log->last, "%s:%d:%d: %s: %s", d->file, d->line, d->column,
             d->rule_id, d->message);
    log->last_line = d->line;
    if (getenv("SIGMA_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", log->last);
}

/* Compiles rules (and an optional mapping and placeholder text). */
static inline lf_sigma_matcher_t *compile_text(const char *mapping, const char *placeholders,
                                               const char *rules, diag_log_t *log)
{
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
    assert_non_null(set);
    if (mapping)
        lf_sigma_load_mappings_buffer(set, "mapping.yml", mapping, strlen(mapping), diag_collect,
                                      log);
    if (placeholders)
        lf_sigma_load_placeholders_buffer(set, "placeholders.yml", placeholders,
                                          strlen(placeholders), diag_collect, log);
    lf_sigma_load_buffer(set, "rules.yml", rules, strlen(rules), diag_collect, log);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, diag_collect, log);
    assert_non_null(m);
    return m;
}

static inline lf_field_id_t fid(const char *path)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    if (id == LF_F_COUNT)
        fail_msg("field %s is not in the field table", path);
    return id;
}

static inline void set_s(lf_event_t *ev, const char *path, const char *v)
{
    lf_event_set_str(ev, fid(path), lf_str_c(v));
}

typedef struct hits {
    char ids[64][64];
    int n;
} hits_t;

static inline bool collect_hit(const lf_sigma_rule_meta_t *r, void *ud)
{
    hits_t *h = ud;
    if (h->n < 64)
        snprintf(h->ids[h->n++], sizeof h->ids[0], "%s", r->id[0] ? r->id : r->title);
    return true;
}

/* Matches with both engines, checks they agree, and returns whether the
 * rule with this id fired. */
static inline bool fires(const lf_sigma_matcher_t *m, const lf_event_t *ev, const char *id)
{
    lf_sigma_scratch_t *s = lf_sigma_scratch_new();
    assert_non_null(s);
    hits_t a = {0}, b = {0};
    int na = lf_sigma_match(m, ev, s, collect_hit, &a);
    int nb = lf_sigma_match_naive(m, ev, s, collect_hit, &b);
    lf_sigma_scratch_free(s);
    assert_true(na >= 0);
    assert_int_equal(na, nb);
    for (int i = 0; i < a.n; i++)
        assert_string_equal(a.ids[i], b.ids[i]);
    for (int i = 0; i < a.n; i++)
        if (strcmp(a.ids[i], id) == 0)
            return true;
    return false;
}

#endif
