#include "agent_state.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define JBATCH_FIXED  64u
#define FILEPOS_BYTES 24u
#define MAX_AGENT_ID  1024u

const char *const lf_agent_counter_names[] = {
#define LF_AGENT_COUNTER_NAME(name, help) #name,
    LF_AGENT_COUNTERS(LF_AGENT_COUNTER_NAME)
#undef LF_AGENT_COUNTER_NAME
};

struct lf_agent_state {
    MDB_env *env;
    MDB_dbi meta, batches, files;
    bool readonly;
    bool sync;
    lf_agent_state_meta_t m;
    char agent_id[MAX_AGENT_ID + 1];
    /* Group commit: the open top-level write transaction and the meta
     * values at its start (restored when it fails). */
    MDB_txn *group;
    lf_agent_state_meta_t group_m;
};

/* A write transaction: a child of the open group (committing it only
 * merges into the group), or a top-level one committed on its own. */
static int wbegin(lf_agent_state_t *st, MDB_txn **txn)
{
    return mdb_txn_begin(st->env, st->group, 0, txn);
}

static void put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint64_t get64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static lf_err_t map_rc(int rc)
{
    if (rc == 0)
        return LF_OK;
    if (rc == MDB_NOTFOUND)
        return LF_ENOTFOUND;
    if (rc == MDB_MAP_FULL)
        return LF_EFULL;
    return LF_ESTORE;
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) {
        if (v.mv_size != 8)
            return MDB_CORRUPTED;
        *out = get64le(v.mv_data);
    }
    return rc;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
    uint8_t b[8];
    put64le(b, val);
    MDB_val k = {strlen(key), (void *)key}, v = {8, b};
    return mdb_put(txn, dbi, &k, &v, 0);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static lf_err_t load_meta(lf_agent_state_t *st, MDB_txn *txn, bool *fresh)
{
    int rc = meta_get_u64(txn, st->meta, "epoch_seq", &st->m.epoch_seq);
    *fresh = rc == MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        return LF_OK;
    if (rc == 0)
        rc = meta_get_u64(txn, st->meta, "next_seq", &st->m.next_seq);
    if (rc == 0)
        rc = meta_get_u64(txn, st->meta, "acked", &st->m.acked);
    if (rc != 0)
        return LF_ESTORE;
    MDB_val k = {8, "agent_id"}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0 && v.mv_size <= MAX_AGENT_ID) {
        memcpy(st->agent_id, v.mv_data, v.mv_size);
        st->agent_id[v.mv_size] = '\0';
    }
    return LF_OK;
}

