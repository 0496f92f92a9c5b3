/* lf_sigma_value.c - Sigma modifiers and values: "Field|mod|mod: value" → sg_item_t.
 *
 * Values are first parsed into an internal "Sigma string" (sstr): bytes in
 * which 0x01 is the `*` wildcard, 0x02 the `?` wildcard and 0x03 escapes the
 * following byte as a literal. String modifiers (windash, base64, utf16,
 * expand, contains, ...) transform lists of sstr in the order they are
 * written, exactly as the specification applies them; the results are then
 * compiled into matchers (exact / prefix / suffix / contains / glob).
 *
 * Every modifier is one row of sg_modifiers[]; docs/sigma.md lists them.
 */
#include "lf_sigma_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SG_SSTR_STAR = 1,
    SG_SSTR_ONE = 2,
    SG_SSTR_ESC = 3,
};

typedef enum sg_mod_id {
    M_CONTAINS,
    M_STARTSWITH,
    M_ENDSWITH,
    M_ALL,
    M_NEQ,
    M_CASED,
    M_RE,
    M_RE_I,
    M_RE_M,
    M_RE_S,
    M_BASE64,
    M_BASE64OFFSET,
    M_UTF16LE,
    M_UTF16BE,
    M_UTF16,
    M_WINDASH,
    M_CIDR,
    M_EXISTS,
    M_LT,
    M_LTE,
    M_GT,
    M_GTE,
    M_MINUTE,
    M_HOUR,
    M_DAY,
    M_WEEK,
    M_MONTH,
    M_YEAR,
    M_FIELDREF,
    M_EXPAND,
} sg_mod_id_t;

typedef enum sg_mod_class {
    MC_STRING, /* transforms string values, in order */
    MC_FLAG,   /* changes how the item links or compares */
    MC_TYPE,   /* turns the value into another kind of matcher */
} sg_mod_class_t;

typedef struct sg_modifier {
    const char *name;
    sg_mod_id_t id;
    sg_mod_class_t cls;
    const char *description;
} sg_modifier_t;

static const sg_modifier_t sg_modifiers[] = {
    {"contains", M_CONTAINS, MC_STRING, "value anywhere in the field"},
    {"startswith", M_STARTSWITH, MC_STRING, "value at the start of the field"},
    {"endswith", M_ENDSWITH, MC_STRING, "value at the end of the field"},
    {"all", M_ALL, MC_FLAG, "every value of the list must match (AND instead of OR)"},
    {"neq", M_NEQ, MC_FLAG, "negates the item: the field must not match any value"},
    {"cased", M_CASED, MC_FLAG, "case-sensitive comparison"},
    {"re", M_RE, MC_TYPE, "PCRE2 regular expression, searched anywhere in the field"},
    {"i", M_RE_I, MC_FLAG, "re: case-insensitive"},
    {"ignorecase", M_RE_I, MC_FLAG, "re: case-insensitive"},
    {"m", M_RE_M, MC_FLAG, "re: ^ and $ match at line breaks"},
    {"multiline", M_RE_M, MC_FLAG, "re: ^ and $ match at line breaks"},
    {"s", M_RE_S, MC_FLAG, "re: . matches newlines"},
    {"dotall", M_RE_S, MC_FLAG, "re: . matches newlines"},
    {"base64", M_BASE64, MC_STRING, "value encoded in Base64"},
    {"base64offset", M_BASE64OFFSET, MC_STRING, "the three Base64 shifts of the value"},
    {"utf16le", M_UTF16LE, MC_STRING, "value encoded UTF-16LE"},
    {"wide", M_UTF16LE, MC_STRING, "alias of utf16le"},
    {"utf16be", M_UTF16BE, MC_STRING, "value encoded UTF-16BE"},
    {"utf16", M_UTF16, MC_STRING, "UTF-16LE with byte order mark FF FE"},
    {"windash", M_WINDASH, MC_STRING, "option dashes as - / en dash, em dash, horizontal bar"},
    {"cidr", M_CIDR, MC_TYPE, "IPv4 or IPv6 network"},
    {"exists", M_EXISTS, MC_TYPE, "field present (true) or absent (false)"},
    {"lt", M_LT, MC_TYPE, "numerically less than"},
    {"lte", M_LTE, MC_TYPE, "numerically less than or equal"},
    {"gt", M_GT, MC_TYPE, "numerically greater than"},
    {"gte", M_GTE, MC_TYPE, "numerically greater than or equal"},
    {"minute", M_MINUTE, MC_TYPE, "minute (0-59) of a timestamp field"},
    {"hour", M_HOUR, MC_TYPE, "hour (0-23) of a timestamp field"},
    {"day", M_DAY, MC_TYPE, "day of month (1-31) of a timestamp field"},
    {"week", M_WEEK, MC_TYPE, "ISO week (1-53) of a timestamp field"},
    {"month", M_MONTH, MC_TYPE, "month (1-12) of a timestamp field"},
    {"year", M_YEAR, MC_TYPE, "year of a timestamp field"},
    {"fieldref", M_FIELDREF, MC_TYPE, "compare with the value of another field"},
    {"expand", M_EXPAND, MC_STRING, "replace %name% placeholders by their value lists"},
};

#define SG_MAX_MODS 16

/* ---- diagnostics -------------------------------------------------------------- */

