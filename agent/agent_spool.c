#include "agent_spool.h"
#include "lf_wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (64u * 1024u)

struct lf_agent_spool {
    char *dir;
    uint64_t segment_bytes;
    int sync;
    lf_agent_spool_budget_t *budget;
    lf_agent_spool_seg_t *segs; /* ascending */
    lf_agent_spool_seg_t *wseg; /* being written; NULL until the first write */
    int wfd;
    uint64_t next_number;
    char *wbuf;
    size_t wlen;
};

static lf_err_t wbuf_alloc(lf_agent_spool_t *sp)
{
    if (!sp->wbuf)
        sp->wbuf = malloc(LF_AGENT_SPOOL_WBUF);
    return sp->wbuf ? LF_OK : LF_ENOMEM;
}

static lf_agent_spool_seg_t *seg_new(lf_agent_spool_t *sp, uint64_t number)
{
    lf_agent_spool_seg_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t n = strlen(sp->dir) + 32;
    s->path = malloc(n);
    if (!s->path) {
        free(s);
        return NULL;
    }
    snprintf(s->path, n, "%s/%016" PRIx64 ".seg", sp->dir, number);
    s->number = number;
    return s;
}

static void seg_insert(lf_agent_spool_t *sp, lf_agent_spool_seg_t *s)
{
    lf_agent_spool_seg_t **pp = &sp->segs;
    while (*pp && (*pp)->number < s->number)
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
}

static bool parse_name(const char *name, uint64_t *number)
{
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *number = v;
    return true;
}

lf_err_t lf_agent_spool_open(const lf_agent_spool_options_t *opts, lf_agent_spool_t **out,
                             char *errstr, size_t errlen)
{
    *out = NULL;
    if (mkdir(opts->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errstr, errlen, "spool %s: cannot create: %s", opts->dir, strerror(errno));
        return LF_EIO;
    }
    lf_agent_spool_t *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(opts->dir))) {
        free(sp);
        return LF_ENOMEM;
    }
    sp->segment_bytes = opts->segment_bytes;
    sp->sync = opts->sync;
    sp->budget = opts->budget;
    sp->wfd = -1;
    sp->next_number = 1;
    DIR *d = opendir(opts->dir);
    if (!d) {
        snprintf(errstr, errlen, "spool %s: %s", opts->dir, strerror(errno));
        lf_agent_spool_close(sp);
        return LF_EIO;
    }
    struct dirent *de;
    lf_err_t rc = LF_OK;
    while ((de = readdir(d)) != NULL) {
        uint64_t number;
        if (!parse_name(de->d_name, &number))
            continue;
        lf_agent_spool_seg_t *s = seg_new(sp, number);
        struct stat sb;
        if (!s) {
            rc = LF_ENOMEM;
            break;
        }
        if (stat(s->path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(s->path);
            free(s);
            continue;
        }
        s->dev = (uint64_t)sb.st_dev;
        s->ino = (uint64_t)sb.st_ino;
        s->size = s->readable = (uint64_t)sb.st_size;
        s->sealed = true;
        sp->budget->used += s->size;
        seg_insert(sp, s);
        if (number >= sp->next_number)
            sp->next_number = number + 1;
    }
    closedir(d);
    if (rc != LF_OK) {
        lf_agent_spool_close(sp);
        return rc;
    }
    *out = sp;
    return LF_OK;
}

void lf_agent_spool_close(lf_agent_spool_t *sp)
{
    if (!sp)
        return;
    if (sp->wlen)
        lf_agent_spool_flush(sp, false);
    if (sp->wfd >= 0)
        close(sp->wfd);
    for (lf_agent_spool_seg_t *s = sp->segs, *n; s; s = n) {
        n = s->next;
        sp->budget->used -= s->size;
        free(s->path);
        free(s);
    }
    sp->budget->used -= sp->wlen;
    free(sp->wbuf);
    free(sp->dir);
    free(sp);
}

