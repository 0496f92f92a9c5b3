/* Unit tests of agent/agent_multiline.c: stack traces joined under their
 * timestamped first line, indented continuations, lines before the first
 * start line, a pending record left unread until the file is idle, a
 * record cut at max_record, a bad pattern, and re-sends of multi-line
 * batches that are byte-identical to the first send. */
#include "agent_batch.h"
#include "agent_test_util.h"
#include "agent_multiline.h"
#include "lf_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int file_with(const char *text, char *path)
{
    snprintf(path, 64, "%s", "/tmp/lf-ml-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

typedef struct recs {
    char text[16][512];
    uint8_t flags[16];
    uint64_t offset[16];
    int n;
    lf_err_t last;
} recs_t;

static void read_all(int fd, const char *pattern, size_t max_record, bool flush, recs_t *out,
                     uint64_t *pos)
{
    lf_agent_multiline_t ml;
    char err[256];
    assert_int_equal(lf_agent_multiline_init(&ml, pattern, max_record, err, sizeof err), LF_OK);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, max_record), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    memset(out, 0, sizeof *out);
    lf_agent_line_t l;
    while ((out->last = lf_agent_multiline_next(&ml, &r, UINT64_MAX, flush, &l)) == LF_OK) {
        assert_true(out->n < 16);
        snprintf(out->text[out->n], sizeof out->text[0], "%.*s", (int)l.len, l.data);
        out->flags[out->n] = l.flags;
        out->offset[out->n] = l.offset;
        out->n++;
    }
    *pos = lf_agent_reader_pos(&r);
    lf_agent_reader_free(&r);
    lf_agent_multiline_free(&ml);
}

static const char trace[] = "2026-03-10 09:00:00 INFO start\n"
                            "2026-03-10 09:00:01 ERROR failed\n"
                            "java.lang.IllegalStateException: x\n"
                            "\tat a.b(C.java:1)\n"
                            "\tat d.e(F.java:2)\n"
                            "2026-03-10 09:00:02 INFO next\n";

static void test_stack_trace(void **state)
{
    char path[64];
    int fd = file_with(trace, path);
    recs_t r;
    uint64_t pos;
    read_all(fd, "^[0-9]{4}-[0-9]{2}-[0-9]{2} ", 4096, true, &r, &pos);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.text[0], "2026-03-10 09:00:00 INFO start");
    assert_string_equal(r.text[1], "2026-03-10 09:00:01 ERROR failed\n"
                                   "java.lang.IllegalStateException: x\n"
                                   "\tat a.b(C.java:1)\n"
                                   "\tat d.e(F.java:2)");
    assert_string_equal(r.text[2], "2026-03-10 09:00:02 INFO next");
    assert_int_equal(r.offset[1], strlen("2026-03-10 09:00:00 INFO start\n"));
    assert_int_equal(pos, strlen(trace));
    close(fd);
    unlink(path);
}

static void test_pending_until_idle(void **state)
{
    char path[64];
    int fd = file_with(trace, path);
    recs_t r;
    uint64_t pos;
    /* Not idle yet: the last record may still grow; it stays unread. */
    read_all(fd, "^[0-9]{4}-", 4096, false, &r, &pos);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.last, LF_EAGAIN);
    assert_int_equal(pos, strlen(trace) - strlen("2026-03-10 09:00:02 INFO next\n"));
    close(fd);
    unlink(path);
}

static void test_indented_and_orphans(void **state)
{
    char path[64];
    int fd = file_with("  orphan continuation\n"
                       "first\n"
                       "  more\n"
                       "\tand more\n"
                       "second\n",
                       path);
    recs_t r;
    uint64_t pos;
    read_all(fd, "^[^[:space:]]", 4096, true, &r, &pos);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.text[0], "  orphan continuation");
    assert_string_equal(r.text[1], "first\n  more\n\tand more");
    assert_string_equal(r.text[2], "second");
    close(fd);
    unlink(path);
}

static void test_cut_at_max_record(void **state)
{
    char path[64];
    int fd = file_with("head\n"
                       " 0123456789\n"
                       " 0123456789\n"
                       "tail\n",
                       path);
    recs_t r;
    uint64_t pos;
    read_all(fd, "^[^ ]", 16, true, &r, &pos);
    assert_int_equal(r.n, 2);
    assert_int_equal(strlen(r.text[0]), 16);
    assert_true(r.flags[0] & LF_REC_TRUNCATED);
    assert_string_equal(r.text[1], "tail");
    close(fd);
    unlink(path);
}

static void test_bad_pattern(void **state)
{
    lf_agent_multiline_t ml;
    char err[256] = "";
    assert_int_equal(lf_agent_multiline_init(&ml, "([unclosed", 64, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "multiline_start"));
}

static void test_resend_identical(void **state)
{
    char path[64];
    char text[8192] = "";
    size_t used = 0;
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "2026-03-10 09:00:%02d ERROR e%d\n\tat x%d\n\tat y%d\n", i % 60, i,
                                 i, i);
    int fd = file_with(text, path);
    lf_agent_multiline_t ml;
    char err[256];
    assert_int_equal(lf_agent_multiline_init(&ml, "^[0-9]{4}-", 512, err, sizeof err), LF_OK);
    lf_agent_recfmt_t fmt = {.ml = &ml};
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, 512), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    lf_agent_batch_ids_t ids = {.agent_id = lf_str_c("a1"),
                                .agency = lf_str_c("TC-01"),
                                .host = lf_str_c("h"),
                                .epoch_seq = 1};
    const lf_agent_batch_limits_t lim = {.max_records = 7, .max_bytes = 1 << 20, .max_record = 512};
    uint64_t seq = 1;
    int batches = 0, records = 0;
    for (;;) {
        lf_agent_jbatch_t jb = {.first_seq = seq,
                                .max_record = 512,
                                .off_start = lf_agent_reader_pos(&r),
                                .source = lf_str_c("java"),
                                .path = lf_str_c(path)};
        lf_buf_t first;
        lf_buf_init(&first, 1 << 20);
        uint32_t count = 0;
        lf_err_t rc = test_batch_roundtrip(fd, &r, &ids, &jb, &lim, &fmt, &first, &count);
        if (count == 0) {
            lf_buf_free(&first);
            break;
        }
        lf_wire_batch_t wb;
        assert_int_equal(lf_wire_batch_parse(first.data, first.len, &wb), LF_OK);
        lf_wire_iter_t it;
        lf_wire_record_t rec;
        lf_wire_batch_iter(&wb, &it);
        while (lf_wire_batch_next(&wb, &it, &rec) == LF_OK) {
            assert_non_null(memmem(rec.data.ptr, rec.data.len, "\n\tat y", 6));
            records++;
        }
        seq += count;
        batches++;
        lf_buf_free(&first);
        if (rc != LF_OK)
            break;
    }
    assert_int_equal(records, 40);
    assert_true(batches >= 6);
    lf_agent_reader_free(&r);
    lf_agent_multiline_free(&ml);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_trace),          cmocka_unit_test(test_pending_until_idle),
        cmocka_unit_test(test_indented_and_orphans), cmocka_unit_test(test_cut_at_max_record),
        cmocka_unit_test(test_bad_pattern),          cmocka_unit_test(test_resend_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
