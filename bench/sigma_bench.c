/* sigma_bench - Sigma matching throughput against the rule count.
 *
 * Generates 10, 100, 1,000 and 3,000 rules shaped like upstream SigmaHQ
 * content (Windows process creation with Image/CommandLine, Linux auth
 * keywords and fields, web access logs, firewall, a few regexes, windash
 * and base64offset values), loads them through the shipped logsource
 * mappings, and matches a realistic mixed event stream (sshd/sudo syslog,
 * Sysmon process creation, web access, firewall) on one thread.
 * Prints events/s of the prefiltered engine and of the naive rule-by-rule
 * evaluator in the same process, and their ratio. Figures only: no
 * pass/fail.
 *
 *   ninja -C build/release sigma_bench && build/release/bench/sigma_bench [events]
 * SIGMA_BENCH_NO_NAIVE=1 skips the naive runs (for profiling).
 */
#include "lf_sigma.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* a pronounceable token, unique per (kind, i): tools, switches, paths */
static void token(char *out, size_t cap, uint32_t i, uint32_t salt)
{
    static const char *const syl[] = {"ka", "zo", "mi", "tr", "ex", "ul", "vi", "qu",
                                      "ne", "ro", "sa", "te", "ba", "dy", "fo", "gi",
                                      "lo", "pa", "wu", "xe", "ch", "st", "or", "an"};
    uint32_t x = i * 2654435761u + salt * 40503u + 17;
    size_t n = 0;
    for (int k = 0; k < 4 && n + 3 < cap; k++) {
        const char *s = syl[x % 24];
        x /= 24;
        x += i * 7 + (uint32_t)k;
        out[n++] = s[0];
        out[n++] = s[1];
    }
    n += (size_t)snprintf(out + n, cap - n, "%u", i % 97);
    out[n] = 0;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

static void put(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->n) {
            b->n += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
}

static void gen_rule(sbuf_t *b, uint32_t i)
{
    char t1[32], t2[32], t3[32];
    token(t1, sizeof t1, i, 1);
    token(t2, sizeof t2, i, 2);
    token(t3, sizeof t3, i, 3);
    put(b, "title: generated rule %u\nid: gen-%u\nlevel: medium\ntags: [attack.t1059]\n", i, i);
    switch (i % 10) {
    case 0:
    case 1:
    case 2: /* Windows process creation: image + command line switches */
        put(b,
            "logsource: {product: windows, category: process_creation}\ndetection:\n"
            "  img:\n    Image|endswith: ['\\%s.exe', '\\%s.exe']\n"
            "  cli:\n    CommandLine|contains|all: [' -%s', '%s']\n"
            "  filter:\n    ParentImage|endswith: '\\explorer.exe'\n"
            "  condition: img and cli and not filter\n",
            t1, t2, t3, t1);
        break;
    case 3: /* windash / base64offset variants */
        put(b,
            "logsource: {product: windows, category: process_creation}\ndetection:\n"
            "  sel:\n    CommandLine|windash|contains: ' -%s '\n"
            "  enc:\n    CommandLine|base64offset|contains: '%s'\n"
            "  condition: 1 of them\n",
            t1, t2);
        break;
    case 4: /* Linux auth keywords */
        put(b,
            "logsource: {product: linux, service: auth}\ndetection:\n"
            "  keywords:\n    - '%s authentication'\n    - 'session %s opened'\n"
            "  condition: keywords\n",
            t1, t2);
        break;
    case 5: /* Linux process fields */
        put(b,
            "logsource: {product: linux, service: auth}\ndetection:\n"
            "  sel:\n    process.name: [sshd, sudo]\n    message|contains: ['%s', '%s=']\n"
            "  condition: sel\n",
            t1, t2);
        break;
    case 6: /* web */
        put(b,
            "logsource: {category: webserver}\ndetection:\n"
            "  sel:\n    cs-uri-query|contains: ['%s=', '/%s/']\n"
            "  ua:\n    c-useragent|contains: '%s'\n"
            "  condition: sel or ua\n",
            t1, t2, t3);
        break;
    case 7: /* web, regex after a literal */
        put(b,
            "logsource: {category: webserver}\ndetection:\n"
            "  sel:\n    cs-uri-stem|startswith: '/%s'\n    cs-uri-query|re: '%s=[0-9]{2,}'\n"
            "  condition: sel\n",
            t1, t2);
        break;
    case 8: /* firewall */
        put(b,
            "logsource: {category: firewall}\ndetection:\n"
            "  sel:\n    dst_port: [%u, %u]\n    action: deny\n  app:\n    app|contains: '%s'\n"
            "  condition: sel and app\n",
            1000 + i % 50000, 2000 + i % 40000, t1);
        break;
    default: /* regex-only rule (no literal: runs on every event of its logsource) */
        if (i % 40 == 9)
            put(b,
                "logsource: {product: windows, category: process_creation}\ndetection:\n"
                "  sel:\n    CommandLine|re: '\\\\%s[0-9]+\\.dll'\n  condition: sel\n",
                t1);
        else
            put(b,
                "logsource: {product: windows, service: security}\ndetection:\n"
                "  sel:\n    EventID: [4624, 4625]\n    TargetUserName|startswith: '%s'\n"
                "  condition: sel\n",
                t1);
        break;
    }
    put(b, "---\n");
}

/* ---- events ---------------------------------------------------------------------- */

#define NEVENTS 2048
#define TEXT    512

typedef struct evslot {
    lf_event_t ev;
    char text[6][TEXT];
} evslot_t;

static void setf(evslot_t *e, int slot, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void setf(evslot_t *e, int slot, const char *path, const char *fmt, ...)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    if (id == LF_F_COUNT)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text[slot], TEXT, fmt, ap);
    va_end(ap);
    lf_event_set_str(&e->ev, id, lf_str_c(e->text[slot]));
}