const char *lf_agent_spool_dir(const lf_agent_spool_t *sp)
{
    return sp->dir;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void seal_current(lf_agent_spool_t *sp)
{
    if (!sp->wseg)
        return;
    if (sp->sync != LF_AGENT_SPOOL_SYNC_OFF && sp->wseg->readable < sp->wseg->size)
        fdatasync(sp->wfd);
    sp->wseg->readable = sp->wseg->size;
    sp->wseg->sealed = true;
    close(sp->wfd);
    sp->wfd = -1;
    sp->wseg = NULL;
}

void lf_agent_spool_seal(lf_agent_spool_t *sp)
{
    if (sp->wlen)
        lf_agent_spool_flush(sp, false);
    seal_current(sp);
}

static lf_err_t start_segment(lf_agent_spool_t *sp)
{
    lf_agent_spool_seg_t *s = seg_new(sp, sp->next_number);
    if (!s)
        return LF_ENOMEM;
    int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(s->path);
        free(s);
        errno = e;
        return LF_EIO;
    }
    if (sp->sync != LF_AGENT_SPOOL_SYNC_OFF)
        sync_dir(sp->dir);
    sp->next_number++;
    s->dev = (uint64_t)sb.st_dev;
    s->ino = (uint64_t)sb.st_ino;
    seg_insert(sp, s);
    sp->wseg = s;
    sp->wfd = fd;
    return LF_OK;
}

lf_err_t lf_agent_spool_write(lf_agent_spool_t *sp)
{
    if (sp->wlen > 0) {
        if (sp->wseg && sp->wseg->size >= sp->segment_bytes)
            seal_current(sp);
        if (!sp->wseg) {
            lf_err_t rc = start_segment(sp);
            if (rc != LF_OK)
                return rc;
        }
        size_t done = 0;
        while (done < sp->wlen) {
            ssize_t n = write(sp->wfd, sp->wbuf + done, sp->wlen - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                int e = errno;
                /* Leave no torn record behind; the buffer is kept. */
                if (ftruncate(sp->wfd, (off_t)sp->wseg->size) != 0) {
                    /* the segment now ends in a partial record: start anew */
                    sp->wseg->size += done;
                    seal_current(sp);
                }
                errno = e ? e : EIO;
                return LF_EIO;
            }
            done += (size_t)n;
        }
        sp->wseg->size += sp->wlen;
        sp->wlen = 0;
    }
    if (sp->sync == LF_AGENT_SPOOL_SYNC_OFF && sp->wseg)
        sp->wseg->readable = sp->wseg->size;
    return LF_OK;
}

lf_err_t lf_agent_spool_flush(lf_agent_spool_t *sp, bool tick)
{
    lf_err_t rc = lf_agent_spool_write(sp);
    if (rc != LF_OK)
        return rc;
    lf_agent_spool_seg_t *s = sp->wseg;
    if (s && s->readable < s->size) {
        if (sp->sync == LF_AGENT_SPOOL_SYNC_OFF) {
            s->readable = s->size;
        } else if (sp->sync == LF_AGENT_SPOOL_SYNC_BATCH || tick) {
            if (fdatasync(sp->wfd) != 0)
                return LF_EIO;
            s->readable = s->size;
        }
    }
    return LF_OK;
}