lf_err_t lf_agent_state_open(const char *dir, const lf_agent_state_options_t *opts,
                             lf_agent_state_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    if (!opts->readonly && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errstr, errlen, "state_dir %s: cannot create: %s", dir, strerror(errno));
        return LF_EIO;
    }
    lf_agent_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return LF_ENOMEM;
    st->readonly = opts->readonly;
    st->sync = opts->sync;
    const char *what = "mdb_env_create";
    int rc = mdb_env_create(&st->env);
    if (rc == 0) {
        what = "mdb_env_set_maxdbs";
        rc = mdb_env_set_maxdbs(st->env, 4);
    }
    if (rc == 0 && opts->map_size) {
        what = "mdb_env_set_mapsize";
        rc = mdb_env_set_mapsize(st->env, opts->map_size);
    }
    if (rc == 0) {
        what = "mdb_env_open";
        unsigned flags = MDB_NOTLS;
        if (opts->readonly)
            flags |= MDB_RDONLY;
        if (!opts->sync)
            flags |= MDB_NOSYNC;
        rc = mdb_env_open(st->env, dir, flags, 0600);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        what = "mdb_txn_begin";
        rc = mdb_txn_begin(st->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn);
    }
    unsigned dbflags = opts->readonly ? 0 : MDB_CREATE;
    if (rc == 0) {
        what = "open database meta";
        rc = mdb_dbi_open(txn, "meta", dbflags, &st->meta);
    }
    if (rc == 0) {
        what = "open database batches";
        rc = mdb_dbi_open(txn, "batches", dbflags, &st->batches);
    }
    if (rc == 0) {
        what = "open database files";
        rc = mdb_dbi_open(txn, "files", dbflags, &st->files);
    }
    if (rc != 0) {
        snprintf(errstr, errlen, "state_dir %s: %s: %s", dir, what, mdb_strerror(rc));
        if (txn)
            mdb_txn_abort(txn);
        if (st->env)
            mdb_env_close(st->env);
        free(st);
        return LF_ESTORE;
    }
    bool fresh = false;
    lf_err_t err = load_meta(st, txn, &fresh);
    if (err == LF_OK && fresh && opts->readonly) {
        snprintf(errstr, errlen, "state_dir %s: holds no agent state", dir);
        err = LF_ENOTFOUND;
    } else if (err != LF_OK) {
        snprintf(errstr, errlen, "state_dir %s: meta is corrupt", dir);
    }
    if (err == LF_OK && !opts->readonly) {
        const char *id = opts->agent_id ? opts->agent_id : "";
        if (fresh) {
            st->m.epoch_seq = st->m.next_seq = now_us();
            st->m.acked = st->m.epoch_seq - 1;
            rc = meta_put_u64(txn, st->meta, "epoch_seq", st->m.epoch_seq);
            if (rc == 0)
                rc = meta_put_u64(txn, st->meta, "next_seq", st->m.next_seq);
            if (rc == 0)
                rc = meta_put_u64(txn, st->meta, "acked", st->m.acked);
            if (rc != 0) {
                snprintf(errstr, errlen, "state_dir %s: initialise: %s", dir, mdb_strerror(rc));
                err = LF_ESTORE;
            }
        }
        if (err == LF_OK && st->agent_id[0] == '\0' && *id) {
            MDB_val k = {8, "agent_id"}, v = {strlen(id), (void *)id};
            rc = mdb_put(txn, st->meta, &k, &v, 0);
            if (rc != 0) {
                snprintf(errstr, errlen, "state_dir %s: %s", dir, mdb_strerror(rc));
                err = LF_ESTORE;
            } else {
                snprintf(st->agent_id, sizeof st->agent_id, "%s", id);
            }
        } else if (err == LF_OK && *id && strcmp(st->agent_id, id) != 0) {
            snprintf(errstr, errlen,
                     "state_dir %s belongs to agent id '%s', the configuration says '%s' "
                     "(sequence numbers are per agent id: restore agent.id or use a new "
                     "state_dir)",
                     dir, st->agent_id, id);
            err = LF_ECONFIG;
        }
    }
    if (err == LF_OK) {
        /* Committing (also a read-only txn) keeps the database handles. */
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc != 0) {
            snprintf(errstr, errlen, "state_dir %s: commit: %s", dir, mdb_strerror(rc));
            err = LF_ESTORE;
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    if (err != LF_OK) {
        mdb_env_close(st->env);
        free(st);
        return err;
    }
    *out = st;
    return LF_OK;
}

void lf_agent_state_close(lf_agent_state_t *st)
{
    if (!st)
        return;
    if (st->group)
        mdb_txn_abort(st->group);
    mdb_env_close(st->env);
    free(st);
}

void lf_agent_state_get_meta(const lf_agent_state_t *st, lf_agent_state_meta_t *meta)
{
    *meta = st->m;
}

const char *lf_agent_state_agent_id(const lf_agent_state_t *st)
{
    return st->agent_id;
}

static size_t jbatch_size(const lf_agent_jbatch_t *b)
{
    return JBATCH_FIXED + 2 + b->source.len + 2 + b->path.len;
}

/* The value of a journald batch ends with the cursors of its first and last
 * entry, each u16 LE length + bytes, after the path. */
static size_t cursors_size(lf_str_t first, lf_str_t last)
{
    return 2 + first.len + 2 + last.len;
}

