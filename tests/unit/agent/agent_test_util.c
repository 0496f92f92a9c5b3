#include "agent_test_util.h"

#include "lf_wire.h"

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/lf-agent-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d)
        abort();
    return strdup(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_write_file(const char *path, const char *data, size_t len, int append)
{
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0)
        abort();
    if (len && write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

lf_err_t test_batch_roundtrip(int fd, lf_agent_reader_t *r, const lf_agent_batch_ids_t *ids,
                              lf_agent_jbatch_t *jb, const lf_agent_batch_limits_t *lim,
                              const lf_agent_recfmt_t *fmt, lf_buf_t *out, uint32_t *count)
{
    lf_wire_batch_header_t h;
    lf_agent_batch_header(ids, jb, &h);
    lf_buf_reset(out);
    assert_int_equal(lf_wire_batch_begin(out, &h), LF_OK);
    uint32_t truncated = 0;
    *count = 0;
    lf_err_t rc = lf_agent_batch_fill(r, lim, true, fmt, out, count, &truncated);
    assert_true(rc == LF_OK || rc == LF_ENOTFOUND);
    if (*count == 0)
        return rc;
    lf_wire_batch_finish(out, *count);
    jb->count = *count;
    jb->off_end = lf_agent_reader_pos(r);
    lf_buf_t again;
    lf_buf_init(&again, 1u << 20);
    assert_int_equal(lf_agent_batch_rebuild(fd, ids, jb, fmt, &again), LF_OK);
    assert_int_equal(again.len, out->len);
    assert_memory_equal(again.data, out->data, out->len);
    lf_buf_free(&again);
    return rc;
}
