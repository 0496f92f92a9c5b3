#include "agent_batch.h"
#include "agent_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void lf_agent_batch_header(const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                           lf_wire_batch_header_t *h)
{
    memset(h, 0, sizeof *h);
    h->first_seq = b->first_seq;
    h->epoch_seq = ids->epoch_seq;
    h->read_time_ms = b->read_time_ms;
    h->agent_id = ids->agent_id;
    h->agency = ids->agency;
    h->host = ids->host;
    h->source = b->source;
    h->path = b->path;
    h->flags = (b->flags & LF_AGENT_JBATCH_SPOOL) ? LF_WIRE_F_SENDERS : 0;
}

/* The next record of r as the source shapes it. */
static lf_err_t next_record(lf_agent_reader_t *r, const lf_agent_recfmt_t *fmt, uint64_t limit,
                            bool flush, lf_agent_line_t *line)
{
    lf_err_t rc = fmt && fmt->ml ? lf_agent_multiline_next(fmt->ml, r, limit, flush, line)
                                 : lf_agent_reader_next(r, limit, flush, line);
    if (rc == LF_OK && fmt && fmt->enc)
        lf_agent_encoding_apply(fmt->enc, line);
    return rc;
}

lf_err_t lf_agent_batch_fill(lf_agent_reader_t *r, const lf_agent_batch_limits_t *limits,
                             bool flush_partial, const lf_agent_recfmt_t *fmt, lf_buf_t *wire,
                             uint32_t *count, uint32_t *truncated)
{
    for (;;) {
        if (*count >= limits->max_records ||
            (*count > 0 && wire->len + 13 + (uint64_t)limits->max_record > limits->max_bytes))
            return LF_OK;
        lf_agent_line_t line;
        lf_err_t rc = next_record(r, fmt, UINT64_MAX, flush_partial, &line);
        if (rc != LF_OK)
            return rc;
        rc = lf_wire_batch_add(wire, line.offset, line.flags, line.data, (uint32_t)line.len);
        if (rc != LF_OK)
            return rc;
        (*count)++;
        if (line.flags & LF_REC_TRUNCATED)
            (*truncated)++;
    }
}

lf_err_t lf_agent_batch_rebuild(int fd, const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                                const lf_agent_recfmt_t *fmt, lf_buf_t *wire)
{
    lf_wire_batch_header_t h;
    lf_agent_batch_header(ids, b, &h);
    lf_err_t rc = lf_wire_batch_begin(wire, &h);
    if (rc != LF_OK)
        return rc;
    lf_agent_reader_t r;
    rc = lf_agent_reader_init(&r, b->max_record);
    if (rc != LF_OK)
        return rc;
    lf_agent_reader_reset(&r, fd, b->off_start);
    uint32_t count = 0;
    lf_agent_line_t line;
    while (rc == LF_OK) {
        rc = next_record(&r, fmt, b->off_end, true, &line);
        if (rc != LF_OK)
            break;
        if (count == b->count) {
            rc = LF_EPARSE;
            break;
        }
        rc = lf_wire_batch_add(wire, line.offset, line.flags, line.data, (uint32_t)line.len);
        count++;
    }
    if (rc == LF_ENOTFOUND)
        rc = (count == b->count && lf_agent_reader_pos(&r) == b->off_end) ? LF_OK : LF_EPARSE;
    lf_agent_reader_free(&r);
    if (rc == LF_OK)
        lf_wire_batch_finish(wire, count);
    return rc;
}

lf_err_t lf_agent_batch_lost(const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                             lf_buf_t *wire)
{
    lf_wire_batch_header_t h;
    lf_agent_batch_header(ids, b, &h);
    lf_err_t rc = lf_wire_batch_begin(wire, &h);
    for (uint32_t i = 0; rc == LF_OK && i < b->count; i++)
        rc = (h.flags & LF_WIRE_F_SENDERS)
                 ? lf_wire_batch_add_from(wire, LF_WIRE_NO_OFFSET, LF_REC_LOST, "", 0, LF_STR_NULL)
                 : lf_wire_batch_add(wire, LF_WIRE_NO_OFFSET, LF_REC_LOST, "", 0);
    if (rc == LF_OK)
        lf_wire_batch_finish(wire, b->count);
    return rc;
}

static int open_if_id(const char *path, uint64_t dev, uint64_t ino)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_dev != dev ||
        (uint64_t)sb.st_ino != ino) {
        close(fd);
        return -1;
    }
    return fd;
}

int lf_agent_file_open_by_id(const char *path, uint64_t dev, uint64_t ino, char **found_path)
{
    if (found_path)
        *found_path = NULL;
    int fd = open_if_id(path, dev, ino);
    if (fd >= 0) {
        if (found_path)
            *found_path = strdup(path);
        return fd;
    }
    char *copy = strdup(path);
    if (!copy)
        return -1;
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    if (slash == copy)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = copy;
    }
    DIR *d = opendir(dir);
    if (!d) {
        free(copy);
        return -1;
    }
    struct dirent *de;
    while (fd < 0 && (de = readdir(d)) != NULL) {
        if ((uint64_t)de->d_ino != ino || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t n = strlen(dir) + 1 + strlen(de->d_name) + 1;
        char *cand = malloc(n);
        if (!cand)
            break;
        snprintf(cand, n, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name);
        fd = open_if_id(cand, dev, ino);
        if (fd >= 0 && found_path)
            *found_path = cand;
        else
            free(cand);
    }
    closedir(d);
    free(copy);
    return fd;
}
