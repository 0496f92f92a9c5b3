/* Sigma correlation throughput and memory per open window (figures only,
 * never pass/fail).
 *
 *   ninja -C build/release sigcorr_bench && build/release/bench/sigcorr_bench [hits] [groups]
 *
 * One event_count rule (group-by source.ip, 5 minutes, gte 500) over one
 * base rule; hits (default 1,000,000) spread round-robin over `groups`
 * source addresses (default 10,000), event time advancing 0.2 ms per hit,
 * so every group stays open below its threshold. Prints hits/s on one core,
 * open groups, and resident memory per open group (RSS growth / groups).
 * Then the same with state tracking on (as lianfangd runs it), taking the
 * changes every 1,000 hits. */
#include "lf_sigcorr.h"
#include "lf_sigma.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static void diag(const lf_sigma_diag_t *d, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s:%d: %s\n", d->file, d->line, d->message);
}

static char ipbuf[32];
static lf_str_t get_field(void *opaque, const char *field)
{
    long k = *(long *)opaque;
    if (strcmp(field, "source.ip") != 0)
        return lf_str_c("");
    int n = snprintf(ipbuf, sizeof ipbuf, "198.%ld.%ld.%ld", 18 + (k >> 16) % 2, (k >> 8) & 255,
                     k & 255);
    return lf_str_n(ipbuf, n > 0 ? (size_t)n : 0);
}

static void put_nothing(void *opaque, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    (void)val;
    *(size_t *)opaque += vlen;
}

static const char base_rule[] = "title: Failed login\nid: bench-failed\nname: failed_login\n"
                                "detection: {sel: {message|contains: failed}, condition: sel}\n";
static const char corr_rule[] =
    "title: Brute force\nid: bench-corr\nname: brute_force\n"
    "correlation:\n  type: event_count\n  rules: [bench-failed]\n"
    "  group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 500}\n";

static int run(long hits, long groups, bool track)
{
    lf_sigma_ruleset_t *ss = lf_sigma_ruleset_new(NULL);
    if (!ss ||
        lf_sigma_load_buffer(ss, "base.yml", base_rule, strlen(base_rule), diag, NULL) != LF_OK)
        return 1;
    lf_sigma_matcher_t *base = lf_sigma_compile(ss, diag, NULL);
    lf_sigcorr_options_t opts;
    lf_sigcorr_options_default(&opts);
    opts.max_groups = groups * 2;
    opts.track_changes = track;
    lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(&opts);
    if (!base || !set ||
        lf_sigcorr_load_buffer(set, "corr.yml", corr_rule, strlen(corr_rule), diag, NULL) != LF_OK)
        return 1;
    lf_sigcorr_t *c = lf_sigcorr_new(set, base, diag, NULL);
    if (!c)
        return 1;
    long before = rss_bytes();
    const int64_t t0 = 1773104520000LL;
    long k = 0;
    size_t state_bytes = 0;
    lf_sigcorr_hit_t hit = {
        .rule_id = "bench-failed", .rule_name = "failed_login", .get = get_field, .opaque = &k};
    double start = now_s();
    for (long i = 0; i < hits; i++) {
        k = i % groups;
        hit.time_ms = t0 + i / 5;
        if (lf_sigcorr_feed(c, &hit, NULL, NULL) < 0) {
            fprintf(stderr, "out of memory after %ld hits\n", i);
            return 1;
        }
        if (track && i % 1000 == 999) {
            state_bytes = 0;
            lf_sigcorr_take_changes(c, put_nothing, &state_bytes);
        }
    }
    double secs = now_s() - start;
    lf_sigcorr_stats_t st;
    lf_sigcorr_stats(c, &st);
    long grown = rss_bytes() - before;
    printf("%s: %ld hits over %ld groups in %.2f s: %.0f hits/s (one core); %zu open groups, "
           "%.0f bytes resident per open group; %llu alerts\n",
           track ? "with state tracking" : "in memory only", hits, groups, secs,
           (double)hits / secs, st.groups, st.groups ? (double)grown / (double)st.groups : 0.0,
           (unsigned long long)st.alerts);
    if (track)
        printf("  last take of 1,000 hits wrote %zu bytes of window state\n", state_bytes);
    lf_sigcorr_free(c);
    lf_sigma_matcher_unref(base);
    return 0;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long hits = argc > 1 ? strtol(argv[1], &end, 10) : 1000000;
    if (end && *end)
        hits = -1;
    end = NULL;
    long groups = argc > 2 ? strtol(argv[2], &end, 10) : 10000;
    if (end && *end)
        groups = -1;
    if (hits <= 0 || groups <= 0) {
        fprintf(stderr, "usage: sigcorr_bench [hits > 0] [groups > 0]\n");
        return 2;
    }
    return run(hits, groups, false) || run(hits, groups, true);
}
