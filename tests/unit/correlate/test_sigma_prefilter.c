/* Prefilter correctness: for generated rules and events, the prefiltered
 * engine reports exactly the rules the naive rule-by-rule evaluator does. */
#include "sigma_test_util.h"

#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const words[] = {
    "alpha",  "beta",   "gamma",   "delta",  "sshd",       "sudo", "root",   "admin",
    "failed", "passwd", "invalid", "user",   "powershell", "-enc", "/c",     "cmd.exe",
    "whoami", "curl",   "wget",    "http",   "10.1.2.3",   "nmap", "sqlmap", "nikto",
    "select", "union",  "etc",     "shadow", "ab",         "a",    "zz",     "x-y",
};
#define NWORDS (sizeof words / sizeof *words)
static const char *const fields[] = {"message", "process.name", "host.name", "event.original",
                                     "agent.id"};
#define NFIELDS (sizeof fields / sizeof *fields)

static void add(char **p, size_t *left, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char **p, size_t *left, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*p, *left, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= *left)
        fail_msg("generator buffer too small");
    *p += n;
    *left -= (size_t)n;
}

static void gen_value(char **p, size_t *left, bool glob)
{
    const char *w = words[rnd(NWORDS)];
    if (glob && rnd(3) == 0)
        add(p, left, "'%s*%s'", w, words[rnd(NWORDS)]);
    else if (glob && rnd(5) == 0)
        add(p, left, "'%.*s?%s'", (int)(strlen(w) > 1 ? 1 : 0), w, strlen(w) > 1 ? w + 2 : "");
    else
        add(p, left, "'%s'", w);
}

static void gen_item(char **p, size_t *left)
{
    static const char *const mods[] = {
        "",          "|contains",       "|startswith", "|endswith",         "|contains|all",
        "|re",       "|cased|contains", "|neq",        "|windash|contains", "|exists",
        "|contains", "|contains"};
    const char *f = fields[rnd(NFIELDS)];
    const char *mod = mods[rnd(sizeof mods / sizeof *mods)];
    add(p, left, "      %s%s: ", f, mod);
    if (strcmp(mod, "|exists") == 0) {
        add(p, left, "%s\n", rnd(2) ? "true" : "false");
        return;
    }
    if (strcmp(mod, "|re") == 0) {
        add(p, left, "'%s.*%s'\n", words[rnd(8)], words[rnd(8)]);
        return;
    }
    uint32_t n = 1 + rnd(3);
    bool glob = mod[0] == '\0';
    if (n == 1 && strcmp(mod, "|contains|all") != 0) {
        gen_value(p, left, glob);
        add(p, left, "\n");
        return;
    }
    add(p, left, "[");
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            add(p, left, ", ");
        gen_value(p, left, glob);
    }
    add(p, left, "]\n");
}

static void gen_rule(char **p, size_t *left, int id)
{
    add(p, left, "title: r%d\nid: r%d\ndetection:\n", id, id);
    uint32_t nsel = 1 + rnd(3);
    for (uint32_t s = 0; s < nsel; s++) {
        add(p, left, "  sel%u:\n", s);
        if (rnd(6) == 0) { /* keywords */
            add(p, left, "    - '%s'\n    - '%s'\n", words[rnd(NWORDS)], words[rnd(NWORDS)]);
            continue;
        }
        uint32_t nmaps = rnd(4) == 0 ? 2 : 1;
        for (uint32_t mi = 0; mi < nmaps; mi++) {
            add(p, left, "    -\n");
            uint32_t nitems = 1 + rnd(3);
            for (uint32_t i = 0; i < nitems; i++)
                gen_item(p, left);
        }
    }
    static const char *const conds[] = {"sel0",      "sel0 and sel1", "sel0 or not sel1",
                                        "1 of sel*", "all of sel*",   "(sel0 or sel1) and not sel2",
                                        "not sel0",  "2 of them"};
    const char *c;
    do {
        c = conds[rnd(sizeof conds / sizeof *conds)];
    } while ((strstr(c, "sel2") && nsel < 3) || (strstr(c, "sel1") && nsel < 2) ||
             (strstr(c, "2 of") && nsel < 2));
    add(p, left, "  condition: '%s'\n---\n", c);
}

static bool collect_index(const lf_sigma_rule_meta_t *r, void *ud)
{
    uint32_t *list = ud;
    list[1 + list[0]++] = r->index;
    return true;
}

