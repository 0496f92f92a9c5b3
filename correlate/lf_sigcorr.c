/* lf_sigcorr.c - correlation windows on event time: groups, the two window
 * modes (conditions decided as soon as they hold, and conditions decided
 * when the window closes), metrics, alerts and chained correlations.
 *
 * Window model (docs/sigma-correlation.md):
 *   - A group is one (rule, group-by values) pair; it keeps its hits sorted
 *     by event time (equal times in arrival order).
 *   - A hit is late, and not counted, when it is more than the lateness
 *     older than the newer of the watermark and its group's newest hit.
 *   - Conditions with only lower bounds (gt, gte) are checked at every hit
 *     over the windows [end - timespan, end] that end at a hit and contain
 *     the new one. When one holds, the alert is raised and every hit up to
 *     that window's end is consumed: counting starts afresh.
 *   - Conditions with an upper bound or an equality (lt, lte, eq, neq) are
 *     decided per window [first, first + timespan], anchored at the oldest
 *     pending hit, once the clock passes its end plus the lateness.
 */
#include "lf_sigcorr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing --------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Stable on every architecture (little-endian word assembly): part of the
 * persisted key and value format. */
uint64_t sc_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = mix64(seed ^ (len * 0x9e3779b97f4a7c15ULL));
    while (len >= 8) {
        uint64_t w = 0;
        for (int i = 7; i >= 0; i--)
            w = (w << 8) | p[i];
        h = mix64(h ^ mix64(w + 0x632be59bd9b4e019ULL)) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = len; i > 0; i--)
        w = (w << 8) | p[i - 1];
    h = mix64(h ^ mix64(w ^ ((uint64_t)len << 56) ^ 0x8cb92ba72f3d8dd7ULL));
    return h;
}

void sc_digest(const uint8_t *key, size_t len, uint8_t out[16])
{
    uint64_t a = sc_hash64(key, len, 0x4c465343ULL), b = sc_hash64(key, len, 0x53494743ULL);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(a >> (8 * i));
        out[8 + i] = (uint8_t)(b >> (8 * i));
    }
}

/* ---- saturating time arithmetic -------------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* ---- group table ----------------------------------------------------------------------------- */

uint64_t sc_group_hash(uint32_t rule, const uint8_t *key, size_t keylen)
{
    return sc_hash64(key, keylen, 0x67726f7570ULL + rule);
}

sc_group_t *sc_group_find(lf_sigcorr_t *c, uint32_t rule, const uint8_t *key, size_t keylen,
                          uint64_t hash)
{
    if (!c->tcap)
        return NULL;
    for (sc_group_t *g = c->table[hash & (c->tcap - 1)]; g; g = g->next)
        if (g->hash == hash && g->rule == rule && g->keylen == keylen &&
            (keylen == 0 || memcmp(g->key, key, keylen) == 0))
            return g;
    return NULL;
}

static bool table_grow(lf_sigcorr_t *c)
{
    size_t cap = c->tcap ? c->tcap * 2 : 256;
    sc_group_t **t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < c->tcap; i++) {
        sc_group_t *g = c->table[i];
        while (g) {
            sc_group_t *next = g->next;
            g->next = t[g->hash & (cap - 1)];
            t[g->hash & (cap - 1)] = g;
            g = next;
        }
    }
    free(c->table);
    c->table = t;
    c->tcap = cap;
    return true;
}

sc_group_t *sc_group_insert(lf_sigcorr_t *c, uint32_t rule, const uint8_t *key, size_t keylen,
                            uint64_t hash)
{
    if ((c->ngroups + 1) * 4 > c->tcap * 3 && !table_grow(c))
        return NULL;
    sc_group_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->key = malloc(keylen ? keylen : 1);
    if (!g->key) {
        free(g);
        return NULL;
    }
    if (keylen)
        memcpy(g->key, key, keylen);
    g->keylen = (uint32_t)keylen;
    g->hash = hash;
    g->rule = rule;
    g->tombstone = true; /* the caller makes it live */
    sc_digest(g->key, keylen, g->digest);
    g->next = c->table[hash & (c->tcap - 1)];
    c->table[hash & (c->tcap - 1)] = g;
    c->ngroups++;
    return g;
}