int lf_agent_spool_sync_take(lf_agent_spool_t *sp, uint64_t *number, uint64_t *upto)
{
    lf_agent_spool_seg_t *s = sp->wseg;
    if (sp->sync == LF_AGENT_SPOOL_SYNC_OFF || !s || s->readable >= s->size || sp->wfd < 0)
        return -1;
    int fd = fcntl(sp->wfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    *number = s->number;
    *upto = s->size;
    return fd;
}

void lf_agent_spool_sync_done(lf_agent_spool_t *sp, uint64_t number, uint64_t upto)
{
    for (lf_agent_spool_seg_t *s = sp->segs; s; s = s->next) {
        if (s->number == number) {
            if (upto > s->readable && upto <= s->size)
                s->readable = upto;
            return;
        }
    }
}

bool lf_agent_spool_dirty(const lf_agent_spool_t *sp)
{
    return sp->wlen > 0 || (sp->wseg && sp->wseg->readable < sp->wseg->size);
}

lf_err_t lf_agent_spool_append(lf_agent_spool_t *sp, const char *data, uint32_t len, uint8_t flags,
                               lf_str_t sender, bool force)
{
    if (sender.len > 255)
        return LF_EINVAL;
    size_t need = LF_AGENT_SPOOL_HEADER + sender.len + len;
    if (!force && sp->budget->used + need > sp->budget->max)
        return LF_EFULL;
    lf_err_t rc = wbuf_alloc(sp);
    if (rc != LF_OK)
        return rc;
    if (sp->wlen + need > LF_AGENT_SPOOL_WBUF) {
        rc = lf_agent_spool_write(sp);
        if (rc != LF_OK)
            return rc;
    }
    if (need > LF_AGENT_SPOOL_WBUF) {
        /* A record larger than the buffer is written on its own. */
        char hdr[LF_AGENT_SPOOL_HEADER] = {(char)LF_AGENT_SPOOL_MAGIC, (char)flags,
                                           (char)sender.len, 0};
        for (int i = 0; i < 4; i++)
            hdr[4 + i] = (char)(len >> (8 * i));
        if (!sp->wseg || sp->wseg->size >= sp->segment_bytes) {
            seal_current(sp);
            rc = start_segment(sp);
            if (rc != LF_OK)
                return rc;
        }
        struct {
            const char *p;
            size_t n;
        } parts[3] = {{hdr, sizeof hdr}, {sender.ptr, sender.len}, {data, len}};
        size_t done_all = 0;
        for (int i = 0; i < 3; i++) {
            size_t done = 0;
            while (done < parts[i].n) {
                ssize_t n = write(sp->wfd, parts[i].p + done, parts[i].n - done);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    if (ftruncate(sp->wfd, (off_t)sp->wseg->size) != 0) {
                        sp->wseg->size += done_all + done;
                        seal_current(sp);
                    }
                    return LF_EIO;
                }
                done += (size_t)n;
            }
            done_all += done;
        }
        sp->wseg->size += need;
        sp->budget->used += need;
        return LF_OK;
    }
    uint8_t *p = (uint8_t *)sp->wbuf + sp->wlen;
    p[0] = LF_AGENT_SPOOL_MAGIC;
    p[1] = flags;
    p[2] = (uint8_t)sender.len;
    p[3] = 0;
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(len >> (8 * i));
    if (sender.len)
        memcpy(p + LF_AGENT_SPOOL_HEADER, sender.ptr, sender.len);
    if (len)
        memcpy(p + LF_AGENT_SPOOL_HEADER + sender.len, data, len);
    sp->wlen += need;
    sp->budget->used += need;
    return LF_OK;
}

lf_agent_spool_seg_t *lf_agent_spool_first(lf_agent_spool_t *sp)
{
    return sp->segs;
}

lf_agent_spool_seg_t *lf_agent_spool_find(lf_agent_spool_t *sp, uint64_t dev, uint64_t ino)
{
    for (lf_agent_spool_seg_t *s = sp->segs; s; s = s->next)
        if (s->dev == dev && s->ino == ino)
            return s;
    return NULL;
}

void lf_agent_spool_release(lf_agent_spool_t *sp, lf_agent_spool_seg_t *seg)
{
    if (!seg->sealed)
        return;
    for (lf_agent_spool_seg_t **pp = &sp->segs; *pp; pp = &(*pp)->next) {
        if (*pp == seg) {
            *pp = seg->next;
            break;
        }
    }
    unlink(seg->path);
    sp->budget->used -= seg->size;
    free(seg->path);
    free(seg);
}

/* ---- reading ------------------------------------------------------------ */

lf_err_t lf_agent_spool_reader_init(lf_agent_spool_reader_t *r, size_t max_record)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->max_record = max_record;
    r->cap = max_record + LF_AGENT_SPOOL_HEADER + 255 + READ_CHUNK;
    r->data = malloc(r->cap);
    return r->data ? LF_OK : LF_ENOMEM;
}

void lf_agent_spool_reader_free(lf_agent_spool_reader_t *r)
{
    free(r->data);
    r->data = NULL;
}

void lf_agent_spool_reader_reset(lf_agent_spool_reader_t *r, int fd, uint64_t offset)
{
    r->fd = fd;
    r->len = r->start = 0;
    r->base = offset;
}

uint64_t lf_agent_spool_reader_pos(const lf_agent_spool_reader_t *r)
{
    return r->base + r->start;
}

