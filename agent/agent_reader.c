#include "agent_reader.h"
#include "lf_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

lf_err_t lf_agent_reader_init(lf_agent_reader_t *r, size_t max_record)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->max_record = max_record;
    r->cap = max_record + 2 + LF_AGENT_READ_CHUNK;
    r->data = malloc(r->cap);
    return r->data ? LF_OK : LF_ENOMEM;
}

void lf_agent_reader_free(lf_agent_reader_t *r)
{
    free(r->data);
    r->data = NULL;
}

void lf_agent_reader_reset(lf_agent_reader_t *r, int fd, uint64_t offset)
{
    r->fd = fd;
    r->len = r->start = 0;
    r->base = offset;
    r->valid_from = offset;
    r->skipping = false;
    r->line_off = r->scan_off = 0;
}

void lf_agent_reader_rewind(lf_agent_reader_t *r, uint64_t offset)
{
    if (!r->skipping && offset >= r->base && offset >= r->valid_from &&
        offset - r->base <= r->len) {
        r->start = (size_t)(offset - r->base);
        return;
    }
    lf_agent_reader_reset(r, r->fd, offset);
}

uint64_t lf_agent_reader_pos(const lf_agent_reader_t *r)
{
    return r->skipping ? r->line_off : r->base + r->start;
}

size_t lf_agent_reader_tail(const lf_agent_reader_t *r, char *out, size_t n)
{
    if (r->skipping)
        return 0;
    uint64_t from = r->base > r->valid_from ? r->base : r->valid_from;
    uint64_t pos = r->base + r->start;
    if (pos <= from)
        return 0;
    size_t k = pos - from < n ? (size_t)(pos - from) : n;
    memcpy(out, r->data + r->start - k, k);
    return k;
}

/* Fills *line from `len` bytes at p, a whole line without its '\n'. */
static void make_line(lf_agent_reader_t *r, const char *p, size_t len, uint64_t offset,
                      uint64_t end, lf_agent_line_t *line)
{
    if (len > 0 && p[len - 1] == '\r')
        len--;
    line->data = p;
    line->offset = offset;
    line->end = end;
    line->flags = 0;
    if (len > r->max_record) {
        len = r->max_record;
        line->flags = LF_REC_TRUNCATED;
    }
    line->len = len;
}

static ssize_t read_at(int fd, char *dst, size_t n, uint64_t off)
{
    for (;;) {
        ssize_t got = pread(fd, dst, n, (off_t)off);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

static size_t room(uint64_t from, uint64_t limit, size_t want)
{
    if (from >= limit)
        return 0;
    return limit - from < want ? (size_t)(limit - from) : want;
}

lf_err_t lf_agent_reader_next(lf_agent_reader_t *r, uint64_t limit, bool flush_partial,
                              lf_agent_line_t *line)
{
    for (;;) {
        if (r->skipping) {
            char *chunk = r->data + r->max_record;
            size_t want = room(r->scan_off, limit, r->cap - r->max_record);
            ssize_t n = want ? read_at(r->fd, chunk, want, r->scan_off) : 0;
            if (n < 0)
                return LF_EIO;
            if (n == 0) {
                if (!flush_partial)
                    return LF_EAGAIN;
                line->data = r->data;
                line->len = r->max_record;
                line->offset = r->line_off;
                line->end = r->scan_off;
                line->flags = LF_REC_TRUNCATED;
                r->skipping = false;
                r->base = r->scan_off;
                r->valid_from = r->scan_off;
                r->len = r->start = 0;
                return LF_OK;
            }
            const char *nl = memchr(chunk, '\n', (size_t)n);
            if (!nl) {
                r->scan_off += (uint64_t)n;
                continue;
            }
            size_t idx = (size_t)(nl - chunk);
            line->data = r->data;
            line->len = r->max_record;
            line->offset = r->line_off;
            line->end = r->scan_off + idx + 1;
            line->flags = LF_REC_TRUNCATED;
            /* Keep the bytes after '\n' where they are: data[max_record] maps
             * scan_off, so data[0] maps scan_off - max_record. */
            r->skipping = false;
            r->base = r->scan_off - r->max_record;
            r->valid_from = r->scan_off; /* data[0, max_record) holds the line's head */
            r->start = r->max_record + idx + 1;
            r->len = r->max_record + (size_t)n;
            return LF_OK;
        }

        size_t avail = r->len - r->start;
        const char *p = r->data + r->start;
        const char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - p);
            uint64_t off = r->base + r->start;
            make_line(r, p, n, off, off + n + 1, line);
            r->start += n + 1;
            return LF_OK;
        }
        if (avail > r->max_record + 1) {
            /* Longer than any record even after stripping '\r': keep the
             * head, skip to the end of the line without buffering it. */
            r->skipping = true;
            r->line_off = r->base + r->start;
            r->scan_off = r->line_off + avail;
            memmove(r->data, p, r->max_record);
            r->len = r->max_record;
            r->start = 0;
            continue;
        }
        /* Keep the last bytes before the position (lf_agent_reader_tail). */
        size_t keep = r->start < LF_AGENT_READER_KEEP ? r->start : LF_AGENT_READER_KEEP;
        if (r->start > keep) {
            memmove(r->data, p - keep, avail + keep);
            r->base += r->start - keep;
            r->start = keep;
            r->len = avail + keep;
        }
        size_t want = room(r->base + r->len, limit, r->cap - r->len);
        ssize_t n = want ? read_at(r->fd, r->data + r->len, want, r->base + r->len) : 0;
        if (n < 0)
            return LF_EIO;
        if (n > 0) {
            r->len += (size_t)n;
            continue;
        }
        if (avail == 0)
            return LF_ENOTFOUND;
        if (!flush_partial)
            return LF_EAGAIN;
        make_line(r, r->data + r->start, avail, r->base + r->start, r->base + r->len, line);
        r->start = r->len;
        return LF_OK;
    }
}