static void gen_event(evslot_t *e, uint32_t i, uint32_t nrules)
{
    lf_event_reset(&e->ev);
    char hit[32], hit2[32];
    /* about 1 event in 50 carries a token of some rule */
    bool lucky = rnd(50) == 0;
    uint32_t r = rnd(nrules);
    token(hit, sizeof hit, r, 1);
    token(hit2, sizeof hit2, r, 2);
    switch (i % 4) {
    case 0:
        setf(e, 0, "process.name", "sshd");
        setf(e, 1, "log.syslog.appname", "sshd");
        setf(e, 2, "message", "Failed password for invalid user %s from 203.0.113.%u port %u ssh2",
             lucky ? hit : "oracle", rnd(255), 1024 + rnd(60000));
        setf(e, 3, "event.original",
             "<38>Mar 10 09:02:03 web01 sshd[%u]: Failed password for invalid user %s from "
             "203.0.113.%u port %u ssh2",
             rnd(65535), lucky ? hit : "oracle", rnd(255), 1024 + rnd(60000));
        break;
    case 1:
        setf(e, 0, "event.module", "sysmon");
        setf(e, 1, "event.code", "1");
        setf(e, 2, "process.executable", "C:\\Windows\\System32\\%s.exe",
             lucky ? hit : (rnd(2) ? "svchost" : "conhost"));
        setf(e, 3, "process.command_line",
             "%s.exe -k netsvcs -p -s %s /t %u -%s C:\\ProgramData\\app\\cfg.xml",
             lucky ? hit : "svchost", lucky ? hit2 : "Schedule", rnd(1000), lucky ? hit2 : "quiet");
        setf(e, 4, "process.parent.executable", "C:\\Windows\\System32\\services.exe");
        setf(e, 5, "winlog.channel", "Microsoft-Windows-Sysmon/Operational");
        break;
    case 2:
        setf(e, 0, "url.original", "/app/index.php?id=%u&page=%s", rnd(10000),
             lucky ? hit : "home");
        setf(e, 1, "url.path", "/app/index.php");
        setf(e, 2, "url.query", "id=%u&page=%s%s", rnd(10000), lucky ? hit : "home",
             lucky ? "=" : "");
        setf(e, 3, "user_agent.original",
             "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36");
        setf(e, 4, "http.request.method", "GET");
        setf(e, 5, "message", "GET /app/index.php HTTP/1.1 200");
        break;
    default:
        setf(e, 0, "observer.type", "firewall");
        setf(e, 1, "source.ip", "198.51.100.%u", rnd(255));
        setf(e, 2, "destination.ip", "10.0.%u.%u", rnd(255), rnd(255));
        setf(e, 3, "event.action", rnd(3) ? "accept" : "deny");
        setf(e, 4, "network.application", "%s", lucky ? hit : "https");
        setf(e, 5, "message", "action=%s proto=tcp", rnd(2) ? "accept" : "deny");
        break;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                  &ts); /* CPU time of this thread: steady on a busy machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(const lf_sigma_diag_t *d, void *ud)
{
    if (d->severity == LF_SIGMA_ERROR)
        fprintf(stderr, "%s:%d: %s\n", d->file, d->line, d->message);
}

int main(int argc, char **argv)
{
    long events = argc > 1 ? strtol(argv[1], NULL, 10) : 400000;
    if (events < 1000)
        events = 1000;
    const uint32_t sizes[] = {10, 100, 1000, 3000};
    evslot_t *evs = calloc(NEVENTS, sizeof *evs);
    lf_sigma_scratch_t *s = lf_sigma_scratch_new();
    if (!evs || !s)
        return 1;
    printf("sigma_bench: one thread, %ld events per size, mixed sshd/sysmon/web/firewall stream\n",
           events);
    printf("%7s %12s %11s %8s %7s %12s %12s %8s\n", "rules", "prefiltered", "unfiltered",
           "literals", "alerts", "events/s", "naive ev/s", "speedup");
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint32_t n = sizes[k];
        rng = 0x2545f4914f6cdd1dull;
        sbuf_t b = {0};
        for (uint32_t i = 0; i < n; i++)
            gen_rule(&b, i);
        lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(NULL);
        lf_sigma_load_mappings(set, LF_SOURCE_DIR "/rules/sigma-mappings", quiet, NULL);
        lf_sigma_load_buffer(set, "generated", b.p, b.n, quiet, NULL);
        free(b.p);
        double t0 = now();
        lf_sigma_matcher_t *m = lf_sigma_compile(set, quiet, NULL);
        double tcompile = now() - t0;
        if (!m)
            return 1;
        for (uint32_t i = 0; i < NEVENTS; i++)
            gen_event(&evs[i], i, n);
        lf_sigma_matcher_stats_t st;
        lf_sigma_matcher_stats(m, &st);
        long alerts = 0;
        t0 = now();
        for (long i = 0; i < events; i++)
            alerts += lf_sigma_match(m, &evs[i % NEVENTS].ev, s, NULL, NULL);
        double tfast = now() - t0;
        long naive_events = events / (n >= 1000 ? 20 : n >= 100 ? 4 : 1);
        if (getenv("SIGMA_BENCH_NO_NAIVE"))
            naive_events = 1;
        long nalerts = 0;
        t0 = now();
        for (long i = 0; i < naive_events; i++)
            nalerts += lf_sigma_match_naive(m, &evs[i % NEVENTS].ev, s, NULL, NULL);
        double tnaive = now() - t0;
        long check = 0; /* the engine's alerts on the naive run's events, for agreement */
        for (long i = 0; i < naive_events; i++)
            check += lf_sigma_match(m, &evs[i % NEVENTS].ev, s, NULL, NULL);
        double fast = (double)events / tfast, slow = (double)naive_events / tnaive;
        printf("%7zu %12zu %11zu %8zu %7ld %12.0f %12.0f %7.1fx   (compile %.0f ms, %zu states, "
               "%s)\n",
               st.rules, st.prefiltered, st.unfiltered, st.literals, alerts, fast, slow,
               fast / slow, tcompile * 1000, st.automaton_states,
               check == nalerts ? "same alerts as naive" : "ALERTS DIFFER FROM NAIVE");
        lf_sigma_matcher_unref(m);
    }
    lf_sigma_scratch_free(s);
    free(evs);
    return 0;
}
