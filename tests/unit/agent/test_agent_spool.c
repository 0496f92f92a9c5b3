/* The spool of network records: append, segments, budget, reading back,
 * byte-identical rebuild of a journalled range, deletion, a torn end. */
#include "agent_spool.h"
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static lf_agent_spool_t *open_spool(const char *dir, lf_agent_spool_budget_t *b, uint64_t seg,
                                    int sync)
{
    lf_agent_spool_options_t o = {.dir = dir, .segment_bytes = seg, .sync = sync, .budget = b};
    lf_agent_spool_t *sp = NULL;
    char err[256];
    if (lf_agent_spool_open(&o, &sp, err, sizeof err) != LF_OK)
        fail_msg("open: %s", err);
    return sp;
}

static void test_append_read_and_rebuild(void **state)
{
    char *dir = test_tmpdir();
    char *sdir = test_path(dir, "fw");
    lf_agent_spool_budget_t b = {.max = 1 << 20};
    lf_agent_spool_t *sp = open_spool(sdir, &b, 4096, LF_AGENT_SPOOL_SYNC_BATCH);
    assert_null(lf_agent_spool_first(sp));
    char msg[64];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(msg, sizeof msg, "<13>message %d\nwith a newline", i);
        assert_int_equal(
            lf_agent_spool_append(sp, msg, (uint32_t)n, i == 7 ? LF_REC_TRUNCATED : 0,
                                  lf_str_c(i % 2 ? "192.0.2.1:514" : "[2001:db8::1]:6514"), false),
            LF_OK);
        if (i % 10 == 9) {
            assert_true(lf_agent_spool_dirty(sp));
            assert_int_equal(lf_agent_spool_flush(sp, false), LF_OK);
            assert_false(lf_agent_spool_dirty(sp));
        }
    }
    /* 100 records of ~60 bytes in 4 KiB segments: several, sealed but the last */
    int nseg = 0;
    uint64_t total = 0;
    for (lf_agent_spool_seg_t *s = lf_agent_spool_first(sp); s; s = s->next) {
        nseg++;
        total += s->size;
        assert_int_equal(s->readable, s->size);
        assert_int_equal(s->sealed, s->next != NULL);
    }
    assert_true(nseg >= 2);
    assert_int_equal(b.used, total);

    /* Read everything back through the batch filler; rebuild each batch. */
    lf_agent_spool_reader_t r;
    assert_int_equal(lf_agent_spool_reader_init(&r, 256), LF_OK);
    lf_buf_t wire, again;
    lf_buf_init(&wire, 1 << 20);
    lf_buf_init(&again, 1 << 20);
    lf_agent_batch_ids_t ids = {.agent_id = lf_str_c("fw-relay"),
                                .agency = lf_str_c("TC-01"),
                                .host = lf_str_c("relay"),
                                .epoch_seq = 1000};
    lf_agent_batch_limits_t lim = {.max_records = 7, .max_bytes = 1 << 20, .max_record = 256};
    int seen = 0;
    uint64_t seq = 1000;
    for (lf_agent_spool_seg_t *s = lf_agent_spool_first(sp); s; s = s->next) {
        int fd = open(s->path, O_RDONLY);
        assert_true(fd >= 0);
        lf_agent_spool_reader_reset(&r, fd, 0);
        for (;;) {
            lf_agent_jbatch_t jb = {.first_seq = seq,
                                    .flags = LF_AGENT_JBATCH_SPOOL,
                                    .max_record = 256,
                                    .off_start = lf_agent_spool_reader_pos(&r),
                                    .read_time_ms = 1773104520123,
                                    .source = lf_str_c("fw"),
                                    .path = lf_str_c("tcp://0.0.0.0:514")};
            lf_wire_batch_header_t h;
            lf_agent_batch_header(&ids, &jb, &h);
            assert_int_equal(h.flags, LF_WIRE_F_SENDERS);
            assert_int_equal(lf_wire_batch_begin(&wire, &h), LF_OK);
            uint32_t count = 0, trunc = 0;
            lf_err_t rc = lf_agent_spool_fill(&r, &lim, s->readable, &wire, &count, &trunc);
            if (count == 0) {
                assert_int_equal(rc, LF_ENOTFOUND);
                break;
            }
            lf_wire_batch_finish(&wire, count);
            jb.count = count;
            jb.off_end = lf_agent_spool_reader_pos(&r);
            assert_int_equal(lf_agent_spool_rebuild(fd, &ids, &jb, &again), LF_OK);
            assert_int_equal(again.len, wire.len);
            assert_memory_equal(again.data, wire.data, wire.len);
            /* one record fewer than journalled: the bytes do not match */
            jb.count = count + 1;
            assert_int_equal(lf_agent_spool_rebuild(fd, &ids, &jb, &again), LF_EPARSE);
            lf_wire_batch_t wb;
            /* a batch flag this parser does not know is refused */
            wire.data[5] = (char)0x81;
            assert_int_equal(lf_wire_batch_parse(wire.data, wire.len, &wb), LF_EPARSE);
            wire.data[5] = (char)LF_WIRE_F_SENDERS;
            assert_int_equal(lf_wire_batch_parse(wire.data, wire.len, &wb), LF_OK);
            lf_wire_iter_t it;
            lf_wire_record_t rec;
            lf_wire_batch_iter(&wb, &it);
            while (lf_wire_batch_next(&wb, &it, &rec) == LF_OK) {
                int n = snprintf(msg, sizeof msg, "<13>message %d\nwith a newline", seen);
                assert_int_equal(rec.data.len, (size_t)n);
                assert_memory_equal(rec.data.ptr, msg, (size_t)n);
                assert_true(
                    lf_str_eq_c(rec.sender, seen % 2 ? "192.0.2.1:514" : "[2001:db8::1]:6514"));
                assert_int_equal(rec.flags, seen == 7 ? LF_REC_TRUNCATED : 0);
                assert_int_equal(rec.offset, LF_WIRE_NO_OFFSET);
                seen++;
            }
            seq += count;
            if (rc != LF_OK)
                break;
        }
        close(fd);
    }
    assert_int_equal(seen, 100);

    /* Releasing a sealed segment deletes it and frees its budget; the open
     * segment stays. */
    lf_agent_spool_seg_t *first = lf_agent_spool_first(sp);
    char *path = strdup(first->path);
    uint64_t size = first->size;
    lf_agent_spool_release(sp, first);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(b.used, total - size);
    free(path);
    lf_agent_spool_seg_t *last = lf_agent_spool_first(sp);
    while (last->next)
        last = last->next;
    lf_agent_spool_release(sp, last);
    assert_int_equal(access(last->path, F_OK), 0);

    lf_agent_spool_close(sp);
    assert_int_equal(b.used, 0);
    lf_agent_spool_reader_free(&r);
    lf_buf_free(&wire);
    lf_buf_free(&again);
    test_rmtree(dir);
    free(sdir);
    free(dir);
}

