/* journald sources: the record format, reading journal files written by
 * systemd-journal-remote, byte-identical re-reads from the journalled
 * cursors, vacuumed entries, and the cursor journal in the state. */
#include "agent_journald.h"
#include "agent_state.h"
#include "agent_test_util.h"
#include "lf_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define JOURNAL_REMOTE "/lib/systemd/systemd-journal-remote"

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

/* ---- the record format ---------------------------------------------------- */

static lf_agent_journald_item_t item(const char *s)
{
    return (lf_agent_journald_item_t){s, strlen(s)};
}

static void test_journald_format_fixed_order_and_escapes(void **state)
{
    (void)state;
    /* Items in any order; the record has the fixed field order. */
    lf_agent_journald_item_t items[] = {item("MESSAGE=say \"hi\"\tnow\x01"),
                                        item("_PID=42"),
                                        item("SYSLOG_IDENTIFIER=sshd"),
                                        item("_HOSTNAME=web01"),
                                        item("UNKNOWN=x"),
                                        item("PRIORITY=6")};
    lf_buf_t out;
    lf_buf_init(&out, 1 << 16);
    bool cut = true;
    assert_int_equal(lf_agent_journald_format(1773104520123456u, items, 6, 4096, &out, &cut),
                     LF_OK);
    assert_false(cut);
    const char *want = "{\"__REALTIME_TIMESTAMP\":\"1773104520123456\",\"_HOSTNAME\":\"web01\","
                       "\"SYSLOG_IDENTIFIER\":\"sshd\",\"_PID\":\"42\",\"PRIORITY\":\"6\","
                       "\"MESSAGE\":\"say \\\"hi\\\"\\tnow\\u0001\"}";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    lf_buf_free(&out);
}

static void test_journald_format_cuts_message_keeps_json(void **state)
{
    (void)state;
    char msg[600] = "MESSAGE=";
    /* "é" (2 bytes) repeated: a cut never splits a character. */
    for (size_t i = 8; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[sizeof msg - 1] = '\0';
    lf_agent_journald_item_t items[] = {item("_HOSTNAME=h"), item(msg)};
    lf_buf_t out;
    lf_buf_init(&out, 1 << 16);
    bool cut = false;
    assert_int_equal(lf_agent_journald_format(1, items, 2, 256, &out, &cut), LF_OK);
    assert_true(cut);
    assert_true(out.len <= 256);
    assert_memory_equal(out.data + out.len - 2, "\"}", 2);
    /* The byte before the closing quote ends a whole character. */
    assert_int_equal((unsigned char)out.data[out.len - 3], 0xa9);
    /* Bytes that are not UTF-8 pass unchanged (lianfangd flags them). */
    lf_agent_journald_item_t bad[] = {item("MESSAGE=\xff\xfe ok")};
    assert_int_equal(lf_agent_journald_format(2, bad, 1, 256, &out, &cut), LF_OK);
    assert_false(cut);
    assert_non_null(memmem(out.data, out.len, "\xff\xfe ok", 5));
    lf_buf_free(&out);
}

/* ---- reading journal files ----------------------------------------------- */

/* Appends n entries (messages "<tag> <i>") to dir/test.journal through
 * systemd-journal-remote; every other entry is from unit "b.service". */
static void journal_write(const char *dir, const char *tag, int from, int n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, JOURNAL_REMOTE " -o %s/test.journal - 2>/dev/null", dir);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    for (int i = from; i < from + n; i++)
        fprintf(p,
                "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"
                "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web01\n"
                "SYSLOG_IDENTIFIER=app\n_PID=%d\nPRIORITY=%d\n_SYSTEMD_UNIT=%s\n"
                "MESSAGE=%s %d\n\n",
                1700000000 + i, 1000 + i, 100 + i, i % 8, i % 2 ? "b.service" : "a.service", tag,
                i);
    assert_int_equal(pclose(p), 0);
}

static bool have_journal_remote(void)
{
    return access(JOURNAL_REMOTE, X_OK) == 0;
}

static const lf_agent_batch_ids_t ids = {
    .agent_id = {"web-01", 6}, .agency = {"TC-01", 5}, .host = {"web01", 5}, .epoch_seq = 1000};

