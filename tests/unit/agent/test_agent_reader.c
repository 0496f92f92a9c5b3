/* The line reader: newline splitting, \r\n, truncation, partial lines. */
#include "agent_reader.h"
#include "agent_test_util.h"
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

typedef struct fixture {
    char *dir;
    char *file;
    int fd;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    f->file = test_path(f->dir, "log");
    f->fd = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->fd >= 0)
        close(f->fd);
    test_rmtree(f->dir);
    free(f->dir);
    free(f->file);
    free(f);
    return 0;
}

static int open_with(fixture_t *f, const char *data, size_t len)
{
    test_write_file(f->file, data, len, 0);
    f->fd = open(f->file, O_RDONLY);
    assert_true(f->fd >= 0);
    return f->fd;
}

static void expect_line(lf_agent_reader_t *r, bool flush, const char *text, uint64_t off,
                        uint64_t end, uint8_t flags)
{
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(r, UINT64_MAX, flush, &line), LF_OK);
    assert_int_equal(line.len, strlen(text));
    assert_memory_equal(line.data, text, line.len);
    assert_int_equal(line.offset, off);
    assert_int_equal(line.end, end);
    assert_int_equal(line.flags, flags);
}

static void test_reader_splits_lines_and_strips_crlf(void **state)
{
    fixture_t *f = *state;
    const char text[] = "alpha\nbeta\r\n\ngamma\r\r\n";
    int fd = open_with(f, text, sizeof text - 1);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 256), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    expect_line(&r, false, "alpha", 0, 6, 0);
    expect_line(&r, false, "beta", 6, 12, 0);
    expect_line(&r, false, "", 12, 13, 0);
    expect_line(&r, false, "gamma\r", 13, 21, 0); /* only one \r is stripped */
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, true, &line), LF_ENOTFOUND);
    assert_int_equal(lf_agent_reader_pos(&r), sizeof text - 1);
    lf_agent_reader_free(&r);
}

static void test_reader_partial_line_waits_for_flush(void **state)
{
    fixture_t *f = *state;
    int fd = open_with(f, "one\ntw", 6);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 256), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    expect_line(&r, false, "one", 0, 4, 0);
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_EAGAIN);
    assert_int_equal(lf_agent_reader_pos(&r), 4);
    /* The writer finishes the line: it comes whole. */
    test_write_file(f->file, "o\nthree", 7, 1);
    expect_line(&r, false, "two", 4, 8, 0);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_EAGAIN);
    /* Idle long enough: the partial line is sent as it is. */
    expect_line(&r, true, "three", 8, 13, 0);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, true, &line), LF_ENOTFOUND);
    assert_int_equal(lf_agent_reader_pos(&r), 13);
    lf_agent_reader_free(&r);
}

static void test_reader_truncates_long_lines(void **state)
{
    fixture_t *f = *state;
    /* A line of 1000 bytes (in the buffer), one of 300000 bytes (longer than
     * the read chunk), a line of exactly max bytes + \r\n, then a short one. */
    size_t max = 256, total = 1000 + 1 + 300000 + 1 + 258 + 3;
    char *text = malloc(total);
    memset(text, 'a', 1000);
    text[1000] = '\n';
    memset(text + 1001, 'b', 300000);
    text[301001] = '\n';
    memset(text + 301002, 'c', 256);
    text[301258] = '\r';
    text[301259] = '\n';
    memcpy(text + 301260, "ok\n", 3);
    int fd = open_with(f, text, total);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, max), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
    assert_int_equal(line.len, max);
    assert_int_equal(line.flags, LF_REC_TRUNCATED);
    assert_int_equal(line.offset, 0);
    assert_int_equal(line.end, 1001);
    assert_memory_equal(line.data, text, max);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
    assert_int_equal(line.len, max);
    assert_int_equal(line.flags, LF_REC_TRUNCATED);
    assert_int_equal(line.offset, 1001);
    assert_int_equal(line.end, 301002);
    assert_memory_equal(line.data, text + 1001, max);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
    assert_int_equal(line.len, max);
    assert_int_equal(line.flags, 0); /* exactly max after stripping \r */
    assert_int_equal(line.offset, 301002);
    expect_line(&r, false, "ok", 301260, total, 0);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, true, &line), LF_ENOTFOUND);
    lf_agent_reader_free(&r);
    free(text);
}

static void test_reader_long_partial_line_then_completed(void **state)
{
    fixture_t *f = *state;
    size_t max = 256, n = 200000;
    char *text = malloc(n);
    memset(text, 'x', n);
    int fd = open_with(f, text, n);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, max), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    lf_agent_line_t line;
    /* Still being written: nothing yet, and the reader did not buffer it. */
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_EAGAIN);
    assert_int_equal(lf_agent_reader_pos(&r), 0);
    assert_true(r.cap < n);
    test_write_file(f->file, "yy\nnext\n", 8, 1);
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
    assert_int_equal(line.flags, LF_REC_TRUNCATED);
    assert_int_equal(line.len, max);
    assert_int_equal(line.end, n + 3);
    expect_line(&r, false, "next", n + 3, n + 8, 0);
    lf_agent_reader_free(&r);
    free(text);
}