void sc_group_unlink_free(lf_sigcorr_t *c, sc_group_t *g)
{
    sc_group_t **pp = &c->table[g->hash & (c->tcap - 1)];
    while (*pp && *pp != g)
        pp = &(*pp)->next;
    if (*pp)
        *pp = g->next;
    c->ngroups--;
    free(g->mem);
    free(g->key);
    free(g);
}

void sc_group_set_entries(sc_group_t *g, sc_entry_t *arr, uint32_t n)
{
    free(g->mem);
    g->mem = g->e = arr;
    g->n = g->cap = n;
}

/* ---- change tracking ------------------------------------------------------------------------- */

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

bool sc_mark_dirty(lf_sigcorr_t *c, sc_group_t *g)
{
    if (g->dirty)
        return true;
    if (!grow((void **)&c->dirty, &c->capdirty, c->ndirty, sizeof *c->dirty))
        return false;
    c->dirty[c->ndirty++] = g;
    g->dirty = true;
    return true;
}

bool sc_touch(lf_sigcorr_t *c, sc_group_t *g, bool created)
{
    if (!c->opts.track_changes)
        return true;
    if (!g->in_undo) {
        if (!grow((void **)&c->undo, &c->capundo, c->nundo, sizeof *c->undo))
            return false;
        sc_undo_t u = {.g = g,
                       .created = created,
                       .was_tombstone = g->tombstone,
                       .was_dirty = g->dirty,
                       .newest = g->newest,
                       .n = g->tombstone ? 0 : g->n};
        if (u.n) {
            u.e = malloc(u.n * sizeof *u.e);
            if (!u.e)
                return false;
            memcpy(u.e, g->e, u.n * sizeof *u.e);
        }
        if (!sc_mark_dirty(c, g)) {
            free(u.e);
            return false;
        }
        c->undo[c->nundo++] = u;
        g->in_undo = true;
        return true;
    }
    return sc_mark_dirty(c, g);
}

bool sc_add_orphan(lf_sigcorr_t *c, const void *key, size_t klen)
{
    if (!grow((void **)&c->orphans, &c->caporphans, c->norphans, sizeof *c->orphans))
        return false;
    uint8_t *p = malloc(klen ? klen : 1);
    if (!p)
        return false;
    if (klen)
        memcpy(p, key, klen);
    c->orphans[c->norphans++] = (sc_bytes_t){p, klen};
    return true;
}

/* The first change after a take confirms that take's batch: the undo log
 * of the confirmed epoch is dropped with the tombstones it kept. */
void sc_epoch_begin(lf_sigcorr_t *c)
{
    if (!c->taken)
        return;
    for (size_t i = 0; i < c->nundo; i++) {
        sc_group_t *g = c->undo[i].g;
        free(c->undo[i].e);
        g->in_undo = false;
        if (g->tombstone && !g->dirty)
            sc_group_unlink_free(c, g);
    }
    c->nundo = 0;
    for (size_t i = 0; i < c->norphans; i++)
        free(c->orphans[i].p);
    c->norphans = 0;
    c->taken = false;
    c->epoch_watermark = c->watermark;
    c->epoch_have_watermark = c->have_watermark;
}

/* Closes a group: a tombstone until its deletion is taken, or freed at once
 * when changes are not tracked. */
static void group_close(lf_sigcorr_t *c, sc_group_t *g)
{
    sc_rule_t *r = c->rules[g->rule];
    if (!g->tombstone && r->live_groups) {
        r->live_groups--;
        c->stats.groups--;
    }
    if (!c->opts.track_changes) {
        sc_group_unlink_free(c, g);
        return;
    }
    g->tombstone = true;
    sc_group_set_entries(g, NULL, 0);
}

/* ---- group keys ------------------------------------------------------------------------------ */

/* Decodes the group-by values of a key into c->values. */
static void decode_values(lf_sigcorr_t *c, const sc_rule_t *r, const uint8_t *key, size_t keylen)
{
    size_t off = 0;
    for (size_t i = 0; i < r->pub.group_count; i++) {
        size_t n = 0;
        if (off + 2 <= keylen) {
            n = (size_t)key[off] | (size_t)key[off + 1] << 8;
            off += 2;
            if (off + n > keylen)
                n = keylen - off;
        }
        c->values[i] = lf_str_n((const char *)key + off, n);
        off += n;
    }
}

size_t sc_group_key(const lf_sigcorr_t *c, const sc_group_t *g, uint8_t *out)
{
    const char *rk = c->rules[g->rule]->pub.key;
    size_t n = strlen(rk);
    memcpy(out, rk, n);
    out[n] = 0;
    memcpy(out + n + 1, g->digest, 16);
    return n + 17;
}