void sg_diag(sg_build_t *b, lf_sigma_severity_t sev, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sev == LF_SIGMA_ERROR)
        b->set->stats.errors++;
    else
        b->set->stats.warnings++;
    if (b->diag) {
        lf_sigma_diag_t d = {sev, b->file ? b->file : "",       line,
                             col, b->rule_id ? b->rule_id : "", msg};
        b->diag(&d, b->ud);
    }
}

__attribute__((format(printf, 4, 5))) static bool fail(sg_build_t *b, int line, int col,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
    b->line = line;
    b->col = col;
    return false;
}

/* ---- field resolution ------------------------------------------------------------ */

static const sg_fieldmap_t *find_map(const sg_fieldmap_t *f, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(f[i].sigma) == len && memcmp(f[i].sigma, name, len) == 0)
            return &f[i];
    return NULL;
}

uint8_t sg_resolve_field(sg_build_t *b, const char *name, size_t len, lf_field_id_t *ids, int line,
                         int col)
{
    const sg_fieldmap_t *fm = NULL;
    for (size_t i = 0; i < b->nmaps && !fm; i++)
        fm = find_map(b->maps[i]->fields, b->maps[i]->nfields, name, len);
    if (!fm)
        fm = find_map(b->set->global_fields, b->set->nglobal, name, len);
    if (fm) {
        if (fm->n == 0)
            sg_diag(b, LF_SIGMA_WARNING, line, col,
                    "field '%.*s' maps only to ECS fields this build does not know; "
                    "it is treated as absent",
                    (int)len, name);
        memcpy(ids, fm->ids, fm->n * sizeof *ids);
        return fm->n;
    }
    lf_field_id_t id = lf_field_lookup(name, len);
    if (id != LF_F_COUNT) {
        ids[0] = id;
        return 1;
    }
    sg_diag(b, LF_SIGMA_WARNING, line, col,
            "field '%.*s' is neither mapped for this logsource nor an ECS field of this build; "
            "it is treated as absent",
            (int)len, name);
    return 0;
}

/* ---- Sigma strings ------------------------------------------------------------------ */

typedef struct sstr {
    char *p;
    size_t n;
} sstr_t;

typedef struct sstr_list {
    sstr_t *v;
    size_t n, cap;
} sstr_list_t;

static void slist_free(sstr_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].p);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Takes ownership of p. */
static bool slist_push(sstr_list_t *l, char *p, size_t n)
{
    if (!p)
        return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        sstr_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(p);
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (sstr_t){p, n};
    return true;
}

typedef struct obuf {
    char *p;
    size_t n, cap;
    bool oom;
} obuf_t;

static void ob_put(obuf_t *o, char c)
{
    if (o->oom)
        return;
    if (o->n + 1 >= o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    o->p[o->n++] = c;
}

/* A literal byte in sstr form. */
static void ob_lit(obuf_t *o, unsigned char c)
{
    if (c >= 1 && c <= 3)
        ob_put(o, SG_SSTR_ESC);
    ob_put(o, (char)c);
}

static bool ob_take(obuf_t *o, sstr_list_t *l)
{
    if (o->oom) {
        free(o->p);
        return false;
    }
    if (!o->p) {
        o->p = malloc(1);
        if (!o->p)
            return false;
    }
    bool ok = slist_push(l, o->p, o->n);
    *o = (obuf_t){0};
    return ok;
}

/* Sigma value text → sstr: `*`, `?` wildcards; `\*`, `\?`, `\\` escapes;
 * any other backslash stays a backslash. */
static void sstr_parse(obuf_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' && i + 1 < n && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
            ob_lit(o, (unsigned char)s[++i]);
        } else if (c == '*') {
            ob_put(o, SG_SSTR_STAR);
        } else if (c == '?') {
            ob_put(o, SG_SSTR_ONE);
        } else {
            ob_lit(o, c);
        }
    }
}

/* Iterates sstr tokens: returns 0 for a literal (*lit set), STAR or ONE. */
static int sstr_next(const sstr_t *s, size_t *i, unsigned char *lit)
{
    unsigned char c = (unsigned char)s->p[*i];
    if (c == SG_SSTR_STAR || c == SG_SSTR_ONE) {
        (*i)++;
        return c;
    }
    if (c == SG_SSTR_ESC && *i + 1 < s->n) {
        *lit = (unsigned char)s->p[*i + 1];
        *i += 2;
        return 0;
    }
    *lit = c;
    (*i)++;
    return 0;
}

static bool sstr_has_special(const sstr_t *s)
{
    unsigned char lit;
    for (size_t i = 0; i < s->n;)
        if (sstr_next(s, &i, &lit))
            return true;
    return false;
}

static bool sstr_starts_star(const sstr_t *s)
{
    return s->n > 0 && (unsigned char)s->p[0] == SG_SSTR_STAR;
}

static bool sstr_ends_star(const sstr_t *s)
{
    int last = -1;
    unsigned char lit;
    for (size_t i = 0; i < s->n;)
        last = sstr_next(s, &i, &lit);
    return last == SG_SSTR_STAR;
}

/* Raw bytes of an sstr without wildcards. */
static void sstr_bytes(const sstr_t *s, obuf_t *raw)
{
    unsigned char lit;
    for (size_t i = 0; i < s->n;) {
        sstr_next(s, &i, &lit);
        ob_put(raw, (char)lit);
    }
}

