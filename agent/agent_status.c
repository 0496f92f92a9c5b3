/* agent_status.c - `lianfang-agent --status`: the state directory as JSON. */
#include "agent_spool.h"
#include "agent_state.h"
#include "lf_agent.h"
#include "lf_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct status_file {
    char *path;
    lf_agent_filepos_t pos;
    uint64_t acked_offset;
    bool have_acked;
    uint64_t unacked_batches;
    uint64_t unacked_in_rotated;
} status_file_t;

typedef struct status_ctx {
    status_file_t *files;
    size_t nfiles, cap;
    uint64_t batches, records, bytes, lost_batches, lost_records, first_seq, last_seq;
    bool oom;
} status_ctx_t;

static bool collect_file(void *opaque, lf_str_t path, const lf_agent_filepos_t *pos)
{
    status_ctx_t *c = opaque;
    if (c->nfiles == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        status_file_t *n = realloc(c->files, ncap * sizeof *n);
        if (!n) {
            c->oom = true;
            return false;
        }
        c->files = n;
        c->cap = ncap;
    }
    status_file_t *f = &c->files[c->nfiles];
    memset(f, 0, sizeof *f);
    f->path = strndup(path.ptr, path.len);
    if (!f->path) {
        c->oom = true;
        return false;
    }
    f->pos = *pos;
    c->nfiles++;
    return true;
}

static bool collect_batch(void *opaque, const lf_agent_jbatch_t *b)
{
    status_ctx_t *c = opaque;
    if (c->batches == 0)
        c->first_seq = b->first_seq;
    c->last_seq = lf_agent_jbatch_last(b);
    c->batches++;
    c->records += b->count;
    c->bytes += b->bytes;
    if (b->flags & LF_AGENT_JBATCH_LOST) {
        c->lost_batches++;
        c->lost_records += b->count;
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        status_file_t *f = &c->files[i];
        if (!lf_str_eq_c(b->path, f->path))
            continue;
        if (b->dev == f->pos.dev && b->ino == f->pos.ino) {
            if (!f->have_acked) {
                f->have_acked = true;
                f->acked_offset = b->off_start;
            }
            f->unacked_batches++;
        } else {
            f->unacked_in_rotated++;
        }
    }
    return true;
}

lf_err_t lf_agent_status_write(FILE *out, const char *state_dir, char *errstr, size_t errlen)
{
    lf_agent_state_options_t so = {.readonly = true};
    lf_agent_state_t *st;
    lf_err_t rc = lf_agent_state_open(state_dir, &so, &st, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    status_ctx_t c = {0};
    lf_agent_counters_t ctr;
    rc = lf_agent_state_foreach_file(st, collect_file, &c);
    if (rc == LF_OK)
        rc = lf_agent_state_foreach_batch(st, collect_batch, &c);
    if (rc == LF_OK)
        rc = lf_agent_state_get_counters(st, &ctr);
    if (rc == LF_OK && c.oom)
        rc = LF_ENOMEM;
    if (rc != LF_OK)
        snprintf(errstr, errlen, "state_dir %s: %s", state_dir, lf_strerror(rc));
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    lf_buf_t buf;
    lf_buf_init(&buf, 64u << 20);
    if (rc == LF_OK) {
        lf_json_t js;
        lf_json_init(&js, &buf);
        lf_json_object_begin(&js);
        lf_json_key(&js, "agent_id");
        lf_json_cstring(&js, lf_agent_state_agent_id(st));
        lf_json_key(&js, "state_dir");
        lf_json_cstring(&js, state_dir);
        lf_json_key(&js, "epoch_seq");
        lf_json_uint(&js, m.epoch_seq);
        lf_json_key(&js, "next_seq");
        lf_json_uint(&js, m.next_seq);
        lf_json_key(&js, "acked_watermark");
        lf_json_uint(&js, m.acked);
        lf_json_key(&js, "unacked");
        lf_json_object_begin(&js);
        lf_json_key(&js, "batches");
        lf_json_uint(&js, c.batches);
        lf_json_key(&js, "records");
        lf_json_uint(&js, c.records);
        lf_json_key(&js, "bytes");
        lf_json_uint(&js, c.bytes);
        lf_json_key(&js, "first_seq");
        if (c.batches)
            lf_json_uint(&js, c.first_seq);
        else
            lf_json_null(&js);
        lf_json_key(&js, "last_seq");
        if (c.batches)
            lf_json_uint(&js, c.last_seq);
        else
            lf_json_null(&js);
        lf_json_key(&js, "lost_batches");
        lf_json_uint(&js, c.lost_batches);
        lf_json_key(&js, "lost_records");
        lf_json_uint(&js, c.lost_records);
        lf_json_object_end(&js);
        uint64_t spool_bytes, spool_segments;
        lf_agent_spool_usage(state_dir, &spool_bytes, &spool_segments);
        lf_json_key(&js, "spool");
        lf_json_object_begin(&js);
        lf_json_key(&js, "bytes");
        lf_json_uint(&js, spool_bytes);
        lf_json_key(&js, "segments");
        lf_json_uint(&js, spool_segments);
        lf_json_object_end(&js);
        lf_json_key(&js, "files");
        lf_json_array_begin(&js);
        for (size_t i = 0; i < c.nfiles; i++) {
            const status_file_t *f = &c.files[i];
            lf_json_object_begin(&js);
            lf_json_key(&js, "path");
            lf_json_cstring(&js, f->path);
            lf_json_key(&js, "dev");
            lf_json_uint(&js, f->pos.dev);
            lf_json_key(&js, "inode");
            lf_json_uint(&js, f->pos.ino);
            lf_json_key(&js, "read_offset");
            lf_json_uint(&js, f->pos.read_offset);
            lf_json_key(&js, "acked_offset");
            lf_json_uint(&js, f->have_acked           ? f->acked_offset
                              : f->unacked_in_rotated ? 0
                                                      : f->pos.read_offset);
            lf_json_key(&js, "unacked_batches");
            lf_json_uint(&js, f->unacked_batches);
            lf_json_key(&js, "unacked_batches_in_rotated_files");
            lf_json_uint(&js, f->unacked_in_rotated);
            lf_json_object_end(&js);
        }
        lf_json_array_end(&js);
        lf_json_key(&js, "counters");
        lf_json_object_begin(&js);
        const uint64_t *vals = (const uint64_t *)&ctr;
        for (size_t i = 0; i < LF_AGENT_COUNTER_COUNT; i++) {
            lf_json_key(&js, lf_agent_counter_names[i]);
            lf_json_uint(&js, vals[i]);
        }
        lf_json_object_end(&js);
        lf_json_object_end(&js);
        rc = lf_json_error(&js);
        if (rc == LF_OK)
            fprintf(out, "%.*s\n", (int)buf.len, buf.data);
        else
            snprintf(errstr, errlen, "status: %s", lf_strerror(rc));
    }
    lf_buf_free(&buf);
    for (size_t i = 0; i < c.nfiles; i++)
        free(c.files[i].path);
    free(c.files);
    lf_agent_state_close(st);
    return rc;
}
