/* The LMDB journal: batches persisted, acknowledgements, crash consistency. */
#include "agent_state.h"
#include "agent_test_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const lf_agent_state_options_t opts = {
    .map_size = 64u << 20, .sync = true, .agent_id = "web-01"};

static int setup(void **state)
{
    *state = test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    test_rmtree(*state);
    free(*state);
    return 0;
}

static lf_agent_state_t *open_state(const char *dir)
{
    char err[512] = "";
    lf_agent_state_t *st = NULL;
    lf_err_t rc = lf_agent_state_open(dir, &opts, &st, err, sizeof err);
    if (rc != LF_OK)
        fail_msg("open: %s", err);
    return st;
}

/* A batch of `count` records covering [off, off + 10 * count) of /var/log/x. */
static lf_agent_jbatch_t make_batch(uint64_t first_seq, uint32_t count, uint64_t off)
{
    return (lf_agent_jbatch_t){.first_seq = first_seq,
                               .count = count,
                               .source_index = 0,
                               .max_record = 256,
                               .dev = 7,
                               .ino = 42,
                               .off_start = off,
                               .off_end = off + 10u * count,
                               .bytes = 100u * count,
                               .read_time_ms = 1700000000000,
                               .source = lf_str_c("syslog"),
                               .path = lf_str_c("/var/log/x")};
}

typedef struct collected {
    lf_agent_jbatch_t b[64];
    size_t n;
} collected_t;

static bool collect(void *opaque, const lf_agent_jbatch_t *b)
{
    collected_t *c = opaque;
    if (c->n < 64)
        c->b[c->n] = *b;
    c->n++;
    return true;
}

static void test_state_new_epoch_is_realtime_microseconds(void **state)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000000u;
    lf_agent_state_t *st = open_state(*state);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    assert_true(m.epoch_seq >= before);
    assert_true(m.epoch_seq < before + 60u * 1000000u);
    assert_int_equal(m.next_seq, m.epoch_seq);
    assert_int_equal(m.acked, m.epoch_seq - 1);
    assert_string_equal(lf_agent_state_agent_id(st), "web-01");
    lf_agent_state_close(st);

    /* The same directory keeps its epoch; another agent id is refused. */
    st = open_state(*state);
    lf_agent_state_meta_t m2;
    lf_agent_state_get_meta(st, &m2);
    assert_int_equal(m2.epoch_seq, m.epoch_seq);
    lf_agent_state_close(st);
    lf_agent_state_options_t other = opts;
    other.agent_id = "web-02";
    char err[512];
    assert_int_equal(lf_agent_state_open(*state, &other, &st, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "web-01"));
}

static void test_state_batches_persist_and_ack_deletes_covered(void **state)
{
    lf_agent_state_t *st = open_state(*state);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    uint64_t s0 = m.next_seq;
    /* Three batches: [s0, s0+9], [s0+10, s0+14], [s0+15, s0+34]. */
    uint32_t counts[3] = {10, 5, 20};
    uint64_t off = 0, seq = s0;
    for (int i = 0; i < 3; i++) {
        lf_agent_jbatch_t b = make_batch(seq, counts[i], off);
        lf_agent_filepos_t pos = {7, 42, b.off_end};
        assert_int_equal(lf_agent_state_commit_batch(st, &b, "/var/log/x", &pos), LF_OK);
        seq += counts[i];
        off = b.off_end;
    }
    /* A batch that does not start at next_seq is refused. */
    lf_agent_jbatch_t bad = make_batch(seq + 1, 1, off);
    lf_agent_filepos_t badpos = {7, 42, 0};
    assert_int_equal(lf_agent_state_commit_batch(st, &bad, "/var/log/x", &badpos), LF_EINVAL);
    lf_agent_state_close(st);

    st = open_state(*state);
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.next_seq, s0 + 35);
    collected_t c = {0};
    assert_int_equal(lf_agent_state_foreach_batch(st, collect, &c), LF_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.b[1].first_seq, s0 + 10);
    assert_int_equal(c.b[1].count, 5);
    assert_int_equal(c.b[1].off_start, 100);
    assert_int_equal(c.b[1].off_end, 150);
    assert_int_equal(c.b[1].read_time_ms, 1700000000000);
    lf_agent_filepos_t pos;
    assert_int_equal(lf_agent_state_get_file(st, "/var/log/x", &pos), LF_OK);
    assert_int_equal(pos.read_offset, 350);
    assert_int_equal(pos.ino, 42);

    /* W inside the second batch releases only the first. */
    size_t deleted = 0;
    assert_int_equal(lf_agent_state_ack(st, s0 + 12, &deleted), LF_OK);
    assert_int_equal(deleted, 1);
    c.n = 0;
    lf_agent_state_foreach_batch(st, collect, &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.b[0].first_seq, s0 + 10);
    /* The file's acked offset is now the oldest unacked batch's start: 100. */
    assert_int_equal(c.b[0].off_start, 100);
    /* An older watermark changes nothing; one past next_seq is refused. */
    assert_int_equal(lf_agent_state_ack(st, s0 + 3, &deleted), LF_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(lf_agent_state_ack(st, s0 + 35, &deleted), LF_EINVAL);
    /* W at the end of the third releases both remaining batches. */
    assert_int_equal(lf_agent_state_ack(st, s0 + 34, &deleted), LF_OK);
    assert_int_equal(deleted, 2);
    lf_agent_state_close(st);

    st = open_state(*state);
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.acked, s0 + 34);
    c.n = 0;
    lf_agent_state_foreach_batch(st, collect, &c);
    assert_int_equal(c.n, 0);
    lf_agent_state_close(st);
}

