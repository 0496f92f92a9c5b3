/* Unit tests of common/lf_wire: batch and ack round trips, rejection of
 * every truncation and of malformed headers, the acks partition function. */
#include "lf_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct rec_spec {
    uint64_t offset;
    uint8_t flags;
    const char *data;
    uint32_t len;
} rec_spec_t;

static const rec_spec_t recs[] = {
    {0, 0, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed", 51},
    {51, LF_REC_TRUNCATED, "truncated record", 16},
    {LF_WIRE_NO_OFFSET, LF_REC_LOST, "", 0},
    {1234567890123ULL, 0, "\x00\x01\xff binary", 10},
};
#define NRECS (sizeof recs / sizeof recs[0])

static lf_wire_batch_header_t sample_header(void)
{
    return (lf_wire_batch_header_t){
        .first_seq = 1700000000000001ULL,
        .epoch_seq = 1700000000000000ULL,
        .read_time_ms = 1773104520123LL,
        .agent_id = lf_str_c("agent-7f3a"),
        .agency = lf_str_c("tc-gov-042"),
        .host = lf_str_c("web01"),
        .source = lf_str_c("syslog"),
        .path = lf_str_c("/var/log/auth.log"),
    };
}

static void build_batch(lf_buf_t *buf)
{
    lf_wire_batch_header_t h = sample_header();
    assert_int_equal(lf_wire_batch_begin(buf, &h), LF_OK);
    for (size_t i = 0; i < NRECS; i++)
        assert_int_equal(
            lf_wire_batch_add(buf, recs[i].offset, recs[i].flags, recs[i].data, recs[i].len),
            LF_OK);
    lf_wire_batch_finish(buf, NRECS);
}

static void test_batch_round_trip(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 1 << 20);
    build_batch(&buf);
    lf_wire_batch_t batch;
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_OK);
    lf_wire_batch_header_t h = sample_header();
    assert_int_equal(batch.h.first_seq, h.first_seq);
    assert_int_equal(batch.h.epoch_seq, h.epoch_seq);
    assert_int_equal(batch.h.read_time_ms, h.read_time_ms);
    assert_true(lf_str_eq(batch.h.agent_id, h.agent_id));
    assert_true(lf_str_eq(batch.h.agency, h.agency));
    assert_true(lf_str_eq(batch.h.host, h.host));
    assert_true(lf_str_eq(batch.h.source, h.source));
    assert_true(lf_str_eq(batch.h.path, h.path));
    assert_int_equal(batch.count, NRECS);

    lf_wire_iter_t it;
    lf_wire_record_t rec;
    lf_wire_batch_iter(&batch, &it);
    for (size_t i = 0; i < NRECS; i++) {
        assert_int_equal(lf_wire_batch_next(&batch, &it, &rec), LF_OK);
        assert_int_equal(rec.seq, h.first_seq + i);
        assert_int_equal(rec.offset, recs[i].offset);
        assert_int_equal(rec.flags, recs[i].flags);
        assert_int_equal(rec.data.len, recs[i].len);
        if (recs[i].len)
            assert_memory_equal(rec.data.ptr, recs[i].data, recs[i].len);
    }
    assert_int_equal(lf_wire_batch_next(&batch, &it, &rec), LF_ENOTFOUND);
    lf_buf_free(&buf);
}

static void test_empty_batch_and_negative_time(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 4096);
    lf_wire_batch_header_t h = {.first_seq = 1, .read_time_ms = -1, .agent_id = lf_str_c("a")};
    assert_int_equal(lf_wire_batch_begin(&buf, &h), LF_OK);
    lf_wire_batch_finish(&buf, 0);
    lf_wire_batch_t batch;
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_OK);
    assert_int_equal(batch.count, 0);
    assert_int_equal(batch.h.read_time_ms, -1);
    assert_int_equal(batch.h.epoch_seq, 0);
    assert_int_equal(batch.h.agency.len, 0);
    lf_wire_iter_t it;
    lf_wire_record_t rec;
    lf_wire_batch_iter(&batch, &it);
    assert_int_equal(lf_wire_batch_next(&batch, &it, &rec), LF_ENOTFOUND);
    lf_buf_free(&buf);
}

static void test_every_truncation_rejected(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 1 << 20);
    build_batch(&buf);
    lf_wire_batch_t batch;
    for (size_t len = 0; len < buf.len; len++) {
        /* a heap copy of exactly len bytes, so ASan sees any over-read */
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf.data, len);
        if (lf_wire_batch_parse(copy, len, &batch) == LF_OK)
            fail_msg("a batch truncated to %zu of %zu bytes was accepted", len, buf.len);
        free(copy);
    }
    /* one byte too many is refused as well */
    assert_int_equal(lf_buf_append_byte(&buf, 0), LF_OK);
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);
    assert_int_equal(lf_wire_batch_parse(NULL, 0, &batch), LF_EPARSE);
    lf_buf_free(&buf);
}

