/* Unit tests of correlate/lf_detect.c: loading the shipped rules directory,
 * Sigma + indicator + YARA hits on one event, the alert document, the
 * per-event alert cap, reload keeping content, a missing rules_dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lf_detect.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#ifndef LF_SOURCE_DIR
#error LF_SOURCE_DIR must be defined
#endif

typedef struct hits {
    lf_detect_t *d;
    const lf_event_t *ev;
    int sigma, yara, intel;
    char rule_ids[16][160];
    json_t *docs[16];
    size_t n;
} hits_t;

static void on_hit(void *opaque, const lf_detect_hit_t *hit)
{
    hits_t *h = opaque;
    if (hit->kind == LF_DETECT_SIGMA)
        h->sigma++;
    else if (hit->kind == LF_DETECT_YARA)
        h->yara++;
    else
        h->intel++;
    assert_true(h->n < 16);
    snprintf(h->rule_ids[h->n], sizeof h->rule_ids[0], "%s", hit->rule_id);
    lf_buf_t out;
    lf_buf_init(&out, 1 << 20);
    assert_int_equal(lf_detect_alert_json(hit, h->ev, 100 + h->n, 1773106920000, &out), LF_OK);
    json_error_t jerr;
    h->docs[h->n] = json_loadb(out.data, out.len, 0, &jerr);
    if (!h->docs[h->n])
        fail_msg("alert is not JSON: %s: %.*s", jerr.text, (int)out.len, out.data);
    lf_buf_free(&out);
    h->n++;
}

static void free_hits(hits_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref(h->docs[i]);
}

static lf_detect_config_t config(const char *dir)
{
    lf_detect_config_t cfg = {0};
    char err[256];
    assert_int_equal(lf_config_set_defaults(lf_detect_config_options, &cfg, err, sizeof err),
                     LF_OK);
    free(cfg.rules_dir);
    cfg.rules_dir = strdup(dir);
    return cfg;
}

static void set(lf_event_t *ev, const char *path, const char *value)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    if (id == LF_F_COUNT)
        fail_msg("field %s is not in the event table", path);
    lf_event_set_str(ev, id, lf_str_c(value));
}

static json_t *get(json_t *doc, const char *a, const char *b)
{
    json_t *o = json_object_get(doc, a);
    return b ? json_object_get(o, b) : o;
}

static void test_shipped_rules_sshd_from_listed_ip(void **state)
{
    lf_detect_config_t cfg = config(LF_SOURCE_DIR "/rules");
    lf_metrics_t reg;
    lf_metrics_init(&reg);
    lf_detect_t *d;
    char err[512] = "";
    lf_err_t rc = lf_detect_new(&cfg, &reg, &d, err, sizeof err);
    if (rc != LF_OK)
        fail_msg("%s", err);
    lf_detect_stats_t st;
    lf_detect_stats(d, &st);
    assert_true(st.sigma_rules >= 9);
    assert_true(st.yara_rules >= 3);
    assert_true(st.indicators >= 5);

    lf_event_t ev;
    lf_event_reset(&ev);
    set(&ev, "process.name", "sshd");
    set(&ev, "message", "Failed password for invalid user admin from 203.0.113.45 port 52211 ssh2");
    set(&ev, "event.original",
        "Mar 10 09:02:00 web01 sshd[4100]: Failed password for invalid user admin from "
        "203.0.113.45 port 52211 ssh2");
    set(&ev, "source.ip", "203.0.113.45");
    set(&ev, "agent.id", "web-01");
    set(&ev, "organization.id", "TC-01");
    set(&ev, "host.name", "web01");
    lf_event_set_num(&ev, LF_F_EVENT_SEQUENCE, 77);
    hits_t h = {.d = d, .ev = &ev};
    size_t n = lf_detect_event(d, &ev, 1773106920000, on_hit, &h);
    assert_int_equal(n, h.n);
    assert_true(h.sigma >= 1);
    assert_int_equal(h.intel, 1);

    bool saw_sigma = false, saw_intel = false;
    for (size_t i = 0; i < h.n; i++) {
        json_t *doc = h.docs[i];
        const char *type = json_string_value(get(doc, "alert", "type"));
        assert_int_equal(json_integer_value(get(doc, "alert", "id")), 100 + (int)i);
        assert_string_equal(json_string_value(get(doc, "organization", "id")), "TC-01");
        assert_string_equal(json_string_value(get(doc, "agent", "id")), "web-01");
        assert_string_equal(json_string_value(get(doc, "source", "ip")), "203.0.113.45");
        assert_string_equal(json_string_value(get(doc, "event", "kind")), "alert");
        assert_string_equal(json_string_value(get(doc, "event", "sequence")), "77");
        assert_string_equal(json_string_value(get(doc, "@timestamp", NULL)),
                            "2026-03-10T01:42:00.000Z");
        if (!strcmp(type, "sigma") &&
            !strcmp(h.rule_ids[i], "7d1f2c3a-5b7e-4c1e-9a51-0c3f6e8b2a01")) {
            saw_sigma = true;
            assert_string_equal(json_string_value(get(doc, "rule", "ruleset")), "sigma");
            assert_non_null(json_string_value(get(doc, "rule", "name")));
            json_t *tech = json_object_get(get(doc, "threat", "technique"), "id");
            assert_string_equal(json_string_value(json_array_get(tech, 0)), "T1110.001");
            assert_string_equal(json_string_value(get(doc, "alert", "level")), "low");
        }
        if (!strcmp(type, "intel")) {
            saw_intel = true;
            json_t *ind = json_object_get(doc, "indicator");
            assert_string_equal(json_string_value(json_object_get(ind, "matched_field")),
                                "source.ip");
            assert_string_equal(json_string_value(json_object_get(ind, "matched_value")),
                                "203.0.113.45");
            assert_non_null(json_string_value(json_object_get(ind, "tlp")));
        }
    }
    assert_true(saw_sigma);
    assert_true(saw_intel);
    free_hits(&h);

    /* A benign event raises nothing. */
    lf_event_reset(&ev);
    set(&ev, "process.name", "CRON");
    set(&ev, "message", "(root) CMD (run-parts /etc/cron.hourly)");
    set(&ev, "source.ip", "10.20.1.5");
    hits_t none = {.d = d, .ev = &ev};
    assert_int_equal(lf_detect_event(d, &ev, 1773106920000, on_hit, &none), 0);

    /* Reload keeps the content. */
    assert_int_equal(lf_detect_reload(d, err, sizeof err), LF_OK);
    lf_detect_stats_t st2;
    lf_detect_stats(d, &st2);
    assert_int_equal(st2.sigma_rules, st.sigma_rules);
    assert_int_equal(st2.indicators, st.indicators);
    lf_metric_t *m = lf_metrics_find(&reg, "lianfang_detect_alerts_total", "type=\"intel\"");
    assert_non_null(m);
    assert_int_equal(lf_metric_get(m), 1);
    lf_detect_free(d);
    lf_metrics_destroy(&reg);
    lf_config_free(lf_detect_config_options, &cfg);
}