static const char b64tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const unsigned char *s, size_t n, obuf_t *o)
{
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
        ob_put(o, b64tbl[v >> 18]);
        ob_put(o, b64tbl[(v >> 12) & 63]);
        ob_put(o, b64tbl[(v >> 6) & 63]);
        ob_put(o, b64tbl[v & 63]);
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        ob_put(o, b64tbl[v >> 18]);
        ob_put(o, b64tbl[(v >> 12) & 63]);
        ob_put(o, i + 1 < n ? b64tbl[(v >> 6) & 63] : '=');
        ob_put(o, '=');
    }
}

/* base64offset: for shift i in 0..2, encode (i spaces + data) and cut the
 * characters that depend on the unknown neighbours: start (0, 2, 3),
 * end (none, -3, -2) chosen by (len + i) % 3 — the specification's table. */
static bool mod_base64(sg_build_t *b, sstr_list_t *in, sstr_list_t *out, bool offset, bool utf16,
                       int line, int col)
{
    static const size_t start[3] = {0, 2, 3};
    static const size_t endcut[3] = {0, 3, 2};
    for (size_t k = 0; k < in->n; k++) {
        if (sstr_has_special(&in->v[k]))
            return fail(b, line, col, "base64 of a value with wildcards is not allowed");
        obuf_t raw = {0};
        sstr_bytes(&in->v[k], &raw);
        (void)utf16;
        if (raw.oom)
            return fail(b, line, col, "out of memory");
        int variants = offset ? 3 : 1;
        for (int i = 0; i < variants; i++) {
            obuf_t shifted = {0}, enc = {0}, res = {0};
            for (int s = 0; s < i; s++)
                ob_put(&shifted, ' ');
            for (size_t j = 0; j < raw.n; j++)
                ob_put(&shifted, raw.p[j]);
            b64_encode((const unsigned char *)shifted.p, shifted.n, &enc);
            size_t from = offset ? start[i] : 0;
            size_t cut = offset ? endcut[(raw.n + (size_t)i) % 3] : 0;
            if (enc.n >= from + cut)
                for (size_t j = from; j < enc.n - cut; j++)
                    ob_lit(&res, (unsigned char)enc.p[j]);
            free(shifted.p);
            free(enc.p);
            if (res.n == 0) {
                free(res.p);
                continue; /* too short to leave a stable part for this shift */
            }
            if (!ob_take(&res, out)) {
                free(raw.p);
                return fail(b, line, col, "out of memory");
            }
        }
        free(raw.p);
    }
    return true;
}

static void put_utf16(obuf_t *o, uint32_t unit, int endian /* 0 le, 1 be */)
{
    unsigned char lo = (unsigned char)(unit & 0xff), hi = (unsigned char)(unit >> 8);
    if (endian == 0) {
        ob_lit(o, lo);
        ob_lit(o, hi);
    } else {
        ob_lit(o, hi);
        ob_lit(o, lo);
    }
}

static bool mod_utf16(sg_build_t *b, sstr_list_t *in, sstr_list_t *out, int endian, bool bom,
                      int line, int col)
{
    for (size_t k = 0; k < in->n; k++) {
        const sstr_t *s = &in->v[k];
        obuf_t o = {0};
        if (bom) {
            ob_lit(&o, 0xff);
            ob_lit(&o, 0xfe);
        }
        /* decode UTF-8 from consecutive literal bytes; invalid bytes as Latin-1 */
        unsigned char lits[4];
        for (size_t i = 0; i < s->n;) {
            unsigned char c;
            int t = sstr_next(s, &i, &c);
            if (t) {
                ob_put(&o, (char)t);
                continue;
            }
            uint32_t cp = c;
            int need = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
            if (c >= 0x80 && c < 0xc0)
                need = 0;
            if (need) {
                size_t j = i;
                int got = 0;
                while (got < need && j < s->n) {
                    unsigned char d;
                    if (sstr_next(s, &j, &d) || (d & 0xc0) != 0x80)
                        break;
                    lits[got++] = d;
                }
                if (got == need) {
                    cp = c & (need == 1 ? 0x1f : need == 2 ? 0x0f : 0x07);
                    for (int g = 0; g < need; g++)
                        cp = (cp << 6) | (lits[g] & 0x3f);
                    i = j;
                }
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_utf16(&o, 0xd800 | (cp >> 10), endian);
                put_utf16(&o, 0xdc00 | (cp & 0x3ff), endian);
            } else {
                put_utf16(&o, cp, endian);
            }
        }
        if (!ob_take(&o, out))
            return fail(b, line, col, "out of memory");
    }
    return true;
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* windash: every - or / that starts an option (a non-word character or the
 * start before it, a word character after it) becomes each of - / – — ―. */
static bool mod_windash(sg_build_t *b, sstr_list_t *in, sstr_list_t *out, int line, int col)
{
    static const char *const dashes[5] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};
    for (size_t k = 0; k < in->n; k++) {
        const sstr_t *s = &in->v[k];
        /* token view: positions (byte offsets in s) of dash literals */
        size_t pos[32];
        size_t npos = 0;
        int prev_word = 0;
        for (size_t i = 0; i < s->n;) {
            size_t at = i;
            unsigned char c;
            int t = sstr_next(s, &i, &c);
            if (t) {
                prev_word = 0;
                continue;
            }
            if ((c == '-' || c == '/') && !prev_word && i < s->n) {
                size_t j = i;
                unsigned char d;
                if (!sstr_next(s, &j, &d) && is_word(d)) {
                    if (npos == 32)
                        return fail(b, line, col, "windash: more than 32 option dashes");
                    pos[npos++] = at;
                }
            }
            prev_word = is_word(c);
        }
        size_t combos = 1;
        for (size_t i = 0; i < npos; i++) {
            combos *= 5;
            if (combos > (size_t)b->set->opts.max_expansions)
                return fail(b, line, col, "windash: more than %lld variants",
                            (long long)b->set->opts.max_expansions);
        }
        for (size_t c = 0; c < combos; c++) {
            obuf_t o = {0};
            size_t sel = c, pi = 0;
            for (size_t i = 0; i < s->n; i++) {
                if (pi < npos && i == pos[pi]) {
                    const char *d = dashes[sel % 5];
                    sel /= 5;
                    pi++;
                    for (; *d; d++)
                        ob_lit(&o, (unsigned char)*d);
                } else {
                    ob_put(&o, s->p[i]);
                }
            }
            if (!ob_take(&o, out))
                return fail(b, line, col, "out of memory");
        }
    }
    return true;
}

