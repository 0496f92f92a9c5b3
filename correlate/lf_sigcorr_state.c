/* lf_sigcorr_state.c - persistence of correlation state: the key and value
 * format, take/discard of the changes of a batch, restore at start-up and
 * the transfer of state to a reloaded engine.
 *
 * Key:   <rule key> 0x00 <16-byte digest of the group-by values>
 * Value (little-endian, version 1):
 *   "LSCS" u8 version u8 type u16 group-by count u64 rule fingerprint
 *   i64 newest hit, u32 key length, key (per value: u16 length, bytes),
 *   u32 hit count, hits (i64 time, u32 reference, u64 payload),
 *   u64 checksum of everything before it.
 * Restore checks every length, count, order and range, and the checksum,
 * so a damaged entry is refused (LF_EINVAL), never trusted.
 */
#include "lf_sigcorr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SC_MAGIC       "LSCS"
#define SC_VERSION     1
#define SC_HEADER      28
#define SC_ENTRY_BYTES 20
#define SC_CHECK_SEED  0x636865636bULL

/* ---- encoding -------------------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Serialises a live group into c->buf; returns its length, 0 on ENOMEM. */
static size_t serialise(lf_sigcorr_t *c, const sc_group_t *g)
{
    const sc_rule_t *r = c->rules[g->rule];
    size_t need = SC_HEADER + g->keylen + 4 + (size_t)g->n * SC_ENTRY_BYTES + 8;
    if (need > c->capbuf) {
        uint8_t *nb = realloc(c->buf, need);
        if (!nb)
            return 0;
        c->buf = nb;
        c->capbuf = need;
    }
    uint8_t *p = c->buf;
    memcpy(p, SC_MAGIC, 4);
    p[4] = SC_VERSION;
    p[5] = (uint8_t)r->pub.type;
    put_u16(p + 6, (uint16_t)r->pub.group_count);
    put_u64(p + 8, r->fingerprint);
    put_u64(p + 16, (uint64_t)g->newest);
    put_u32(p + 24, g->keylen);
    p += SC_HEADER;
    if (g->keylen)
        memcpy(p, g->key, g->keylen);
    p += g->keylen;
    put_u32(p, g->n);
    p += 4;
    for (uint32_t i = 0; i < g->n; i++) {
        put_u64(p, (uint64_t)g->e[i].ts);
        put_u32(p + 8, g->e[i].ref);
        put_u64(p + 12, g->e[i].payload);
        p += SC_ENTRY_BYTES;
    }
    put_u64(p, sc_hash64(c->buf, (size_t)(p - c->buf), SC_CHECK_SEED));
    return need;
}

bool lf_sigcorr_key_rule(const void *key, size_t klen, lf_str_t *rule_key)
{
    const uint8_t *k = key;
    if (!k || klen < 18 || klen > LF_SIGCORR_MAX_KEY)
        return false;
    size_t z = klen - 17;
    if (k[z] != 0 || memchr(k, 0, z) != NULL)
        return false;
    *rule_key = lf_str_n((const char *)k, z);
    return true;
}

/* ---- rule lookup ----------------------------------------------------------------------------- */

static int rule_key_cmp(const void *a, const void *b)
{
    return strcmp((*(sc_rule_t *const *)a)->pub.key, (*(sc_rule_t *const *)b)->pub.key);
}