typedef struct read_batch {
    lf_agent_jbatch_t jb;
    char first[LF_AGENT_CURSOR_MAX + 1], last[LF_AGENT_CURSOR_MAX + 1];
    lf_buf_t wire;
    lf_err_t rc;
} read_batch_t;

static void read_one(lf_agent_journald_t *jd, uint64_t seq, uint32_t max_records, read_batch_t *rb)
{
    rb->jb = (lf_agent_jbatch_t){.first_seq = seq,
                                 .flags = LF_AGENT_JBATCH_JOURNALD,
                                 .max_record = 4096,
                                 .read_time_ms = 1700000000000,
                                 .source = lf_str_c("journal"),
                                 .path = lf_str_c("/x")};
    lf_buf_init(&rb->wire, 1 << 20);
    lf_wire_batch_header_t h;
    lf_agent_batch_header(&ids, &rb->jb, &h);
    assert_int_equal(lf_wire_batch_begin(&rb->wire, &h), LF_OK);
    lf_agent_batch_limits_t lim = {
        .max_records = max_records, .max_bytes = 1 << 20, .max_record = 4096};
    uint32_t count = 0, truncated = 0;
    lf_str_t first = LF_STR_NULL, last = LF_STR_NULL;
    rb->rc = lf_agent_journald_fill(jd, &lim, &rb->wire, &count, &truncated, &first, &last);
    rb->jb.count = count;
    if (count) {
        lf_wire_batch_finish(&rb->wire, count);
        snprintf(rb->first, sizeof rb->first, "%.*s", (int)first.len, first.ptr);
        snprintf(rb->last, sizeof rb->last, "%.*s", (int)last.len, last.ptr);
    }
}

/* The messages of a wire batch, joined by '|'. */
static void messages(const lf_buf_t *wire, char *out, size_t cap)
{
    lf_wire_batch_t b;
    assert_int_equal(lf_wire_batch_parse(wire->data, wire->len, &b), LF_OK);
    lf_wire_iter_t it;
    lf_wire_record_t r;
    out[0] = '\0';
    size_t used = 0;
    lf_wire_batch_iter(&b, &it);
    while (lf_wire_batch_next(&b, &it, &r) == LF_OK) {
        const char *m = memmem(r.data.ptr, r.data.len, "\"MESSAGE\":\"", 11);
        assert_non_null(m);
        m += 11;
        const char *e = memchr(m, '"', (size_t)(r.data.ptr + r.data.len - m));
        assert_non_null(e);
        used +=
            (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? "|" : "", (int)(e - m), m);
    }
}

static lf_agent_journald_config_t config(const char *dir, char **matches, size_t nmatches)
{
    return (lf_agent_journald_config_t){
        .name = "journal", .matches = matches, .match_count = nmatches, .directory = (char *)dir};
}

