/* Unit tests of common/lf_buf: the hard maximum and fixed-width appends. */
#include "lf_buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_max_enforced(void **state)
{
    lf_buf_t b;
    lf_buf_init(&b, 10);
    assert_int_equal(lf_buf_append(&b, "0123456789", 10), LF_OK);
    assert_int_equal(b.len, 10);
    assert_int_equal(lf_buf_append_byte(&b, 'x'), LF_EFULL);
    assert_int_equal(lf_buf_append(&b, "", 0), LF_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(lf_buf_cstr(&b), "0123456789"); /* the NUL fits past max */
    assert_int_equal(lf_buf_printf(&b, "%d", 1), LF_EFULL);
    assert_int_equal(lf_buf_reserve(&b, 1), LF_EFULL);
    assert_int_equal(lf_buf_reserve(&b, SIZE_MAX), LF_EFULL);
    assert_true(b.cap <= 11);
    lf_buf_free(&b);
}

static void test_failed_append_leaves_buffer(void **state)
{
    lf_buf_t b;
    lf_buf_init(&b, 8);
    assert_int_equal(lf_buf_append_str(&b, "abc"), LF_OK);
    assert_int_equal(lf_buf_append_str(&b, "defghi"), LF_EFULL);
    assert_int_equal(b.len, 3);
    assert_string_equal(lf_buf_cstr(&b), "abc");
    assert_int_equal(lf_buf_append_u64le(&b, 1), LF_EFULL);
    assert_int_equal(lf_buf_printf(&b, "%s", "12345"), LF_OK);
    assert_string_equal(lf_buf_cstr(&b), "abc12345");
    lf_buf_free(&b);
}

static void test_reset_keeps_allocation(void **state)
{
    lf_buf_t b;
    lf_buf_init(&b, 1 << 20);
    assert_int_equal(lf_buf_printf(&b, "%s-%d", "lianfang", 42), LF_OK);
    assert_string_equal(lf_buf_cstr(&b), "lianfang-42");
    char *data = b.data;
    size_t cap = b.cap;
    lf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_string_equal(lf_buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(lf_buf_append(&b, "0123456789", 10), LF_OK);
    assert_int_equal(b.len, 10000);
    lf_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_empty_cstr(void **state)
{
    lf_buf_t b;
    lf_buf_init(&b, 0);
    assert_string_equal(lf_buf_cstr(&b), "");
    assert_int_equal(lf_buf_append_byte(&b, 'a'), LF_EFULL);
    lf_buf_free(&b);
}

static void test_little_endian(void **state)
{
    lf_buf_t b;
    lf_buf_init(&b, 64);
    assert_int_equal(lf_buf_append_u16le(&b, 0x0102), LF_OK);
    assert_int_equal(lf_buf_append_u32le(&b, 0x03040506), LF_OK);
    assert_int_equal(lf_buf_append_u64le(&b, 0x0708090a0b0c0d0eULL), LF_OK);
    const unsigned char want[] = {0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e,
                                  0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    lf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_enforced),
        cmocka_unit_test(test_failed_append_leaves_buffer),
        cmocka_unit_test(test_reset_keeps_allocation),
        cmocka_unit_test(test_empty_cstr),
        cmocka_unit_test(test_little_endian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
