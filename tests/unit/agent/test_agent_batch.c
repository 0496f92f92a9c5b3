/* Re-reading journal batches: byte-identical wire batches, rotated files
 * found by inode, deleted files counted as lost. */
#include "agent_batch.h"
#include "agent_reader.h"
#include "agent_state.h"
#include "agent_test_util.h"
#include "lf_agent.h"
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

static const lf_agent_batch_ids_t ids = {.agent_id = {"web-01", 6},
                                         .agency = {"TC-01", 5},
                                         .host = {"web-01.tc.gov.tw", 16},
                                         .epoch_seq = 1700000000000000u};

/* Reads batches from fd as the agent does and returns them in order. */
typedef struct built {
    lf_agent_jbatch_t jb;
    lf_buf_t wire;
} built_t;

static size_t read_batches(int fd, uint64_t first_seq, const lf_agent_batch_limits_t *lim,
                           built_t *out, size_t max)
{
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    lf_agent_reader_t r;
    assert_int_equal(lf_agent_reader_init(&r, lim->max_record), LF_OK);
    lf_agent_reader_reset(&r, fd, 0);
    size_t n = 0;
    lf_err_t rc = LF_OK;
    while (n < max) {
        built_t *b = &out[n];
        b->jb = (lf_agent_jbatch_t){.first_seq = first_seq,
                                    .max_record = lim->max_record,
                                    .dev = (uint64_t)sb.st_dev,
                                    .ino = (uint64_t)sb.st_ino,
                                    .off_start = lf_agent_reader_pos(&r),
                                    .read_time_ms = 1700000001234 + (int64_t)n,
                                    .source = lf_str_c("app"),
                                    .path = lf_str_c("/var/log/app.log")};
        lf_buf_init(&b->wire, lim->max_bytes + lim->max_record + 65536);
        lf_wire_batch_header_t h;
        lf_agent_batch_header(&ids, &b->jb, &h);
        assert_int_equal(lf_wire_batch_begin(&b->wire, &h), LF_OK);
        uint32_t count = 0, truncated = 0;
        rc = lf_agent_batch_fill(&r, lim, true, NULL, &b->wire, &count, &truncated);
        if (count == 0) {
            lf_buf_free(&b->wire);
            break;
        }
        lf_wire_batch_finish(&b->wire, count);
        b->jb.count = count;
        b->jb.off_end = lf_agent_reader_pos(&r);
        b->jb.bytes = b->wire.len;
        first_seq += count;
        n++;
        if (rc != LF_OK)
            break;
    }
    lf_agent_reader_free(&r);
    return n;
}