static sc_rule_t *rule_by_key(lf_sigcorr_t *c, lf_str_t key)
{
    if (!c->rule_ix && c->nrules) {
        c->rule_ix = malloc(c->nrules * sizeof *c->rule_ix);
        if (!c->rule_ix)
            return NULL;
        memcpy(c->rule_ix, c->rules, c->nrules * sizeof *c->rule_ix);
        qsort(c->rule_ix, c->nrules, sizeof *c->rule_ix, rule_key_cmp);
    }
    size_t lo = 0, hi = c->nrules;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = c->rule_ix[mid]->pub.key;
        size_t kl = strlen(k);
        int cmp = memcmp(k, key.ptr, kl < key.len ? kl : key.len);
        if (cmp == 0)
            cmp = (kl > key.len) - (kl < key.len);
        if (cmp == 0)
            return c->rule_ix[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- restore --------------------------------------------------------------------------------- */

typedef enum parse_result { P_OK, P_CHANGED, P_INVALID } parse_result_t;

typedef struct parsed {
    int64_t newest;
    const uint8_t *gkey;
    size_t gkeylen;
    uint32_t n;
    const uint8_t *entries;
} parsed_t;

static parse_result_t parse_value(const sc_rule_t *r, const uint8_t *digest, const uint8_t *v,
                                  size_t vlen, parsed_t *out)
{
    if (!v || vlen < SC_HEADER + 4 + 8)
        return P_INVALID;
    if (get_u64(v + vlen - 8) != sc_hash64(v, vlen - 8, SC_CHECK_SEED))
        return P_INVALID;
    if (memcmp(v, SC_MAGIC, 4) != 0 || v[4] != SC_VERSION)
        return P_INVALID;
    if (v[5] != (uint8_t)r->pub.type || get_u16(v + 6) != r->pub.group_count ||
        get_u64(v + 8) != r->fingerprint)
        return P_CHANGED;
    out->newest = (int64_t)get_u64(v + 16);
    size_t keylen = get_u32(v + 24);
    size_t body = vlen - 8 - SC_HEADER;
    if (keylen > body - 4 || keylen > r->pub.group_count * (2 + SC_MAX_VALUE))
        return P_INVALID;
    out->gkey = v + SC_HEADER;
    out->gkeylen = keylen;
    /* exactly group_count values */
    size_t off = 0;
    for (size_t i = 0; i < r->pub.group_count; i++) {
        if (off + 2 > keylen)
            return P_INVALID;
        size_t n = get_u16(out->gkey + off);
        if (n > SC_MAX_VALUE || off + 2 + n > keylen)
            return P_INVALID;
        off += 2 + n;
    }
    if (off != keylen)
        return P_INVALID;
    uint8_t d[16];
    sc_digest(out->gkey, keylen, d);
    if (memcmp(d, digest, 16) != 0)
        return P_INVALID;
    const uint8_t *p = out->gkey + keylen;
    uint32_t n = get_u32(p);
    size_t rest = body - keylen - 4;
    if (rest % SC_ENTRY_BYTES || n != rest / SC_ENTRY_BYTES || n == 0)
        return P_INVALID;
    out->n = n;
    out->entries = p + 4;
    int64_t prev = INT64_MIN;
    bool numeric = r->pub.type >= LF_SIGCORR_VALUE_SUM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = out->entries + (size_t)i * SC_ENTRY_BYTES;
        int64_t ts = (int64_t)get_u64(e);
        uint32_t ref = get_u32(e + 8);
        if (ts < prev || ts > out->newest || ref >= r->nrefs)
            return P_INVALID;
        if (numeric) {
            double dv;
            uint64_t bits = get_u64(e + 12);
            memcpy(&dv, &bits, sizeof dv);
            if (!isfinite(dv))
                return P_INVALID;
        }
        prev = ts;
    }
    return P_OK;
}

/* Loads one entry; on an unknown rule, a changed rule or a damaged entry the
 * key is queued for deletion. */
static lf_err_t restore_entry(lf_sigcorr_t *c, const uint8_t *key, size_t klen, const uint8_t *val,
                              size_t vlen, sc_group_t **out)
{
    *out = NULL;
    lf_str_t rk;
    if (!lf_sigcorr_key_rule(key, klen, &rk)) {
        c->stats.restore_invalid++;
        if (key && klen && klen <= 4096 && !sc_add_orphan(c, key, klen))
            return LF_ENOMEM;
        return LF_EINVAL;
    }
    sc_rule_t *r = rule_by_key(c, rk);
    parsed_t p;
    parse_result_t pr = r ? parse_value(r, key + klen - 16, val, vlen, &p) : P_CHANGED;
    if (pr != P_OK) {
        if (pr == P_INVALID)
            c->stats.restore_invalid++;
        else
            c->stats.restore_unknown++;
        if (!sc_add_orphan(c, key, klen))
            return LF_ENOMEM;
        return pr == P_INVALID ? LF_EINVAL : LF_ENOTFOUND;
    }
    uint32_t ri = r->pub.meta.index;
    uint64_t hash = sc_group_hash(ri, p.gkey, p.gkeylen);
    sc_group_t *g = sc_group_find(c, ri, p.gkey, p.gkeylen, hash);
    if (!g || g->tombstone) {
        if (r->live_groups >= (size_t)c->opts.max_groups) {
            c->stats.restore_full++;
            if (!sc_add_orphan(c, key, klen))
                return LF_ENOMEM;
            return LF_EFULL;
        }
    }
    /* keep the newest max_values hits */
    uint32_t skip = p.n > (uint32_t)c->opts.max_values ? p.n - (uint32_t)c->opts.max_values : 0;
    uint32_t n = p.n - skip;
    sc_entry_t *e = malloc(n * sizeof *e);
    if (!e)
        return LF_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p.entries + (size_t)(i + skip) * SC_ENTRY_BYTES;
        e[i] = (sc_entry_t){(int64_t)get_u64(q), get_u64(q + 12), get_u32(q + 8)};
    }
    if (!g) {
        g = sc_group_insert(c, ri, p.gkey, p.gkeylen, hash);
        if (!g) {
            free(e);
            return LF_ENOMEM;
        }
    }
    if (g->tombstone) {
        r->live_groups++;
        c->stats.groups++;
    }
    sc_group_set_entries(g, e, n);
    g->newest = p.newest;
    g->tombstone = false;
    c->stats.restored++;
    *out = g;
    return LF_OK;
}

lf_err_t lf_sigcorr_restore(lf_sigcorr_t *c, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    if (!c)
        return LF_EINVAL;
    sc_group_t *g;
    return restore_entry(c, key, klen, val, vlen, &g);
}

/* ---- take, discard --------------------------------------------------------------------------- */