static void cursors_encode(lf_str_t first, lf_str_t last, uint8_t *p)
{
    p[0] = (uint8_t)first.len;
    p[1] = (uint8_t)(first.len >> 8);
    memcpy(p + 2, first.ptr, first.len);
    p += 2 + first.len;
    p[0] = (uint8_t)last.len;
    p[1] = (uint8_t)(last.len >> 8);
    memcpy(p + 2, last.ptr, last.len);
}

/* The cursors after the path of a journald batch's value; false when absent
 * or malformed. */
static bool cursors_decode(const MDB_val *v, lf_str_t *first, lf_str_t *last)
{
    if (v->mv_size < JBATCH_FIXED + 4)
        return false;
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    if (!(get32le(p) & LF_AGENT_JBATCH_JOURNALD))
        return false;
    p += JBATCH_FIXED;
    for (int skip = 0; skip < 2; skip++) { /* source, path */
        size_t n = (size_t)p[0] | ((size_t)p[1] << 8);
        if ((size_t)(end - p) < 2 + n + 2)
            return false;
        p += 2 + n;
    }
    size_t n = (size_t)p[0] | ((size_t)p[1] << 8);
    if ((size_t)(end - p) < 2 + n + 2)
        return false;
    *first = lf_str_n((const char *)p + 2, n);
    p += 2 + n;
    n = (size_t)p[0] | ((size_t)p[1] << 8);
    if ((size_t)(end - p) != 2 + n)
        return false;
    *last = lf_str_n((const char *)p + 2, n);
    return first->len > 0 && last->len > 0 && first->len <= LF_AGENT_CURSOR_MAX &&
           last->len <= LF_AGENT_CURSOR_MAX;
}

static void jbatch_encode(const lf_agent_jbatch_t *b, uint8_t *p)
{
    put32le(p, b->flags);
    put32le(p + 4, b->count);
    put32le(p + 8, b->source_index);
    put32le(p + 12, b->max_record);
    put64le(p + 16, b->dev);
    put64le(p + 24, b->ino);
    put64le(p + 32, b->off_start);
    put64le(p + 40, b->off_end);
    put64le(p + 48, b->bytes);
    put64le(p + 56, (uint64_t)b->read_time_ms);
    p += JBATCH_FIXED;
    p[0] = (uint8_t)b->source.len;
    p[1] = (uint8_t)(b->source.len >> 8);
    if (b->source.len)
        memcpy(p + 2, b->source.ptr, b->source.len);
    p += 2 + b->source.len;
    p[0] = (uint8_t)b->path.len;
    p[1] = (uint8_t)(b->path.len >> 8);
    if (b->path.len)
        memcpy(p + 2, b->path.ptr, b->path.len);
}

static bool jbatch_decode(const MDB_val *k, const MDB_val *v, lf_agent_jbatch_t *b)
{
    if (k->mv_size != 8 || v->mv_size < JBATCH_FIXED + 4)
        return false;
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    b->first_seq = get64be(k->mv_data);
    b->flags = get32le(p);
    b->count = get32le(p + 4);
    b->source_index = get32le(p + 8);
    b->max_record = get32le(p + 12);
    b->dev = get64le(p + 16);
    b->ino = get64le(p + 24);
    b->off_start = get64le(p + 32);
    b->off_end = get64le(p + 40);
    b->bytes = get64le(p + 48);
    b->read_time_ms = (int64_t)get64le(p + 56);
    p += JBATCH_FIXED;
    size_t n = (size_t)p[0] | ((size_t)p[1] << 8);
    if ((size_t)(end - p) < 2 + n + 2)
        return false;
    b->source = lf_str_n((const char *)p + 2, n);
    p += 2 + n;
    n = (size_t)p[0] | ((size_t)p[1] << 8);
    if ((b->flags & LF_AGENT_JBATCH_JOURNALD) ? (size_t)(end - p) < 2 + n
                                              : (size_t)(end - p) != 2 + n)
        return false;
    b->path = lf_str_n((const char *)p + 2, n);
    return b->count > 0;
}

