/* Unit tests of ingest/lf_decode.c and lf_event.c: syslog variants, the
 * timestamp rules, ECS JSON output, invalid UTF-8 handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "lf_decode.h"
#include "lf_event.h"
#include "lf_time.h"

/* 2026-03-10T01:30:00Z = 09:30 in Taipei. */
#define REF_MS (lf_time_days_from_civil(2026, 3, 10) * 86400000LL + 90LL * 60000)

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    return ((lf_time_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL +
           s * 1000LL + ms;
}

static const char *decode(const char *line, lf_event_t *ev)
{
    lf_decode_ctx_t ctx = {.tz_offset_min = 480, .reference_ms = REF_MS};
    lf_event_reset(ev);
    return lf_decode_record(&ctx, lf_str_c(line), ev);
}

static void assert_str(const lf_event_t *ev, lf_field_id_t id, const char *want)
{
    assert_true(lf_event_has(ev, id));
    assert_int_equal(ev->str[id].len, strlen(want));
    assert_memory_equal(ev->str[id].ptr, want, strlen(want));
}

static void test_rfc3164_file_format(void **state)
{
    lf_event_t ev;
    assert_string_equal(decode("Mar 10 09:02:00 web01 sshd[4100]: Failed password for root", &ev),
                        "syslog-3164");
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 3, 10, 1, 2, 0, 0));
    assert_str(&ev, LF_F_HOST_NAME, "web01");
    assert_str(&ev, LF_F_PROCESS_NAME, "sshd");
    assert_int_equal(ev.num[LF_F_PROCESS_PID], 4100);
    assert_str(&ev, LF_F_MESSAGE, "Failed password for root");
    assert_true(ev.flags & LF_EVFLAG(YEAR_INFERRED));
    assert_true(ev.flags & LF_EVFLAG(TZ_ASSUMED));
    assert_false(lf_event_has(&ev, LF_F_LOG_SYSLOG_PRIORITY));
}

static void test_rfc3164_with_pri_and_padded_day(void **state)
{
    lf_event_t ev;
    assert_string_equal(decode("<34>Mar  9 23:59:59 fw01 su: 'su root' failed", &ev),
                        "syslog-3164");
    assert_int_equal(ev.num[LF_F_LOG_SYSLOG_PRIORITY], 34);
    assert_int_equal(ev.num[LF_F_LOG_SYSLOG_FACILITY_CODE], 4);
    assert_int_equal(ev.num[LF_F_LOG_SYSLOG_SEVERITY_CODE], 2);
    /* 23:59:59 Taipei on the 9th is 15:59:59 UTC on the 9th: not moved a day. */
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 3, 9, 15, 59, 59, 0));
    assert_str(&ev, LF_F_PROCESS_NAME, "su");
    assert_false(lf_event_has(&ev, LF_F_PROCESS_PID));
}

static void test_year_inference_across_new_year(void **state)
{
    lf_decode_ctx_t ctx = {.tz_offset_min = 480,
                           .reference_ms = utc_ms(2026, 1, 1, 0, 10, 0, 0)}; /* 08:10 Jan 1 */
    lf_event_t ev;
    lf_event_reset(&ev);
    lf_decode_record(&ctx, lf_str_c("Dec 31 23:59:00 h app: late"), &ev);
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2025, 12, 31, 15, 59, 0, 0));
    /* A record a few hours in the future stays in the current year. */
    lf_event_reset(&ev);
    lf_decode_record(&ctx, lf_str_c("Jan  1 12:00:00 h app: clock skew"), &ev);
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 1, 1, 4, 0, 0, 0));
    /* Read on Dec 31, a Jan 1 record (skewed sender) is next year's. */
    ctx.reference_ms = utc_ms(2026, 12, 31, 15, 0, 0, 0);
    lf_event_reset(&ev);
    lf_decode_record(&ctx, lf_str_c("Jan  1 00:00:05 h app: early"), &ev);
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 12, 31, 16, 0, 5, 0));
}

