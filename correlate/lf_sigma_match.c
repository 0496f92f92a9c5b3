/* lf_sigma_match.c - the immutable matcher: literal prefilter and evaluation.
 *
 * Prefilter. For each rule we derive a necessary condition of the form
 * "one of these (field, literal) pairs occurs", walking the condition tree:
 *   - a string value needs its longest literal run in each field it reads;
 *   - OR (lists, `1 of`, `or`) needs the union of its children's literals;
 *   - AND (maps, `all`, `all of`, `and`) needs only one child's: the one
 *     whose shortest literal is longest (fewest false candidates);
 *   - NOT, neq, regexes, CIDR, numbers, exists, fieldref need nothing: a rule
 *     that reaches the top with "nothing" (or literals shorter than 3 bytes)
 *     runs on every event of its logsource ("unfiltered").
 * All literals of all rules are put, per ECS field, into one Aho–Corasick
 * automaton; per event each such field is scanned once, and only rules
 * whose literal was seen (plus the unfiltered ones) run their full check.
 * The logsource condition of a mapping ("gate") is evaluated at most once
 * per event, however many rules share it.
 */
#include "lf_sigma_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_MIN_LITERAL 3
#define SG_MAX_ALTS    256

struct lf_sigma_matcher {
    atomic_int refs;
    lf_sigma_ruleset_t *set; /* owns the rules, the arena and the regexes */
    sg_rule_t **rules;
    size_t nrules, nwords;
    uint64_t *always; /* unfiltered rules */
    sg_ac_t *ac[LF_F_COUNT];
    lf_field_id_t ac_fields[LF_F_COUNT];
    size_t nac_fields;
    uint32_t *pat_rule_off; /* npat + 1 */
    uint32_t *pat_rules;
    size_t npat;
    lf_sigma_matcher_stats_t stats;
};

typedef struct field_cache {
    uint32_t gen, lgen;
    bool present;
    lf_str_t v, low;
    char *lowbuf;
    size_t lowcap;
    char num[48];
} field_cache_t;

struct lf_sigma_scratch {
    uint32_t gen;
    const lf_event_t *ev;
    const lf_sigma_matcher_t *m;
    bool oom;
    field_cache_t f[LF_F_COUNT];
    uint64_t *cand;
    size_t capwords;
    uint32_t *gate_gen;
    uint8_t *gate_val;
    size_t capgates;
    uint32_t *pat_gen;
    size_t cappat;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int64_t match_limit, depth_limit;
    uint64_t regex_limit_hits;
};

/* ---- scratch ------------------------------------------------------------------ */

lf_sigma_scratch_t *lf_sigma_scratch_new(void)
{
    lf_sigma_scratch_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx) {
        lf_sigma_scratch_free(s);
        return NULL;
    }
    return s;
}

void lf_sigma_scratch_free(lf_sigma_scratch_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < LF_F_COUNT; i++)
        free(s->f[i].lowbuf);
    free(s->cand);
    free(s->gate_gen);
    free(s->gate_val);
    free(s->pat_gen);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    free(s);
}

uint64_t lf_sigma_scratch_regex_limit_hits(const lf_sigma_scratch_t *s)
{
    return s->regex_limit_hits;
}

static bool grow_zero(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    void *n = realloc(*p, need * elem);
    if (!n)
        return false;
    memset((char *)n + *cap * elem, 0, (need - *cap) * elem);
    *p = n;
    *cap = need;
    return true;
}

static lf_err_t scratch_prepare(const lf_sigma_matcher_t *m, lf_sigma_scratch_t *s,
                                const lf_event_t *ev)
{
    size_t cw = s->capwords, cg = s->capgates, cg2 = s->capgates, cp = s->cappat;
    if (!grow_zero((void **)&s->cand, &cw, m->nwords + 1, sizeof *s->cand) ||
        !grow_zero((void **)&s->gate_gen, &cg, m->set->ngates + 1, sizeof *s->gate_gen) ||
        !grow_zero((void **)&s->gate_val, &cg2, m->set->ngates + 1, sizeof *s->gate_val) ||
        !grow_zero((void **)&s->pat_gen, &cp, m->npat + 1, sizeof *s->pat_gen))
        return LF_ENOMEM;
    s->capwords = cw;
    s->capgates = cg < cg2 ? cg : cg2;
    s->cappat = cp;
    s->m = m;
    if (s->match_limit != m->set->opts.regex_match_limit ||
        s->depth_limit != m->set->opts.regex_depth_limit) {
        pcre2_set_match_limit(s->mctx, (uint32_t)m->set->opts.regex_match_limit);
        pcre2_set_depth_limit(s->mctx, (uint32_t)m->set->opts.regex_depth_limit);
        s->match_limit = m->set->opts.regex_match_limit;
        s->depth_limit = m->set->opts.regex_depth_limit;
    }
    if (++s->gen == 0) { /* wrapped: forget every stamp */
        for (size_t i = 0; i < LF_F_COUNT; i++)
            s->f[i].gen = s->f[i].lgen = 0;
        memset(s->gate_gen, 0, s->capgates * sizeof *s->gate_gen);
        memset(s->pat_gen, 0, s->cappat * sizeof *s->pat_gen);
        s->gen = 1;
    }
    s->ev = ev;
    s->oom = false;
    return LF_OK;
}

