/* Unit tests of the decoder engine: the event model (typed fields, lists,
 * extras), rule-file loading and its errors, forced formats, failure
 * reasons, per-source timezones, and hostile input. The formats themselves
 * are covered line by line by the golden tests (tests/golden/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_decode.h"
#include "lf_event.h"
#include "lf_time.h"

#define REF_MS (lf_time_days_from_civil(2026, 3, 10) * 86400000LL + 90LL * 60000)

typedef struct fixture {
    lf_decoders_t *set;
    lf_decode_state_t *state;
    lf_event_t ev;
    lf_buf_t out, scratch;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char err[4096];
    assert_int_equal(lf_decoders_load(LF_RULES_DIR, &f->set, err, sizeof err), LF_OK);
    assert_int_equal(lf_decode_state_new(f->set, 1u << 16, &f->state), LF_OK);
    lf_buf_init(&f->out, 1 << 22);
    lf_buf_init(&f->scratch, 1 << 22);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lf_decode_state_free(f->state);
    lf_decoders_free(f->set);
    lf_buf_free(&f->out);
    lf_buf_free(&f->scratch);
    free(f);
    return 0;
}

static json_t *decode_json(fixture_t *f, const char *format, const char *line,
                           lf_decode_result_t *res)
{
    lf_decode_ctx_t ctx = {.tz_offset_min = 480,
                           .reference_ms = REF_MS,
                           .decoders = f->set,
                           .state = f->state,
                           .format = format ? lf_decoders_find(f->set, format) : 0};
    lf_event_reset(&f->ev);
    lf_decode(&ctx, lf_str_c(line), &f->ev, res);
    assert_int_equal(lf_event_to_json(&f->ev, &f->out, &f->scratch), LF_OK);
    json_error_t jerr;
    json_t *doc = json_loadb(f->out.data, f->out.len, 0, &jerr);
    assert_non_null(doc);
    return doc;
}

static const char *jpath(json_t *doc, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = doc;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    static char text[256];
    if (!cur)
        return NULL;
    if (json_is_string(cur))
        return json_string_value(cur);
    char *dump = json_dumps(cur, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(text, sizeof text, "%s", dump);
    free(dump);
    return text;
}

static void test_field_table(void **state)
{
    for (int i = 0; i < LF_F_COUNT; i++) {
        const char *p = lf_field_path((lf_field_id_t)i);
        if (lf_field_kind((lf_field_id_t)i) == LF_KIND_EXTRA)
            assert_int_equal(lf_field_lookup(p, strlen(p)), LF_F_COUNT);
        else
            assert_int_equal(lf_field_lookup(p, strlen(p)), i);
    }
    assert_int_equal(lf_field_lookup("source.i", 8), LF_F_COUNT);
    assert_int_equal(lf_field_lookup("source.ipx", 10), LF_F_COUNT);
    assert_int_equal(lf_field_lookup("host.name", 9), LF_F_HOST_NAME);
}

static void test_typed_fields_and_extras(void **state)
{
    fixture_t *f = *state;
    lf_event_t *ev = &f->ev;
    lf_event_reset(ev);
    assert_true(lf_event_set_ip(ev, LF_F_SOURCE_IP, lf_str_c("[2001:db8::1]")));
    assert_false(lf_event_set_ip(ev, LF_F_DESTINATION_IP, lf_str_c("999.1.1.1")));
    assert_false(lf_event_has(ev, LF_F_DESTINATION_IP));
    lf_event_set_str(ev, LF_F_EVENT_CATEGORY, lf_str_c("authentication,iam"));
    lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_STR, lf_str_c("k"), lf_str_c("v"), 0);
    lf_event_add_extra(ev, LF_F_JSON_EXTRA, LF_EXTRA_RAW, lf_str_c("a"), lf_str_c("[1,2]"), 0);
    for (int i = 0; i < LF_EVENT_MAX_EXTRA; i++)
        lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_INT, lf_str_c("n"), LF_STR_NULL, i);
    assert_true(ev->flags & LF_EVFLAG(FIELDS_DROPPED));
    assert_int_equal(lf_event_to_json(ev, &f->out, &f->scratch), LF_OK);
    json_t *doc = json_loadb(f->out.data, f->out.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(jpath(doc, "source.ip"), "2001:db8::1");
    assert_string_equal(jpath(doc, "event.category"), "[\"authentication\",\"iam\"]");
    assert_string_equal(jpath(doc, "labels.k"), "v");
    assert_string_equal(jpath(doc, "json.a"), "[1,2]");
    char buf[64];
    lf_str_t text;
    assert_true(lf_event_value_text(ev, LF_F_EVENT_CATEGORY, buf, sizeof buf, &text));
    assert_int_equal(text.len, strlen("authentication,iam"));
    json_decref(doc);
}

static void test_rule_decoder_and_typed_output(void **state)
{
    fixture_t *f = *state;
    lf_decode_result_t res;
    json_t *doc =
        decode_json(f, NULL,
                    "Mar 10 09:02:00 web01 sshd[4100]: Failed password for invalid user admin from "
                    "203.0.113.5 port 40022 ssh2",
                    &res);
    assert_string_equal(res.decoder, "sshd");
    assert_null(res.error);
    assert_string_equal(jpath(doc, "source.ip"), "203.0.113.5");
    assert_string_equal(jpath(doc, "source.port"), "40022"); /* a number */
    assert_true(json_is_integer(json_object_get(json_object_get(doc, "source"), "port")));
    assert_string_equal(jpath(doc, "event.outcome"), "failure");
    assert_string_equal(jpath(doc, "lianfang.decoder_rule"), "failed-invalid-user");
    json_decref(doc);
    /* An sshd line no rule knows stays a syslog event without an error. */
    doc = decode_json(f, NULL, "Mar 10 09:02:00 web01 sshd[1]: Server version something", &res);
    assert_string_equal(res.decoder, "syslog-3164");
    assert_null(res.error);
    json_decref(doc);
}

