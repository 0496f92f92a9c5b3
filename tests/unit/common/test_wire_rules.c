/* Unit tests of common/lf_wire_rules: the agent rule set message (LFY1)
 * round trip, and refusal of every truncation, bad names, duplicate names,
 * unknown flags and trailing bytes. */
#include "lf_wire_rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const names[] = {"test.yar", "webshell_files.yar", "x-1.yara"};
static const char *const texts[] = {"rule a { condition: true }", "",
                                    "rule b { condition: false }"};

static void build(lf_buf_t *buf)
{
    lf_buf_init(buf, 1 << 20);
    assert_int_equal(lf_wire_rules_begin(buf, 1773104520123LL), LF_OK);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(lf_wire_rules_add(buf, lf_str_c(names[i]), texts[i], strlen(texts[i])),
                         LF_OK);
    uint8_t sha[32];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)(i * 7 + 1);
    lf_wire_rules_finish(buf, 3, sha);
}

static void test_round_trip(void **state)
{
    (void)state;
    lf_buf_t buf;
    build(&buf);
    lf_wire_rules_t r;
    assert_int_equal(lf_wire_rules_parse(buf.data, buf.len, &r), LF_OK);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.created_ms, 1773104520123LL);
    assert_int_equal(r.sha256[0], 1);
    assert_int_equal(r.sha256[31], (uint8_t)(31 * 7 + 1));
    char version[17];
    lf_wire_rules_version(r.sha256, version);
    assert_string_equal(version, "01080f161d242b32");
    lf_wire_rules_iter_t it;
    lf_wire_rules_iter(&r, &it);
    lf_wire_rule_file_t f;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(lf_wire_rules_next(&r, &it, &f), LF_OK);
        assert_true(lf_str_eq_c(f.name, names[i]));
        assert_true(lf_str_eq_c(f.text, texts[i]));
    }
    assert_int_equal(lf_wire_rules_next(&r, &it, &f), LF_ENOTFOUND);
    lf_buf_free(&buf);
}

static void test_every_truncation_refused(void **state)
{
    (void)state;
    lf_buf_t buf;
    build(&buf);
    lf_wire_rules_t r;
    for (size_t n = 0; n < buf.len; n++)
        assert_int_equal(lf_wire_rules_parse(buf.data, n, &r), LF_EPARSE);
    assert_int_equal(lf_wire_rules_parse(NULL, 0, &r), LF_EPARSE);
    lf_buf_free(&buf);
}

static void test_malformed_refused(void **state)
{
    (void)state;
    lf_buf_t buf;
    build(&buf);
    lf_wire_rules_t r;
    char *copy = malloc(buf.len + 1);
    assert_non_null(copy);
    /* magic, version, unknown flags */
    const size_t offsets[] = {0, 4, 5};
    for (size_t i = 0; i < 3; i++) {
        memcpy(copy, buf.data, buf.len);
        copy[offsets[i]] ^= 0x40;
        assert_int_equal(lf_wire_rules_parse(copy, buf.len, &r), LF_EPARSE);
    }
    /* a count larger than the files present, and one smaller (trailing bytes) */
    memcpy(copy, buf.data, buf.len);
    copy[6] = 4;
    assert_int_equal(lf_wire_rules_parse(copy, buf.len, &r), LF_EPARSE);
    copy[6] = 2;
    assert_int_equal(lf_wire_rules_parse(copy, buf.len, &r), LF_EPARSE);
    /* trailing byte */
    memcpy(copy, buf.data, buf.len);
    copy[buf.len] = 0;
    assert_int_equal(lf_wire_rules_parse(copy, buf.len + 1, &r), LF_EPARSE);
    /* a name that is not a plain file name: "../x" written over "test.yar" */
    memcpy(copy, buf.data, buf.len);
    memcpy(copy + LF_WIRE_RULES_FIXED + 2, "../x.yar", 8);
    assert_int_equal(lf_wire_rules_parse(copy, buf.len, &r), LF_EPARSE);
    free(copy);
    lf_buf_free(&buf);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(lf_wire_rules_name_ok(lf_str_c("a.yar")));
    assert_false(lf_wire_rules_name_ok(lf_str_c("")));
    assert_false(lf_wire_rules_name_ok(lf_str_c(".hidden.yar")));
    assert_false(lf_wire_rules_name_ok(lf_str_c("dir/a.yar")));
    assert_false(lf_wire_rules_name_ok(lf_str_c("a b.yar")));
    char longname[LF_WIRE_RULES_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(lf_wire_rules_name_ok(lf_str_c(longname)));
    lf_buf_t buf;
    lf_buf_init(&buf, 1 << 16);
    assert_int_equal(lf_wire_rules_begin(&buf, 0), LF_OK);
    size_t before = buf.len;
    assert_int_equal(lf_wire_rules_add(&buf, lf_str_c("../etc/passwd"), "x", 1), LF_EINVAL);
    assert_int_equal(buf.len, before);
    /* the same name twice */
    assert_int_equal(lf_wire_rules_add(&buf, lf_str_c("a.yar"), "x", 1), LF_OK);
    assert_int_equal(lf_wire_rules_add(&buf, lf_str_c("a.yar"), "y", 1), LF_OK);
    uint8_t sha[32] = {0};
    lf_wire_rules_finish(&buf, 2, sha);
    lf_wire_rules_t r;
    assert_int_equal(lf_wire_rules_parse(buf.data, buf.len, &r), LF_EPARSE);
    /* an empty set is valid: it withdraws every rule */
    assert_int_equal(lf_wire_rules_begin(&buf, 0), LF_OK);
    lf_wire_rules_finish(&buf, 0, sha);
    assert_int_equal(lf_wire_rules_parse(buf.data, buf.len, &r), LF_OK);
    assert_int_equal(r.count, 0);
    /* a full buffer leaves it as it was */
    lf_buf_t small;
    lf_buf_init(&small, 64);
    assert_int_equal(lf_wire_rules_begin(&small, 0), LF_OK);
    assert_int_equal(lf_wire_rules_add(&small, lf_str_c("big.yar"), "0123456789abcdef0123", 20),
                     LF_EFULL);
    assert_int_equal(small.len, LF_WIRE_RULES_FIXED);
    lf_buf_free(&small);
    lf_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
