/* Unit tests of common/lf_json: escaping, UTF-8 repair, nesting, limits. */
#include "lf_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define FFFD "\xEF\xBF\xBD"

/* Escapes s and compares with want; returns the validity flag. */
static bool escape_eq(const char *s, size_t len, const char *want)
{
    lf_buf_t out;
    lf_buf_init(&out, 4096);
    lf_err_t err = LF_OK;
    bool valid = lf_json_escape(&out, s, len, &err);
    assert_int_equal(err, LF_OK);
    assert_string_equal(lf_buf_cstr(&out), want);
    lf_buf_free(&out);
    return valid;
}

static void test_escaping(void **state)
{
    assert_true(escape_eq("plain", 5, "plain"));
    assert_true(escape_eq("a\"b\\c/d", 7, "a\\\"b\\\\c/d"));
    assert_true(escape_eq("\n\r\t\b\f", 5, "\\n\\r\\t\\b\\f"));
    assert_true(escape_eq("", 0, ""));
    assert_true(escape_eq("\x7f", 1, "\x7f")); /* DEL needs no escape in JSON */
}

static void test_control_characters(void **state)
{
    assert_true(escape_eq("\x01", 1, "\\u0001"));
    assert_true(escape_eq("a\x1f"
                          "b",
                          3, "a\\u001fb"));
    assert_true(escape_eq("\x00x", 2, "\\u0000x")); /* NUL is data, not an end */
    assert_true(escape_eq("\x1b[31m", 5, "\\u001b[31m"));
}

static void test_valid_utf8_passes(void **state)
{
    assert_true(escape_eq("臺中市 聯防", strlen("臺中市 聯防"), "臺中市 聯防"));
    assert_true(escape_eq("\xF0\x9F\x94\x92", 4, "\xF0\x9F\x94\x92")); /* 4-byte */
    assert_true(lf_utf8_valid("臺灣", strlen("臺灣")));
    assert_true(lf_utf8_valid("", 0));
}

static void test_invalid_utf8_replaced(void **state)
{
    assert_false(escape_eq("\xff", 1, FFFD));
    assert_false(escape_eq("a\x80z", 3, "a" FFFD "z"));
    assert_false(escape_eq("\xC0\xAF", 2, FFFD FFFD));                   /* overlong '/' */
    assert_false(escape_eq("\xED\xA0\x80", 3, FFFD FFFD FFFD));          /* surrogate */
    assert_false(escape_eq("\xE8\xAD", 2, FFFD FFFD));                   /* truncated */
    assert_false(escape_eq("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD)); /* > U+10FFFF */
    assert_false(escape_eq("\xE8\xAD\"", 3, FFFD FFFD "\\\""));
    assert_false(lf_utf8_valid("\xff", 1));
    assert_false(lf_utf8_valid("\xC0\xAF", 2));
    assert_false(lf_utf8_valid("\xE8\xAD", 2));

    lf_buf_t out;
    lf_buf_init(&out, 1024);
    lf_json_t js;
    lf_json_init(&js, &out);
    lf_json_object_begin(&js);
    lf_json_key(&js, "ok");
    lf_json_cstring(&js, "fine");
    assert_false(js.invalid_utf8);
    lf_json_key(&js, "bad");
    lf_json_string(&js, "x\xfey", 3);
    lf_json_object_end(&js);
    assert_true(js.invalid_utf8);
    assert_int_equal(lf_json_error(&js), LF_OK);
    assert_string_equal(lf_buf_cstr(&out), "{\"ok\":\"fine\",\"bad\":\"x" FFFD "y\"}");
    lf_buf_free(&out);
}

static void test_nesting_and_values(void **state)
{
    lf_buf_t out;
    lf_buf_init(&out, 1024);
    lf_json_t js;
    lf_json_init(&js, &out);
    lf_json_object_begin(&js);
    lf_json_key(&js, "a");
    lf_json_int(&js, -5);
    lf_json_key(&js, "b");
    lf_json_array_begin(&js);
    lf_json_uint(&js, UINT64_MAX);
    lf_json_bool(&js, true);
    lf_json_object_begin(&js);
    lf_json_key(&js, "c");
    lf_json_null(&js);
    lf_json_object_end(&js);
    lf_json_array_begin(&js);
    lf_json_array_end(&js);
    lf_json_double(&js, 0.5);
    lf_json_double(&js, 0.0 / 0.0);
    lf_json_array_end(&js);
    lf_json_key(&js, "q\"k");
    lf_json_raw(&js, "{\"x\":1}", 7);
    lf_json_key(&js, "ts");
    lf_json_timestamp_ms(&js, 1773104520123);
    lf_json_key(&js, "n");
    lf_json_cstring(&js, NULL);
    lf_json_object_end(&js);
    assert_int_equal(lf_json_error(&js), LF_OK);
    assert_string_equal(lf_buf_cstr(&out),
                        "{\"a\":-5,\"b\":[18446744073709551615,true,{\"c\":null},[],0.5,null],"
                        "\"q\\\"k\":{\"x\":1},\"ts\":\"2026-03-10T01:02:00.123Z\",\"n\":null}");
    lf_buf_free(&out);
}

static void test_depth_limit(void **state)
{
    lf_buf_t out;
    lf_buf_init(&out, 4096);
    lf_json_t js;
    lf_json_init(&js, &out);
    for (int i = 0; i < LF_JSON_MAX_DEPTH - 1; i++)
        lf_json_array_begin(&js);
    assert_int_equal(lf_json_error(&js), LF_OK);
    lf_json_array_begin(&js); /* one level too deep */
    assert_int_equal(lf_json_error(&js), LF_EFULL);
    size_t len = out.len;
    lf_json_int(&js, 1); /* sticky: nothing more is written */
    lf_json_array_end(&js);
    assert_int_equal(out.len, len);
    assert_int_equal(lf_json_error(&js), LF_EFULL);
    lf_buf_free(&out);
}

static void test_output_bound_is_sticky(void **state)
{
    lf_buf_t out;
    lf_buf_init(&out, 16);
    lf_json_t js;
    lf_json_init(&js, &out);
    lf_json_array_begin(&js);
    lf_json_cstring(&js, "0123456789abcdef");
    assert_int_equal(lf_json_error(&js), LF_EFULL);
    assert_true(out.len <= 16);
    size_t len = out.len;
    lf_json_int(&js, 7);
    lf_json_array_end(&js);
    assert_int_equal(out.len, len);
    lf_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_valid_utf8_passes),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_nesting_and_values),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_output_bound_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