static bool field_text(lf_sigma_scratch_t *s, lf_field_id_t id, lf_str_t *out)
{
    if ((unsigned)id >= LF_F_COUNT)
        return false;
    field_cache_t *fc = &s->f[id];
    if (fc->gen != s->gen) {
        fc->gen = s->gen;
        fc->present = lf_event_value_text(s->ev, id, fc->num, sizeof fc->num, &fc->v);
        if (fc->present && !fc->v.ptr)
            fc->v = lf_str_n("", 0);
    }
    *out = fc->v;
    return fc->present;
}

static bool field_lower(lf_sigma_scratch_t *s, lf_field_id_t id, lf_str_t *out)
{
    lf_str_t v;
    if (!field_text(s, id, &v))
        return false;
    field_cache_t *fc = &s->f[id];
    if (fc->lgen != s->gen) {
        if (v.len + 1 > fc->lowcap) {
            size_t cap = fc->lowcap ? fc->lowcap : 64;
            while (cap < v.len + 1)
                cap *= 2;
            char *p = realloc(fc->lowbuf, cap);
            if (!p) {
                s->oom = true;
                return false;
            }
            fc->lowbuf = p;
            fc->lowcap = cap;
        }
        for (size_t i = 0; i < v.len; i++)
            fc->lowbuf[i] = (char)sg_lower((unsigned char)v.ptr[i]);
        fc->low = lf_str_n(fc->lowbuf, v.len);
        fc->lgen = s->gen;
    }
    *out = fc->low;
    return true;
}

/* ---- value matchers ---------------------------------------------------------------- */

static bool str_match(uint8_t mode, const char *lit, size_t ll, const sg_value_t *v, lf_str_t t)
{
    switch (mode) {
    case SG_S_EXACT:
        return t.len == ll && (ll == 0 || memcmp(t.ptr, lit, ll) == 0);
    case SG_S_PREFIX:
        return t.len >= ll && memcmp(t.ptr, lit, ll) == 0;
    case SG_S_SUFFIX:
        return t.len >= ll && memcmp(t.ptr + t.len - ll, lit, ll) == 0;
    case SG_S_CONTAINS:
        return ll == 0 || (t.len >= ll && memmem(t.ptr, t.len, lit, ll) != NULL);
    default:
        return sg_glob_match(v->toks, v->ntoks, t.ptr, t.len);
    }
}

