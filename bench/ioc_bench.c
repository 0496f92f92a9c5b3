/* Indicator-set and YARA throughput (figures only, never pass/fail).
 *
 *   ninja -C build/release ioc_bench && build/release/bench/ioc_bench
 *
 * Builds indicator sets of 1k, 10k, 100k and 1M indicators (a realistic
 * mix: 60% IPv4 addresses, 5% IPv4 CIDRs, 5% IPv6, 15% domains with some
 * subdomain indicators, 5% URLs, 10% SHA-256) and matches a stream of
 * events carrying a source and a destination address, a domain, a URL and
 * a file hash, 1% of them hitting an indicator. Prints build time, events
 * per second and matches. Then scans command lines with the shipped YARA
 * rules. The observables are bound to core event fields so the benchmark
 * does not depend on the ECS table's network fields. */
#include "lf_ioc.h"
#include "lf_stix.h"
#include "lf_yara.h"

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

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void pattern_for(size_t i, char *out, size_t outlen)
{
    uint64_t r = next();
    unsigned kind = (unsigned)(i % 20);
    if (kind < 12)
        snprintf(out, outlen, "[ipv4-addr:value = '%u.%u.%u.%u']", (unsigned)(r >> 24) & 255,
                 (unsigned)(r >> 16) & 255, (unsigned)(r >> 8) & 255, (unsigned)r & 255);
    else if (kind == 12)
        snprintf(out, outlen, "[ipv4-addr:value = '%u.%u.%u.0/%u']", (unsigned)(r >> 24) & 255,
                 (unsigned)(r >> 16) & 255, (unsigned)(r >> 8) & 255, 16 + (unsigned)(r % 9));
    else if (kind == 13)
        snprintf(out, outlen, "[ipv6-addr:value = '2001:db8:%x:%x::/64']",
                 (unsigned)(r >> 16) & 0xffff, (unsigned)r & 0xffff);
    else if (kind < 16)
        snprintf(out, outlen, "[domain-name:value = 'h%llx.example.com']",
                 (unsigned long long)(r & 0xffffffffff));
    else if (kind == 16)
        snprintf(out, outlen, "[domain-name:value LIKE '%%.z%llx.example.net']",
                 (unsigned long long)(r & 0xffffff));
    else if (kind == 17)
        snprintf(out, outlen, "[url:value = 'http://d%llx.example.org/p/%llu']",
                 (unsigned long long)(r & 0xffffff), (unsigned long long)(r >> 40));
    else
        snprintf(out, outlen, "[file:hashes.'SHA-256' = '%016llx%016llx%016llx%016llx']",
                 (unsigned long long)r, (unsigned long long)next(), (unsigned long long)next(),
                 (unsigned long long)next());
}

static bool count(const lf_ioc_match_t *m, void *ctx)
{
    (*(size_t *)ctx)++;
    return true;
}

static lf_field_id_t field(const char *path)
{
    return lf_field_lookup(path, strlen(path));
}