static void test_reader_stops_at_limit(void **state)
{
    fixture_t *f = *state;
    int fd = open_with(f, "aa\nbb\ncc\ndd\n", 12);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 256), LF_OK);
    lf_agent_reader_reset(&r, fd, 3);
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(&r, 9, true, &line), LF_OK);
    assert_memory_equal(line.data, "bb", 2);
    assert_int_equal(lf_agent_reader_next(&r, 9, true, &line), LF_OK);
    assert_memory_equal(line.data, "cc", 2);
    assert_int_equal(lf_agent_reader_next(&r, 9, true, &line), LF_ENOTFOUND);
    assert_int_equal(lf_agent_reader_pos(&r), 9);
    /* A limit inside a line yields that part as a partial line only when flushing. */
    lf_agent_reader_reset(&r, fd, 0);
    assert_int_equal(lf_agent_reader_next(&r, 2, false, &line), LF_EAGAIN);
    assert_int_equal(lf_agent_reader_next(&r, 2, true, &line), LF_OK);
    assert_int_equal(line.len, 2);
    assert_int_equal(line.end, 2);
    lf_agent_reader_free(&r);
}

/* The bytes just before the position, as read, survive buffer refills and
 * the end of file (the agent recognises a copytruncate copy by them). */
static void expect_tail(const lf_agent_reader_t *r, const char *text)
{
    char tail[LF_AGENT_READER_KEEP];
    uint64_t pos = lf_agent_reader_pos(r);
    size_t want = pos < sizeof tail ? (size_t)pos : sizeof tail;
    assert_int_equal(lf_agent_reader_tail(r, tail, sizeof tail), want);
    assert_memory_equal(tail, text + pos - want, want);
}

static void test_reader_tail_before_position(void **state)
{
    fixture_t *f = *state;
    size_t nlines = 20000, total = nlines * 11; /* more than three read chunks */
    char *text = malloc(total + 1);
    for (size_t i = 0; i < nlines; i++)
        snprintf(text + i * 11, 12, "line %05zu\n", i);
    int fd = open_with(f, text, total);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 256), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    char tail[LF_AGENT_READER_KEEP];
    assert_int_equal(lf_agent_reader_tail(&r, tail, sizeof tail), 0);
    lf_agent_line_t line;
    for (size_t i = 0; i < nlines; i++) {
        assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
        expect_tail(&r, text);
    }
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, true, &line), LF_ENOTFOUND);
    assert_int_equal(lf_agent_reader_pos(&r), total);
    expect_tail(&r, text);
    /* Fewer asked for: the last ones. */
    assert_int_equal(lf_agent_reader_tail(&r, tail, 5), 5);
    assert_memory_equal(tail, "9999\n", 5);
    /* Reset: nothing before the new position was read. */
    lf_agent_reader_reset(&r, fd, 110);
    assert_int_equal(lf_agent_reader_tail(&r, tail, sizeof tail), 0);
    expect_line(&r, false, "line 00010", 110, 121, 0);
    assert_int_equal(lf_agent_reader_tail(&r, tail, sizeof tail), 11);
    assert_memory_equal(tail, "line 00010\n", 11);
    lf_agent_reader_free(&r);
    free(text);
}

static void test_reader_tail_after_long_line(void **state)
{
    fixture_t *f = *state;
    size_t max = 256, n = 100000;
    char *text = malloc(n + 4);
    memset(text, 'z', n);
    memcpy(text + n, "\nok\n", 4);
    int fd = open_with(f, text, n + 4);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, max), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    lf_agent_line_t line;
    assert_int_equal(lf_agent_reader_next(&r, UINT64_MAX, false, &line), LF_OK);
    assert_int_equal(line.flags, LF_REC_TRUNCATED);
    assert_int_equal(lf_agent_reader_pos(&r), n + 1);
    /* Only bytes read as they are in the file count (not the kept head). */
    char tail[LF_AGENT_READER_KEEP];
    size_t k = lf_agent_reader_tail(&r, tail, sizeof tail);
    assert_true(k <= sizeof tail);
    assert_memory_equal(tail, text + n + 1 - k, k);
    expect_line(&r, false, "ok", n + 1, n + 4, 0);
    k = lf_agent_reader_tail(&r, tail, sizeof tail);
    assert_true(k >= 3);
    assert_memory_equal(tail, text + n + 4 - k, k);
    lf_agent_reader_free(&r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reader_splits_lines_and_strips_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_partial_line_waits_for_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_truncates_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_long_partial_line_then_completed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reader_stops_at_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_tail_before_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_tail_after_long_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