/* ---- metrics ----------------------------------------------------------------------------------
 */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double payload_num(uint64_t p)
{
    double d;
    memcpy(&d, &p, sizeof d);
    return d;
}

static bool scratch_reserve(lf_sigcorr_t *c, size_t n)
{
    if (n <= c->capscratch)
        return true;
    size_t cap = c->capscratch ? c->capscratch : 64;
    while (cap < n)
        cap *= 2;
    void *p = realloc(c->scratch, cap * 8);
    if (!p)
        return false;
    c->scratch = p;
    c->capscratch = cap;
    return true;
}

/* The rule's metric over n entries; false on ENOMEM. */
static bool metric(lf_sigcorr_t *c, const sc_rule_t *r, const sc_entry_t *e, size_t n, double *out)
{
    switch (r->pub.type) {
    case LF_SIGCORR_EVENT_COUNT:
        *out = (double)n;
        return true;
    case LF_SIGCORR_VALUE_COUNT: {
        if (!scratch_reserve(c, n))
            return false;
        uint64_t *h = c->scratch;
        for (size_t i = 0; i < n; i++)
            h[i] = e[i].payload;
        qsort(h, n, sizeof *h, cmp_u64);
        size_t d = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || h[i] != h[i - 1])
                d++;
        *out = (double)d;
        return true;
    }
    case LF_SIGCORR_TEMPORAL: {
        uint64_t seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= 1ull << (e[i].ref & 63);
        *out = (double)__builtin_popcountll(seen);
        return true;
    }
    case LF_SIGCORR_TEMPORAL_ORDERED: {
        /* longest prefix of rules: seen in that order (greedy is optimal) */
        uint32_t k = 0;
        for (size_t i = 0; i < n && k < r->nrefs; i++)
            if (e[i].ref == k)
                k++;
        *out = (double)k;
        return true;
    }
    case LF_SIGCORR_VALUE_SUM:
    case LF_SIGCORR_VALUE_AVG: {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += payload_num(e[i].payload);
        *out = r->pub.type == LF_SIGCORR_VALUE_SUM || n == 0 ? s : s / (double)n;
        return true;
    }
    case LF_SIGCORR_VALUE_PERCENTILE:
    case LF_SIGCORR_VALUE_MEDIAN: {
        if (n == 0) {
            *out = 0;
            return true;
        }
        if (!scratch_reserve(c, n))
            return false;
        double *v = c->scratch;
        for (size_t i = 0; i < n; i++)
            v[i] = payload_num(e[i].payload);
        qsort(v, n, sizeof *v, cmp_double);
        /* linear interpolation between closest ranks (PERCENTILE_CONT) */
        double pos = r->pub.percentile / 100.0 * (double)(n - 1);
        size_t lo = (size_t)pos;
        if (lo >= n - 1) {
            *out = v[n - 1];
            return true;
        }
        double frac = pos - (double)lo;
        *out = v[lo] + frac * (v[lo + 1] - v[lo]);
        return true;
    }
    }
    return false;
}