static const sg_placeholder_t *find_placeholder(lf_sigma_ruleset_t *set, const char *name,
                                                size_t len)
{
    for (size_t i = 0; i < set->nph; i++)
        if (strlen(set->ph[i].name) == len && memcmp(set->ph[i].name, name, len) == 0)
            return &set->ph[i];
    return NULL;
}

/* expand: %name% (in literal text) → every value of the placeholder list. */
static bool mod_expand(sg_build_t *b, sstr_list_t *in, sstr_list_t *out, int line, int col)
{
    sstr_list_t work = {0};
    for (size_t k = 0; k < in->n; k++) {
        obuf_t o = {0};
        for (size_t i = 0; i < in->v[k].n; i++)
            ob_put(&o, in->v[k].p[i]);
        if (!ob_take(&o, &work)) {
            slist_free(&work);
            return fail(b, line, col, "out of memory");
        }
    }
    /* repeatedly replace the first placeholder of each string */
    for (size_t guard = 0; guard < 64; guard++) {
        bool any = false;
        sstr_list_t next = {0};
        for (size_t k = 0; k < work.n; k++) {
            const sstr_t *s = &work.v[k];
            const char *p = memchr(s->p, '%', s->n);
            const char *q = p ? memchr(p + 1, '%', s->n - (size_t)(p + 1 - s->p)) : NULL;
            if (!q) {
                obuf_t o = {0};
                for (size_t i = 0; i < s->n; i++)
                    ob_put(&o, s->p[i]);
                if (!ob_take(&o, &next))
                    goto oom;
                continue;
            }
            any = true;
            const sg_placeholder_t *ph = find_placeholder(b->set, p + 1, (size_t)(q - p - 1));
            if (!ph) {
                fail(b, line, col,
                     "unknown placeholder %%%.*s%% (define it in the placeholders file)",
                     (int)(q - p - 1), p + 1);
                slist_free(&next);
                slist_free(&work);
                return false;
            }
            for (size_t v = 0; v < ph->n; v++) {
                obuf_t o = {0};
                for (const char *c = s->p; c < p; c++)
                    ob_put(&o, *c);
                sstr_parse(&o, ph->values[v], strlen(ph->values[v]));
                for (const char *c = q + 1; c < s->p + s->n; c++)
                    ob_put(&o, *c);
                if (!ob_take(&o, &next))
                    goto oom;
                if (next.n > (size_t)b->set->opts.max_expansions) {
                    slist_free(&next);
                    slist_free(&work);
                    return fail(b, line, col, "expand: more than %lld values",
                                (long long)b->set->opts.max_expansions);
                }
            }
            continue;
        oom:
            slist_free(&next);
            slist_free(&work);
            return fail(b, line, col, "out of memory");
        }
        slist_free(&work);
        work = next;
        if (!any)
            break;
    }
    for (size_t k = 0; k < work.n; k++) {
        if (!slist_push(out, work.v[k].p, work.v[k].n)) {
            for (size_t j = k + 1; j < work.n; j++)
                free(work.v[j].p);
            free(work.v);
            return fail(b, line, col, "out of memory");
        }
    }
    free(work.v);
    return true;
}

static bool mod_anchor(sg_build_t *b, sstr_list_t *in, sstr_list_t *out, bool front, bool back,
                       int line, int col)
{
    for (size_t k = 0; k < in->n; k++) {
        obuf_t o = {0};
        if (front && !sstr_starts_star(&in->v[k]))
            ob_put(&o, SG_SSTR_STAR);
        for (size_t i = 0; i < in->v[k].n; i++)
            ob_put(&o, in->v[k].p[i]);
        if (back && !sstr_ends_star(&in->v[k]))
            ob_put(&o, SG_SSTR_STAR);
        if (!ob_take(&o, out))
            return fail(b, line, col, "out of memory");
    }
    return true;
}