static void test_alert_cap(void **state)
{
    lf_detect_config_t cfg = config(LF_SOURCE_DIR "/rules");
    cfg.max_alerts_per_event = 1;
    lf_detect_t *d;
    char err[512] = "";
    assert_int_equal(lf_detect_new(&cfg, NULL, &d, err, sizeof err), LF_OK);
    lf_event_t ev;
    lf_event_reset(&ev);
    set(&ev, "process.name", "sshd");
    set(&ev, "message", "Failed password for root from 203.0.113.45 port 1 ssh2");
    set(&ev, "source.ip", "203.0.113.45");
    hits_t h = {.d = d, .ev = &ev};
    assert_int_equal(lf_detect_event(d, &ev, 1773106920000, on_hit, &h), 1);
    free_hits(&h);
    lf_detect_free(d);
    lf_config_free(lf_detect_config_options, &cfg);
}

static void test_missing_rules_dir(void **state)
{
    lf_detect_config_t cfg = config("/nonexistent/lianfang-rules");
    lf_detect_t *d = NULL;
    char err[512] = "";
    assert_int_equal(lf_detect_new(&cfg, NULL, &d, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "detect.rules_dir"));
    lf_config_free(lf_detect_config_options, &cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_rules_sshd_from_listed_ip),
        cmocka_unit_test(test_alert_cap),
        cmocka_unit_test(test_missing_rules_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