static void test_rsyslog_rfc3339_file_format(void **state)
{
    lf_event_t ev;
    assert_string_equal(
        decode("2026-03-10T09:00:01.004512+08:00 web01 CRON[3011]: (root) CMD (x)", &ev),
        "syslog-3164");
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 3, 10, 1, 0, 1, 4));
    assert_false(ev.flags & LF_EVFLAG(TZ_ASSUMED));
    assert_false(ev.flags & LF_EVFLAG(YEAR_INFERRED));
    assert_str(&ev, LF_F_PROCESS_NAME, "CRON");
    assert_str(&ev, LF_F_MESSAGE, "(root) CMD (x)");
}

static void test_rfc5424(void **state)
{
    lf_event_t ev;
    assert_string_equal(
        decode("<165>1 2026-03-10T09:02:00.123Z fw01 evntslog 812 ID47 [exampleSDID@32473 "
               "iut=\"3\" eventSource=\"App]lication\"] \xEF\xBB\xBF"
               "An application event",
               &ev),
        "syslog-5424");
    assert_int_equal(ev.num[LF_F_TIMESTAMP], utc_ms(2026, 3, 10, 9, 2, 0, 123));
    assert_str(&ev, LF_F_LOG_SYSLOG_HOSTNAME, "fw01");
    assert_str(&ev, LF_F_LOG_SYSLOG_APPNAME, "evntslog");
    assert_str(&ev, LF_F_LOG_SYSLOG_MSGID, "ID47");
    assert_int_equal(ev.num[LF_F_PROCESS_PID], 812);
    assert_str(&ev, LF_F_MESSAGE, "An application event");
    assert_int_equal(ev.num[LF_F_LOG_SYSLOG_PRIORITY], 165);

    assert_string_equal(decode("<13>1 - - - - - -", &ev), "syslog-5424");
    assert_false(lf_event_has(&ev, LF_F_TIMESTAMP));
    assert_false(lf_event_has(&ev, LF_F_HOST_NAME));
    assert_str(&ev, LF_F_MESSAGE, "");
}

static void test_unparseable_is_raw(void **state)
{
    lf_event_t ev;
    const char *cases[] = {"",
                           "hello world",
                           "<999>Mar 10 09:02:00 h a: b",
                           "Mar 32 09:02:00 h a",
                           "2026-13-01T00:00:00Z h a: b",
                           "<13>1 2026-03-10T25:00:00Z h a - - -"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *name = decode(cases[i], &ev);
        if (i == 5) {
            /* Bad 5424 timestamp falls back; the 3164 parser cannot read it either. */
            assert_string_equal(name, "raw");
        } else {
            assert_string_equal(name, "raw");
        }
        assert_str(&ev, LF_F_MESSAGE, cases[i]);
        assert_false(lf_event_has(&ev, LF_F_TIMESTAMP));
    }
}

static void test_field_table_sorted_for_nesting(void **state)
{
    /* Component-wise order: fields sharing a prefix must be contiguous and
     * no path may be both a leaf and an object. */
    for (int i = 1; i < LF_F_COUNT; i++) {
        const char *a = lf_field_path((lf_field_id_t)(i - 1));
        const char *b = lf_field_path((lf_field_id_t)i);
        assert_true(strcmp(a, b) < 0);
        size_t la = strlen(a);
        assert_false(strncmp(a, b, la) == 0 && b[la] == '.');
    }
    assert_int_equal(lf_field_lookup("host.name", 9), LF_F_HOST_NAME);
    assert_int_equal(lf_field_lookup("host.nam", 8), LF_F_COUNT);
}

static json_t *to_json(lf_event_t *ev)
{
    lf_buf_t out, scratch;
    lf_buf_init(&out, 1 << 20);
    lf_buf_init(&scratch, 1 << 20);
    assert_int_equal(lf_event_to_json(ev, &out, &scratch), LF_OK);
    json_error_t jerr;
    json_t *doc = json_loadb(out.data, out.len, 0, &jerr);
    if (!doc)
        fail_msg("invalid JSON: %s in %.*s", jerr.text, (int)out.len, out.data);
    lf_buf_free(&out);
    lf_buf_free(&scratch);
    return doc;
}