static int put_filepos(MDB_txn *txn, MDB_dbi dbi, const char *path, const lf_agent_filepos_t *pos)
{
    uint8_t buf[FILEPOS_BYTES];
    put64le(buf, pos->dev);
    put64le(buf + 8, pos->ino);
    put64le(buf + 16, pos->read_offset);
    MDB_val k = {strlen(path), (void *)path}, v = {sizeof buf, buf};
    return mdb_put(txn, dbi, &k, &v, 0);
}

static void get_filepos(const MDB_val *v, lf_agent_filepos_t *pos)
{
    const uint8_t *p = v->mv_data;
    pos->dev = get64le(p);
    pos->ino = get64le(p + 8);
    pos->read_offset = get64le(p + 16);
}

/* The meta key of a cursor checkpoint: "cursor:<key>". */
#define CURSOR_PREFIX "cursor:"

static int put_cursor(MDB_txn *txn, MDB_dbi dbi, const char *key, lf_str_t cursor)
{
    char mk[sizeof CURSOR_PREFIX + 512];
    int n = snprintf(mk, sizeof mk, "%s%s", CURSOR_PREFIX, key);
    MDB_val k = {(size_t)n, mk}, v = {cursor.len, (void *)cursor.ptr};
    return mdb_put(txn, dbi, &k, &v, 0);
}

static bool cursor_ok(lf_str_t c)
{
    return c.len > 0 && c.len <= LF_AGENT_CURSOR_MAX;
}

/* One transaction: journal entry b, next_seq, and either the file checkpoint
 * (pos) or the cursor checkpoint (cursors). */
static lf_err_t commit_batch(lf_agent_state_t *st, const lf_agent_jbatch_t *b, const char *path,
                             const lf_agent_filepos_t *pos, const lf_str_t *cursors)
{
    if (st->readonly)
        return LF_EINVAL;
    if (b->first_seq != st->m.next_seq || b->count == 0 || b->source.len > UINT16_MAX ||
        b->path.len > UINT16_MAX || !*path || strlen(path) > 511)
        return LF_EINVAL;
    bool journald = (b->flags & LF_AGENT_JBATCH_JOURNALD) != 0;
    if (journald != (cursors != NULL) ||
        (cursors && (!cursor_ok(cursors[0]) || !cursor_ok(cursors[1]))))
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    uint8_t key[8];
    put64be(key, b->first_seq);
    size_t size = jbatch_size(b);
    MDB_val k = {8, key}, v = {size + (cursors ? cursors_size(cursors[0], cursors[1]) : 0), NULL};
    rc = mdb_put(txn, st->batches, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == 0) {
        jbatch_encode(b, v.mv_data);
        if (cursors)
            cursors_encode(cursors[0], cursors[1], (uint8_t *)v.mv_data + size);
    }
    if (rc == 0)
        rc = meta_put_u64(txn, st->meta, "next_seq", b->first_seq + b->count);
    if (rc == 0)
        rc = cursors ? put_cursor(txn, st->meta, path, cursors[1])
                     : put_filepos(txn, st->files, path, pos);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return map_rc(rc);
    st->m.next_seq = b->first_seq + b->count;
    return LF_OK;
}

lf_err_t lf_agent_state_group_begin(lf_agent_state_t *st)
{
    if (st->readonly || st->group)
        return LF_EINVAL;
    int rc = mdb_txn_begin(st->env, NULL, 0, &st->group);
    if (rc != 0) {
        st->group = NULL;
        return map_rc(rc);
    }
    st->group_m = st->m;
    return LF_OK;
}

lf_err_t lf_agent_state_group_end(lf_agent_state_t *st)
{
    if (!st->group)
        return LF_EINVAL;
    MDB_txn *txn = st->group;
    st->group = NULL;
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        st->m = st->group_m;
    return map_rc(rc);
}

bool lf_agent_state_in_group(const lf_agent_state_t *st)
{
    return st->group != NULL;
}

lf_err_t lf_agent_state_commit_batch(lf_agent_state_t *st, const lf_agent_jbatch_t *b,
                                     const char *path, const lf_agent_filepos_t *pos)
{
    return commit_batch(st, b, path, pos, NULL);
}