/* sstr → compiled STR value (arena). */
static bool compile_sstr(sg_build_t *b, const sstr_t *s, bool cased, sg_value_t *v, int line,
                         int col)
{
    sg_arena_t *a = &b->set->arena;
    size_t ntok = 0;
    sg_tok_t *toks = sg_alloc(a, (s->n + 1) * sizeof *toks);
    char *lits = sg_alloc(a, s->n + 1);
    if (!toks || !lits)
        return fail(b, line, col, "out of memory");
    size_t li = 0;
    for (size_t i = 0; i < s->n;) {
        unsigned char c;
        int t = sstr_next(s, &i, &c);
        if (t == SG_SSTR_STAR) {
            if (ntok && toks[ntok - 1].type == SG_TOK_STAR)
                continue;
            toks[ntok++] = (sg_tok_t){SG_TOK_STAR, 0, NULL};
        } else if (t == SG_SSTR_ONE) {
            toks[ntok++] = (sg_tok_t){SG_TOK_ONE, 0, NULL};
        } else {
            lits[li] = (char)(cased ? c : sg_lower(c));
            if (ntok && toks[ntok - 1].type == SG_TOK_LIT &&
                toks[ntok - 1].lit + toks[ntok - 1].len == lits + li) {
                toks[ntok - 1].len++;
            } else {
                toks[ntok++] = (sg_tok_t){SG_TOK_LIT, 1, lits + li};
            }
            li++;
        }
    }
    v->kind = SG_V_STR;
    v->cased = cased;
    bool star0 = ntok && toks[0].type == SG_TOK_STAR;
    bool starN = ntok && toks[ntok - 1].type == SG_TOK_STAR;
    size_t inner = ntok - (star0 ? 1 : 0) - (starN && ntok > 1 ? 1 : 0);
    const sg_tok_t *mid = toks + (star0 ? 1 : 0);
    bool plain = true;
    for (size_t i = 0; i < inner; i++)
        if (mid[i].type != SG_TOK_LIT)
            plain = false;
    if (ntok == 0) {
        v->smode = SG_S_EXACT;
        v->lit = lits;
        v->lit_len = 0;
    } else if (plain && inner <= 1 && !(ntok == 1 && star0)) {
        v->lit = inner ? mid[0].lit : lits;
        v->lit_len = inner ? mid[0].len : 0;
        v->smode = star0 && starN ? SG_S_CONTAINS
                   : star0        ? SG_S_SUFFIX
                   : starN        ? SG_S_PREFIX
                                  : SG_S_EXACT;
    } else {
        v->smode = SG_S_GLOB;
        v->toks = toks;
        v->ntoks = (uint32_t)ntok;
    }
    return true;
}

/* ---- typed values ------------------------------------------------------------------ */

static bool parse_cidr(const char *s, sg_value_t *v)
{
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1 || prefix < 0)
            return false;
    }
    memset(v->addr, 0, sizeof v->addr);
    if (inet_pton(AF_INET, buf, v->addr) == 1) {
        v->family = 4;
        if (prefix > 32)
            return false;
        v->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
    } else if (inet_pton(AF_INET6, buf, v->addr) == 1) {
        v->family = 6;
        if (prefix > 128)
            return false;
        v->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
    } else {
        return false;
    }
    /* clear host bits so the match is a plain prefix compare */
    size_t bytes = v->family == 4 ? 4 : 16;
    for (size_t i = 0; i < bytes; i++) {
        int bits = (int)v->prefix - (int)i * 8;
        if (bits <= 0)
            v->addr[i] = 0;
        else if (bits < 8)
            v->addr[i] &= (uint8_t)(0xff << (8 - bits));
    }
    v->kind = SG_V_CIDR;
    return true;
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool parse_bool(const sg_ynode_t *n, bool *out)
{
    if (n->type != SG_Y_SCALAR)
        return false;
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes") || !strcmp(s, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no") || !strcmp(s, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

static bool register_re(sg_build_t *b, pcre2_code *re, int line, int col)
{
    lf_sigma_ruleset_t *set = b->set;
    if (set->nres == set->capres) {
        size_t cap = set->capres ? set->capres * 2 : 16;
        pcre2_code **r = realloc(set->res, cap * sizeof *r);
        if (!r) {
            pcre2_code_free(re);
            return fail(b, line, col, "out of memory");
        }
        set->res = r;
        set->capres = cap;
    }
    set->res[set->nres++] = re;
    if (set->opts.regex_jit && pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0)
        set->nres_jit++;
    return true;
}

/* The longest literal every match of a regex must contain (for the
 * prefilter), or 0 when none can be proven: top-level alternation, inline
 * extended mode or \Q...\E give up; groups, classes, escapes like \d and
 * optional atoms end a literal run. */
static size_t skip_class(const char *re, size_t n, size_t i)
{
    i++; /* past [ */
    if (i < n && re[i] == '^')
        i++;
    if (i < n && re[i] == ']')
        i++;
    while (i < n && re[i] != ']')
        i += re[i] == '\\' ? 2 : 1;
    return i + 1;
}

static size_t skip_group(const char *re, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        char c = re[i];
        if (c == '\\') {
            i += 2;
        } else if (c == '[') {
            i = skip_class(re, n, i);
        } else {
            if (c == '(')
                depth++;
            else if (c == ')' && --depth == 0)
                return i + 1;
            i++;
        }
    }
    return n;
}