/* Group commit: the batches and checkpoints of a group are written by its
 * end, a refused batch inside leaves the others, an unfinished group (the
 * process stops before its end) writes nothing, and reads during the group
 * see the state before it. */
static void test_state_group_commit(void **state)
{
    lf_agent_state_t *st = open_state(*state);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    uint64_t s0 = m.next_seq;
    assert_int_equal(lf_agent_state_group_begin(st), LF_OK);
    assert_true(lf_agent_state_in_group(st));
    assert_int_equal(lf_agent_state_group_begin(st), LF_EINVAL);
    lf_agent_jbatch_t b1 = make_batch(s0, 10, 0), b2 = make_batch(s0 + 10, 5, 100);
    lf_agent_filepos_t p1 = {7, 42, b1.off_end}, p2 = {7, 42, b2.off_end};
    assert_int_equal(lf_agent_state_commit_batch(st, &b1, "/var/log/x", &p1), LF_OK);
    lf_agent_jbatch_t bad = make_batch(s0 + 99, 1, 0);
    assert_int_equal(lf_agent_state_commit_batch(st, &bad, "/var/log/x", &p1), LF_EINVAL);
    assert_int_equal(lf_agent_state_commit_batch(st, &b2, "/var/log/x", &p2), LF_OK);
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.next_seq, s0 + 15);
    /* Not visible to readers before the end. */
    lf_agent_filepos_t pos;
    assert_int_equal(lf_agent_state_get_file(st, "/var/log/x", &pos), LF_ENOTFOUND);
    assert_int_equal(lf_agent_state_group_end(st), LF_OK);
    assert_false(lf_agent_state_in_group(st));
    assert_int_equal(lf_agent_state_group_end(st), LF_EINVAL);
    assert_int_equal(lf_agent_state_get_file(st, "/var/log/x", &pos), LF_OK);
    assert_int_equal(pos.read_offset, 150);

    /* An acknowledgement inside a group is part of it. */
    assert_int_equal(lf_agent_state_group_begin(st), LF_OK);
    size_t deleted = 0;
    assert_int_equal(lf_agent_state_ack(st, s0 + 9, &deleted), LF_OK);
    assert_int_equal(deleted, 1);
    lf_agent_jbatch_t b3 = make_batch(s0 + 15, 4, 150);
    lf_agent_filepos_t p3 = {7, 42, b3.off_end};
    assert_int_equal(lf_agent_state_commit_batch(st, &b3, "/var/log/x", &p3), LF_OK);
    assert_int_equal(lf_agent_state_group_end(st), LF_OK);

    /* A group never ended writes nothing. */
    assert_int_equal(lf_agent_state_group_begin(st), LF_OK);
    lf_agent_jbatch_t b4 = make_batch(s0 + 19, 3, 190);
    lf_agent_filepos_t p4 = {7, 42, b4.off_end};
    assert_int_equal(lf_agent_state_commit_batch(st, &b4, "/var/log/x", &p4), LF_OK);
    lf_agent_state_close(st);

    st = open_state(*state);
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.next_seq, s0 + 19);
    assert_int_equal(m.acked, s0 + 9);
    collected_t c = {0};
    assert_int_equal(lf_agent_state_foreach_batch(st, collect, &c), LF_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.b[0].first_seq, s0 + 10);
    assert_int_equal(c.b[1].first_seq, s0 + 15);
    assert_int_equal(lf_agent_state_get_file(st, "/var/log/x", &pos), LF_OK);
    assert_int_equal(pos.read_offset, 190);
    lf_agent_state_close(st);
}