void lf_sigcorr_take_changes(lf_sigcorr_t *c, lf_sigcorr_put_fn *put, void *opaque)
{
    if (!c)
        return;
    uint8_t key[LF_SIGCORR_MAX_KEY];
    if (!c->opts.track_changes) {
        for (size_t b = 0; b < c->tcap && put; b++)
            for (sc_group_t *g = c->table[b]; g; g = g->next) {
                size_t vlen = serialise(c, g);
                if (vlen)
                    put(opaque, key, sc_group_key(c, g, key), c->buf, vlen);
            }
        return;
    }
    /* a take right after a take: the batch of the first one committed (else
     * the caller would have discarded it) */
    sc_epoch_begin(c);
    for (size_t i = 0; i < c->norphans && put; i++)
        put(opaque, c->orphans[i].p, c->orphans[i].n, NULL, 0);
    for (size_t i = 0; i < c->ndirty; i++) {
        sc_group_t *g = c->dirty[i];
        if (!g->dirty)
            continue;
        g->dirty = false;
        if (!put)
            continue;
        size_t klen = sc_group_key(c, g, key);
        if (g->tombstone) {
            put(opaque, key, klen, NULL, 0);
            continue;
        }
        size_t vlen = serialise(c, g);
        if (vlen)
            put(opaque, key, klen, c->buf, vlen);
        else
            g->dirty = true; /* out of memory: handed over at the next take */
    }
    /* tombstones no undo entry needs any more are freed; groups still dirty
     * stay listed */
    size_t keep = 0;
    for (size_t i = 0; i < c->ndirty; i++) {
        sc_group_t *g = c->dirty[i];
        if (g->dirty)
            c->dirty[keep++] = g;
        else if (g->tombstone && !g->in_undo)
            sc_group_unlink_free(c, g);
    }
    c->ndirty = keep;
    c->taken = true;
}

lf_err_t lf_sigcorr_discard_changes(lf_sigcorr_t *c)
{
    if (!c || !c->opts.track_changes)
        return LF_ESTATE;
    for (size_t i = 0; i < c->nundo; i++) {
        sc_undo_t *u = &c->undo[i];
        sc_group_t *g = u->g;
        sc_rule_t *r = c->rules[g->rule];
        if (!g->tombstone && r->live_groups) {
            r->live_groups--;
            c->stats.groups--;
        }
        if (u->created) {
            free(u->e);
            sc_group_unlink_free(c, g);
            continue;
        }
        sc_group_set_entries(g, u->e, u->n);
        g->newest = u->newest;
        g->tombstone = u->was_tombstone;
        g->dirty = u->was_dirty;
        g->in_undo = false;
        if (!g->tombstone) {
            r->live_groups++;
            c->stats.groups++;
        }
    }
    c->nundo = 0;
    c->watermark = c->epoch_watermark;
    c->have_watermark = c->epoch_have_watermark;
    /* the dirty list may name freed groups: rebuild it from the flags */
    c->ndirty = 0;
    for (size_t b = 0; b < c->tcap; b++)
        for (sc_group_t *g = c->table[b]; g; g = g->next)
            if (g->dirty) {
                g->dirty = false;
                if (!sc_mark_dirty(c, g))
                    return LF_ENOMEM;
            }
    c->taken = false;
    return LF_OK;
}

/* ---- reload ---------------------------------------------------------------------------------- */

lf_err_t lf_sigcorr_transfer(lf_sigcorr_t *to, const lf_sigcorr_t *from_const)
{
    if (!to || !from_const)
        return LF_EINVAL;
    /* serialisation uses from's buffer; its state is not changed otherwise */
    lf_sigcorr_t *from = (lf_sigcorr_t *)from_const;
    if (from->have_watermark && (!to->have_watermark || from->watermark > to->watermark)) {
        to->watermark = from->watermark;
        to->have_watermark = true;
        to->epoch_watermark = to->watermark;
        to->epoch_have_watermark = true;
    }
    uint8_t key[LF_SIGCORR_MAX_KEY];
    for (size_t i = 0; i < from->norphans; i++)
        if (!sc_add_orphan(to, from->orphans[i].p, from->orphans[i].n))
            return LF_ENOMEM;
    for (size_t b = 0; b < from->tcap; b++) {
        for (sc_group_t *g = from->table[b]; g; g = g->next) {
            size_t klen = sc_group_key(from, g, key);
            if (g->tombstone) {
                if (g->dirty && !sc_add_orphan(to, key, klen))
                    return LF_ENOMEM;
                continue;
            }
            size_t vlen = serialise(from, g);
            if (!vlen)
                return LF_ENOMEM;
            sc_group_t *ng;
            lf_err_t rc = restore_entry(to, key, klen, from->buf, vlen, &ng);
            if (rc == LF_ENOMEM)
                return rc;
            if (rc == LF_OK) {
                to->stats.restored--; /* a transfer, not a restore */
                if (g->dirty && to->opts.track_changes && !sc_mark_dirty(to, ng))
                    return LF_ENOMEM;
            }
        }
    }
    return LF_OK;
}