static void test_malformed_headers_rejected(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 1 << 20);
    lf_wire_batch_t batch;

    build_batch(&buf);
    buf.data[0] = 'X'; /* magic */
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    build_batch(&buf);
    buf.data[4] = LF_WIRE_VERSION + 1; /* version */
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    build_batch(&buf);
    lf_wire_batch_finish(&buf, NRECS + 1); /* count larger than the records */
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);
    lf_wire_batch_finish(&buf, NRECS - 1); /* smaller: trailing bytes */
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);
    lf_wire_batch_finish(&buf, LF_WIRE_MAX_RECORDS + 1);
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    /* sequence numbers that would wrap */
    lf_wire_batch_header_t h = sample_header();
    h.first_seq = UINT64_MAX;
    assert_int_equal(lf_wire_batch_begin(&buf, &h), LF_OK);
    assert_int_equal(lf_wire_batch_add(&buf, 0, 0, "x", 1), LF_OK);
    lf_wire_batch_finish(&buf, 1);
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    /* an agent id is required */
    h = sample_header();
    h.agent_id = LF_STR_NULL;
    assert_int_equal(lf_wire_batch_begin(&buf, &h), LF_OK);
    lf_wire_batch_finish(&buf, 0);
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    /* record length pointing past the end */
    build_batch(&buf);
    size_t first_rec = (size_t)(LF_WIRE_BATCH_FIXED + 5 * 2 + 10 + 10 + 5 + 6 + 17);
    buf.data[first_rec + 9] = (char)0xff;
    assert_int_equal(lf_wire_batch_parse(buf.data, buf.len, &batch), LF_EPARSE);

    /* strings longer than the format allows are refused when writing */
    char big[LF_WIRE_MAX_STRING + 1];
    memset(big, 'h', sizeof big);
    h = sample_header();
    h.host = lf_str_n(big, sizeof big);
    assert_int_equal(lf_wire_batch_begin(&buf, &h), LF_EINVAL);
    lf_buf_free(&buf);
}

static void test_batch_respects_buffer_max(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 200);
    lf_wire_batch_header_t h = sample_header();
    assert_int_equal(lf_wire_batch_begin(&buf, &h), LF_OK);
    size_t len = buf.len;
    char data[256] = {0};
    assert_int_equal(lf_wire_batch_add(&buf, 0, 0, data, sizeof data), LF_EFULL);
    assert_int_equal(buf.len, len); /* nothing half-written */
    lf_buf_free(&buf);
}

static void test_ack_round_trip(void **state)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 4096);
    lf_wire_ack_t ack = {.watermark = 1700000000000123ULL,
                         .stored_time_ms = 1773104520123LL,
                         .agent_id = lf_str_c("agent-7f3a")};
    assert_int_equal(lf_wire_ack_encode(&buf, &ack), LF_OK);
    lf_wire_ack_t got;
    assert_int_equal(lf_wire_ack_parse(buf.data, buf.len, &got), LF_OK);
    assert_int_equal(got.watermark, ack.watermark);
    assert_int_equal(got.stored_time_ms, ack.stored_time_ms);
    assert_true(lf_str_eq(got.agent_id, ack.agent_id));

    for (size_t len = 0; len < buf.len; len++) {
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf.data, len);
        assert_int_equal(lf_wire_ack_parse(copy, len, &got), LF_EPARSE);
        free(copy);
    }
    assert_int_equal(lf_buf_append_byte(&buf, 'x'), LF_OK);
    assert_int_equal(lf_wire_ack_parse(buf.data, buf.len, &got), LF_EPARSE);

    ack.agent_id = LF_STR_NULL;
    assert_int_equal(lf_wire_ack_encode(&buf, &ack), LF_OK);
    assert_int_equal(lf_wire_ack_parse(buf.data, buf.len, &got), LF_EPARSE);
    lf_buf_free(&buf);
}

static void test_ack_partition(void **state)
{
    /* FNV-1a 32: values pinned so the mapping never silently changes */
    assert_int_equal(lf_wire_ack_partition(lf_str_c("agent-1"), 12), 3813959584u % 12);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("agent-1"), 7), 3813959584u % 7);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("web-01.taichung.gov.tw"), 7), 6);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("a"), 12), 4);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("a"), 0), 0);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("a"), -3), 0);
    assert_int_equal(lf_wire_ack_partition(lf_str_c("a"), 1), 0);
    char id[32];
    int hits[16] = {0};
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "agent-%d", i);
        for (int32_t n = 1; n <= 16; n++) {
            int32_t p = lf_wire_ack_partition(lf_str_c(id), n);
            assert_true(p >= 0 && p < n);
            assert_int_equal(p, lf_wire_ack_partition(lf_str_c(id), n)); /* stable */
            if (n == 16)
                hits[p]++;
        }
    }
    for (int p = 0; p < 16; p++)
        assert_true(hits[p] > 60); /* roughly even: 125 expected each */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_round_trip),
        cmocka_unit_test(test_empty_batch_and_negative_time),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_malformed_headers_rejected),
        cmocka_unit_test(test_batch_respects_buffer_max),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_ack_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