static void test_journald_read_resend_identical_and_resume(void **state)
{
    if (!have_journal_remote())
        skip();
    const char *dir = *state;
    journal_write(dir, "m", 0, 5);
    lf_agent_journald_config_t cfg = config(dir, NULL, 0);
    char err[512];
    lf_agent_journald_t *jd;
    assert_int_equal(lf_agent_journald_open(&cfg, 4096, &jd, err, sizeof err), LF_OK);
    assert_int_equal(lf_agent_journald_seek(jd, NULL, false, NULL, NULL), LF_OK);

    read_batch_t a, b, c;
    read_one(jd, 1000, 3, &a);
    assert_int_equal(a.rc, LF_OK);
    assert_int_equal(a.jb.count, 3);
    read_one(jd, 1003, 3, &b);
    assert_int_equal(b.rc, LF_ENOTFOUND);
    assert_int_equal(b.jb.count, 2);
    char msgs[1024];
    messages(&a.wire, msgs, sizeof msgs);
    assert_string_equal(msgs, "m 0|m 1|m 2");
    messages(&b.wire, msgs, sizeof msgs);
    assert_string_equal(msgs, "m 3|m 4");

    /* A re-send rebuilds the same bytes from the cursors. */
    lf_buf_t re;
    lf_buf_init(&re, 1 << 20);
    assert_int_equal(lf_agent_journald_rebuild(jd, &ids, &a.jb, a.first, a.last, &re), LF_OK);
    assert_int_equal(re.len, a.wire.len);
    assert_memory_equal(re.data, a.wire.data, re.len);
    assert_int_equal(lf_agent_journald_rebuild(jd, &ids, &b.jb, b.first, b.last, &re), LF_OK);
    assert_memory_equal(re.data, b.wire.data, re.len);
    /* A count that does not end at the journalled last cursor is refused. */
    lf_agent_jbatch_t wrong = a.jb;
    wrong.count = 2;
    assert_int_equal(lf_agent_journald_rebuild(jd, &ids, &wrong, a.first, a.last, &re), LF_EPARSE);

    /* Entries appended later are read after the last one; a restart at the
     * checkpoint (the last cursor of b) reads only them. */
    journal_write(dir, "n", 5, 2);
    lf_agent_journald_process(jd);
    read_one(jd, 1005, 10, &c);
    assert_int_equal(c.jb.count, 2);
    messages(&c.wire, msgs, sizeof msgs);
    assert_string_equal(msgs, "n 5|n 6");
    lf_agent_journald_close(jd);

    assert_int_equal(lf_agent_journald_open(&cfg, 4096, &jd, err, sizeof err), LF_OK);
    bool found = false;
    char cp[LF_AGENT_CURSOR_MAX + 1];
    assert_int_equal(lf_agent_journald_seek(jd, b.last, false, cp, &found), LF_OK);
    assert_true(found);
    assert_string_equal(cp, b.last);
    read_batch_t d;
    read_one(jd, 1005, 10, &d);
    assert_int_equal(d.jb.count, 2);
    assert_memory_equal(d.wire.data, c.wire.data, c.wire.len);
    /* start_at end: after the newest entry, with its cursor as checkpoint. */
    assert_int_equal(lf_agent_journald_seek(jd, NULL, true, cp, NULL), LF_OK);
    assert_string_equal(cp, c.last);
    read_batch_t e;
    read_one(jd, 1007, 10, &e);
    assert_int_equal(e.jb.count, 0);
    lf_agent_journald_close(jd);
    lf_buf_free(&re);
    lf_buf_free(&a.wire);
    lf_buf_free(&b.wire);
    lf_buf_free(&c.wire);
    lf_buf_free(&d.wire);
    lf_buf_free(&e.wire);
}

static void test_journald_matches_and_vacuumed_entries(void **state)
{
    if (!have_journal_remote())
        skip();
    const char *dir = *state;
    journal_write(dir, "m", 0, 6);
    char *matches[] = {"_SYSTEMD_UNIT=b.service"};
    lf_agent_journald_config_t cfg = config(dir, matches, 1);
    char err[512];
    lf_agent_journald_t *jd;
    assert_int_equal(lf_agent_journald_open(&cfg, 4096, &jd, err, sizeof err), LF_OK);
    assert_int_equal(lf_agent_journald_seek(jd, NULL, false, NULL, NULL), LF_OK);
    read_batch_t a;
    read_one(jd, 1000, 100, &a);
    char msgs[1024];
    messages(&a.wire, msgs, sizeof msgs);
    assert_string_equal(msgs, "m 1|m 3|m 5");
    lf_buf_t re;
    lf_buf_init(&re, 1 << 20);
    assert_int_equal(lf_agent_journald_rebuild(jd, &ids, &a.jb, a.first, a.last, &re), LF_OK);
    assert_memory_equal(re.data, a.wire.data, re.len);
    lf_agent_journald_close(jd);

    /* The journal file is removed (vacuumed) and a new one written: the
     * journalled entries are gone, so the re-read reports it, and reading
     * resumes with the new entries. */
    char path[4096];
    snprintf(path, sizeof path, "%s/test.journal", dir);
    assert_int_equal(unlink(path), 0);
    journal_write(dir, "v", 10, 2);
    assert_int_equal(lf_agent_journald_open(&cfg, 4096, &jd, err, sizeof err), LF_OK);
    assert_int_equal(lf_agent_journald_rebuild(jd, &ids, &a.jb, a.first, a.last, &re), LF_EPARSE);
    bool found = true;
    assert_int_equal(lf_agent_journald_seek(jd, a.last, false, NULL, &found), LF_OK);
    assert_false(found);
    read_batch_t b;
    read_one(jd, 1003, 100, &b);
    messages(&b.wire, msgs, sizeof msgs);
    assert_string_equal(msgs, "v 11");
    lf_agent_journald_close(jd);
    lf_buf_free(&re);
    lf_buf_free(&a.wire);
    lf_buf_free(&b.wire);
}

