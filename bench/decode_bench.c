/* decode_bench - decoding throughput on one core.
 *
 * Decodes a mixed stream built from the golden inputs (syslog, sshd, sudo,
 * web access, iptables, FortiGate, Palo Alto, Cisco ASA, JSON; the
 * malformed lines are left out) through lf_decode_event() with the
 * repository's rule files, then serialises each event to ECS JSON as
 * lianfangd does. Prints records/s for the mix and per format, decode alone
 * and decode + JSON. Figures only, never pass/fail.
 *
 *   build/release/bench/decode_bench [seconds-per-measurement]
 */
#include "lf_decode.h"
#include "lf_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct corpus {
    const char *name;
    char *data;
    lf_str_t *lines;
    size_t n;
} corpus_t;

static const char *const formats[] = {"syslog",     "sshd",      "sudo-su",
                                      "web-access", "iptables",  "fortigate",
                                      "paloalto",   "cisco-asa", "json"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void load(corpus_t *c, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.input", LF_GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    c->name = name;
    c->n = 0;
    if (!f) {
        fprintf(stderr, "decode_bench: %s: cannot open\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    c->data = malloc((size_t)size + 1);
    c->lines = malloc(((size_t)size + 1) * sizeof *c->lines);
    if (!c->data || !c->lines || fread(c->data, 1, (size_t)size, f) != (size_t)size)
        exit(1);
    fclose(f);
    char *p = c->data, *end = c->data + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        lf_str_t line = lf_str_n(p, (size_t)(nl - p));
        /* leave out the deliberately broken lines */
        if (line.len && !memmem(line.ptr, line.len, "trailing", 8) &&
            !memmem(line.ptr, line.len, "unterminated", 12) &&
            !memmem(line.ptr, line.len, "tru}", 4))
            c->lines[c->n++] = line;
        p = nl + 1;
    }
}

static double run(lf_decode_ctx_t *ctx, lf_str_t *lines, size_t n, double seconds, bool json,
                  lf_event_t *ev, lf_buf_t *out, lf_buf_t *scratch)
{
    lf_record_meta_t meta = {.agent_id = lf_str_c("bench"),
                             .agency = lf_str_c("TC-01"),
                             .host = lf_str_c("host"),
                             .source = lf_str_c("bench"),
                             .read_time_ms = 1773106200000,
                             .ingest_ms = 1773106200000,
                             .offset = UINT64_MAX};
    size_t done = 0;
    double start = now_s(), t;
    do {
        for (size_t i = 0; i < n; i++) {
            lf_decode_result_t res;
            meta.seq++;
            lf_decode_event(ctx, &meta, lines[i], ev, &res);
            if (json)
                lf_event_to_json(ev, out, scratch);
        }
        done += n;
    } while ((t = now_s() - start) < seconds);
    return (double)done / t;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    char err[8192];
    lf_decoders_t *set;
    lf_decode_state_t *state;
    if (lf_decoders_load(LF_RULES_DIR, &set, err, sizeof err) != LF_OK ||
        lf_decode_state_new(set, 1u << 20, &state) != LF_OK) {
        fprintf(stderr, "decode_bench: %s\n", err);
        return 1;
    }
    size_t nf = sizeof formats / sizeof *formats;
    corpus_t corpora[sizeof formats / sizeof *formats];
    size_t total = 0;
    for (size_t i = 0; i < nf; i++) {
        load(&corpora[i], formats[i]);
        total += corpora[i].n;
    }
    /* The mix: lines interleaved round-robin across formats. */
    lf_str_t *mix = malloc(total * sizeof *mix);
    size_t m = 0;
    for (size_t k = 0; m < total; k++)
        for (size_t i = 0; i < nf; i++)
            if (k < corpora[i].n)
                mix[m++] = corpora[i].lines[k];
    lf_event_t *ev = malloc(sizeof *ev);
    lf_buf_t out, scratch;
    lf_buf_init(&out, 4u << 20);
    lf_buf_init(&scratch, 4u << 20);
    lf_decode_ctx_t ctx = {.tz_offset_min = 480, .decoders = set, .state = state};
    printf("decode_bench: %d decoders, %zu distinct lines, %.1f s per figure, one core\n",
           lf_decoders_count(set), total, seconds);
    printf("%-12s %14s %18s\n", "format", "decode rec/s", "decode+JSON rec/s");
    printf("%-12s %14.0f %18.0f\n", "MIX", run(&ctx, mix, m, seconds, false, ev, &out, &scratch),
           run(&ctx, mix, m, seconds, true, ev, &out, &scratch));
    for (size_t i = 0; i < nf; i++)
        printf("%-12s %14.0f %18.0f\n", corpora[i].name,
               run(&ctx, corpora[i].lines, corpora[i].n, seconds, false, ev, &out, &scratch),
               run(&ctx, corpora[i].lines, corpora[i].n, seconds, true, ev, &out, &scratch));
    for (size_t i = 0; i < nf; i++) {
        free(corpora[i].data);
        free(corpora[i].lines);
    }
    free(mix);
    free(ev);
    lf_buf_free(&out);
    lf_buf_free(&scratch);
    lf_decode_state_free(state);
    lf_decoders_free(set);
    return 0;
}
