/* Incident grouping and joint-defence throughput (figures only, never
 * pass/fail).
 *
 *   ninja -C build/release incident_bench && build/release/bench/incident_bench [alerts] [keys]
 *
 * Opens a store in a temporary directory (sync off, as a bulk figure),
 * loads the shipped region model and stores N alerts (default 200,000)
 * spread over K open grouping keys (default 10,000: agency x rule x source
 * IP) in batches of 1,000 alerts per transaction, each alert grouped into
 * its incident and counted for joint defence. Prints alerts/s on one core,
 * the incidents opened, regional alerts raised, and store bytes per open
 * incident. */
#include "lf_incidents.h"
#include "lf_store.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs one configuration; returns 0 when it completed. share: how many
 * consecutive keys (of different agencies) share one source IP. */
static int run(long n, long keys, long burst, long share)
{
    char dir[] = "/tmp/lf-incident-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char err[512] = "";
    lf_store_config_t scfg = {
        .path = dir, .map_size = 8LL << 30, .max_readers = 126, .sync = false};
    lf_store_t *st;
    if (lf_store_open(&scfg, NULL, &st, err, sizeof err) != LF_OK) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    lf_incidents_config_t cfg = {0};
    lf_config_set_defaults(lf_incidents_config_options, &cfg, err, sizeof err);
    free(cfg.regions_file);
    cfg.regions_file = strdup(LF_SOURCE_DIR "/rules/regions/taiwan.yaml");
    lf_incidents_t *inc;
    if (lf_incidents_new(&cfg, st, &inc, err, sizeof err) != LF_OK) {
        fprintf(stderr, "incidents: %s\n", err);
        return 1;
    }
    const lf_region_model_t *m = lf_incidents_regions(inc);
    const char *agencies[64];
    size_t na = 0;
    for (size_t r = 0; r < m->region_count; r++)
        for (size_t a = 0; a < m->regions[r].agency_count && na < 64; a++)
            agencies[na++] = m->regions[r].agencies[a].id;
    static const char *const rules[] = {"ssh-brute", "web-scan", "webshell", "fw-deny"};
    static const char *tactics[] = {"TA0006"};
    const int64_t t0 = 1773104520000LL;
    double start = now();
    long done = 0;
    lf_err_t rc = LF_OK;
    while (done < n && rc == LF_OK) {
        lf_store_batch_t *b;
        if ((rc = lf_store_batch_begin(st, &b)) != LF_OK)
            break;
        for (int i = 0; i < 1000 && done < n && rc == LF_OK; i++, done++) {
            long k = (done / burst) % keys;
            char ip[32];
            long ipn = k / share;
            snprintf(ip, sizeof ip, "198.%ld.%ld.%ld", 18 + (ipn >> 16) % 2, (ipn >> 8) & 255,
                     ipn & 255);
            uint64_t id = lf_store_batch_next_alert_id(b);
            lf_store_alert_in_t in = {.timestamp_ms = t0 + done,
                                      .agency = lf_str_c(agencies[k % (long)na]),
                                      .rule_id = lf_str_c(rules[(k / (long)na) % 4]),
                                      .level = 2,
                                      .doc = "{}",
                                      .doc_len = 2};
            if ((rc = lf_store_batch_put_alert(b, &in)) != LF_OK)
                break;
            lf_incident_alert_t a = {.alert_id = id,
                                     .time_ms = in.timestamp_ms,
                                     .level = 2,
                                     .kind = "sigma",
                                     .agency = in.agency,
                                     .rule_id = in.rule_id,
                                     .rule_title = in.rule_id,
                                     .host = lf_str_c("web01"),
                                     .source_ip = lf_str_c(ip),
                                     .tactics = tactics,
                                     .tactic_count = 1};
            rc = lf_incidents_on_alert(inc, b, &a);
        }
        if (rc == LF_OK)
            rc = lf_incidents_batch_end(inc, b, true);
        if (rc == LF_OK) {
            rc = lf_store_batch_commit(b, NULL, NULL);
        } else {
            lf_store_batch_abort(b);
            lf_incidents_batch_end(inc, b, false);
        }
    }
    double secs = now() - start;
    if (rc != LF_OK) {
        fprintf(stderr, "stopped after %ld alerts: %s\n", done, lf_strerror(rc));
        return 1;
    }
    lf_incidents_stats_t s;
    lf_incidents_stats(inc, &s);
    lf_store_stats_t ss;
    lf_store_stats(st, &ss);
    printf("alerts %ld over %ld keys, runs of %ld per key, one source IP per %ld agencies, in "
           "%.2f s: %.0f alerts/s (one core, sync off)\n",
           done, keys, burst, share, secs, (double)done / secs);
    printf("incidents opened %llu, regional alerts %llu, store %.1f MiB, %.0f bytes per incident "
           "(incident, keys, alert links, joint records)\n",
           (unsigned long long)s.incidents_opened, (unsigned long long)s.joint_alerts,
           (double)ss.map_used / (1 << 20),
           s.incidents_opened ? (double)ss.map_used / (double)s.incidents_opened : 0.0);
    lf_incidents_free(inc);
    lf_config_free(lf_incidents_config_options, &cfg);
    lf_store_close(st);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long n = argc > 1 ? strtol(argv[1], &end, 10) : 200000;
    if (end && *end)
        n = -1;
    end = NULL;
    long keys = argc > 2 ? strtol(argv[2], &end, 10) : 10000;
    if (end && *end)
        keys = -1;
    if (n <= 0 || keys <= 0) {
        fprintf(stderr, "usage: incident_bench [alerts > 0] [keys > 0]\n");
        return 2;
    }
    /* Worst case: every alert of a batch hits another incident; then
     * attack-like runs (a brute force is many alerts of one key); then a
     * scanner's IP at 8 agencies at once, raising regional alerts. */
    static const long bursts[][2] = {{1, 1}, {20, 1}, {200, 1}, {1, 8}};
    for (size_t i = 0; i < sizeof bursts / sizeof bursts[0]; i++)
        if (run(n, keys, bursts[i][0], bursts[i][1]) != 0)
            return 1;
    return 0;
}