lf_err_t lf_agent_state_commit_batch_cursor(lf_agent_state_t *st, const lf_agent_jbatch_t *b,
                                            const char *key, lf_str_t first, lf_str_t last)
{
    const lf_str_t cursors[2] = {first, last};
    return commit_batch(st, b, key, NULL, cursors);
}

lf_err_t lf_agent_state_batch_cursors(lf_agent_state_t *st, uint64_t first_seq, char *first,
                                      char *last)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    uint8_t key[8];
    put64be(key, first_seq);
    MDB_val k = {8, key}, v;
    rc = mdb_get(txn, st->batches, &k, &v);
    lf_str_t f, l;
    if (rc == 0 && !cursors_decode(&v, &f, &l))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        memcpy(first, f.ptr, f.len);
        first[f.len] = '\0';
        memcpy(last, l.ptr, l.len);
        last[l.len] = '\0';
    }
    mdb_txn_abort(txn);
    return map_rc(rc);
}

lf_err_t lf_agent_state_put_cursor(lf_agent_state_t *st, const char *key, lf_str_t cursor)
{
    if (st->readonly || !*key || strlen(key) > 511 || !cursor_ok(cursor))
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    rc = put_cursor(txn, st->meta, key, cursor);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    return map_rc(mdb_txn_commit(txn));
}

lf_err_t lf_agent_state_get_cursor(lf_agent_state_t *st, const char *key, char *cursor)
{
    char mk[sizeof CURSOR_PREFIX + 512];
    int n = snprintf(mk, sizeof mk, "%s%s", CURSOR_PREFIX, key);
    if (n <= 0 || (size_t)n >= sizeof mk)
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_val k = {(size_t)n, mk}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0 && !cursor_ok(lf_str_n(v.mv_data, v.mv_size)))
        rc = MDB_CORRUPTED;
    if (rc == 0) {
        memcpy(cursor, v.mv_data, v.mv_size);
        cursor[v.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    return map_rc(rc);
}

lf_err_t lf_agent_state_foreach_cursor(lf_agent_state_t *st, lf_agent_cursor_cb cb, void *opaque)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, st->meta, &cur);
    lf_err_t err = map_rc(rc);
    if (rc == 0) {
        const size_t plen = sizeof CURSOR_PREFIX - 1;
        MDB_val k = {plen, CURSOR_PREFIX}, v;
        for (int crc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); crc == 0;
             crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size < plen || memcmp(k.mv_data, CURSOR_PREFIX, plen) != 0)
                break;
            if (!cb(opaque, lf_str_n((const char *)k.mv_data + plen, k.mv_size - plen),
                    lf_str_n(v.mv_data, v.mv_size)))
                break;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_agent_state_put_file(lf_agent_state_t *st, const char *path,
                                 const lf_agent_filepos_t *pos)
{
    if (st->readonly || !*path || strlen(path) > 511)
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    rc = put_filepos(txn, st->files, path, pos);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    return map_rc(mdb_txn_commit(txn));
}

lf_err_t lf_agent_state_get_file(lf_agent_state_t *st, const char *path, lf_agent_filepos_t *pos)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_val k = {strlen(path), (void *)path}, v;
    rc = mdb_get(txn, st->files, &k, &v);
    if (rc == 0 && v.mv_size != FILEPOS_BYTES)
        rc = MDB_CORRUPTED;
    if (rc == 0)
        get_filepos(&v, pos);
    mdb_txn_abort(txn);
    return map_rc(rc);
}