static void test_batch_rebuild_is_byte_identical(void **state)
{
    char *path = test_path(*state, "app.log");
    /* 3000 lines of varied length, some over max_record, CRLF, a partial end. */
    lf_buf_t text;
    lf_buf_init(&text, 64u << 20);
    for (int i = 0; i < 3000; i++) {
        int len = (i * 37) % 400;
        lf_buf_printf(&text, "%05d ", i);
        for (int j = 0; j < len; j++)
            lf_buf_append_byte(&text, (char)('a' + (i + j) % 26));
        lf_buf_append_str(&text, i % 3 ? "\n" : "\r\n");
    }
    lf_buf_append_str(&text, "tail without newline");
    test_write_file(path, text.data, text.len, 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    const lf_agent_batch_limits_t lim = {
        .max_records = 500, .max_bytes = 64 * 1024, .max_record = 300};
    built_t batches[64];
    size_t n = read_batches(fd, ids.epoch_seq, &lim, batches, 64);
    assert_true(n > 6);
    uint64_t seq = ids.epoch_seq, records = 0, truncated = 0;
    lf_buf_t again;
    lf_buf_init(&again, lim.max_bytes + lim.max_record + 65536);
    for (size_t i = 0; i < n; i++) {
        built_t *b = &batches[i];
        assert_true(b->jb.count <= lim.max_records);
        assert_true(b->wire.len <= lim.max_bytes + 13 + lim.max_record);
        /* The re-read batch is the same bytes. */
        assert_int_equal(lf_agent_batch_rebuild(fd, &ids, &b->jb, NULL, &again), LF_OK);
        assert_int_equal(again.len, b->wire.len);
        assert_memory_equal(again.data, b->wire.data, again.len);
        /* And it decodes to consecutive sequence numbers. */
        lf_wire_batch_t wb;
        assert_int_equal(lf_wire_batch_parse(again.data, again.len, &wb), LF_OK);
        assert_int_equal(wb.h.first_seq, seq);
        assert_int_equal(wb.h.epoch_seq, ids.epoch_seq);
        assert_true(lf_str_eq_c(wb.h.agency, "TC-01"));
        lf_wire_iter_t it;
        lf_wire_record_t rec;
        lf_wire_batch_iter(&wb, &it);
        while (lf_wire_batch_next(&wb, &it, &rec) == LF_OK) {
            assert_int_equal(rec.seq, seq);
            assert_true(rec.data.len <= 300);
            if (rec.flags & LF_REC_TRUNCATED)
                truncated++;
            seq++;
            records++;
        }
        lf_buf_free(&b->wire);
    }
    assert_int_equal(records, 3001);
    assert_true(truncated > 0);
    assert_int_equal(batches[n - 1].jb.off_end, text.len);
    /* Bytes rewritten under the journal entry: the rebuild notices. */
    lf_agent_jbatch_t jb = batches[0].jb;
    test_write_file(path, "short\n", 6, 0);
    assert_int_equal(lf_agent_batch_rebuild(fd, &ids, &jb, NULL, &again), LF_EPARSE);
    /* A lost batch becomes placeholders with the same numbers. */
    assert_int_equal(lf_agent_batch_lost(&ids, &jb, &again), LF_OK);
    lf_wire_batch_t wb;
    assert_int_equal(lf_wire_batch_parse(again.data, again.len, &wb), LF_OK);
    assert_int_equal(wb.count, jb.count);
    lf_wire_iter_t it;
    lf_wire_record_t rec;
    lf_wire_batch_iter(&wb, &it);
    assert_int_equal(lf_wire_batch_next(&wb, &it, &rec), LF_OK);
    assert_int_equal(rec.seq, jb.first_seq);
    assert_int_equal(rec.flags, LF_REC_LOST);
    assert_int_equal(rec.offset, LF_WIRE_NO_OFFSET);
    lf_buf_free(&again);
    lf_buf_free(&text);
    close(fd);
    free(path);
}

static void test_batch_rotated_file_found_by_inode(void **state)
{
    char *path = test_path(*state, "app.log");
    char *rotated = test_path(*state, "app.log.1");
    test_write_file(path, "x\n", 2, 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(rename(path, rotated), 0);
    test_write_file(path, "new file\n", 9, 0);
    char *found = NULL;
    int fd = lf_agent_file_open_by_id(path, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino, &found);
    assert_true(fd >= 0);
    assert_string_equal(found, rotated);
    char buf[4];
    assert_int_equal(pread(fd, buf, 2, 0), 2);
    assert_memory_equal(buf, "x\n", 2);
    close(fd);
    free(found);
    assert_int_equal(unlink(rotated), 0);
    assert_int_equal(
        lf_agent_file_open_by_id(path, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino, &found), -1);
    assert_null(found);
    free(path);
    free(rotated);
}

static char *config_text(const char *dir)
{
    static char text[2048];
    snprintf(text, sizeof text,
             "agent:\n  id: web-01\n  agency: TC-01\n  state_dir: %s/state\n"
             "kafka:\n  brokers: 127.0.0.1:1\n"
             "sources:\n  - name: app\n    path: %s/app.log\n    start_at: beginning\n"
             "  - name: other\n    path: %s/other.log\n",
             dir, dir, dir);
    return text;
}

typedef struct lost_ctx {
    size_t batches, lost;
} lost_ctx_t;

static bool count_lost(void *opaque, const lf_agent_jbatch_t *b)
{
    lost_ctx_t *c = opaque;
    c->batches++;
    if (b->flags & LF_AGENT_JBATCH_LOST)
        c->lost++;
    return true;
}

/* Journals one batch of each file at start-up as if read before a stop. */
static void journal_files(const char *dir, const char *const *names, size_t n)
{
    char err[512];
    lf_agent_state_options_t so = {.map_size = 16u << 20, .sync = true, .agent_id = "web-01"};
    char *sdir = test_path(dir, "state");
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(sdir, &so, &st, err, sizeof err), LF_OK);
    for (size_t i = 0; i < n; i++) {
        char *p = test_path(dir, names[i]);
        test_write_file(p, "one\ntwo\n", 8, 0);
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        lf_agent_state_meta_t m;
        lf_agent_state_get_meta(st, &m);
        lf_agent_jbatch_t jb = {.first_seq = m.next_seq,
                                .count = 2,
                                .max_record = 65536,
                                .dev = (uint64_t)sb.st_dev,
                                .ino = (uint64_t)sb.st_ino,
                                .off_end = 8,
                                .bytes = 100,
                                .source = lf_str_c(i ? "other" : "app"),
                                .path = lf_str_c(p)};
        lf_agent_filepos_t pos = {(uint64_t)sb.st_dev, (uint64_t)sb.st_ino, 8};
        assert_int_equal(lf_agent_state_commit_batch(st, &jb, p, &pos), LF_OK);
        free(p);
    }
    lf_agent_state_close(st);
    free(sdir);
}

static void test_batch_agent_start_counts_deleted_file_as_lost(void **state)
{
    const char *dir = *state;
    const char *names[] = {"app.log", "other.log"};
    journal_files(dir, names, 2);
    /* app.log is rotated (renamed) while stopped: still found. other.log is
     * deleted: its batch is lost. */
    char *app = test_path(dir, "app.log"), *app1 = test_path(dir, "app.log.1");
    char *other = test_path(dir, "other.log");
    assert_int_equal(rename(app, app1), 0);
    assert_int_equal(unlink(other), 0);

    lf_agent_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(
        lf_agent_config_load_string(config_text(dir), "test.yaml", &cfg, err, sizeof err), LF_OK);
    lf_agent_t *agent = NULL;
    lf_err_t rc = lf_agent_new(&cfg, &agent, err, sizeof err);
    if (rc != LF_OK)
        fail_msg("lf_agent_new: %s", err);
    lf_agent_free(agent);

    lf_agent_state_options_t so = {.readonly = true};
    char *sdir = test_path(dir, "state");
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(sdir, &so, &st, err, sizeof err), LF_OK);
    lost_ctx_t c = {0};
    assert_int_equal(lf_agent_state_foreach_batch(st, count_lost, &c), LF_OK);
    assert_int_equal(c.batches, 2); /* kept until acknowledged, as placeholders */
    assert_int_equal(c.lost, 1);
    lf_agent_state_close(st);

    /* --status shows the loss. */
    char *out = NULL;
    size_t outlen = 0;
    FILE *mem = open_memstream(&out, &outlen);
    assert_int_equal(lf_agent_status_write(mem, sdir, err, sizeof err), LF_OK);
    fclose(mem);
    assert_non_null(strstr(out, "\"lost_records\":2"));
    assert_non_null(strstr(out, "\"records_lost\":2")); /* the counter */
    assert_non_null(strstr(out, "\"agent_id\":\"web-01\""));
    assert_non_null(strstr(out, "\"batches\":2"));
    free(out);
    free(sdir);
    free(app);
    free(app1);
    free(other);
    lf_agent_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_rebuild_is_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_rotated_file_found_by_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_agent_start_counts_deleted_file_as_lost, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