static void test_budget_and_reopen(void **state)
{
    char *dir = test_tmpdir();
    char *sdir = test_path(dir, "udp");
    lf_agent_spool_budget_t b = {.max = 1000};
    lf_agent_spool_t *sp = open_spool(sdir, &b, 1 << 20, LF_AGENT_SPOOL_SYNC_OFF);
    char data[100];
    memset(data, 'd', sizeof data);
    int accepted = 0;
    while (lf_agent_spool_append(sp, data, sizeof data, 0, lf_str_c("10.0.0.1:514"), false) ==
           LF_OK)
        accepted++;
    assert_int_equal(accepted, 1000 / (8 + 12 + 100));
    assert_true(b.used <= b.max);
    /* forced (bytes already read from a TCP socket): accepted beyond the budget */
    assert_int_equal(lf_agent_spool_append(sp, data, sizeof data, 0, lf_str_c("10.0.0.2:1"), true),
                     LF_OK);
    assert_true(b.used > b.max);
    char big[300];
    memset(big, 's', sizeof big);
    assert_int_equal(lf_agent_spool_append(sp, "x", 1, 0, lf_str_n(big, sizeof big), true),
                     LF_EINVAL);
    assert_int_equal(lf_agent_spool_flush(sp, false), LF_OK);
    uint64_t used = b.used;
    lf_agent_spool_close(sp);
    assert_int_equal(b.used, 0);

    /* Reopened: the segment is sealed and counted; a torn record at its end
     * (the agent stopped while writing) is not read. */
    lf_agent_spool_seg_t *s;
    sp = open_spool(sdir, &b, 1 << 20, LF_AGENT_SPOOL_SYNC_OFF);
    s = lf_agent_spool_first(sp);
    assert_non_null(s);
    assert_true(s->sealed);
    assert_int_equal(b.used, used);
    char *seg = strdup(s->path);
    lf_agent_spool_close(sp);
    const uint8_t torn[] = {LF_AGENT_SPOOL_MAGIC, 0, 0, 0, 50, 0, 0, 0, 'a', 'b'};
    test_write_file(seg, (const char *)torn, sizeof torn, 1);
    sp = open_spool(sdir, &b, 1 << 20, LF_AGENT_SPOOL_SYNC_OFF);
    s = lf_agent_spool_first(sp);
    int fd = open(s->path, O_RDONLY);
    lf_agent_spool_reader_t r;
    assert_int_equal(lf_agent_spool_reader_init(&r, 256), LF_OK);
    lf_agent_spool_reader_reset(&r, fd, 0);
    lf_agent_spool_record_t rec;
    int n = 0;
    lf_err_t rc;
    while ((rc = lf_agent_spool_reader_next(&r, s->readable, &rec)) == LF_OK)
        n++;
    assert_int_equal(rc, LF_ENOTFOUND);
    assert_int_equal(n, accepted + 1);
    assert_int_equal(lf_agent_spool_reader_pos(&r), used);
    assert_int_equal(s->size, used + sizeof torn);
    /* a new record goes to a new segment, never after the torn end */
    assert_int_equal(lf_agent_spool_append(sp, "new", 3, 0, LF_STR_NULL, false), LF_EFULL);
    b.max = 1 << 20;
    assert_int_equal(lf_agent_spool_append(sp, "new", 3, 0, LF_STR_NULL, false), LF_OK);
    assert_int_equal(lf_agent_spool_flush(sp, false), LF_OK);
    assert_non_null(s->next);
    assert_int_equal(s->next->size, 8 + 3);
    /* garbage instead of a record */
    const char junk[] = "not a spool record";
    test_write_file(seg, junk, sizeof junk, 0);
    lf_agent_spool_reader_reset(&r, fd, 0);
    assert_int_equal(lf_agent_spool_reader_next(&r, UINT64_MAX, &rec), LF_EPARSE);
    close(fd);
    lf_agent_spool_reader_free(&r);
    lf_agent_spool_close(sp);

    uint64_t bytes, segs;
    lf_agent_spool_usage(dir, &bytes, &segs); /* dir has no spool/ subdirectory */
    assert_int_equal(segs, 0);
    free(seg);
    test_rmtree(dir);
    free(sdir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read_and_rebuild),
        cmocka_unit_test(test_budget_and_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
