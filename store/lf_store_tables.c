/* lf_store_tables.c - the keyed tables (correlation state, incidents,
 * cross-agency sightings): transactions and scans; layouts in
 * docs/store.md. */
#include "lf_store.h"
#include "lf_store_int.h"

#include <stdlib.h>
#include <string.h>

static bool table_ok(lf_store_table_t t)
{
    return (unsigned)t < LF_TABLE_COUNT;
}

static bool key_ok(const void *key, size_t klen)
{
    return key && klen > 0 && klen <= LF_STORE_MAX_KEY;
}

static MDB_val kv(const void *p, size_t n)
{
    return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static lf_err_t wtx_fail(lf_store_wtx_t *w, int rc, const char *what)
{
    if (w->batch)
        w->batch->failed = true;
    return lf_store_mdb_fail(w->st, rc, what);
}

static bool wtx_usable(const lf_store_wtx_t *w)
{
    return w && w->txn && (!w->batch || (w->batch->open && !w->batch->failed));
}

lf_store_wtx_t *lf_store_batch_wtx(lf_store_batch_t *b)
{
    if (!b || !b->open)
        return NULL;
    b->wtx = (struct lf_store_wtx){.st = b->st, .txn = b->txn, .batch = b};
    return &b->wtx;
}

lf_err_t lf_store_update_begin(lf_store_t *st, lf_store_wtx_t **out)
{
    *out = NULL;
    lf_store_wtx_t *w = calloc(1, sizeof *w);
    if (!w)
        return LF_ENOMEM;
    w->st = st;
    int rc = mdb_txn_begin(st->env, NULL, 0, &w->txn);
    if (rc) {
        free(w);
        return lf_store_mdb_fail(st, rc, "begin update transaction");
    }
    *out = w;
    return LF_OK;
}

lf_err_t lf_store_update_commit(lf_store_wtx_t *w)
{
    if (!w || w->batch)
        return LF_EINVAL;
    int rc = mdb_txn_commit(w->txn);
    lf_store_t *st = w->st;
    free(w);
    return rc ? lf_store_mdb_fail(st, rc, "commit update transaction") : LF_OK;
}

void lf_store_update_abort(lf_store_wtx_t *w)
{
    if (!w || w->batch)
        return;
    mdb_txn_abort(w->txn);
    free(w);
}

lf_err_t lf_store_wtx_get(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen,
                          lf_str_t *val)
{
    if (!table_ok(t) || !key_ok(key, klen))
        return LF_EINVAL;
    if (!wtx_usable(w))
        return LF_ESTATE;
    MDB_val k = kv(key, klen), v;
    int rc = mdb_get(w->txn, w->st->db_tables[t], &k, &v);
    if (rc == MDB_NOTFOUND)
        return LF_ENOTFOUND;
    if (rc)
        return wtx_fail(w, rc, "table read");
    *val = lf_str_n(v.mv_data, v.mv_size);
    return LF_OK;
}

lf_err_t lf_store_wtx_put(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen,
                          const void *val, size_t vlen)
{
    if (!table_ok(t) || !key_ok(key, klen) || vlen > LF_STORE_MAX_DOC || (!val && vlen))
        return LF_EINVAL;
    if (!wtx_usable(w))
        return LF_ESTATE;
    MDB_val k = kv(key, klen), v = kv(val ? val : "", vlen);
    int rc = mdb_put(w->txn, w->st->db_tables[t], &k, &v, 0);
    return rc ? wtx_fail(w, rc, "table write") : LF_OK;
}

lf_err_t lf_store_wtx_del(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen)
{
    if (!table_ok(t) || !key_ok(key, klen))
        return LF_EINVAL;
    if (!wtx_usable(w))
        return LF_ESTATE;
    MDB_val k = kv(key, klen);
    int rc = mdb_del(w->txn, w->st->db_tables[t], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return LF_OK;
    return rc ? wtx_fail(w, rc, "table delete") : LF_OK;
}

lf_err_t lf_store_wtx_next_id(lf_store_wtx_t *w, const char *counter, uint64_t *id)
{
    size_t n = counter ? strlen(counter) : 0;
    if (n == 0 || n > 64)
        return LF_EINVAL;
    if (!wtx_usable(w))
        return LF_ESTATE;
    char name[80];
    memcpy(name, "counter.", 8);
    memcpy(name + 8, counter, n);
    MDB_val k = kv(name, 8 + n), v;
    uint64_t next = 1;
    int rc = mdb_get(w->txn, w->st->db_meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        next = get_be64(v.mv_data);
    else if (rc && rc != MDB_NOTFOUND)
        return wtx_fail(w, rc, "counter read");
    uint8_t b[8];
    put_be64(b, next + 1);
    v = kv(b, 8);
    rc = mdb_put(w->txn, w->st->db_meta, &k, &v, 0);
    if (rc)
        return wtx_fail(w, rc, "counter write");
    *id = next;
    return LF_OK;
}

/* The shared scan over any transaction. */
static lf_err_t scan_txn(lf_store_t *st, MDB_txn *txn, lf_store_table_t t, const lf_store_scan_t *q,
                         lf_store_kv_cb cb, void *opaque, size_t *examined)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->db_tables[t], &cur);
    if (rc)
        return lf_store_mdb_fail(st, rc, "table cursor");
    const uint8_t *prefix = q->prefix;
    size_t plen = q->prefix ? q->prefix_len : 0;
    MDB_val k, v;
    size_t seen = 0;
    lf_err_t err = LF_OK;
    if (q->start && q->start_len) {
        k = kv(q->start, q->start_len);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (q->reverse) {
            /* The last key <= start: SET_RANGE gives the first >= start. */
            if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            else if (rc == 0 &&
                     (k.mv_size != q->start_len || memcmp(k.mv_data, q->start, q->start_len) != 0))
                rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        }
    } else if (!q->reverse) {
        if (plen) {
            k = kv(prefix, plen);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
    } else if (plen) {
        /* Just past the prefix's range: the prefix with its last byte raised
         * (carrying over 0xff bytes); then step back. */
        uint8_t up[LF_STORE_MAX_KEY];
        size_t ulen = plen <= sizeof up ? plen : sizeof up;
        memcpy(up, prefix, ulen);
        while (ulen > 0 && up[ulen - 1] == 0xff)
            ulen--;
        if (ulen == 0) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        } else {
            up[ulen - 1]++;
            k = kv(up, ulen);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                    : mdb_cursor_get(cur, &k, &v, MDB_PREV);
        }
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    while (rc == 0) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        if (q->max_examined && seen >= q->max_examined)
            break;
        seen++;
        if (!cb(opaque, lf_str_n(k.mv_data, k.mv_size), lf_str_n(v.mv_data, v.mv_size)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, q->reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        err = lf_store_mdb_fail(st, rc, "table scan");
    mdb_cursor_close(cur);
    if (examined)
        *examined = seen;
    return err;
}

lf_err_t lf_store_wtx_scan(lf_store_wtx_t *w, lf_store_table_t t, const lf_store_scan_t *q,
                           lf_store_kv_cb cb, void *opaque)
{
    if (!table_ok(t) || !q || !cb)
        return LF_EINVAL;
    if (!wtx_usable(w))
        return LF_ESTATE;
    lf_err_t err = scan_txn(w->st, w->txn, t, q, cb, opaque, NULL);
    if (err != LF_OK && w->batch)
        w->batch->failed = true;
    return err;
}

lf_err_t lf_store_table_get(lf_store_t *st, lf_store_table_t t, const void *key, size_t klen,
                            lf_store_kv_cb cb, void *opaque)
{
    if (!table_ok(t) || !key_ok(key, klen) || !cb)
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lf_store_mdb_fail(st, rc, "begin read transaction");
    MDB_val k = kv(key, klen), v;
    rc = mdb_get(txn, st->db_tables[t], &k, &v);
    lf_err_t err = LF_OK;
    if (rc == MDB_NOTFOUND)
        err = LF_ENOTFOUND;
    else if (rc)
        err = lf_store_mdb_fail(st, rc, "table read");
    else
        cb(opaque, lf_str_n(k.mv_data, k.mv_size), lf_str_n(v.mv_data, v.mv_size));
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_store_table_scan(lf_store_t *st, lf_store_table_t t, const lf_store_scan_t *q,
                             lf_store_kv_cb cb, void *opaque, size_t *examined)
{
    if (!table_ok(t) || !q || !cb)
        return LF_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lf_store_mdb_fail(st, rc, "begin read transaction");
    lf_err_t err = scan_txn(st, txn, t, q, cb, opaque, examined);
    mdb_txn_abort(txn);
    return err;
}