static size_t re_literal(const char *re, size_t n, char *best, size_t cap)
{
    if (memmem(re, n, "\\Q", 2) || memmem(re, n, "(?x", 3) || memmem(re, n, "(?-", 3))
        return 0;
    char run[256];
    size_t rl = 0, bl = 0;
    bool last_lit = false;
    for (size_t i = 0; i < n;) {
        char c = re[i];
        int lit = -1;
        if (c == '\\' && i + 1 < n) {
            unsigned char d = (unsigned char)re[i + 1];
            bool alnum = (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z');
            if (!alnum) {
                lit = d;
                i += 2;
            } else {
                i += 2;
                if ((d == 'x' || d == 'p' || d == 'P' || d == 'N' || d == 'g' || d == 'k' ||
                     d == 'o') &&
                    i < n && re[i] == '{') {
                    while (i < n && re[i] != '}')
                        i++;
                    i++;
                } else if (d == 'x') {
                    i += 2;
                }
            }
        } else if (c == '[') {
            i = skip_class(re, n, i);
        } else if (c == '(') {
            i = skip_group(re, n, i);
        } else if (c == '|') {
            return 0; /* top-level alternation */
        } else if (c == '*' || c == '?' || c == '+' || c == '{') {
            bool optional = c == '*' || c == '?' || (c == '{' && i + 1 < n && re[i + 1] == '0');
            if (c == '{' && (i + 1 >= n || re[i + 1] < '0' || re[i + 1] > '9'))
                optional = true; /* not a quantifier: be conservative */
            if (optional && last_lit && rl > 0)
                rl--;
            if (c == '{') {
                while (i < n && re[i] != '}')
                    i++;
            }
            i++;
            if (i < n && (re[i] == '?' || re[i] == '+'))
                i++;
            if (rl > bl) {
                memcpy(best, run, rl < cap ? rl : cap);
                bl = rl < cap ? rl : cap;
            }
            rl = 0;
            last_lit = false;
            continue;
        } else if (c == '.' || c == '^' || c == '$' || c == ')') {
            i++;
        } else {
            lit = (unsigned char)c;
            i++;
        }
        if (lit >= 0) {
            /* a literal followed by an optional quantifier is removed above */
            if (rl < sizeof run)
                run[rl++] = (char)lit;
            last_lit = true;
            continue;
        }
        if (rl > bl) {
            memcpy(best, run, rl < cap ? rl : cap);
            bl = rl < cap ? rl : cap;
        }
        rl = 0;
        last_lit = false;
    }
    if (rl > bl) {
        memcpy(best, run, rl < cap ? rl : cap);
        bl = rl < cap ? rl : cap;
    }
    return bl;
}

static bool compile_re(sg_build_t *b, const char *pat, size_t len, uint32_t flags, bool front,
                       bool back, sg_value_t *v, int line, int col)
{
    obuf_t o = {0};
    const char *pre = front ? "\\A(?:" : back ? "(?:" : "";
    for (const char *c = pre; *c; c++)
        ob_put(&o, *c);
    for (size_t i = 0; i < len; i++)
        ob_put(&o, pat[i]);
    if (front || back)
        ob_put(&o, ')');
    if (back) {
        ob_put(&o, '\\');
        ob_put(&o, 'z');
    }
    if (o.oom) {
        free(o.p);
        return fail(b, line, col, "out of memory");
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)(o.p ? o.p : ""), o.n, flags, &errcode, &erroff, NULL);
    free(o.p);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return fail(b, line, col, "regular expression: %s at offset %zu", (const char *)msg,
                    (size_t)erroff);
    }
    if (!register_re(b, re, line, col))
        return false;
    v->kind = SG_V_RE;
    v->re = re;
    char lit[256];
    size_t ll = re_literal(pat, len, lit, sizeof lit);
    if (ll) {
        v->lit = sg_strndup(&b->set->arena, lit, ll);
        v->lit_len = v->lit ? ll : 0;
    }
    return true;
}

/* ---- the item compiler ----------------------------------------------------------- */

typedef struct vlist {
    sg_value_t *v;
    size_t n, cap;
} vlist_t;

static sg_value_t *vl_add(vlist_t *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        sg_value_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof l->v[0]);
    return &l->v[l->n++];
}

typedef struct modset {
    const sg_modifier_t *mods[SG_MAX_MODS];
    int n;
    const sg_modifier_t *type; /* the MC_TYPE modifier, if any */
    bool all, neg, cased, contains, startswith, endswith;
    bool keyword_contains; /* plain keyword: matched anywhere in the text */
    uint32_t re_flags;
} modset_t;