static void test_prefilter_equals_naive(void **state)
{
    const int nrules = 600;
    size_t cap = (size_t)nrules * 1024;
    char *text = malloc(cap), *p = text;
    size_t left = cap;
    for (int i = 0; i < nrules; i++)
        gen_rule(&p, &left, i);
    diag_log_t log = {0};
    if (getenv("SIGMA_DUMP")) {
        FILE *f = fopen(getenv("SIGMA_DUMP"), "w");
        fputs(text, f);
        fclose(f);
    }
    lf_sigma_matcher_t *m = compile_text(NULL, NULL, text, &log);
    free(text);
    if (log.errors)
        fail_msg("generated rule failed: %s", log.last);
    assert_int_equal(lf_sigma_matcher_rule_count(m), nrules);
    lf_sigma_matcher_stats_t st;
    lf_sigma_matcher_stats(m, &st);
    print_message("rules %zu, prefiltered %zu, unfiltered %zu, literals %zu, states %zu\n",
                  st.rules, st.prefiltered, st.unfiltered, st.literals, st.automaton_states);
    assert_true(st.prefiltered > st.rules / 3);
    lf_sigma_scratch_t *s = lf_sigma_scratch_new();
    uint32_t *a = malloc((nrules + 1) * sizeof *a), *b = malloc((nrules + 1) * sizeof *b);
    char buf[NFIELDS][256];
    size_t total = 0;
    for (int e = 0; e < 4000; e++) {
        lf_event_t ev;
        lf_event_reset(&ev);
        for (size_t f = 0; f < NFIELDS; f++) {
            if (rnd(4) == 0)
                continue;
            char *q = buf[f];
            size_t l = sizeof buf[f];
            q[0] = 0;
            uint32_t nw = rnd(7);
            for (uint32_t w = 0; w < nw; w++) {
                const char *word = words[rnd(NWORDS)];
                int n = snprintf(q, l, "%s%s", w ? (rnd(3) ? " " : "") : "", word);
                /* random case changes */
                for (int c = 0; c < n; c++)
                    if (rnd(4) == 0 && q[c] >= 'a' && q[c] <= 'z')
                        q[c] = (char)(q[c] - 32);
                q += n;
                l -= (size_t)n;
            }
            set_s(&ev, fields[f], buf[f]);
        }
        a[0] = b[0] = 0;
        int na = lf_sigma_match(m, &ev, s, collect_index, a);
        int nb = lf_sigma_match_naive(m, &ev, s, collect_index, b);
        assert_int_equal(na, nb);
        assert_int_equal(a[0], b[0]);
        for (uint32_t i = 1; i <= a[0]; i++)
            if (a[i] != b[i])
                fail_msg("event %d: prefilter rule %u, naive rule %u", e, a[i], b[i]);
        total += (size_t)na;
    }
    print_message("matches over 4000 events: %zu\n", total);
    assert_true(total > 100);
    free(a);
    free(b);
    lf_sigma_scratch_free(s);
    lf_sigma_matcher_unref(m);
}

static void test_automaton_overlaps(void **state)
{
    /* overlapping and nested literals: every one must be reported */
    const char *rules = "title: a\nid: a\ndetection:\n  s:\n    message|contains: 'abcabd'\n"
                        "  condition: s\n---\n"
                        "title: b\nid: b\ndetection:\n  s:\n    message|contains: 'cab'\n"
                        "  condition: s\n---\n"
                        "title: c\nid: c\ndetection:\n  s:\n    message|contains: 'bcab'\n"
                        "  condition: s\n---\n"
                        "title: d\nid: d\ndetection:\n  s:\n    message|endswith: 'abd'\n"
                        "  condition: s\n---\n"
                        "title: e\nid: e\ndetection:\n  s:\n    message|contains: 'ABCABC'\n"
                        "  condition: s\n";
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = compile_text(NULL, NULL, rules, &log);
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "message", "xxABCABCABD");
    assert_true(fires(m, &ev, "a"));
    assert_true(fires(m, &ev, "b"));
    assert_true(fires(m, &ev, "c"));
    assert_true(fires(m, &ev, "d"));
    assert_true(fires(m, &ev, "e"));
    set_s(&ev, "message", "abcab");
    assert_false(fires(m, &ev, "a"));
    assert_true(fires(m, &ev, "b"));
    lf_sigma_matcher_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefilter_equals_naive),
        cmocka_unit_test(test_automaton_overlaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