static void test_journald_open_errors(void **state)
{
    char *bad[] = {"no equals sign"};
    lf_agent_journald_config_t cfg = config(*state, bad, 1);
    char err[512] = "";
    lf_agent_journald_t *jd = NULL;
    assert_int_equal(lf_agent_journald_open(&cfg, 4096, &jd, err, sizeof err), LF_ECONFIG);
    assert_null(jd);
    assert_non_null(strstr(err, "FIELD=value"));
}

/* ---- the cursor journal in the state ------------------------------------- */

static void test_journald_state_cursors(void **state)
{
    const lf_agent_state_options_t opts = {.map_size = 64u << 20, .agent_id = "web-01"};
    char err[512];
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(*state, &opts, &st, err, sizeof err), LF_OK);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    lf_agent_jbatch_t b = {.first_seq = m.next_seq,
                           .count = 4,
                           .flags = LF_AGENT_JBATCH_JOURNALD,
                           .max_record = 4096,
                           .bytes = 400,
                           .source = lf_str_c("journal"),
                           .path = lf_str_c("journald")};
    /* A journald batch needs its cursors; a file batch must not have them. */
    lf_agent_filepos_t pos = {0};
    assert_int_equal(lf_agent_state_commit_batch(st, &b, "journald:journal", &pos), LF_EINVAL);
    assert_int_equal(lf_agent_state_commit_batch_cursor(st, &b, "journald:journal",
                                                        lf_str_c("s=1;i=1"), LF_STR_NULL),
                     LF_EINVAL);
    assert_int_equal(lf_agent_state_commit_batch_cursor(st, &b, "journald:journal",
                                                        lf_str_c("s=1;i=1"), lf_str_c("s=1;i=4")),
                     LF_OK);
    char first[LF_AGENT_CURSOR_MAX + 1], last[LF_AGENT_CURSOR_MAX + 1], cp[LF_AGENT_CURSOR_MAX + 1];
    assert_int_equal(lf_agent_state_get_cursor(st, "journald:journal", cp), LF_OK);
    assert_string_equal(cp, "s=1;i=4");
    assert_int_equal(lf_agent_state_mark_lost(st, b.first_seq), LF_OK);
    lf_agent_state_close(st);

    /* After a restart: the batch, its cursors and the checkpoint are there. */
    assert_int_equal(lf_agent_state_open(*state, &opts, &st, err, sizeof err), LF_OK);
    assert_int_equal(lf_agent_state_batch_cursors(st, b.first_seq, first, last), LF_OK);
    assert_string_equal(first, "s=1;i=1");
    assert_string_equal(last, "s=1;i=4");
    assert_int_equal(lf_agent_state_batch_cursors(st, b.first_seq + 1, first, last), LF_ENOTFOUND);
    assert_int_equal(lf_agent_state_put_cursor(st, "journald:other", lf_str_c("^")), LF_OK);
    size_t deleted = 0;
    assert_int_equal(lf_agent_state_ack(st, b.first_seq + 3, &deleted), LF_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(lf_agent_state_batch_cursors(st, b.first_seq, first, last), LF_ENOTFOUND);
    assert_int_equal(lf_agent_state_get_cursor(st, "journald:journal", cp), LF_OK);
    assert_string_equal(cp, "s=1;i=4");
    assert_int_equal(lf_agent_state_get_cursor(st, "journald:none", cp), LF_ENOTFOUND);
    lf_agent_state_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journald_format_fixed_order_and_escapes),
        cmocka_unit_test(test_journald_format_cuts_message_keeps_json),
        cmocka_unit_test_setup_teardown(test_journald_read_resend_identical_and_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_journald_matches_and_vacuumed_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_journald_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journald_state_cursors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