static bool one_value(sg_build_t *b, const modset_t *ms, const sg_ynode_t *val,
                      const sg_item_t *item, vlist_t *out)
{
    int line = val->line, col = val->col;
    if (val->type != SG_Y_SCALAR)
        return fail(b, line, col, "a value must be a string, number, boolean or null");
    if (sg_ynode_is_null(val)) {
        if (ms->type)
            return fail(b, line, col, "null cannot be used with the '%s' modifier", ms->type->name);
        sg_value_t *v = vl_add(out);
        if (!v)
            return fail(b, line, col, "out of memory");
        v->kind = SG_V_NULL;
        return true;
    }
    if (ms->type) {
        sg_value_t *v = vl_add(out);
        if (!v)
            return fail(b, line, col, "out of memory");
        switch (ms->type->id) {
        case M_RE:
            return compile_re(b, val->str, val->len, ms->re_flags, ms->startswith && !ms->contains,
                              ms->endswith && !ms->contains, v, line, col);
        case M_CIDR:
            if (!parse_cidr(val->str, v))
                return fail(b, line, col, "cidr: '%s' is not an IPv4 or IPv6 network", val->str);
            return true;
        case M_EXISTS:
            if (!parse_bool(val, &v->exists))
                return fail(b, line, col, "exists: value must be true or false");
            v->kind = SG_V_EXISTS;
            return true;
        case M_LT:
        case M_LTE:
        case M_GT:
        case M_GTE:
            if (!parse_number(val->str, &v->num))
                return fail(b, line, col, "%s: '%s' is not a number", ms->type->name, val->str);
            v->kind = SG_V_CMP;
            v->op = (uint8_t)(ms->type->id - M_LT + SG_CMP_LT);
            return true;
        case M_MINUTE:
        case M_HOUR:
        case M_DAY:
        case M_WEEK:
        case M_MONTH:
        case M_YEAR: {
            char *end;
            errno = 0;
            long long x = strtoll(val->str, &end, 10);
            if (errno || *end || end == val->str)
                return fail(b, line, col, "%s: '%s' is not an integer", ms->type->name, val->str);
            v->kind = SG_V_TIME;
            v->op = (uint8_t)(ms->type->id - M_MINUTE + SG_T_MINUTE);
            v->part = x;
            return true;
        }
        case M_FIELDREF:
            v->kind = SG_V_FIELDREF;
            v->cased = ms->cased;
            v->smode = ms->contains                     ? SG_S_CONTAINS
                       : ms->startswith && ms->endswith ? SG_S_CONTAINS
                       : ms->startswith                 ? SG_S_PREFIX
                       : ms->endswith                   ? SG_S_SUFFIX
                                                        : SG_S_EXACT;
            v->nref = sg_resolve_field(b, val->str, val->len, v->ref, line, col);
            return true;
        default:
            return fail(b, line, col, "internal: unhandled modifier");
        }
    }
    /* strings: apply the string modifiers in order */
    sstr_list_t cur = {0}, next = {0};
    obuf_t o = {0};
    sstr_parse(&o, val->str, val->len);
    if (!ob_take(&o, &cur))
        return fail(b, line, col, "out of memory");
    bool ok = true;
    bool utf16 = false;
    for (int i = 0; i < ms->n && ok; i++) {
        const sg_modifier_t *m = ms->mods[i];
        if (m->cls != MC_STRING)
            continue;
        switch (m->id) {
        case M_CONTAINS:
            ok = mod_anchor(b, &cur, &next, true, true, line, col);
            break;
        case M_STARTSWITH:
            ok = mod_anchor(b, &cur, &next, false, true, line, col);
            break;
        case M_ENDSWITH:
            ok = mod_anchor(b, &cur, &next, true, false, line, col);
            break;
        case M_BASE64:
            ok = mod_base64(b, &cur, &next, false, utf16, line, col);
            break;
        case M_BASE64OFFSET:
            ok = mod_base64(b, &cur, &next, true, utf16, line, col);
            break;
        case M_UTF16LE:
            ok = mod_utf16(b, &cur, &next, 0, false, line, col);
            utf16 = true;
            break;
        case M_UTF16BE:
            ok = mod_utf16(b, &cur, &next, 1, false, line, col);
            utf16 = true;
            break;
        case M_UTF16:
            ok = mod_utf16(b, &cur, &next, 0, true, line, col);
            utf16 = true;
            break;
        case M_WINDASH:
            ok = mod_windash(b, &cur, &next, line, col);
            break;
        case M_EXPAND:
            ok = mod_expand(b, &cur, &next, line, col);
            break;
        default:
            ok = fail(b, line, col, "internal: unhandled string modifier");
            break;
        }
        slist_free(&cur);
        cur = next;
        next = (sstr_list_t){0};
        if (ok && cur.n > (size_t)b->set->opts.max_expansions)
            ok = fail(b, line, col, "more than %lld values after modifiers",
                      (long long)b->set->opts.max_expansions);
    }
    if (ok && ms->keyword_contains) {
        ok = mod_anchor(b, &cur, &next, true, true, line, col);
        slist_free(&cur);
        cur = next;
        next = (sstr_list_t){0};
    }
    for (size_t k = 0; k < cur.n && ok; k++) {
        sg_value_t *v = vl_add(out);
        if (!v) {
            ok = fail(b, line, col, "out of memory");
            break;
        }
        ok = compile_sstr(b, &cur.v[k], ms->cased, v, line, col);
    }
    slist_free(&cur);
    return ok;
}