static void test_event_json_nested_ecs(void **state)
{
    lf_event_t ev;
    const char *line = "Mar 10 09:02:00 web01 sshd[4100]: \"quoted\"\ttab";
    decode(line, &ev);
    lf_event_set_str(&ev, LF_F_EVENT_ORIGINAL, lf_str_c(line));
    lf_event_set_str(&ev, LF_F_AGENT_ID, lf_str_c("a1"));
    lf_event_set_num(&ev, LF_F_EVENT_SEQUENCE, 77);
    lf_event_set_str(&ev, LF_F_LIANFANG_DECODER, lf_str_c("syslog-3164"));
    json_t *doc = to_json(&ev);
    assert_string_equal(json_string_value(json_object_get(doc, "@timestamp")),
                        "2026-03-10T01:02:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "host"), "name")),
                        "web01");
    json_t *event = json_object_get(doc, "event");
    assert_int_equal(json_integer_value(json_object_get(event, "sequence")), 77);
    assert_string_equal(json_string_value(json_object_get(event, "original")), line);
    json_t *syslog = json_object_get(json_object_get(doc, "log"), "syslog");
    assert_string_equal(json_string_value(json_object_get(syslog, "procid")), "4100");
    json_t *flags = json_object_get(json_object_get(doc, "lianfang"), "flags");
    assert_true(json_is_array(flags));
    assert_int_equal(json_array_size(flags), 2);
    assert_string_equal(json_string_value(json_array_get(flags, 0)), "year_inferred");
    assert_string_equal(json_string_value(json_object_get(doc, "message")), "\"quoted\"\ttab");
    json_decref(doc);
}

static void test_event_json_invalid_utf8_kept_in_base64(void **state)
{
    lf_event_t ev;
    const char raw[] = "big5 \xa4\xa4\xa4\xe5 \xff";
    lf_event_reset(&ev);
    lf_event_set_str(&ev, LF_F_EVENT_ORIGINAL, lf_str_c(raw));
    lf_event_set_str(&ev, LF_F_LIANFANG_DECODER, lf_str_c("raw"));
    json_t *doc = to_json(&ev);
    json_t *lf = json_object_get(doc, "lianfang");
    assert_string_equal(json_string_value(json_object_get(lf, "original_base64")),
                        "YmlnNSCkpKTlIP8=");
    assert_string_equal(json_string_value(json_array_get(json_object_get(lf, "flags"), 0)),
                        "invalid_utf8");
    const char *orig =
        json_string_value(json_object_get(json_object_get(doc, "event"), "original"));
    assert_non_null(strstr(orig, "\xEF\xBF\xBD"));
    json_decref(doc);
}

static void test_event_json_limit(void **state)
{
    lf_event_t ev;
    char big[4096];
    memset(big, 'a', sizeof big);
    lf_event_reset(&ev);
    lf_event_set_str(&ev, LF_F_MESSAGE, lf_str_n(big, sizeof big));
    lf_buf_t out, scratch;
    lf_buf_init(&out, 1024);
    lf_buf_init(&scratch, 1024);
    assert_int_equal(lf_event_to_json(&ev, &out, &scratch), LF_EFULL);
    lf_buf_free(&out);
    lf_buf_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3164_file_format),
        cmocka_unit_test(test_rfc3164_with_pri_and_padded_day),
        cmocka_unit_test(test_year_inference_across_new_year),
        cmocka_unit_test(test_rsyslog_rfc3339_file_format),
        cmocka_unit_test(test_rfc5424),
        cmocka_unit_test(test_unparseable_is_raw),
        cmocka_unit_test(test_field_table_sorted_for_nesting),
        cmocka_unit_test(test_event_json_nested_ecs),
        cmocka_unit_test(test_event_json_invalid_utf8_kept_in_base64),
        cmocka_unit_test(test_event_json_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