static void bench_ioc(size_t n)
{
    static char *ip[] = {"host.name", "log.syslog.hostname"}, *dom[] = {"message"};
    static char *url[] = {"event.original"}, *sha[] = {"log.syslog.procid"};
    lf_ioc_config_t cfg;
    lf_ioc_config_defaults(&cfg);
    cfg.max_indicators = 20000000;
    cfg.ip_fields = ip, cfg.ip_field_count = 2, cfg.domain_fields = dom;
    cfg.domain_field_count = 1, cfg.url_fields = url, cfg.url_field_count = 1;
    cfg.sha256_fields = sha, cfg.sha256_field_count = 1;
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    char pat[256], id[64], hit_ip[64] = "";
    double t0 = now();
    rng = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        pattern_for(i, pat, sizeof pat);
        if (i == 0)
            sscanf(pat, "[ipv4-addr:value = '%63[0-9.]", hit_ip);
        lf_stix_pattern_t *p;
        char why[128];
        if (lf_stix_pattern_parse(pat, strlen(pat), 4096, &p, why, sizeof why) != LF_OK) {
            fprintf(stderr, "%s: %s\n", pat, why);
            exit(1);
        }
        snprintf(id, sizeof id, "indicator--%zu", i);
        lf_ioc_indicator_t meta = {.id = id,
                                   .name = "",
                                   .pattern = pat,
                                   .source = "bench",
                                   .confidence = -1,
                                   .valid_from_ms = LF_IOC_TIME_NONE_BEFORE,
                                   .valid_until_ms = LF_IOC_TIME_NONE_AFTER};
        lf_ioc_builder_add(b, &meta, p);
    }
    double t1 = now();
    lf_ioc_set_t *set;
    char err[128];
    if (lf_ioc_set_build(b, NULL, &set, NULL, err, sizeof err) != LF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    double t2 = now();
    lf_ioc_builder_free(b);

    enum { EVENTS = 64 };
    static char vals[EVENTS][5][128];
    static lf_event_t ev[EVENTS];
    for (int e = 0; e < EVENTS; e++) {
        uint64_t r = next();
        snprintf(vals[e][0], 128, "10.%u.%u.%u", (unsigned)(r >> 16) & 255,
                 (unsigned)(r >> 8) & 255, (unsigned)r & 255);
        if (e == 0)
            snprintf(vals[e][1], 128, "%s", hit_ip);
        else
            snprintf(vals[e][1], 128, "100.64.%u.%u", (unsigned)(r >> 32) & 255,
                     (unsigned)(r >> 40) & 255);
        snprintf(vals[e][2], 128, "www.s%llx.example.com", (unsigned long long)(r & 0xfffff));
        snprintf(vals[e][3], 128, "https://cdn.example.com/assets/%llu.js",
                 (unsigned long long)(r >> 20));
        snprintf(vals[e][4], 128, "%016llx%016llx%016llx%016llx", (unsigned long long)r,
                 (unsigned long long)~r, (unsigned long long)(r * 3), (unsigned long long)(r * 7));
        lf_event_reset(&ev[e]);
        lf_event_set_str(&ev[e], field("host.name"), lf_str_c(vals[e][0]));
        lf_event_set_str(&ev[e], field("log.syslog.hostname"), lf_str_c(vals[e][1]));
        lf_event_set_str(&ev[e], field("message"), lf_str_c(vals[e][2]));
        lf_event_set_str(&ev[e], field("event.original"), lf_str_c(vals[e][3]));
        lf_event_set_str(&ev[e], field("log.syslog.procid"), lf_str_c(vals[e][4]));
    }
    size_t matches = 0, iters = 2000000;
    double t3 = now();
    for (size_t i = 0; i < iters; i++)
        lf_ioc_match(set, &ev[i % EVENTS], 0, count, &matches);
    double t4 = now();
    printf("%9zu indicators  parse %6.2fs  build %6.2fs  %10.0f events/s  (%zu matches)\n", n,
           t1 - t0, t2 - t1, (double)iters / (t4 - t3), matches);
    lf_ioc_set_release(set);
    cfg.ip_fields = cfg.domain_fields = cfg.url_fields = cfg.sha256_fields = NULL;
    cfg.ip_field_count = cfg.domain_field_count = cfg.url_field_count = 0;
    cfg.sha256_field_count = 0;
    lf_config_free(lf_ioc_config_options, &cfg);
}

static bool ycount(const lf_yara_match_t *m, void *ctx)
{
    (*(size_t *)ctx)++;
    return true;
}

static void bench_yara(void)
{
    static const char *const files[] = {LF_SOURCE_DIR "/rules/yara/webshell.yar",
                                        LF_SOURCE_DIR "/rules/yara/powershell.yar",
                                        LF_SOURCE_DIR "/rules/yara/mimikatz.yar"};
    static char *fields[] = {"message"};
    lf_yara_config_t cfg;
    lf_yara_config_defaults(&cfg);
    cfg.fields = fields;
    cfg.field_count = 1;
    lf_yara_global_init();
    lf_yara_set_t *set;
    char err[512];
    if (lf_yara_set_compile_files(files, 3, &cfg, NULL, &set, err, sizeof err) != LF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    const char *lines[] = {
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        ("\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer "
         "--field-trial-handle=1234,i,5678 --lang=zh-TW --disable-gpu-compositing"),
        "powershell.exe -NoProfile -File C:\\ops\\rotate-logs.ps1",
        "GET /api/v1/incidents?page=2&size=50 HTTP/1.1 200 1532 \"Mozilla/5.0\"",
    };
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    lf_event_t ev;
    size_t matches = 0, iters = 200000;
    double t0 = now();
    for (size_t i = 0; i < iters; i++) {
        lf_event_reset(&ev);
        lf_event_set_str(&ev, field("message"), lf_str_c(lines[i % 4]));
        lf_yara_scan_event(sc, set, &ev, ycount, &matches, NULL);
    }
    double t1 = now();
    printf("YARA: %zu rules, %.0f events/s on ~100-byte command lines (%zu matches)\n",
           lf_yara_set_rule_count(set), (double)iters / (t1 - t0), matches);
    lf_yara_scanner_free(sc);
    lf_yara_set_release(set);
    lf_yara_global_cleanup();
}

int main(int argc, char **argv)
{
    size_t max = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    printf("indicator sets: one thread, 5 observable fields per event\n");
    for (size_t n = 1000; n <= max; n *= 10)
        bench_ioc(n);
    bench_yara();
    return 0;
}