static bool copy_z(lf_str_t v, char *buf, size_t cap)
{
    while (v.len && (*v.ptr == ' ' || *v.ptr == '\t')) {
        v.ptr++;
        v.len--;
    }
    while (v.len && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
        v.len--;
    if (v.len == 0 || v.len >= cap)
        return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    return true;
}

static bool cidr_match(const sg_value_t *v, lf_str_t t)
{
    char buf[64];
    uint8_t addr[16];
    if (!copy_z(t, buf, sizeof buf))
        return false;
    if (v->family == 4) {
        if (inet_pton(AF_INET, buf, addr) != 1)
            return false;
    } else if (inet_pton(AF_INET6, buf, addr) != 1) {
        return false;
    }
    unsigned full = v->prefix / 8, rem = v->prefix % 8;
    if (memcmp(addr, v->addr, full) != 0)
        return false;
    if (rem && (addr[full] & (uint8_t)(0xff << (8 - rem))) != v->addr[full])
        return false;
    return true;
}

static bool cmp_match(const sg_value_t *v, lf_str_t t)
{
    char buf[64], *end;
    if (!copy_z(t, buf, sizeof buf))
        return false;
    double d = strtod(buf, &end);
    if (end == buf || *end)
        return false;
    switch (v->op) {
    case SG_CMP_LT:
        return d < v->num;
    case SG_CMP_LTE:
        return d <= v->num;
    case SG_CMP_GT:
        return d > v->num;
    default:
        return d >= v->num;
    }
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int iso_week(int64_t y, int64_t m, int64_t d)
{
    int64_t days = days_from_civil(y, m, d);
    int64_t wday = ((days % 7) + 10) % 7; /* 0 = Monday (1970-01-01 was a Thursday) */
    int64_t thursday = days - wday + 3;
    /* year of that Thursday */
    int64_t ty = y;
    if (thursday < days_from_civil(y, 1, 1))
        ty = y - 1;
    else if (thursday >= days_from_civil(y + 1, 1, 1))
        ty = y + 1;
    return (int)((thursday - days_from_civil(ty, 1, 1)) / 7 + 1);
}

static bool digits(const char *p, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static bool time_match(const sg_value_t *v, lf_str_t t)
{
    /* YYYY-MM-DD[T ]HH:MM... (RFC 3339 / ISO 8601, the time as written) */
    int64_t y, mo, d, h = 0, mi = 0;
    const char *p = t.ptr;
    if (t.len < 10 || p[4] != '-' || p[7] != '-' || !digits(p, 4, &y) || !digits(p + 5, 2, &mo) ||
        !digits(p + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    if (t.len >= 16 && (p[10] == 'T' || p[10] == ' ' || p[10] == 't') && p[13] == ':' &&
        (!digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi)))
        return false;
    int64_t part;
    switch (v->op) {
    case SG_T_MINUTE:
        part = mi;
        break;
    case SG_T_HOUR:
        part = h;
        break;
    case SG_T_DAY:
        part = d;
        break;
    case SG_T_WEEK:
        part = iso_week(y, mo, d);
        break;
    case SG_T_MONTH:
        part = mo;
        break;
    default:
        part = y;
        break;
    }
    return part == v->part;
}

static bool fieldref_match(const sg_value_t *v, lf_sigma_scratch_t *s, lf_str_t orig, lf_str_t low)
{
    for (uint8_t i = 0; i < v->nref; i++) {
        lf_str_t other;
        bool ok = v->cased ? field_text(s, v->ref[i], &other) : field_lower(s, v->ref[i], &other);
        if (ok && str_match(v->smode, other.ptr, other.len, v, v->cased ? orig : low))
            return true;
    }
    return false;
}

static bool value_on_field(const sg_value_t *v, lf_sigma_scratch_t *s, lf_field_id_t f)
{
    lf_str_t orig, low = {0};
    if (!field_text(s, f, &orig))
        return false;
    switch (v->kind) {
    case SG_V_STR:
        if (!v->cased && !field_lower(s, f, &low))
            return false;
        return str_match(v->smode, v->lit, v->lit_len, v, v->cased ? orig : low);
    case SG_V_RE: {
        int rc = pcre2_match(v->re, (PCRE2_SPTR)(orig.ptr ? orig.ptr : ""), orig.len, 0, 0, s->md,
                             s->mctx);
        if (rc >= 0)
            return true;
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
            s->regex_limit_hits++;
        return false;
    }
    case SG_V_CIDR:
        return cidr_match(v, orig);
    case SG_V_CMP:
        return cmp_match(v, orig);
    case SG_V_TIME:
        return time_match(v, orig);
    case SG_V_FIELDREF:
        if (!v->cased && !field_lower(s, f, &low))
            return false;
        return fieldref_match(v, s, orig, low);
    default:
        return false;
    }
}

static bool value_eval(const sg_item_t *item, const sg_value_t *v, lf_sigma_scratch_t *s)
{
    if (v->kind == SG_V_NULL || v->kind == SG_V_EXISTS) {
        bool any = false;
        lf_str_t t;
        for (uint8_t i = 0; i < item->nfields && !any; i++)
            any = field_text(s, item->fields[i], &t);
        return v->kind == SG_V_NULL ? !any : any == v->exists;
    }
    for (uint8_t i = 0; i < item->nfields; i++)
        if (value_on_field(v, s, item->fields[i]))
            return true;
    return false;
}

bool sg_item_eval(const sg_item_t *item, lf_sigma_scratch_t *s)
{
    bool res = item->all;
    for (uint32_t i = 0; i < item->nvals; i++) {
        bool r = value_eval(item, &item->vals[i], s);
        if (item->all && !r) {
            res = false;
            break;
        }
        if (!item->all && r) {
            res = true;
            break;
        }
    }
    return item->neg ? !res : res;
}

bool sg_sel_eval(const sg_sel_t *sel, lf_sigma_scratch_t *s)
{
    for (uint32_t c = 0; c < sel->nconj; c++) {
        const sg_conj_t *cj = &sel->conj[c];
        bool ok = true;
        for (uint32_t i = 0; i < cj->nitems && ok; i++)
            ok = sg_item_eval(&cj->items[i], s);
        if (ok)
            return true;
    }
    return false;
}

static bool cond_eval(const sg_expr_t *e, uint32_t n, lf_sigma_scratch_t *s)
{
    const sg_cnode_t *c = &e->nodes[n];
    switch (c->op) {
    case SG_C_SEL:
        return sg_sel_eval(&e->sels[c->arg], s);
    case SG_C_AND:
        for (uint32_t i = 0; i < c->n; i++)
            if (!cond_eval(e, c->kids[i], s))
                return false;
        return true;
    case SG_C_OR:
        for (uint32_t i = 0; i < c->n; i++)
            if (cond_eval(e, c->kids[i], s))
                return true;
        return false;
    case SG_C_NOT:
        return !cond_eval(e, c->kids[0], s);
    case SG_C_ATLEAST: {
        uint32_t hits = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            hits += cond_eval(e, c->kids[i], s);
            if (hits >= c->arg)
                return true;
            if (hits + (c->n - i - 1) < c->arg)
                return false;
        }
        return false;
    }
    default:
        return false;
    }
}

static bool rule_eval(const sg_rule_t *r, lf_sigma_scratch_t *s)
{
    if (!cond_eval(&r->det, r->det.root, s))
        return false;
    for (size_t i = 0; i < r->nfilters; i++)
        if (cond_eval(&r->filters[i]->det, r->filters[i]->det.root, s))
            return false;
    return true;
}

/* ---- prefilter requirements ----------------------------------------------------------- */

typedef struct alt {
    lf_field_id_t f;
    const char *lit;
    size_t len;
} alt_t;

typedef struct req {
    bool any; /* no requirement can be derived */
    alt_t *alts;
    size_t n; /* n == 0 && !any: can never match */
    size_t minlen;
} req_t;

static req_t req_any(void)
{
    return (req_t){.any = true};
}

static void req_free(req_t *r)
{
    free(r->alts);
    r->alts = NULL;
    r->n = 0;
}

/* union of b into a (consumes b) */
static req_t req_union(req_t a, req_t b)
{
    if (a.any || b.any || a.n + b.n > SG_MAX_ALTS) {
        req_free(&a);
        req_free(&b);
        return req_any();
    }
    if (b.n == 0) {
        return a;
    }
    if (a.n == 0) {
        return b;
    }
    alt_t *m = realloc(a.alts, (a.n + b.n) * sizeof *m);
    if (!m) {
        req_free(&a);
        req_free(&b);
        return req_any();
    }
    memcpy(m + a.n, b.alts, b.n * sizeof *m);
    req_t r = {false, m, a.n + b.n, a.minlen < b.minlen ? a.minlen : b.minlen};
    free(b.alts);
    return r;
}

static int req_score(const req_t *r)
{
    if (r->any)
        return 0;
    if (r->n == 0)
        return 1 << 30;
    return (int)(r->minlen > 1000 ? 1000 : r->minlen) * 1024 - (int)r->n;
}

/* the better of two AND-ed requirements (consumes both) */
static req_t req_best(req_t a, req_t b)
{
    if (req_score(&b) > req_score(&a)) {
        req_free(&a);
        return b;
    }
    req_free(&b);
    return a;
}

static req_t req_value(const sg_item_t *item, const sg_value_t *v)
{
    if (v->kind != SG_V_STR && !(v->kind == SG_V_RE && v->lit_len))
        return req_any();
    const char *lit = v->lit;
    size_t len = v->lit_len;
    if (v->kind == SG_V_STR && v->smode == SG_S_GLOB) {
        len = 0;
        for (uint32_t i = 0; i < v->ntoks; i++)
            if (v->toks[i].type == SG_TOK_LIT && v->toks[i].len > len) {
                lit = v->toks[i].lit;
                len = v->toks[i].len;
            }
    }
    if (len == 0)
        return req_any();
    if (item->nfields == 0)
        return (req_t){0}; /* field absent: never matches */
    req_t r = {false, malloc(item->nfields * sizeof(alt_t)), item->nfields, len};
    if (!r.alts)
        return req_any();
    for (uint8_t i = 0; i < item->nfields; i++)
        r.alts[i] = (alt_t){item->fields[i], lit, len};
    return r;
}

static req_t req_item(const sg_item_t *item)
{
    if (item->neg || item->nvals == 0)
        return req_any();
    req_t r = req_value(item, &item->vals[0]);
    for (uint32_t i = 1; i < item->nvals; i++) {
        req_t x = req_value(item, &item->vals[i]);
        r = item->all ? req_best(r, x) : req_union(r, x);
    }
    return r;
}

static req_t req_sel(const sg_sel_t *sel)
{
    req_t r = {0};
    for (uint32_t c = 0; c < sel->nconj; c++) {
        const sg_conj_t *cj = &sel->conj[c];
        req_t a = req_any();
        for (uint32_t i = 0; i < cj->nitems; i++)
            a = req_best(a, req_item(&cj->items[i]));
        r = c == 0 ? a : req_union(r, a);
    }
    return r;
}

static req_t req_cond(const sg_expr_t *e, uint32_t n, int depth)
{
    const sg_cnode_t *c = &e->nodes[n];
    if (depth > 200)
        return req_any();
    switch (c->op) {
    case SG_C_SEL:
        return req_sel(&e->sels[c->arg]);
    case SG_C_AND: {
        req_t r = req_any();
        for (uint32_t i = 0; i < c->n; i++)
            r = req_best(r, req_cond(e, c->kids[i], depth + 1));
        return r;
    }
    case SG_C_OR:
    case SG_C_ATLEAST: {
        req_t r = {0};
        for (uint32_t i = 0; i < c->n; i++)
            r = req_union(r, req_cond(e, c->kids[i], depth + 1));
        return r;
    }
    case SG_C_FALSE:
        return (req_t){0};
    default:
        return req_any();
    }
}

/* ---- compile -------------------------------------------------------------------------- */

typedef struct triple {
    lf_field_id_t f;
    const char *lit;
    size_t len;
    uint32_t rule;
} triple_t;

static int lit_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = sg_lower((unsigned char)a[i]), y = sg_lower((unsigned char)b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static int triple_cmp(const void *pa, const void *pb)
{
    const triple_t *a = pa, *b = pb;
    if (a->f != b->f)
        return a->f < b->f ? -1 : 1;
    int c = lit_cmp(a->lit, a->len, b->lit, b->len);
    if (c)
        return c;
    return a->rule < b->rule ? -1 : a->rule > b->rule ? 1 : 0;
}

static void matcher_free(lf_sigma_matcher_t *m)
{
    for (size_t i = 0; i < LF_F_COUNT; i++)
        sg_ac_free(m->ac[i]);
    free(m->always);
    free(m->pat_rule_off);
    free(m->pat_rules);
    lf_sigma_ruleset_free(m->set);
    free(m);
}

static void compile_diag(lf_sigma_ruleset_t *set, lf_sigma_diag_cb *diag, void *ud,
                         const sg_rule_t *f, const char *msg)
{
    set->stats.warnings++;
    if (diag) {
        lf_sigma_diag_t d = {LF_SIGMA_WARNING,
                             f->meta.file,
                             f->meta.line,
                             0,
                             f->meta.id[0] ? f->meta.id : f->meta.title,
                             msg};
        diag(&d, ud);
    }
}

static bool attach_filters(lf_sigma_ruleset_t *set, lf_sigma_diag_cb *diag, void *ud)
{
    for (size_t i = 0; i < set->nfilters; i++) {
        sg_rule_t *f = set->filters[i];
        for (size_t t = 0; t < f->ntargets; t++) {
            bool found = false;
            for (size_t r = 0; r < set->nrules; r++) {
                sg_rule_t *rule = set->rules[r];
                if (strcmp(rule->meta.id, f->targets[t]) != 0 &&
                    strcmp(rule->meta.name, f->targets[t]) != 0)
                    continue;
                found = true;
                if (rule->nfilters == rule->capfilters) {
                    size_t cap = rule->capfilters ? rule->capfilters * 2 : 2;
                    sg_rule_t **nf = realloc(rule->filters, cap * sizeof *nf);
                    if (!nf)
                        return false;
                    rule->filters = nf;
                    rule->capfilters = cap;
                }
                rule->filters[rule->nfilters++] = f;
            }
            if (!found) {
                char msg[300];
                snprintf(msg, sizeof msg, "filter target '%s' names no loaded rule", f->targets[t]);
                compile_diag(set, diag, ud, f, msg);
            }
        }
    }
    return true;
}

lf_sigma_matcher_t *lf_sigma_compile(lf_sigma_ruleset_t *set, lf_sigma_diag_cb *diag, void *ud)
{
    if (!set)
        return NULL;
    lf_sigma_matcher_t *m = calloc(1, sizeof *m);
    if (!m) {
        lf_sigma_ruleset_free(set);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->set = set;
    m->rules = set->rules;
    m->nrules = set->nrules;
    m->nwords = (m->nrules + 63) / 64;
    m->always = calloc(m->nwords + 1, sizeof *m->always);
    triple_t *tr = NULL;
    size_t ntr = 0, captr = 0;
    sg_ac_builder_t *builders[LF_F_COUNT] = {0};
    if (!m->always || !attach_filters(set, diag, ud))
        goto oom;
    for (size_t i = 0; i < m->nrules; i++) {
        sg_rule_t *r = m->rules[i];
        r->meta.index = (uint32_t)i;
        req_t q = req_cond(&r->det, r->det.root, 0);
        if (q.any || (q.n > 0 && q.minlen < SG_MIN_LITERAL)) {
            m->always[i / 64] |= 1ull << (i % 64);
            m->stats.unfiltered++;
            req_free(&q);
            continue;
        }
        m->stats.prefiltered++;
        for (size_t a = 0; a < q.n; a++) {
            if (ntr == captr) {
                size_t cap = captr ? captr * 2 : 1024;
                triple_t *t = realloc(tr, cap * sizeof *t);
                if (!t) {
                    req_free(&q);
                    goto oom;
                }
                tr = t;
                captr = cap;
            }
            tr[ntr++] = (triple_t){q.alts[a].f, q.alts[a].lit, q.alts[a].len, (uint32_t)i};
        }
        req_free(&q);
    }
    if (ntr)
        qsort(tr, ntr, sizeof *tr, triple_cmp);
    /* distinct (field, literal) → pattern id; pattern → rules */
    m->pat_rule_off = calloc(ntr + 2, sizeof *m->pat_rule_off);
    m->pat_rules = malloc((ntr + 1) * sizeof *m->pat_rules);
    if (!m->pat_rule_off || !m->pat_rules)
        goto oom;
    size_t nr = 0;
    for (size_t i = 0; i < ntr;) {
        size_t j = i;
        uint32_t pat = (uint32_t)m->npat++;
        m->pat_rule_off[pat] = (uint32_t)nr;
        while (j < ntr && tr[j].f == tr[i].f &&
               lit_cmp(tr[j].lit, tr[j].len, tr[i].lit, tr[i].len) == 0) {
            if (j == i || tr[j].rule != tr[j - 1].rule)
                m->pat_rules[nr++] = tr[j].rule;
            j++;
        }
        lf_field_id_t f = tr[i].f;
        if (!builders[f] && !(builders[f] = sg_ac_builder_new()))
            goto oom;
        if (sg_ac_builder_add(builders[f], tr[i].lit, tr[i].len, pat) != LF_OK)
            goto oom;
        i = j;
    }
    m->pat_rule_off[m->npat] = (uint32_t)nr;
    m->stats.literals = m->npat;
    for (size_t f = 0; f < LF_F_COUNT; f++) {
        if (!builders[f])
            continue;
        m->ac[f] = sg_ac_build(builders[f]);
        builders[f] = NULL;
        if (!m->ac[f])
            goto oom;
        m->ac_fields[m->nac_fields++] = (lf_field_id_t)f;
        m->stats.automaton_states += sg_ac_states(m->ac[f]);
    }
    free(tr);
    m->stats.rules = m->nrules;
    m->stats.logsource_gates = set->ngates;
    m->stats.regexes = set->nres;
    m->stats.regexes_jit = set->nres_jit;
    return m;
oom:
    for (size_t f = 0; f < LF_F_COUNT; f++)
        sg_ac_builder_free(builders[f]);
    free(tr);
    matcher_free(m);
    return NULL;
}

lf_sigma_matcher_t *lf_sigma_matcher_ref(lf_sigma_matcher_t *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void lf_sigma_matcher_unref(lf_sigma_matcher_t *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        matcher_free(m);
}

size_t lf_sigma_matcher_rule_count(const lf_sigma_matcher_t *m)
{
    return m->nrules;
}

const lf_sigma_rule_meta_t *lf_sigma_matcher_rule(const lf_sigma_matcher_t *m, size_t index)
{
    return index < m->nrules ? &m->rules[index]->meta : NULL;
}

size_t lf_sigma_matcher_resolve_field(const lf_sigma_matcher_t *m, size_t index, const char *name,
                                      lf_field_id_t *ids, size_t max)
{
    if (!m || index >= m->nrules || !name || max == 0)
        return 0;
    return sg_resolve_field_quiet(m->set, &m->rules[index]->meta, name, strlen(name), ids, max);
}

void lf_sigma_matcher_stats(const lf_sigma_matcher_t *m, lf_sigma_matcher_stats_t *out)
{
    *out = m->stats;
}

/* ---- matching ------------------------------------------------------------------------- */

typedef struct hit_ctx {
    const lf_sigma_matcher_t *m;
    lf_sigma_scratch_t *s;
} hit_ctx_t;

static void on_hit(uint32_t pat, void *ud)
{
    hit_ctx_t *h = ud;
    if (h->s->pat_gen[pat] == h->s->gen)
        return;
    h->s->pat_gen[pat] = h->s->gen;
    uint64_t *cand = h->s->cand;
    for (uint32_t i = h->m->pat_rule_off[pat]; i < h->m->pat_rule_off[pat + 1]; i++) {
        uint32_t r = h->m->pat_rules[i];
        cand[r / 64] |= 1ull << (r % 64);
    }
}

static bool gate_pass(const lf_sigma_matcher_t *m, lf_sigma_scratch_t *s, int32_t gate)
{
    if (gate < 0)
        return true;
    if (s->gate_gen[gate] != s->gen) {
        s->gate_gen[gate] = s->gen;
        s->gate_val[gate] = sg_sel_eval(m->set->gates[gate], s);
    }
    return s->gate_val[gate];
}

int lf_sigma_match(const lf_sigma_matcher_t *m, const lf_event_t *ev, lf_sigma_scratch_t *s,
                   lf_sigma_match_cb *cb, void *ud)
{
    lf_err_t rc = scratch_prepare(m, s, ev);
    if (rc != LF_OK)
        return rc;
    memcpy(s->cand, m->always, m->nwords * sizeof *s->cand);
    hit_ctx_t h = {m, s};
    for (size_t i = 0; i < m->nac_fields; i++) {
        lf_field_id_t f = m->ac_fields[i];
        lf_str_t v;
        if (field_text(s, f, &v) && v.len)
            sg_ac_scan(m->ac[f], v.ptr, v.len, on_hit, &h);
    }
    int matched = 0;
    for (size_t w = 0; w < m->nwords; w++) {
        uint64_t bits = s->cand[w];
        while (bits) {
            size_t r = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            const sg_rule_t *rule = m->rules[r];
            if (!gate_pass(m, s, rule->gate) || !rule_eval(rule, s))
                continue;
            matched++;
            if (cb && !cb(&rule->meta, ud))
                return s->oom ? LF_ENOMEM : matched;
        }
    }
    return s->oom ? LF_ENOMEM : matched;
}

int lf_sigma_match_naive(const lf_sigma_matcher_t *m, const lf_event_t *ev, lf_sigma_scratch_t *s,
                         lf_sigma_match_cb *cb, void *ud)
{
    lf_err_t rc = scratch_prepare(m, s, ev);
    if (rc != LF_OK)
        return rc;
    int matched = 0;
    for (size_t r = 0; r < m->nrules; r++) {
        const sg_rule_t *rule = m->rules[r];
        if (rule->gate >= 0 && !sg_sel_eval(m->set->gates[rule->gate], s))
            continue;
        if (!rule_eval(rule, s))
            continue;
        matched++;
        if (cb && !cb(&rule->meta, ud))
            break;
    }
    return s->oom ? LF_ENOMEM : matched;
}