static void test_forced_format_and_failures(void **state)
{
    fixture_t *f = *state;
    lf_decode_result_t res;
    json_t *doc = decode_json(f, "json", "Mar 10 09:02:00 h app: not json", &res);
    assert_non_null(res.error);
    assert_string_equal(res.decoder, "syslog-3164");
    assert_int_equal(res.failed_id, lf_decoders_find(f->set, "json"));
    assert_non_null(jpath(doc, "lianfang.decode_error"));
    json_decref(doc);
    /* A broken CEF header: the framed event stays, with the reason. */
    doc = decode_json(f, NULL, "<134>Mar 10 09:02:00 h CEF:0|V|P|1|x|bad \\q escape|3|src=1.2.3.4",
                      &res);
    assert_string_equal(res.decoder, "syslog-3164");
    assert_int_equal(res.failed_id, lf_decoders_find(f->set, "cef"));
    assert_null(jpath(doc, "source.ip"));
    assert_string_equal(jpath(doc, "log.syslog.hostname"), "h");
    json_decref(doc);
    /* Deep JSON is refused, not recursed into. */
    char deep[4096];
    size_t n = 0;
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    doc = decode_json(f, NULL, deep, &res);
    assert_string_equal(res.decoder, "raw");
    assert_non_null(strstr(res.error, "deeper"));
    json_decref(doc);
}

static void test_arena_exhaustion_is_a_reason(void **state)
{
    fixture_t *f = *state;
    /* 64 KiB arena: a JSON record with more escaped text than that fails cleanly. */
    size_t len = 200000;
    char *line = malloc(len + 16);
    memcpy(line, "{\"a\":\"", 6);
    for (size_t i = 6; i < len; i += 2) {
        line[i] = '\\';
        line[i + 1] = 'n';
    }
    memcpy(line + len, "\"}", 3);
    lf_decode_result_t res;
    json_t *doc = decode_json(f, NULL, line, &res);
    assert_string_equal(res.decoder, "raw");
    assert_string_equal(res.error, "decode arena full");
    json_decref(doc);
    free(line);
}

static void test_timezone_per_context(void **state)
{
    fixture_t *f = *state;
    lf_decode_ctx_t ctx = {.tz_offset_min = 0, .decoders = f->set, .state = f->state};
    lf_record_meta_t meta = {.agent_id = lf_str_c("a"),
                             .source = lf_str_c("fw"),
                             .read_time_ms = REF_MS,
                             .ingest_ms = REF_MS,
                             .seq = 1,
                             .offset = UINT64_MAX};
    lf_decode_result_t res;
    lf_decode_event(&ctx, &meta, lf_str_c("Mar 10 01:00:00 h app: utc source"), &f->ev, &res);
    int64_t want = lf_time_days_from_civil(2026, 3, 10) * 86400000LL + 3600000LL;
    assert_int_equal(f->ev.num[LF_F_TIMESTAMP], want);
    assert_string_equal(f->ev.str[LF_F_EVENT_DATASET].ptr, "fw");
    assert_true(lf_event_has(&f->ev, LF_F_EVENT_ORIGINAL));
    /* No timestamp at all: the read time, flagged. */
    lf_decode_event(&ctx, &meta, lf_str_c("no time here"), &f->ev, &res);
    assert_int_equal(f->ev.num[LF_F_TIMESTAMP], REF_MS);
    assert_true(f->ev.flags & LF_EVFLAG(TIME_FROM_INGEST));
}

static void test_bad_rule_files_report_every_entry(void **state)
{
    char dir[] = "/tmp/lf-dec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a.yaml", dir);
    FILE *fp = fopen(path, "w");
    fputs("decoders:\n"
          "  - name: one\n"
          "    when: {program: x}\n"
          "    rules: [{pattern: '%{no.such.field}'}]\n"
          "  - name: two\n"
          "    when: {program: y}\n"
          "    kv: {fields: {a: source.port}}\n"
          "    csv: {select: -1, layouts: {}}\n"
          "  - name: cef\n"
          "    when: {prefix: x}\n"
          "    rules: [{regex: 'x'}]\n",
          fp);
    fclose(fp);
    lf_decoders_t *set = NULL;
    char err[4096];
    assert_int_equal(lf_decoders_load(dir, &set, err, sizeof err), LF_ECONFIG);
    assert_null(set);
    assert_non_null(strstr(err, "a.yaml:4:"));
    assert_non_null(strstr(err, "no.such.field"));
    assert_non_null(strstr(err, "a.yaml:8:"));
    assert_non_null(strstr(err, "'cef' already exists"));
    unlink(path);
    rmdir(dir);
    assert_int_equal(lf_decoders_load("/nonexistent/dir", &set, err, sizeof err), LF_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_table),
        cmocka_unit_test(test_typed_fields_and_extras),
        cmocka_unit_test(test_rule_decoder_and_typed_output),
        cmocka_unit_test(test_forced_format_and_failures),
        cmocka_unit_test(test_arena_exhaustion_is_a_reason),
        cmocka_unit_test(test_timezone_per_context),
        cmocka_unit_test(test_bad_rule_files_report_every_entry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