bool sg_item_compile(sg_build_t *b, const char *key, size_t keylen, const sg_ynode_t *val,
                     bool keyword, sg_item_t *item, int line, int col)
{
    memset(item, 0, sizeof *item);
    const char *bar = memchr(key, '|', keylen);
    size_t flen = bar ? (size_t)(bar - key) : keylen;
    modset_t ms = {0};
    /* modifiers */
    for (const char *p = bar; p && p < key + keylen;) {
        const char *s = p + 1;
        const char *e = memchr(s, '|', (size_t)(key + keylen - s));
        if (!e)
            e = key + keylen;
        const sg_modifier_t *m = NULL;
        for (size_t i = 0; i < sizeof sg_modifiers / sizeof *sg_modifiers; i++)
            if (strlen(sg_modifiers[i].name) == (size_t)(e - s) &&
                memcmp(sg_modifiers[i].name, s, (size_t)(e - s)) == 0)
                m = &sg_modifiers[i];
        if (!m)
            return fail(b, line, col, "unknown modifier '%.*s'", (int)(e - s), s);
        if (ms.n == SG_MAX_MODS)
            return fail(b, line, col, "more than %d modifiers", SG_MAX_MODS);
        ms.mods[ms.n++] = m;
        switch (m->id) {
        case M_ALL:
            ms.all = true;
            break;
        case M_NEQ:
            ms.neg = true;
            break;
        case M_CASED:
            ms.cased = true;
            break;
        case M_RE_I:
            ms.re_flags |= PCRE2_CASELESS;
            break;
        case M_RE_M:
            ms.re_flags |= PCRE2_MULTILINE;
            break;
        case M_RE_S:
            ms.re_flags |= PCRE2_DOTALL;
            break;
        case M_CONTAINS:
            ms.contains = true;
            break;
        case M_STARTSWITH:
            ms.startswith = true;
            break;
        case M_ENDSWITH:
            ms.endswith = true;
            break;
        default:
            break;
        }
        if (m->cls == MC_TYPE) {
            if (ms.type)
                return fail(b, line, col, "modifiers '%s' and '%s' cannot be combined",
                            ms.type->name, m->name);
            ms.type = m;
        }
        p = e;
    }
    /* which combinations make sense */
    bool re_sub = ms.re_flags != 0;
    if (re_sub && (!ms.type || ms.type->id != M_RE))
        return fail(b, line, col, "the i, m and s modifiers need 're'");
    if (ms.type) {
        sg_mod_id_t t = ms.type->id;
        for (int i = 0; i < ms.n; i++) {
            const sg_modifier_t *m = ms.mods[i];
            bool okcombo = m == ms.type || m->id == M_ALL || m->id == M_NEQ;
            if (t == M_RE)
                okcombo = okcombo || m->id == M_RE_I || m->id == M_RE_M || m->id == M_RE_S ||
                          m->id == M_CONTAINS || m->id == M_STARTSWITH || m->id == M_ENDSWITH;
            if (t == M_FIELDREF)
                okcombo = okcombo || m->id == M_CONTAINS || m->id == M_STARTSWITH ||
                          m->id == M_ENDSWITH || m->id == M_CASED;
            if (!okcombo)
                return fail(b, line, col, "modifier '%s' cannot be combined with '%s'", m->name,
                            ms.type->name);
        }
        if ((t == M_EXISTS) && (keyword || flen == 0))
            return fail(b, line, col, "exists needs a field");
    }
    item->all = ms.all;
    item->neg = ms.neg;
    if ((keyword || flen == 0) && !ms.type && !ms.contains && !ms.startswith && !ms.endswith)
        ms.keyword_contains = true;
    /* fields */
    if (keyword || flen == 0) {
        item->nfields = b->set->nkeyword;
        memcpy(item->fields, b->set->keyword_fields, sizeof item->fields);
    } else {
        item->nfields = sg_resolve_field(b, key, flen, item->fields, line, col);
    }
    /* values */
    vlist_t vl = {0};
    bool ok = true;
    if (val->type == SG_Y_SEQ) {
        if (val->n == 0)
            ok = fail(b, val->line, val->col, "empty value list");
        for (size_t i = 0; i < val->n && ok; i++)
            ok = one_value(b, &ms, val->kids[i], item, &vl);
    } else if (val->type == SG_Y_MAP) {
        ok = fail(b, val->line, val->col, "a field value cannot be a map");
    } else {
        ok = one_value(b, &ms, val, item, &vl);
    }
    if (ok && vl.n > (size_t)b->set->opts.max_expansions)
        ok = fail(b, line, col, "more than %lld values in one item",
                  (long long)b->set->opts.max_expansions);
    if (ok) {
        item->vals = sg_alloc(&b->set->arena, vl.n * sizeof *item->vals);
        if (!item->vals)
            ok = fail(b, line, col, "out of memory");
        else
            memcpy(item->vals, vl.v, vl.n * sizeof *item->vals);
        item->nvals = (uint32_t)vl.n;
    }
    free(vl.v);
    return ok;
}

/* ---- glob ------------------------------------------------------------------------- */

static size_t utf8_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t l = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (l > n)
        l = 1;
    for (size_t i = 1; i < l; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return l;
}

/* Iterative glob with single backtrack point per star: O(n·m) worst case. */
bool sg_glob_match(const sg_tok_t *toks, uint32_t ntoks, const char *s, size_t n)
{
    uint32_t t = 0;
    size_t i = 0;
    uint32_t star_t = UINT32_MAX;
    size_t star_i = 0;
    while (i < n || t < ntoks) {
        if (t < ntoks) {
            const sg_tok_t *k = &toks[t];
            if (k->type == SG_TOK_STAR) {
                star_t = t++;
                star_i = i;
                continue;
            }
            if (k->type == SG_TOK_ONE && i < n) {
                i += utf8_len(s + i, n - i);
                t++;
                continue;
            }
            if (k->type == SG_TOK_LIT && n - i >= k->len && memcmp(s + i, k->lit, k->len) == 0) {
                i += k->len;
                t++;
                continue;
            }
        }
        if (star_t != UINT32_MAX && star_i < n) {
            star_i++;
            i = star_i;
            t = star_t + 1;
            continue;
        }
        return false;
    }
    return true;
}