static void test_state_mark_lost_and_counters(void **state)
{
    lf_agent_state_t *st = open_state(*state);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    lf_agent_jbatch_t b = make_batch(m.next_seq, 3, 0);
    lf_agent_filepos_t pos = {7, 42, 30};
    assert_int_equal(lf_agent_state_commit_batch(st, &b, "/var/log/x", &pos), LF_OK);
    assert_int_equal(lf_agent_state_mark_lost(st, b.first_seq), LF_OK);
    assert_int_equal(lf_agent_state_mark_lost(st, b.first_seq + 1), LF_ENOTFOUND);
    lf_agent_counters_t ctr = {.records_read = 3, .records_lost = 3, .acked_watermark = 9};
    assert_int_equal(lf_agent_state_put_counters(st, &ctr), LF_OK);
    lf_agent_state_close(st);
    st = open_state(*state);
    collected_t c = {0};
    lf_agent_state_foreach_batch(st, collect, &c);
    assert_int_equal(c.n, 1);
    assert_true(c.b[0].flags & LF_AGENT_JBATCH_LOST);
    assert_int_equal(c.b[0].count, 3);
    lf_agent_counters_t got;
    assert_int_equal(lf_agent_state_get_counters(st, &got), LF_OK);
    assert_memory_equal(&got, &ctr, sizeof ctr);
    lf_agent_state_close(st);
}

/* The child journals batches and acknowledges some as fast as it can and
 * reports each commit through a pipe; the parent kills it with SIGKILL at an
 * arbitrary moment, then checks the state it left. */
static void crash_child(const char *dir, int wfd)
{
    char err[512];
    lf_agent_state_t *st;
    if (lf_agent_state_open(dir, &opts, &st, err, sizeof err) != LF_OK)
        _exit(3);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    uint64_t off = 0;
    lf_agent_filepos_t start;
    if (lf_agent_state_get_file(st, "/var/log/x", &start) == LF_OK)
        off = start.read_offset;
    for (uint32_t i = 0;; i++) {
        uint32_t count = 1 + i % 7;
        lf_agent_jbatch_t b = make_batch(m.next_seq, count, off);
        lf_agent_filepos_t pos = {7, 42, b.off_end};
        if (lf_agent_state_commit_batch(st, &b, "/var/log/x", &pos) != LF_OK)
            _exit(4);
        off = b.off_end;
        lf_agent_state_get_meta(st, &m);
        uint64_t report[2] = {m.next_seq, m.acked};
        if (i % 5 == 4) {
            /* Acknowledge all but the last two batches' worth. */
            if (lf_agent_state_ack(st, m.next_seq - 10, NULL) != LF_OK)
                _exit(5);
            report[1] = m.next_seq - 10;
        }
        if (write(wfd, report, sizeof report) != sizeof report)
            _exit(6);
    }
}

typedef struct chain {
    uint64_t expect_next;
    uint64_t first;
    uint64_t last_off_end;
    size_t n;
    bool broken;
} chain_t;

static bool check_chain(void *opaque, const lf_agent_jbatch_t *b)
{
    chain_t *c = opaque;
    if (c->n == 0)
        c->first = b->first_seq;
    else if (b->first_seq != c->expect_next || b->off_start != c->last_off_end)
        c->broken = true;
    c->expect_next = b->first_seq + b->count;
    c->last_off_end = b->off_end;
    c->n++;
    return true;
}

static void test_state_survives_sigkill_mid_write(void **state)
{
    const char *dir = *state;
    for (int round = 0; round < 3; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(dir, p[1]);
        }
        close(p[1]);
        uint64_t report[2] = {0, 0}, last[2] = {0, 0};
        int wanted = 40 + round * 37;
        for (int i = 0; i < wanted; i++) {
            if (read(p[0], report, sizeof report) != sizeof report)
                fail_msg("child stopped early");
            memcpy(last, report, sizeof last);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));
        close(p[0]);

        lf_agent_state_t *st = open_state(dir);
        lf_agent_state_meta_t m;
        lf_agent_state_get_meta(st, &m);
        /* Every commit the child reported is there (it may have made more). */
        assert_true(m.next_seq >= last[0]);
        assert_true(m.acked >= last[1]);
        assert_true(m.acked < m.next_seq);
        chain_t c = {0};
        assert_int_equal(lf_agent_state_foreach_batch(st, check_chain, &c), LF_OK);
        assert_false(c.broken);
        assert_true(c.n > 0);
        /* The journal ends exactly at next_seq, starts above the watermark
         * (or in the batch holding it), and the file checkpoint is the end of
         * the last journalled batch. */
        assert_int_equal(c.expect_next, m.next_seq);
        assert_true(c.first <= m.acked + 1);
        lf_agent_filepos_t pos;
        assert_int_equal(lf_agent_state_get_file(st, "/var/log/x", &pos), LF_OK);
        assert_int_equal(pos.read_offset, c.last_off_end);
        lf_agent_state_close(st);
        /* Each round continues numbering from where the killed one stopped. */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_new_epoch_is_realtime_microseconds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_batches_persist_and_ack_deletes_covered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_mark_lost_and_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_survives_sigkill_mid_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