static bool cond_holds(const sc_rule_t *r, double v)
{
    for (uint32_t i = 0; i < r->nconds; i++) {
        double t = r->conds[i].v;
        bool ok;
        switch (r->conds[i].op) {
        case SC_GT:
            ok = v > t;
            break;
        case SC_GTE:
            ok = v >= t;
            break;
        case SC_LT:
            ok = v < t;
            break;
        case SC_LTE:
            ok = v <= t;
            break;
        case SC_EQ:
            ok = v == t;
            break;
        default:
            ok = v != t;
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- alerts and chaining --------------------------------------------------------------------- */

typedef struct chain_item {
    uint32_t src, rule, ref;
    int64_t ts;
    uint8_t *key;
    size_t keylen;
} chain_item_t;

typedef struct run {
    lf_sigcorr_t *c;
    lf_sigcorr_alert_cb *cb;
    void *ud;
    int alerts;
    bool oom;
    /* the base hit of this feed (NULL during advance) */
    lf_sigcorr_get_fn *origin_get;
    void *origin_opaque;
    chain_item_t *q;
    size_t nq, capq;
} run_t;

static void emit(run_t *run, sc_group_t *g, double value, int64_t wstart, int64_t wend,
                 const sc_entry_t *e, size_t n)
{
    lf_sigcorr_t *c = run->c;
    sc_rule_t *r = c->rules[g->rule];
    decode_values(c, r, g->key, g->keylen);
    lf_sigcorr_alert_t a = {.rule = &r->pub,
                            .group_values = c->values,
                            .value = value,
                            .hits = (uint32_t)n,
                            .window_start_ms = wstart,
                            .window_end_ms = wend,
                            .first_ms = n ? e[0].ts : wstart,
                            .last_ms = n ? e[n - 1].ts : wend};
    c->stats.alerts++;
    run->alerts++;
    if (run->cb)
        run->cb(run->ud, &a);
    for (size_t i = 0; i < r->nsubs; i++) {
        if (!grow((void **)&run->q, &run->capq, run->nq, sizeof *run->q)) {
            run->oom = true;
            return;
        }
        chain_item_t *it = &run->q[run->nq];
        it->key = malloc(g->keylen ? g->keylen : 1);
        if (!it->key) {
            run->oom = true;
            return;
        }
        if (g->keylen)
            memcpy(it->key, g->key, g->keylen);
        it->keylen = g->keylen;
        it->src = g->rule;
        it->rule = r->sub_rule[i];
        it->ref = r->sub_ref[i];
        it->ts = a.last_ms;
        run->nq++;
    }
}

/* Index of the first entry at or after ts. */
static size_t first_at(const sc_group_t *g, int64_t ts)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->e[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Removes entries [0, k). */
static void drop_front(sc_group_t *g, size_t k)
{
    if (k >= g->n) {
        g->n = 0;
        g->e = g->mem;
        return;
    }
    g->e += k; /* O(1): the space is reclaimed when the group needs room */
    g->n -= (uint32_t)k;
}

/* Windows decided at their end: closes every window [first, first + timespan]
 * whose end plus the lateness lies before clock. Returns whether any closed. */
static bool close_windows(run_t *run, sc_group_t *g, int64_t clock)
{
    lf_sigcorr_t *c = run->c;
    sc_rule_t *r = c->rules[g->rule];
    bool closed = false;
    while (g->n > 0) {
        int64_t start = g->e[0].ts, end = sat_add(start, r->pub.timespan_ms);
        if (!(clock > sat_add(end, c->opts.lateness_ms)))
            break;
        size_t j = 0;
        while (j < g->n && g->e[j].ts <= end)
            j++;
        double v;
        if (!metric(c, r, g->e, j, &v)) {
            run->oom = true;
            return closed;
        }
        if (cond_holds(r, v))
            emit(run, g, v, start, end, g->e, j);
        drop_front(g, j);
        closed = true;
    }
    return closed;
}

/* Conditions decided as soon as they hold: checks the windows that end at
 * an entry whose time lies in [lo, hi]. */
static void check_windows(run_t *run, sc_group_t *g, int64_t lo, int64_t hi)
{
    lf_sigcorr_t *c = run->c;
    sc_rule_t *r = c->rules[g->rule];
    for (;;) {
        bool fired = false;
        size_t j = first_at(g, lo);
        while (j < g->n && g->e[j].ts <= hi) {
            size_t jend = j;
            while (jend + 1 < g->n && g->e[jend + 1].ts == g->e[j].ts)
                jend++;
            int64_t end = g->e[jend].ts, start = sat_sub(end, r->pub.timespan_ms);
            size_t i0 = first_at(g, start);
            double v;
            if (!metric(c, r, g->e + i0, jend - i0 + 1, &v)) {
                run->oom = true;
                return;
            }
            if (cond_holds(r, v)) {
                emit(run, g, v, start, end, g->e + i0, jend - i0 + 1);
                drop_front(g, jend + 1);
                fired = true;
                break;
            }
            j = jend + 1;
        }
        if (!fired || g->n == 0)
            return;
        /* what remains lost hits: look at every window again */
        lo = g->e[0].ts;
        hi = INT64_MAX;
    }
}

/* Entries older than this can share a window with no acceptable future hit. */
static int64_t prune_before(const lf_sigcorr_t *c, const sc_rule_t *r, int64_t clock)
{
    return sat_sub(sat_sub(clock, c->opts.lateness_ms), r->pub.timespan_ms);
}

static int64_t group_clock(const lf_sigcorr_t *c, const sc_group_t *g)
{
    int64_t clock = g->newest;
    if (c->have_watermark && c->watermark > clock)
        clock = c->watermark;
    return clock;
}

/* ---- hits ------------------------------------------------------------------------------------ */

typedef struct chain_ctx {
    lf_sigcorr_t *c;
    const sc_rule_t *src;
    const uint8_t *key;
    size_t keylen;
    lf_sigcorr_get_fn *get;
    void *opaque;
} chain_ctx_t;

/* Fields of a chained hit: the group-by values of the correlation that
 * fired, then the fields of the base hit that made it fire (if any). */
static lf_str_t chain_get(void *opaque, const char *field)
{
    chain_ctx_t *x = opaque;
    size_t off = 0;
    for (size_t i = 0; i < x->src->pub.group_count; i++) {
        size_t n = 0;
        if (off + 2 <= x->keylen) {
            n = (size_t)x->key[off] | (size_t)x->key[off + 1] << 8;
            off += 2;
        }
        if (off + n > x->keylen)
            n = x->keylen - off;
        if (!strcmp(x->src->pub.group_by[i], field))
            return lf_str_n((const char *)x->key + off, n);
        off += n;
    }
    return x->get ? x->get(x->opaque, field) : LF_STR_NULL;
}

/* Parses a value field as a finite decimal number. */
static bool parse_value(lf_str_t v, double *out)
{
    char buf[64];
    while (v.len && (*v.ptr == ' ' || *v.ptr == '\t')) {
        v.ptr++;
        v.len--;
    }
    while (v.len && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
        v.len--;
    if (v.len == 0 || v.len >= sizeof buf)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!strchr("0123456789+-.eE", v.ptr[i]))
            return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = 0;
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + v.len || !isfinite(d))
        return false;
    *out = d;
    return true;
}

/* Counts one hit of reference k into its group of rule ri. */
static void process_hit(run_t *run, uint32_t ri, uint32_t k, int64_t ts, lf_sigcorr_get_fn *get,
                        void *opaque)
{
    lf_sigcorr_t *c = run->c;
    sc_rule_t *r = c->rules[ri];
    uint8_t key[SC_MAX_GROUP_BY * (2 + SC_MAX_VALUE)];
    size_t klen = 0;
    for (size_t gi = 0; gi < r->pub.group_count; gi++) {
        lf_str_t v = get ? get(opaque, r->field_for[gi * r->nrefs + k]) : LF_STR_NULL;
        if (!v.ptr) {
            c->stats.hits_missing_group++;
            return;
        }
        size_t n = v.len > SC_MAX_VALUE ? SC_MAX_VALUE : v.len;
        key[klen++] = (uint8_t)(n & 0xff);
        key[klen++] = (uint8_t)(n >> 8);
        memcpy(key + klen, v.ptr, n);
        klen += n;
    }
    uint64_t payload = 0;
    if (r->pub.type == LF_SIGCORR_VALUE_COUNT || r->pub.type >= LF_SIGCORR_VALUE_SUM) {
        lf_str_t v = get ? get(opaque, r->vfield_for[k]) : LF_STR_NULL;
        double d;
        if (!v.ptr) {
            c->stats.hits_missing_value++;
            return;
        }
        if (r->pub.type == LF_SIGCORR_VALUE_COUNT) {
            payload = sc_hash64(v.ptr, v.len, 0x76616c7565ULL);
        } else if (parse_value(v, &d)) {
            memcpy(&payload, &d, sizeof payload);
        } else {
            c->stats.hits_missing_value++;
            return;
        }
    }
    uint64_t hash = sc_group_hash(ri, key, klen);
    sc_group_t *g = sc_group_find(c, ri, key, klen, hash);
    bool live = g && !g->tombstone;
    int64_t ref_time = c->have_watermark ? c->watermark : INT64_MIN;
    if (live && g->newest > ref_time)
        ref_time = g->newest;
    if (ts < sat_sub(ref_time, c->opts.lateness_ms)) {
        c->stats.hits_late++;
        return;
    }
    if (!live && r->live_groups >= (size_t)c->opts.max_groups) {
        c->stats.groups_full++;
        return;
    }
    bool created = false;
    if (!g) {
        g = sc_group_insert(c, ri, key, klen, hash);
        if (!g) {
            run->oom = true;
            return;
        }
        created = true;
    }
    if (!sc_touch(c, g, created)) {
        if (created)
            sc_group_unlink_free(c, g);
        run->oom = true;
        return;
    }
    if (!live) {
        g->tombstone = false;
        g->n = 0;
        g->newest = ts;
        r->live_groups++;
        c->stats.groups++;
    }
    if (ts > g->newest)
        g->newest = ts;
    int64_t clock = group_clock(c, g);
    if (!r->pub.at_window_end) {
        drop_front(g, first_at(g, prune_before(c, r, clock)));
    }
    if (r->pub.type == LF_SIGCORR_VALUE_COUNT && !r->pub.at_window_end) {
        /* only each value's newest hit counts for the windows that end at
         * or after it: the group keeps one hit per value, so a flood of one
         * value neither fills the group nor slows the count */
        for (size_t i = 0; i < g->n; i++) {
            if (g->e[i].payload != payload)
                continue;
            if (g->e[i].ts > ts) {
                c->stats.hits++; /* an older repeat of a value: nothing changes */
                return;
            }
            memmove(g->e + i, g->e + i + 1, (g->n - i - 1) * sizeof *g->e);
            g->n--;
            break;
        }
    }
    /* insert after the entries of the same or an earlier time */
    size_t pos = g->n;
    while (pos > 0 && g->e[pos - 1].ts > ts)
        pos--;
    bool insert = true;
    if (g->n >= (size_t)c->opts.max_values) {
        c->stats.values_evicted++;
        if (pos == 0) {
            insert = false; /* the new hit is the oldest: it is the one evicted */
        } else {
            drop_front(g, 1);
            pos--;
        }
    }
    if (insert) {
        if (g->e != g->mem && (size_t)(g->e - g->mem) + g->n == g->cap) {
            memmove(g->mem, g->e, g->n * sizeof *g->e);
            g->e = g->mem;
        }
        if (g->n == g->cap) {
            uint32_t cap = g->cap ? g->cap * 2 : 8;
            if (cap > (uint32_t)c->opts.max_values)
                cap = (uint32_t)c->opts.max_values;
            if (cap <= g->n)
                cap = g->n + 1;
            sc_entry_t *ne = realloc(g->mem, cap * sizeof *ne);
            if (!ne) {
                run->oom = true;
                if (g->n == 0)
                    group_close(c, g);
                return;
            }
            g->mem = g->e = ne;
            g->cap = cap;
        }
        memmove(g->e + pos + 1, g->e + pos, (g->n - pos) * sizeof *g->e);
        g->e[pos] = (sc_entry_t){.ts = ts, .payload = payload, .ref = k};
        g->n++;
        c->stats.hits++;
        if (r->pub.at_window_end)
            close_windows(run, g, clock);
        else
            check_windows(run, g, ts, sat_add(ts, r->pub.timespan_ms));
    }
    if (g->n == 0)
        group_close(c, g);
}

static int sub_key_cmp(const char *subkey, char kind, const char *s)
{
    if (subkey[0] != kind)
        return subkey[0] < kind ? -1 : 1;
    return strcmp(subkey + 2, s);
}

static const sc_sub_t *find_sub(const lf_sigcorr_t *c, char kind, const char *s)
{
    if (!s || !s[0])
        return NULL;
    size_t lo = 0, hi = c->nsubs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = sub_key_cmp(c->subs[mid].key, kind, s);
        if (cmp == 0)
            return &c->subs[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool lf_sigcorr_uses(const lf_sigcorr_t *c, const char *rule_id, const char *rule_name)
{
    return c && (find_sub(c, 'i', rule_id) || find_sub(c, 'n', rule_name));
}

bool lf_sigcorr_keep_base_alert(const lf_sigcorr_t *c, const char *rule_id, const char *rule_name)
{
    if (!c)
        return true;
    const sc_sub_t *a = find_sub(c, 'i', rule_id), *b = find_sub(c, 'n', rule_name);
    return !((a && a->suppress) || (b && b->suppress));
}

/* Feeds the alerts queued for chained correlations, oldest first. */
static void drain_chain(run_t *run)
{
    for (size_t i = 0; i < run->nq; i++) {
        chain_item_t it = run->q[i];
        chain_ctx_t x = {.c = run->c,
                         .src = run->c->rules[it.src],
                         .key = it.key,
                         .keylen = it.keylen,
                         .get = run->origin_get,
                         .opaque = run->origin_opaque};
        if (!run->oom)
            process_hit(run, it.rule, it.ref, it.ts, chain_get, &x);
        free(it.key);
    }
    free(run->q);
    run->q = NULL;
    run->nq = run->capq = 0;
}

int lf_sigcorr_feed(lf_sigcorr_t *c, const lf_sigcorr_hit_t *hit, lf_sigcorr_alert_cb *cb, void *ud)
{
    if (!c || !hit)
        return 0;
    const sc_sub_t *subs[2] = {find_sub(c, 'i', hit->rule_id), find_sub(c, 'n', hit->rule_name)};
    if (!subs[0] && !subs[1])
        return 0;
    sc_epoch_begin(c);
    run_t run = {.c = c, .cb = cb, .ud = ud, .origin_get = hit->get, .origin_opaque = hit->opaque};
    for (int s = 0; s < 2; s++) {
        if (!subs[s] || (s == 1 && subs[1] == subs[0]))
            continue;
        for (size_t i = 0; i < subs[s]->n && !run.oom; i++)
            process_hit(&run, subs[s]->rule[i], subs[s]->ref[i], hit->time_ms, hit->get,
                        hit->opaque);
    }
    drain_chain(&run);
    return run.oom ? LF_ENOMEM : run.alerts;
}

/* One group at the watermark: closes windows or drops stale hits. */
static void advance_group(run_t *run, sc_group_t *g)
{
    lf_sigcorr_t *c = run->c;
    sc_rule_t *r = c->rules[g->rule];
    int64_t clock = group_clock(c, g);
    if (r->pub.at_window_end) {
        if (g->n == 0 ||
            !(clock > sat_add(sat_add(g->e[0].ts, r->pub.timespan_ms), c->opts.lateness_ms)))
            return;
        if (!sc_touch(c, g, false)) {
            run->oom = true;
            return;
        }
        close_windows(run, g, clock);
    } else {
        int64_t before = prune_before(c, r, clock);
        if (g->n > 0 && g->e[0].ts >= before)
            return;
        if (!sc_touch(c, g, false)) {
            run->oom = true;
            return;
        }
        drop_front(g, first_at(g, before));
    }
    if (g->n == 0)
        group_close(c, g);
}

int lf_sigcorr_advance(lf_sigcorr_t *c, int64_t now_ms, lf_sigcorr_alert_cb *cb, void *ud)
{
    if (!c)
        return 0;
    sc_epoch_begin(c);
    if (!c->have_watermark || now_ms > c->watermark) {
        c->watermark = now_ms;
        c->have_watermark = true;
    }
    run_t run = {.c = c, .cb = cb, .ud = ud};
    for (size_t b = 0; b < c->tcap && !run.oom; b++) {
        sc_group_t *g = c->table[b];
        while (g) {
            sc_group_t *next = g->next;
            if (!g->tombstone)
                advance_group(&run, g);
            g = next;
        }
    }
    drain_chain(&run);
    return run.oom ? LF_ENOMEM : run.alerts;
}

/* ---- life cycle and statistics --------------------------------------------------------------- */

void lf_sigcorr_free(lf_sigcorr_t *c)
{
    if (!c)
        return;
    for (size_t b = 0; b < c->tcap; b++) {
        sc_group_t *g = c->table[b];
        while (g) {
            sc_group_t *next = g->next;
            free(g->mem);
            free(g->key);
            free(g);
            g = next;
        }
    }
    free(c->table);
    for (size_t i = 0; i < c->nundo; i++)
        free(c->undo[i].e);
    free(c->undo);
    free(c->dirty);
    for (size_t i = 0; i < c->norphans; i++)
        free(c->orphans[i].p);
    free(c->orphans);
    for (size_t i = 0; i < c->nrules; i++) {
        free(c->rules[i]->sub_rule);
        free(c->rules[i]->sub_ref);
    }
    free(c->rules);
    for (size_t i = 0; i < c->nsubs; i++) {
        free(c->subs[i].rule);
        free(c->subs[i].ref);
    }
    free(c->subs);
    free(c->scratch);
    free(c->buf);
    free(c->rule_ix);
    lf_sigma_matcher_unref(c->base);
    lf_sigma_ruleset_free(c->meta_set);
    free(c);
}

void lf_sigcorr_stats(const lf_sigcorr_t *c, lf_sigcorr_stats_t *out)
{
    *out = c->stats;
}
