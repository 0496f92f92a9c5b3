/* Fuzz target: the Sigma correlation-rule loader (documents, conditions,
 * timespans, aliases, references, cycles), then a few hits, an advance and
 * a take/restore round trip through the state format; the input is also
 * offered as a persisted state value of every loaded rule. */
#include "lf_sigcorr.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] = "title: A\nid: a\nname: rule_a\n"
                           "detection: {s: {message|contains: x}, condition: s}\n"
                           "---\n"
                           "title: B\nid: b\nname: rule_b\n"
                           "detection: {s: {message|contains: y}, condition: s}\n";

static lf_str_t get(void *opaque, const char *field)
{
    static const char *const kv[][2] = {{"source.ip", "10.0.0.1"},
                                        {"user.name", "root"},
                                        {"bytes", "1500"},
                                        {"ms", "12.5"},
                                        {"host.name", "pc1"}};
    const int *n = opaque;
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        if (!strcmp(kv[i][0], field))
            return lf_str_c(i == 1 && (*n & 1) ? "admin" : kv[i][1]);
    return (*n & 2) ? lf_str_c(field) : LF_STR_NULL;
}

typedef struct ctx {
    lf_sigcorr_t *other;
    int restored;
} ctx_t;

static void put(void *opaque, const void *key, size_t klen, const void *val, size_t vlen)
{
    ctx_t *x = opaque;
    if (val && lf_sigcorr_restore(x->other, key, klen, val, vlen) == LF_OK)
        x->restored++;
}

static lf_sigcorr_t *build(lf_sigma_matcher_t *m, const uint8_t *data, size_t size)
{
    lf_sigcorr_options_t opts;
    lf_sigcorr_options_default(&opts);
    opts.max_values = 64;
    opts.max_groups = 64;
    lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(&opts);
    if (!set)
        return NULL;
    lf_sigcorr_load_buffer(set, "fuzz", (const char *)data, size, NULL, NULL);
    return lf_sigcorr_new(set, m, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lf_sigma_ruleset_t *bs = lf_sigma_ruleset_new(NULL);
    if (!bs)
        return 0;
    lf_sigma_load_buffer(bs, "base", base, sizeof base - 1, NULL, NULL);
    lf_sigma_matcher_t *m = lf_sigma_compile(bs, NULL, NULL);
    if (!m)
        return 0;
    lf_sigcorr_t *c = build(m, data, size), *d = build(m, data, size);
    if (c && d) {
        int64_t t = 1773106920000LL;
        for (int i = 0; i < 12; i++) {
            int n = i;
            lf_sigcorr_hit_t h = {.rule_id = i % 3 ? "a" : "b",
                                  .rule_name = i % 3 ? "rule_a" : "rule_b",
                                  .time_ms = t + (i % 5) * 7000 - (i % 4) * 3000,
                                  .get = get,
                                  .opaque = &n};
            lf_sigcorr_feed(c, &h, NULL, NULL);
        }
        lf_sigcorr_advance(c, t + 61000, NULL, NULL);
        ctx_t x = {.other = d};
        lf_sigcorr_take_changes(c, put, &x);
        lf_sigcorr_discard_changes(c);
        lf_sigcorr_transfer(d, c);
        /* the input as a stored value of every rule */
        for (size_t i = 0; i < lf_sigcorr_rule_count(d); i++) {
            uint8_t key[LF_SIGCORR_MAX_KEY] = {0};
            const char *rk = lf_sigcorr_rule(d, i)->key;
            size_t n = strlen(rk);
            memcpy(key, rk, n);
            if (size >= 16)
                memcpy(key + n + 1, data, 16);
            lf_sigcorr_restore(d, key, n + 17, data, size);
        }
        lf_sigcorr_take_changes(d, NULL, NULL);
    }
    lf_sigcorr_free(c);
    lf_sigcorr_free(d);
    lf_sigma_matcher_unref(m);
    return 0;
}
