/* Unit tests of the heartbeat message (LFH1) of common/lf_wire: round trip
 * with and without a proof, the proof against the right and wrong keys and
 * against tampering, and refusal of every truncation and malformed field. */
#include "lf_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const lf_wire_counter_t counters[] = {
    {{"records_read", 12}, 4200},
    {{"records_lost", 12}, 3},
    {{"spool_bytes", 11}, 65536},
};

static lf_wire_heartbeat_t sample(void)
{
    return (lf_wire_heartbeat_t){.sent_ms = 1773104520123LL,
                                 .started_ms = 1773104000000LL,
                                 .interval_ms = 30000,
                                 .last_error_ms = 1773104510000LL,
                                 .agent_id = lf_str_c("ch07-app"),
                                 .agency = lf_str_c("CH-07"),
                                 .host = lf_str_c("appt-web-01"),
                                 .os = lf_str_c("Debian GNU/Linux 12 (bookworm); Linux 6.1.0"),
                                 .version = lf_str_c("0.1.0"),
                                 .last_error = lf_str_c("agent: 彰化 spool full")};
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t key[LF_WIRE_KEY_BYTES];
    lf_wire_enrol_key(lf_str_c("ch07-enrolment-token-0123456789"), key);
    for (int with_key = 0; with_key < 2; with_key++) {
        lf_buf_t buf;
        lf_buf_init(&buf, 65536);
        lf_wire_heartbeat_t in = sample();
        assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 3, with_key ? key : NULL),
                         LF_OK);
        lf_wire_heartbeat_t out;
        assert_int_equal(lf_wire_heartbeat_parse(buf.data, buf.len, &out), LF_OK);
        assert_int_equal(out.sent_ms, in.sent_ms);
        assert_int_equal(out.started_ms, in.started_ms);
        assert_int_equal(out.interval_ms, 30000);
        assert_int_equal(out.last_error_ms, in.last_error_ms);
        assert_true(lf_str_eq(out.agent_id, in.agent_id));
        assert_true(lf_str_eq(out.agency, in.agency));
        assert_true(lf_str_eq(out.host, in.host));
        assert_true(lf_str_eq(out.os, in.os));
        assert_true(lf_str_eq(out.version, in.version));
        assert_true(lf_str_eq(out.last_error, in.last_error));
        assert_int_equal(out.counter_count, 3);
        lf_wire_hb_iter_t it = {0};
        lf_wire_counter_t c;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(lf_wire_heartbeat_counter(&out, &it, &c), LF_OK);
            assert_true(lf_str_eq(c.name, counters[i].name));
            assert_int_equal(c.value, counters[i].value);
        }
        assert_int_equal(lf_wire_heartbeat_counter(&out, &it, &c), LF_ENOTFOUND);
        assert_int_equal(out.proof != NULL, with_key);
        assert_int_equal(lf_wire_heartbeat_verify(buf.data, &out, key), with_key);
        lf_buf_free(&buf);
    }
}

static void test_proof(void **state)
{
    (void)state;
    uint8_t key[LF_WIRE_KEY_BYTES], other[LF_WIRE_KEY_BYTES];
    lf_wire_enrol_key(lf_str_c("ch07-enrolment-token-0123456789"), key);
    lf_wire_enrol_key(lf_str_c("ch07-enrolment-token-0123456780"), other);
    lf_buf_t buf;
    lf_buf_init(&buf, 65536);
    lf_wire_heartbeat_t in = sample();
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 3, key), LF_OK);
    lf_wire_heartbeat_t out;
    assert_int_equal(lf_wire_heartbeat_parse(buf.data, buf.len, &out), LF_OK);
    assert_true(lf_wire_heartbeat_verify(buf.data, &out, key));
    assert_false(lf_wire_heartbeat_verify(buf.data, &out, other)); /* wrong token */
    /* Any changed byte before the proof (agency, time, a counter) breaks it. */
    size_t positions[] = {9, 40, buf.len - LF_WIRE_PROOF_BYTES - 1};
    for (size_t i = 0; i < 3; i++) {
        buf.data[positions[i]] ^= 0x01;
        if (lf_wire_heartbeat_parse(buf.data, buf.len, &out) == LF_OK)
            assert_false(lf_wire_heartbeat_verify(buf.data, &out, key));
        buf.data[positions[i]] ^= 0x01;
    }
    /* The same message signed for another agency does not verify either. */
    in.agency = lf_str_c("TC-01");
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 3, other), LF_OK);
    assert_int_equal(lf_wire_heartbeat_parse(buf.data, buf.len, &out), LF_OK);
    assert_false(lf_wire_heartbeat_verify(buf.data, &out, key));
    lf_buf_free(&buf);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t key[LF_WIRE_KEY_BYTES];
    lf_wire_enrol_key(lf_str_c("token-token-token-token"), key);
    lf_buf_t buf;
    lf_buf_init(&buf, 65536);
    lf_wire_heartbeat_t in = sample(), out;
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 3, key), LF_OK);
    /* Every truncation is refused. */
    for (size_t n = 0; n < buf.len; n++)
        assert_int_equal(lf_wire_heartbeat_parse(buf.data, n, &out), LF_EPARSE);
    /* Trailing bytes, unknown version or flags, bad magic. */
    char copy[4096];
    memcpy(copy, buf.data, buf.len);
    copy[buf.len] = 0;
    assert_int_equal(lf_wire_heartbeat_parse(copy, buf.len + 1, &out), LF_EPARSE);
    copy[4] = 2;
    assert_int_equal(lf_wire_heartbeat_parse(copy, buf.len, &out), LF_EPARSE);
    copy[4] = 1;
    copy[5] |= 0x80;
    assert_int_equal(lf_wire_heartbeat_parse(copy, buf.len, &out), LF_EPARSE);
    copy[5] = 0x01;
    copy[3] = 'X';
    assert_int_equal(lf_wire_heartbeat_parse(copy, buf.len, &out), LF_EPARSE);
    assert_int_equal(lf_wire_heartbeat_parse(NULL, 0, &out), LF_EPARSE);
    /* The encoder refuses what the parser would. */
    lf_wire_counter_t bad[] = {{{"Records-Read", 12}, 1}};
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, bad, 1, NULL), LF_EINVAL);
    lf_wire_counter_t empty[] = {{{"", 0}, 1}};
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, empty, 1, NULL), LF_EINVAL);
    in.agent_id = LF_STR_NULL;
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 3, NULL), LF_EINVAL);
    /* A counter name with a byte outside [a-z0-9_] on the wire is refused. */
    in = sample();
    assert_int_equal(lf_wire_heartbeat_encode(&buf, &in, counters, 1, NULL), LF_OK);
    char *name = memmem(buf.data, buf.len, "records_read", 12);
    assert_non_null(name);
    name[0] = 'R';
    assert_int_equal(lf_wire_heartbeat_parse(buf.data, buf.len, &out), LF_EPARSE);
    lf_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_proof),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
