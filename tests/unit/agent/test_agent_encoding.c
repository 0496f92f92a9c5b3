/* Unit tests of agent/agent_encoding.c: Big5 and CP950 records become
 * UTF-8, ASCII records are untouched, a record invalid in its encoding is
 * left as it is (and counted), a record cut inside a character is cut at a
 * character boundary and flagged, and a re-send of a converted batch is
 * byte-identical to its first send. */
#include "agent_batch.h"
#include "agent_test_util.h"
#include "agent_encoding.h"
#include "lf_wire.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static lf_agent_line_t line_of(const char *s, size_t n)
{
    return (lf_agent_line_t){.data = s, .len = n, .offset = 0, .end = n, .flags = 0};
}

static void test_big5_to_utf8(void **state)
{
    lf_agent_encoding_t e;
    assert_int_equal(lf_agent_encoding_init(&e, LF_AGENT_ENC_BIG5, 1024), LF_OK);
    static const char big5[] = "app: \xa4\xa4\xa4\xe5 \xb4\xfa\xb8\xd5"; /* 中文 測試 */
    lf_agent_line_t l = line_of(big5, sizeof big5 - 1);
    assert_true(lf_agent_encoding_apply(&e, &l));
    assert_int_equal(l.len, strlen("app: 中文 測試"));
    assert_memory_equal(l.data, "app: 中文 測試", l.len);
    assert_int_equal(l.flags, 0);
    /* ASCII stays where it is. */
    static const char ascii[] = "plain ascii";
    l = line_of(ascii, sizeof ascii - 1);
    assert_true(lf_agent_encoding_apply(&e, &l));
    assert_ptr_equal(l.data, ascii);
    lf_agent_encoding_free(&e);
}

static void test_cp950_and_invalid(void **state)
{
    lf_agent_encoding_t e;
    assert_int_equal(lf_agent_encoding_init(&e, LF_AGENT_ENC_CP950, 1024), LF_OK);
    static const char ok[] = "\xa5\x78\xc6\x57"; /* 台灣 */
    lf_agent_line_t l = line_of(ok, sizeof ok - 1);
    assert_true(lf_agent_encoding_apply(&e, &l));
    assert_memory_equal(l.data, "台灣", l.len);
    /* 0xff is no lead byte: the record stays as it was. */
    static const char bad[] = "x \xff\xfe y";
    l = line_of(bad, sizeof bad - 1);
    assert_false(lf_agent_encoding_apply(&e, &l));
    assert_ptr_equal(l.data, bad);
    assert_int_equal(l.len, sizeof bad - 1);
    assert_int_equal(e.failures, 1);
    lf_agent_encoding_free(&e);
}

static void test_cut_inside_a_character(void **state)
{
    lf_agent_encoding_t e;
    assert_int_equal(lf_agent_encoding_init(&e, LF_AGENT_ENC_BIG5, 4), LF_OK);
    /* The reader cut "中文" after three bytes: half a character is left. */
    static const char cut[] = "\xa4\xa4\xa4";
    lf_agent_line_t l = line_of(cut, 3);
    assert_true(lf_agent_encoding_apply(&e, &l));
    assert_memory_equal(l.data, "中", l.len);
    assert_true(l.flags & LF_REC_TRUNCATED);
    /* Converted past max_record (4): cut at a character boundary. */
    static const char two[] = "\xa4\xa4\xa4\xe5"; /* 6 bytes of UTF-8 */
    l = line_of(two, 4);
    assert_true(lf_agent_encoding_apply(&e, &l));
    assert_int_equal(l.len, 3);
    assert_true(l.flags & LF_REC_TRUNCATED);
    lf_agent_encoding_free(&e);
}

static void test_unknown_encoding(void **state)
{
    lf_agent_encoding_t e;
    assert_int_equal(lf_agent_encoding_init(&e, LF_AGENT_ENC_UTF8, 16), LF_EINVAL);
    assert_int_equal(lf_agent_encoding_init(&e, 99, 16), LF_EINVAL);
}

static void test_resend_is_identical(void **state)
{
    char path[] = "/tmp/lf-enc-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "a \xa4\xa4\n\xb4\xfa\xb8\xd5 b\nplain\nbad \xff\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    lf_agent_encoding_t e;
    assert_int_equal(lf_agent_encoding_init(&e, LF_AGENT_ENC_BIG5, 256), LF_OK);
    lf_agent_recfmt_t fmt = {.enc = &e};
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 256), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    lf_agent_batch_ids_t ids = {.agent_id = lf_str_c("a1"),
                                .agency = lf_str_c("CH-07"),
                                .host = lf_str_c("h"),
                                .epoch_seq = 1};
    lf_agent_jbatch_t jb = {.first_seq = 1,
                            .max_record = 256,
                            .off_start = 0,
                            .source = lf_str_c("legacy"),
                            .path = lf_str_c(path)};
    lf_buf_t first;
    lf_buf_init(&first, 1 << 20);
    lf_agent_batch_limits_t lim = {.max_records = 100, .max_bytes = 1 << 20, .max_record = 256};
    uint32_t count = 0;
    test_batch_roundtrip(fd, &r, &ids, &jb, &lim, &fmt, &first, &count);
    assert_int_equal(count, 4);
    assert_non_null(memmem(first.data, first.len, "a 中", strlen("a 中")));
    assert_non_null(memmem(first.data, first.len, "測試 b", strlen("測試 b")));
    assert_non_null(memmem(first.data, first.len, "bad \xff", 5)); /* kept as it was */
    lf_buf_free(&first);
    lf_agent_reader_free(&r);
    lf_agent_encoding_free(&e);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big5_to_utf8),           cmocka_unit_test(test_cp950_and_invalid),
        cmocka_unit_test(test_cut_inside_a_character), cmocka_unit_test(test_unknown_encoding),
        cmocka_unit_test(test_resend_is_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
