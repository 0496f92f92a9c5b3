/* Crash safety of store/: a child process commits batches and reports each
 * committed batch through a pipe; the parent kills it with SIGKILL right
 * after a report, reopens the store and checks that every reported batch is
 * stored exactly once and that the watermarks are right. */
#include "store_test_util.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#define MIB           (1024LL * 1024)
#define AGENTS        3
#define PER_AGENT     8  /* events per agent per batch */
#define KILL_AFTER    40 /* batches reported before the kill */
#define CHILD_BATCHES 100000

static const char *const agent_names[AGENTS] = {"crash-a", "crash-b", "crash-c"};

/* Batch i holds, per agent, seq i*PER_AGENT+1 .. (i+1)*PER_AGENT, put in
 * reverse order so the watermark advances over numbers already stored. */
static uint64_t batch_seq(uint32_t batch, unsigned j)
{
    return (uint64_t)batch * PER_AGENT + (PER_AGENT - j);
}

static int64_t event_ts(unsigned agent, uint64_t seq)
{
    return 1700000000000LL + (int64_t)seq * 10 + agent;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

static void child_main(const test_dir_t *dir, bool sync, int fd)
{
    lf_store_config_t cfg = test_config(dir, 256 * MIB, sync);
    lf_store_t *st;
    char err[256];
    if (lf_store_open(&cfg, NULL, &st, err, sizeof err) != LF_OK)
        _exit(2);
    for (uint32_t i = 0; i < CHILD_BATCHES; i++) {
        lf_store_batch_t *b;
        if (lf_store_batch_begin(st, &b) != LF_OK)
            _exit(3);
        for (unsigned a = 0; a < AGENTS; a++)
            for (unsigned j = 0; j < PER_AGENT; j++) {
                uint64_t seq = batch_seq(i, j);
                if (test_put(b, agent_names[a], seq, 1, event_ts(a, seq), "crash-agency") != LF_OK)
                    _exit(4);
            }
        if (lf_store_batch_set_offset(b, "events", 0, (int64_t)i + 1) != LF_OK)
            _exit(5);
        if (lf_store_batch_commit(b, NULL, NULL) != LF_OK)
            _exit(6);
        if (!write_all(fd, &i, sizeof i))
            _exit(7);
    }
    _exit(0);
}

typedef struct count_ctx {
    uint64_t per_agent[AGENTS];
    uint64_t total;
} count_ctx_t;

static bool count_event(void *opaque, const lf_store_event_out_t *ev)
{
    count_ctx_t *c = opaque;
    for (unsigned a = 0; a < AGENTS; a++)
        if (lf_str_eq_c(ev->agent_id, agent_names[a]))
            c->per_agent[a]++;
    c->total++;
    return true;
}

static void run_crash(bool sync)
{
    test_dir_t dir;
    test_dir_make(&dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(&dir, sync, fds[1]);
    }
    close(fds[1]);
    int64_t last = -1;
    uint32_t got;
    while (last < KILL_AFTER - 1) {
        ssize_t n = read(fds[0], &got, sizeof got);
        if (n < 0 && errno == EINTR)
            continue;
        assert_int_equal(n, sizeof got);
        assert_int_equal(got, (uint32_t)(last + 1));
        last = got;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* reports written before the kill landed are committed as well */
    ssize_t n;
    while ((n = read(fds[0], &got, sizeof got)) == sizeof got) {
        assert_int_equal(got, (uint32_t)(last + 1));
        last = got;
    }
    close(fds[0]);

    lf_store_config_t cfg = test_config(&dir, 256 * MIB, sync);
    lf_store_t *st;
    char err[256];
    assert_int_equal(lf_store_open(&cfg, NULL, &st, err, sizeof err), LF_OK);

    /* Every reported batch is there. One more may have committed between
     * the last report and the kill; it must then be complete, not torn. */
    int64_t offset = 0;
    assert_int_equal(lf_store_offset_get(st, "events", 0, &offset), LF_OK);
    assert_true(offset == last + 1 || offset == last + 2);
    uint64_t batches = (uint64_t)offset;
    uint64_t want_per_agent = batches * PER_AGENT;

    count_ctx_t c = {0};
    char cursor[LF_STORE_CURSOR_MAX] = "";
    do {
        lf_store_query_t q = {.cursor = cursor, .limit = LF_STORE_SCAN_LIMIT_MAX};
        char next[LF_STORE_CURSOR_MAX];
        assert_int_equal(lf_store_events_scan(st, &q, count_event, &c, next), LF_OK);
        snprintf(cursor, sizeof cursor, "%s", next);
    } while (cursor[0]);
    assert_int_equal(c.total, AGENTS * want_per_agent);
    lf_store_stats_t s;
    assert_int_equal(lf_store_stats(st, &s), LF_OK);
    assert_int_equal(s.events, AGENTS * want_per_agent);
    assert_int_equal(s.agents, AGENTS);

    for (unsigned a = 0; a < AGENTS; a++) {
        assert_int_equal(c.per_agent[a], want_per_agent);
        uint64_t w = 0;
        assert_int_equal(lf_store_agent_watermark(st, lf_str_c(agent_names[a]), &w), LF_OK);
        assert_int_equal(w, want_per_agent);
    }

    /* Re-delivering every reported batch stores nothing new. */
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(st, &b), LF_OK);
    for (uint32_t i = 0; i <= (uint32_t)last; i++)
        for (unsigned a = 0; a < AGENTS; a++)
            for (unsigned j = 0; j < PER_AGENT; j++) {
                uint64_t seq = batch_seq(i, j);
                assert_int_equal(
                    test_put(b, agent_names[a], seq, 1, event_ts(a, seq), "crash-agency"),
                    LF_EDUPLICATE);
            }
    /* the store goes on from where it was */
    uint64_t next_seq = want_per_agent + 1;
    assert_int_equal(test_put(b, agent_names[0], next_seq, 1, event_ts(0, next_seq), "x"), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    assert_int_equal(lf_store_stats(st, &s), LF_OK);
    assert_int_equal(s.events, AGENTS * want_per_agent + 1);
    lf_store_close(st);
    test_dir_remove(&dir);
}

static void test_kill9_with_sync(void **state)
{
    run_crash(true);
}

static void test_kill9_without_sync(void **state)
{
    run_crash(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_with_sync),
        cmocka_unit_test(test_kill9_without_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