lf_err_t lf_agent_spool_reader_next(lf_agent_spool_reader_t *r, uint64_t limit,
                                    lf_agent_spool_record_t *rec)
{
    for (;;) {
        size_t avail = r->len - r->start;
        const uint8_t *p = (const uint8_t *)r->data + r->start;
        if (avail >= LF_AGENT_SPOOL_HEADER) {
            uint32_t len = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) |
                           ((uint32_t)p[7] << 24);
            if (p[0] != LF_AGENT_SPOOL_MAGIC || p[3] != 0 || len > r->max_record)
                return LF_EPARSE;
            size_t need = LF_AGENT_SPOOL_HEADER + p[2] + (size_t)len;
            if (avail >= need) {
                rec->flags = p[1];
                rec->sender = lf_str_n((const char *)p + LF_AGENT_SPOOL_HEADER, p[2]);
                rec->data = (const char *)p + LF_AGENT_SPOOL_HEADER + p[2];
                rec->len = len;
                rec->offset = r->base + r->start;
                rec->end = rec->offset + need;
                r->start += need;
                return LF_OK;
            }
        }
        if (r->start > 0) {
            memmove(r->data, r->data + r->start, avail);
            r->base += r->start;
            r->start = 0;
            r->len = avail;
        }
        uint64_t from = r->base + r->len;
        size_t want = r->cap - r->len;
        if (from >= limit)
            return LF_ENOTFOUND;
        if (limit - from < want)
            want = (size_t)(limit - from);
        ssize_t n;
        do
            n = pread(r->fd, r->data + r->len, want, (off_t)from);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return LF_EIO;
        if (n == 0)
            return LF_ENOTFOUND;
        r->len += (size_t)n;
    }
}

lf_err_t lf_agent_spool_fill(lf_agent_spool_reader_t *r, const lf_agent_batch_limits_t *limits,
                             uint64_t limit, lf_buf_t *wire, uint32_t *count, uint32_t *truncated)
{
    for (;;) {
        if (*count >= limits->max_records ||
            (*count > 0 && wire->len + 15 + 255 + (uint64_t)limits->max_record > limits->max_bytes))
            return LF_OK;
        lf_agent_spool_record_t rec;
        lf_err_t rc = lf_agent_spool_reader_next(r, limit, &rec);
        if (rc != LF_OK)
            return rc;
        rc = lf_wire_batch_add_from(wire, LF_WIRE_NO_OFFSET, rec.flags, rec.data, rec.len,
                                    rec.sender);
        if (rc != LF_OK)
            return rc;
        (*count)++;
        if (rec.flags & LF_REC_TRUNCATED)
            (*truncated)++;
    }
}

lf_err_t lf_agent_spool_rebuild(int fd, const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                                lf_buf_t *wire)
{
    lf_wire_batch_header_t h;
    lf_agent_batch_header(ids, b, &h);
    lf_err_t rc = lf_wire_batch_begin(wire, &h);
    if (rc != LF_OK)
        return rc;
    lf_agent_spool_reader_t r;
    rc = lf_agent_spool_reader_init(&r, b->max_record);
    if (rc != LF_OK)
        return rc;
    lf_agent_spool_reader_reset(&r, fd, b->off_start);
    uint32_t count = 0;
    lf_agent_spool_record_t rec;
    while (rc == LF_OK) {
        rc = lf_agent_spool_reader_next(&r, b->off_end, &rec);
        if (rc != LF_OK)
            break;
        if (count == b->count) {
            rc = LF_EPARSE;
            break;
        }
        rc = lf_wire_batch_add_from(wire, LF_WIRE_NO_OFFSET, rec.flags, rec.data, rec.len,
                                    rec.sender);
        count++;
    }
    if (rc == LF_ENOTFOUND)
        rc = (count == b->count && lf_agent_spool_reader_pos(&r) == b->off_end) ? LF_OK : LF_EPARSE;
    lf_agent_spool_reader_free(&r);
    if (rc == LF_OK)
        lf_wire_batch_finish(wire, count);
    return rc;
}

void lf_agent_spool_usage(const char *state_dir, uint64_t *bytes, uint64_t *segments)
{
    *bytes = *segments = 0;
    char root[4096];
    snprintf(root, sizeof root, "%s/spool", state_dir);
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096 + 256];
        snprintf(sub, sizeof sub, "%s/%s", root, de->d_name);
        DIR *sd = opendir(sub);
        if (!sd)
            continue;
        struct dirent *se;
        while ((se = readdir(sd)) != NULL) {
            uint64_t number;
            char path[sizeof sub + 256];
            struct stat sb;
            if (!parse_name(se->d_name, &number))
                continue;
            snprintf(path, sizeof path, "%s/%s", sub, se->d_name);
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                *bytes += (uint64_t)sb.st_size;
                (*segments)++;
            }
        }
        closedir(sd);
    }
    closedir(d);
}