lf_err_t lf_agent_state_ack(lf_agent_state_t *st, uint64_t w, size_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (st->readonly)
        return LF_EINVAL;
    if (w >= st->m.next_seq)
        return LF_EINVAL;
    if (w <= st->m.acked)
        return LF_OK;
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, st->batches, &cur);
    size_t n = 0;
    if (rc == 0) {
        MDB_val k, v;
        int crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (crc == 0) {
            lf_agent_jbatch_t b;
            if (!jbatch_decode(&k, &v, &b)) {
                rc = MDB_CORRUPTED;
                break;
            }
            if (lf_agent_jbatch_last(&b) > w)
                break;
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0)
                break;
            n++;
            /* After a delete the cursor already sits on the next entry;
             * MDB_NEXT returns it without advancing. */
            crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    if (rc == 0)
        rc = meta_put_u64(txn, st->meta, "acked", w);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    /* On its own an acknowledgement needs no meta-page sync: the data pages
     * are synced, so a machine crash can at worst undo it (the batches are
     * re-sent and dropped by the store as duplicates), never corrupt. */
    bool meta_async = st->sync && !st->group;
    if (meta_async)
        mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
    rc = mdb_txn_commit(txn);
    if (meta_async)
        mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
    if (rc != 0)
        return map_rc(rc);
    st->m.acked = w;
    if (deleted)
        *deleted = n;
    return LF_OK;
}

lf_err_t lf_agent_state_mark_lost(lf_agent_state_t *st, uint64_t first_seq)
{
    if (st->readonly)
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    uint8_t key[8];
    put64be(key, first_seq);
    MDB_val k = {8, key}, v;
    rc = mdb_get(txn, st->batches, &k, &v);
    uint8_t *copy = NULL;
    if (rc == 0) {
        copy = malloc(v.mv_size);
        if (!copy)
            rc = ENOMEM;
    }
    if (rc == 0) {
        memcpy(copy, v.mv_data, v.mv_size);
        put32le(copy, get32le(copy) | LF_AGENT_JBATCH_LOST);
        MDB_val nv = {v.mv_size, copy};
        rc = mdb_put(txn, st->batches, &k, &nv, 0);
    }
    free(copy);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    return map_rc(mdb_txn_commit(txn));
}

lf_err_t lf_agent_state_foreach_batch(lf_agent_state_t *st, lf_agent_jbatch_cb cb, void *opaque)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, st->batches, &cur);
    lf_err_t err = map_rc(rc);
    if (rc == 0) {
        MDB_val k, v;
        for (int crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); crc == 0;
             crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            lf_agent_jbatch_t b;
            if (!jbatch_decode(&k, &v, &b)) {
                err = LF_ESTORE;
                break;
            }
            if (!cb(opaque, &b))
                break;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_agent_state_foreach_file(lf_agent_state_t *st, lf_agent_file_cb cb, void *opaque)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, st->files, &cur);
    lf_err_t err = map_rc(rc);
    if (rc == 0) {
        MDB_val k, v;
        for (int crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); crc == 0;
             crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (v.mv_size != FILEPOS_BYTES) {
                err = LF_ESTORE;
                break;
            }
            lf_agent_filepos_t pos;
            get_filepos(&v, &pos);
            if (!cb(opaque, lf_str_n(k.mv_data, k.mv_size), &pos))
                break;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_agent_state_put_counters(lf_agent_state_t *st, const lf_agent_counters_t *c)
{
    if (st->readonly)
        return LF_EINVAL;
    uint8_t buf[LF_AGENT_COUNTER_COUNT * 8];
    const uint64_t *vals = (const uint64_t *)c;
    for (size_t i = 0; i < LF_AGENT_COUNTER_COUNT; i++)
        put64le(buf + 8 * i, vals[i]);
    MDB_txn *txn;
    int rc = wbegin(st, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_val k = {8, "counters"}, v = {sizeof buf, buf};
    rc = mdb_put(txn, st->meta, &k, &v, 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_rc(rc);
    }
    return map_rc(mdb_txn_commit(txn));
}

lf_err_t lf_agent_state_get_counters(lf_agent_state_t *st, lf_agent_counters_t *c)
{
    memset(c, 0, sizeof *c);
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_rc(rc);
    MDB_val k = {8, "counters"}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0) {
        /* Older states may hold fewer counters: read what is there. */
        uint64_t *vals = (uint64_t *)c;
        size_t n = v.mv_size / 8;
        for (size_t i = 0; i < n && i < LF_AGENT_COUNTER_COUNT; i++)
            vals[i] = get64le((const uint8_t *)v.mv_data + 8 * i);
    }
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? LF_OK : map_rc(rc);
}
