/* lf_stix.c - STIX 2.1 pattern parser (recursive descent into DNF) and
 * bundle import with jansson. See lf_stix.h for the supported subset. */
#include "lf_stix.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ===================================================================== */
/* Normalisers                                                             */
/* ===================================================================== */

size_t lf_stix_normalize_domain(const char *s, size_t len, char *out, size_t outlen)
{
    while (len > 0 && s[len - 1] == '.') /* the root label: example.org. */
        len--;
    if (len == 0 || len > 253 || len > outlen)
        return 0;
    char prev = '.';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c == '.') {
            if (prev == '.') /* empty label */
                return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                     c >= 0x80)) {
            return 0;
        }
        out[i] = (char)c;
        prev = (char)c;
    }
    return len;
}

size_t lf_stix_normalize_url(const char *s, size_t len, char *out, size_t outlen)
{
    if (len == 0 || len > outlen)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 0;
    memcpy(out, s, len);
    /* scheme "://" authority: both case-insensitive (RFC 3986 6.2.2.1) */
    size_t i = 0;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == 0 || i + 3 > len || memcmp(s + i, "://", 3) != 0)
        return len; /* no scheme: compared exactly */
    size_t auth_end = i + 3;
    while (auth_end < len && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#')
        auth_end++;
    for (size_t k = 0; k < auth_end; k++)
        out[k] = (char)tolower((unsigned char)out[k]);
    /* "http://host/" and "http://host" are the same resource */
    if (auth_end + 1 == len && s[auth_end] == '/')
        return auth_end;
    return len;
}

size_t lf_stix_normalize_hash(const char *s, size_t len, size_t want, char *out, size_t outlen)
{
    if (len != want || len > outlen)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int c = tolower((unsigned char)s[i]);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        out[i] = (char)c;
    }
    return len;
}

bool lf_stix_parse_ip(const char *s, size_t len, bool allow_prefix, int *family, uint8_t addr[16],
                      unsigned *prefix_len)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = memchr(buf, '/', len);
    long prefix = -1;
    if (slash) {
        if (!allow_prefix || slash[1] == '\0')
            return false;
        *slash = '\0';
        prefix = 0;
        for (const char *p = slash + 1; *p; p++) {
            if (*p < '0' || *p > '9' || prefix > 128)
                return false;
            prefix = prefix * 10 + (*p - '0');
        }
    } else {
        char *zone = strchr(buf, '%'); /* fe80::1%eth0 */
        if (zone)
            *zone = '\0';
    }
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        if (prefix > 32)
            return false;
        *family = 4;
        *prefix_len = prefix < 0 ? 32 : (unsigned)prefix;
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        if (prefix > 128)
            return false;
        *family = 6;
        *prefix_len = prefix < 0 ? 128 : (unsigned)prefix;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, mapped, 12) == 0 && *prefix_len >= 96) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = 4;
            *prefix_len -= 96;
        }
    } else {
        return false;
    }
    /* clear host bits: 10.1.2.3/8 is 10.0.0.0/8 */
    unsigned bits = *family == 4 ? 32 : 128;
    for (unsigned b = *prefix_len; b < bits; b++)
        addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
    return true;
}

/* ===================================================================== */
/* Pattern parser                                                          */
/* ===================================================================== */

/* A DNF under construction: terms of comparison ids, flattened. */
typedef struct dnf {
    uint32_t *ids;
    size_t nids, cap_ids;
    uint32_t *starts; /* start of each term in ids */
    size_t nterms, cap_terms;
} dnf_t;

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth;
    lf_stix_pattern_t *pat;
    size_t cmp_cap;
    size_t written_cmps; /* comparisons as written, before expansion */
    lf_err_t err;        /* first hard error: EPARSE, EFULL, ENOMEM */
    char errmsg[200];
    bool unsupported;
    char unsupported_msg[200];
} parser_t;

static void fail(parser_t *p, lf_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(parser_t *p, lf_err_t err, const char *fmt, ...)
{
    if (p->err != LF_OK)
        return;
    p->err = err;
    va_list ap;
    va_start(ap, fmt);
    char msg[160];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->errmsg, sizeof p->errmsg, "offset %zu: %s", p->pos, msg);
}

static void unsupported(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unsupported(parser_t *p, const char *fmt, ...)
{
    if (p->unsupported)
        return;
    p->unsupported = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->unsupported_msg, sizeof p->unsupported_msg, fmt, ap);
    va_end(ap);
}

static void dnf_free(dnf_t *d)
{
    free(d->ids);
    free(d->starts);
    memset(d, 0, sizeof *d);
}

static bool dnf_push_id(parser_t *p, dnf_t *d, uint32_t id)
{
    if (d->nids == d->cap_ids) {
        size_t cap = d->cap_ids ? d->cap_ids * 2 : 8;
        uint32_t *n = realloc(d->ids, cap * sizeof *n);
        if (!n) {
            fail(p, LF_ENOMEM, "out of memory");
            return false;
        }
        d->ids = n;
        d->cap_ids = cap;
    }
    d->ids[d->nids++] = id;
    return true;
}

static bool dnf_new_term(parser_t *p, dnf_t *d)
{
    if (d->nterms >= LF_STIX_MAX_TERMS) {
        fail(p, LF_EFULL, "more than %d alternatives after expanding AND over OR",
             LF_STIX_MAX_TERMS);
        return false;
    }
    if (d->nterms == d->cap_terms) {
        size_t cap = d->cap_terms ? d->cap_terms * 2 : 4;
        uint32_t *n = realloc(d->starts, cap * sizeof *n);
        if (!n) {
            fail(p, LF_ENOMEM, "out of memory");
            return false;
        }
        d->starts = n;
        d->cap_terms = cap;
    }
    d->starts[d->nterms++] = (uint32_t)d->nids;
    return true;
}

static size_t dnf_term_end(const dnf_t *d, size_t t)
{
    return t + 1 < d->nterms ? d->starts[t + 1] : d->nids;
}

/* a := a OR b; frees b */
static void dnf_or(parser_t *p, dnf_t *a, dnf_t *b)
{
    for (size_t t = 0; t < b->nterms && p->err == LF_OK; t++) {
        if (!dnf_new_term(p, a))
            break;
        for (size_t i = b->starts[t]; i < dnf_term_end(b, t); i++)
            if (!dnf_push_id(p, a, b->ids[i]))
                break;
    }
    dnf_free(b);
}

/* a := a AND b (distributes); frees b */
static void dnf_and(parser_t *p, dnf_t *a, dnf_t *b)
{
    dnf_t r = {0};
    if (a->nterms * b->nterms > LF_STIX_MAX_TERMS) {
        fail(p, LF_EFULL, "more than %d alternatives after expanding AND over OR",
             LF_STIX_MAX_TERMS);
    }
    for (size_t x = 0; x < a->nterms && p->err == LF_OK; x++) {
        for (size_t y = 0; y < b->nterms && p->err == LF_OK; y++) {
            size_t n = (dnf_term_end(a, x) - a->starts[x]) + (dnf_term_end(b, y) - b->starts[y]);
            if (n > LF_STIX_MAX_TERM_CMPS) {
                fail(p, LF_EFULL, "more than %d comparisons joined by AND", LF_STIX_MAX_TERM_CMPS);
                break;
            }
            if (!dnf_new_term(p, &r))
                break;
            for (size_t i = a->starts[x]; i < dnf_term_end(a, x); i++)
                dnf_push_id(p, &r, a->ids[i]);
            for (size_t i = b->starts[y]; i < dnf_term_end(b, y); i++)
                dnf_push_id(p, &r, b->ids[i]);
        }
    }
    dnf_free(a);
    dnf_free(b);
    *a = r;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool peek_char(parser_t *p, char c)
{
    skip_ws(p);
    return p->pos < p->len && p->s[p->pos] == c;
}

static bool eat_char(parser_t *p, char c)
{
    if (!peek_char(p, c))
        return false;
    p->pos++;
    return true;
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Consumes keyword kw (case-sensitive, as in the STIX grammar) when it
 * stands alone at the current position. */
static bool eat_keyword(parser_t *p, const char *kw)
{
    skip_ws(p);
    size_t n = strlen(kw);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, kw, n) != 0)
        return false;
    if (p->pos + n < p->len && is_word_char(p->s[p->pos + n]))
        return false;
    p->pos += n;
    return true;
}

static bool enter(parser_t *p)
{
    if (++p->depth > LF_STIX_MAX_DEPTH) {
        fail(p, LF_EFULL, "nesting deeper than %d", LF_STIX_MAX_DEPTH);
        return false;
    }
    return true;
}

/* Literals. A string is returned unescaped in a malloc'd buffer. */
typedef enum lit_type {
    LIT_STRING,
    LIT_NUMBER,
    LIT_BOOL,
    LIT_BINARY,
    LIT_HEX,
    LIT_TIME
} lit_type_t;
typedef struct literal {
    lit_type_t type;
    char *str; /* LIT_STRING, LIT_BINARY, LIT_HEX, LIT_TIME */
    size_t len;
} literal_t;

static bool parse_quoted(parser_t *p, literal_t *lit)
{
    /* at the opening quote */
    p->pos++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (!out) {
        fail(p, LF_ENOMEM, "out of memory");
        return false;
    }
    for (;;) {
        if (p->pos >= p->len) {
            free(out);
            fail(p, LF_EPARSE, "unterminated string");
            return false;
        }
        char c = p->s[p->pos++];
        if (c == '\'')
            break;
        if (c == '\\') {
            if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '\\')) {
                free(out);
                fail(p, LF_EPARSE, "only \\' and \\\\ escapes are allowed in a string");
                return false;
            }
            c = p->s[p->pos++];
        }
        if (n + 1 >= cap) {
            cap *= 2;
            char *g = realloc(out, cap);
            if (!g) {
                free(out);
                fail(p, LF_ENOMEM, "out of memory");
                return false;
            }
            out = g;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    lit->str = out;
    lit->len = n;
    return true;
}

static bool parse_literal(parser_t *p, literal_t *lit)
{
    memset(lit, 0, sizeof *lit);
    skip_ws(p);
    if (p->pos >= p->len) {
        fail(p, LF_EPARSE, "expected a value");
        return false;
    }
    char c = p->s[p->pos];
    if (c == '\'') {
        lit->type = LIT_STRING;
        return parse_quoted(p, lit);
    }
    if ((c == 'b' || c == 'h' || c == 't') && p->pos + 1 < p->len && p->s[p->pos + 1] == '\'') {
        lit->type = c == 'b' ? LIT_BINARY : c == 'h' ? LIT_HEX : LIT_TIME;
        p->pos++;
        return parse_quoted(p, lit);
    }
    if (eat_keyword(p, "true") || eat_keyword(p, "false")) {
        lit->type = LIT_BOOL;
        return true;
    }
    size_t start = p->pos;
    if (p->s[p->pos] == '-' || p->s[p->pos] == '+')
        p->pos++;
    size_t digits = 0;
    while (p->pos < p->len && (isdigit((unsigned char)p->s[p->pos]) || p->s[p->pos] == '.')) {
        p->pos++;
        digits++;
    }
    if (digits == 0) {
        p->pos = start;
        fail(p, LF_EPARSE, "expected a value");
        return false;
    }
    lit->type = LIT_NUMBER;
    return true;
}

static const char *lit_type_name(lit_type_t t)
{
    switch (t) {
    case LIT_STRING:
        return "string";
    case LIT_NUMBER:
        return "number";
    case LIT_BOOL:
        return "boolean";
    case LIT_BINARY:
        return "binary literal";
    case LIT_HEX:
        return "hex literal";
    case LIT_TIME:
        return "timestamp literal";
    }
    return "value";
}

typedef enum op {
    OP_EQ,
    OP_NEQ,
    OP_ORDER,
    OP_IN,
    OP_LIKE,
    OP_MATCHES,
    OP_ISSUBSET,
    OP_ISSUPERSET,
} op_t;

#define KIND_NONE LF_IOC_KIND_COUNT

/* Adds one comparison to the pattern's pool; returns its id or UINT32_MAX. */
static uint32_t add_cmp(parser_t *p, lf_ioc_kind_t kind, op_t op, const literal_t *lit)
{
    lf_stix_cmp_t c = {.kind = kind};
    char norm[8192];
    size_t n = 0;
    if (lit->type != LIT_STRING) {
        fail(p, LF_EPARSE, "%s compared with a %s, not a string", lf_ioc_kind_name(kind),
             lit_type_name(lit->type));
        return UINT32_MAX;
    }
    switch (kind) {
    case LF_IOC_IPV4:
    case LF_IOC_IPV6: {
        int family;
        unsigned prefix;
        /* an IPv4-mapped IPv6 value (::ffff:a.b.c.d) is compiled as IPv4 */
        if (!lf_stix_parse_ip(lit->str, lit->len, true, &family, c.addr, &prefix) ||
            (kind == LF_IOC_IPV4 && family != 4)) {
            fail(p, LF_EPARSE, "'%.*s' is not an %s address or CIDR block",
                 (int)(lit->len > 60 ? 60 : lit->len), lit->str,
                 kind == LF_IOC_IPV4 ? "IPv4" : "IPv6");
            return UINT32_MAX;
        }
        c.kind = family == 4 ? LF_IOC_IPV4 : LF_IOC_IPV6;
        c.prefix_len = (uint8_t)prefix;
        break;
    }
    case LF_IOC_DOMAIN: {
        const char *v = lit->str;
        size_t vlen = lit->len;
        if (op == OP_LIKE) {
            if (vlen < 3 || v[0] != '%' || v[1] != '.' || memchr(v + 2, '%', vlen - 2) ||
                memchr(v + 2, '_', vlen - 2)) {
                unsupported(p, "domain-name LIKE supports only '%%.<domain>' (subdomains)");
                return UINT32_MAX - 1;
            }
            v += 2;
            vlen -= 2;
            c.suffix = true;
        }
        n = lf_stix_normalize_domain(v, vlen, norm, sizeof norm);
        if (n == 0) {
            fail(p, LF_EPARSE, "'%.*s' is not a domain name", (int)(vlen > 60 ? 60 : vlen), v);
            return UINT32_MAX;
        }
        break;
    }
    case LF_IOC_URL:
        n = lf_stix_normalize_url(lit->str, lit->len, norm, sizeof norm);
        if (n == 0) {
            fail(p, LF_EPARSE, "url value is empty, too long or contains spaces");
            return UINT32_MAX;
        }
        break;
    case LF_IOC_MD5:
    case LF_IOC_SHA1:
    case LF_IOC_SHA256: {
        size_t want = kind == LF_IOC_MD5 ? 32 : kind == LF_IOC_SHA1 ? 40 : 64;
        n = lf_stix_normalize_hash(lit->str, lit->len, want, norm, sizeof norm);
        if (n == 0) {
            fail(p, LF_EPARSE, "%s needs %zu hex digits", lf_ioc_kind_name(kind), want);
            return UINT32_MAX;
        }
        break;
    }
    default:
        return UINT32_MAX - 1;
    }
    if (n > 0) {
        c.value = malloc(n + 1);
        if (!c.value) {
            fail(p, LF_ENOMEM, "out of memory");
            return UINT32_MAX;
        }
        memcpy(c.value, norm, n);
        c.value[n] = '\0';
        c.len = n;
    }
    lf_stix_pattern_t *pat = p->pat;
    if (pat->cmp_count == p->cmp_cap) {
        size_t cap = p->cmp_cap ? p->cmp_cap * 2 : 4;
        lf_stix_cmp_t *g = realloc(pat->cmps, cap * sizeof *g);
        if (!g) {
            free(c.value);
            fail(p, LF_ENOMEM, "out of memory");
            return UINT32_MAX;
        }
        pat->cmps = g;
        p->cmp_cap = cap;
    }
    pat->cmps[pat->cmp_count] = c;
    return (uint32_t)pat->cmp_count++;
}

/* Object path: type ':' prop ( '.' prop | '[' idx ']' )*. Fills kind
 * (KIND_NONE when outside the subset, with the reason recorded). */
static bool parse_path(parser_t *p, lf_ioc_kind_t *kind)
{
    skip_ws(p);
    size_t t0 = p->pos;
    while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '-'))
        p->pos++;
    size_t tlen = p->pos - t0;
    if (tlen == 0 || p->pos >= p->len || p->s[p->pos] != ':') {
        fail(p, LF_EPARSE, "expected an object path such as ipv4-addr:value");
        return false;
    }
    p->pos++;
    /* up to 4 components are kept for the decision; the rest only parsed */
    char comp[4][32];
    size_t ncomp = 0;
    bool first = true;
    for (;;) {
        char name[32];
        size_t nlen = 0;
        if (!first) {
            if (p->pos < p->len && p->s[p->pos] == '.') {
                p->pos++;
            } else if (p->pos < p->len && p->s[p->pos] == '[') {
                p->pos++;
                size_t i0 = p->pos;
                while (p->pos < p->len &&
                       (isdigit((unsigned char)p->s[p->pos]) || p->s[p->pos] == '*'))
                    p->pos++;
                if (p->pos == i0 || p->pos >= p->len || p->s[p->pos] != ']') {
                    fail(p, LF_EPARSE, "expected a list index or * in the object path");
                    return false;
                }
                p->pos++;
                snprintf(name, sizeof name, "[]");
                if (ncomp < 4)
                    snprintf(comp[ncomp], sizeof comp[0], "%s", name);
                ncomp++;
                continue;
            } else {
                break;
            }
        }
        first = false;
        if (p->pos < p->len && p->s[p->pos] == '\'') {
            literal_t lit = {0};
            if (!parse_quoted(p, &lit))
                return false;
            nlen = lit.len < sizeof name - 1 ? lit.len : sizeof name - 1;
            memcpy(name, lit.str, nlen);
            free(lit.str);
        } else {
            size_t n0 = p->pos;
            while (p->pos < p->len && is_word_char(p->s[p->pos]))
                p->pos++;
            if (p->pos == n0) {
                fail(p, LF_EPARSE, "expected a property name in the object path");
                return false;
            }
            nlen = p->pos - n0 < sizeof name - 1 ? p->pos - n0 : sizeof name - 1;
            memcpy(name, p->s + n0, nlen);
        }
        name[nlen] = '\0';
        if (ncomp < 4)
            snprintf(comp[ncomp], sizeof comp[0], "%s", name);
        ncomp++;
    }
    const char *type = p->s + t0;
    *kind = KIND_NONE;
#define TYPE_IS(lit) (tlen == sizeof(lit) - 1 && memcmp(type, lit, tlen) == 0)
    if (ncomp == 1 && !strcmp(comp[0], "value")) {
        if (TYPE_IS("ipv4-addr"))
            *kind = LF_IOC_IPV4;
        else if (TYPE_IS("ipv6-addr"))
            *kind = LF_IOC_IPV6;
        else if (TYPE_IS("domain-name"))
            *kind = LF_IOC_DOMAIN;
        else if (TYPE_IS("url"))
            *kind = LF_IOC_URL;
    } else if (ncomp == 2 && TYPE_IS("file") && !strcmp(comp[0], "hashes")) {
        if (!strcasecmp(comp[1], "MD5"))
            *kind = LF_IOC_MD5;
        else if (!strcasecmp(comp[1], "SHA-1") || !strcasecmp(comp[1], "SHA1"))
            *kind = LF_IOC_SHA1;
        else if (!strcasecmp(comp[1], "SHA-256") || !strcasecmp(comp[1], "SHA256"))
            *kind = LF_IOC_SHA256;
        else
            unsupported(p, "hash algorithm '%s' (supported: MD5, SHA-1, SHA-256)", comp[1]);
    }
#undef TYPE_IS
    if (*kind == KIND_NONE)
        unsupported(p,
                    "object path %.*s:%s%s (supported: ipv4-addr:value, ipv6-addr:value, "
                    "domain-name:value, url:value, file:hashes.*)",
                    (int)(tlen > 40 ? 40 : tlen), type, ncomp ? comp[0] : "",
                    ncomp > 1 ? "..." : "");
    return true;
}

static dnf_t parse_cmp_or(parser_t *p);

static dnf_t parse_comparison(parser_t *p)
{
    dnf_t d = {0};
    if (eat_keyword(p, "EXISTS")) {
        lf_ioc_kind_t kind;
        parse_path(p, &kind);
        unsupported(p, "operator EXISTS");
        return d;
    }
    lf_ioc_kind_t kind;
    if (!parse_path(p, &kind))
        return d;
    bool negated = eat_keyword(p, "NOT");
    if (negated)
        unsupported(p, "NOT");
    op_t op;
    skip_ws(p);
    const char *opname = "";
    if (eat_char(p, '=')) {
        op = OP_EQ;
    } else if (p->len - p->pos >= 2 &&
               (!memcmp(p->s + p->pos, "!=", 2) || !memcmp(p->s + p->pos, "<>", 2))) {
        p->pos += 2;
        op = OP_NEQ;
        opname = "!=";
    } else if (p->pos < p->len && (p->s[p->pos] == '<' || p->s[p->pos] == '>')) {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] == '=')
            p->pos++;
        op = OP_ORDER;
        opname = "< <= > >=";
    } else if (eat_keyword(p, "IN")) {
        op = OP_IN;
    } else if (eat_keyword(p, "LIKE")) {
        op = OP_LIKE;
        opname = "LIKE";
    } else if (eat_keyword(p, "MATCHES")) {
        op = OP_MATCHES;
        opname = "MATCHES";
    } else if (eat_keyword(p, "ISSUBSET")) {
        op = OP_ISSUBSET;
        opname = "ISSUBSET";
    } else if (eat_keyword(p, "ISSUPERSET")) {
        op = OP_ISSUPERSET;
        opname = "ISSUPERSET";
    } else {
        fail(p, LF_EPARSE, "expected a comparison operator");
        return d;
    }
    bool op_ok = op == OP_EQ || op == OP_IN ||
                 (op == OP_ISSUBSET && (kind == LF_IOC_IPV4 || kind == LF_IOC_IPV6)) ||
                 (op == OP_LIKE && kind == LF_IOC_DOMAIN);
    if (kind != KIND_NONE && !op_ok)
        unsupported(p, "operator %s on %s", opname, lf_ioc_kind_name(kind));

    literal_t lits[1];
    size_t nvals = 0;
    if (op == OP_IN) {
        if (!eat_char(p, '(')) {
            fail(p, LF_EPARSE, "IN needs a parenthesised list");
            return d;
        }
        do {
            if (!parse_literal(p, &lits[0]))
                return d;
            if (++p->written_cmps > LF_STIX_MAX_COMPARISONS) {
                free(lits[0].str);
                fail(p, LF_EFULL, "more than %d comparisons", LF_STIX_MAX_COMPARISONS);
                dnf_free(&d);
                return d;
            }
            nvals++;
            if (kind != KIND_NONE && op_ok && !p->unsupported) {
                uint32_t id = add_cmp(p, kind, OP_EQ, &lits[0]);
                if (id < UINT32_MAX - 1 && dnf_new_term(p, &d))
                    dnf_push_id(p, &d, id);
            }
            free(lits[0].str);
        } while (p->err == LF_OK && eat_char(p, ','));
        if (p->err == LF_OK && !eat_char(p, ')'))
            fail(p, LF_EPARSE, "expected ')' or ',' in the IN list");
        return d;
    }
    if (!parse_literal(p, &lits[0]))
        return d;
    if (++p->written_cmps > LF_STIX_MAX_COMPARISONS) {
        free(lits[0].str);
        fail(p, LF_EFULL, "more than %d comparisons", LF_STIX_MAX_COMPARISONS);
        return d;
    }
    if (kind != KIND_NONE && op_ok && !p->unsupported) {
        uint32_t id = add_cmp(p, kind, op, &lits[0]);
        if (id < UINT32_MAX - 1 && dnf_new_term(p, &d))
            dnf_push_id(p, &d, id);
    }
    free(lits[0].str);
    return d;
}

static dnf_t parse_cmp_atom(parser_t *p)
{
    dnf_t d = {0};
    if (eat_char(p, '(')) {
        if (!enter(p))
            return d;
        d = parse_cmp_or(p);
        p->depth--;
        if (p->err == LF_OK && !eat_char(p, ')'))
            fail(p, LF_EPARSE, "expected ')'");
        return d;
    }
    return parse_comparison(p);
}

static dnf_t parse_cmp_and(parser_t *p)
{
    dnf_t d = parse_cmp_atom(p);
    while (p->err == LF_OK && eat_keyword(p, "AND")) {
        dnf_t r = parse_cmp_atom(p);
        dnf_and(p, &d, &r);
    }
    return d;
}

static dnf_t parse_cmp_or(parser_t *p)
{
    dnf_t d = parse_cmp_and(p);
    while (p->err == LF_OK && eat_keyword(p, "OR")) {
        dnf_t r = parse_cmp_and(p);
        dnf_or(p, &d, &r);
    }
    return d;
}

static dnf_t parse_obs_or(parser_t *p);

static void parse_qualifiers(parser_t *p)
{
    for (;;) {
        literal_t lit;
        if (eat_keyword(p, "WITHIN")) {
            if (!parse_literal(p, &lit))
                return;
            free(lit.str);
            if (!eat_keyword(p, "SECONDS")) {
                fail(p, LF_EPARSE, "expected SECONDS after WITHIN");
                return;
            }
            unsupported(p, "qualifier WITHIN (needs several events)");
        } else if (eat_keyword(p, "REPEATS")) {
            if (!parse_literal(p, &lit))
                return;
            free(lit.str);
            if (!eat_keyword(p, "TIMES")) {
                fail(p, LF_EPARSE, "expected TIMES after REPEATS");
                return;
            }
            unsupported(p, "qualifier REPEATS (needs several events)");
        } else if (eat_keyword(p, "START")) {
            if (!parse_literal(p, &lit))
                return;
            free(lit.str);
            if (!eat_keyword(p, "STOP")) {
                fail(p, LF_EPARSE, "expected STOP after START");
                return;
            }
            if (!parse_literal(p, &lit))
                return;
            free(lit.str);
            unsupported(p, "qualifier START/STOP (use valid_from/valid_until)");
        } else {
            return;
        }
    }
}

static dnf_t parse_obs_atom(parser_t *p)
{
    dnf_t d = {0};
    if (!enter(p))
        return d;
    if (eat_char(p, '[')) {
        d = parse_cmp_or(p);
        if (p->err == LF_OK && !eat_char(p, ']'))
            fail(p, LF_EPARSE, "expected ']'");
    } else if (eat_char(p, '(')) {
        d = parse_obs_or(p);
        if (p->err == LF_OK && !eat_char(p, ')'))
            fail(p, LF_EPARSE, "expected ')'");
    } else {
        fail(p, LF_EPARSE, "expected '[' or '('");
    }
    p->depth--;
    if (p->err == LF_OK)
        parse_qualifiers(p);
    return d;
}

static dnf_t parse_obs_and(parser_t *p)
{
    dnf_t d = parse_obs_atom(p);
    for (;;) {
        const char *kw = NULL;
        if (p->err != LF_OK)
            break;
        if (eat_keyword(p, "AND"))
            kw = "AND";
        else if (eat_keyword(p, "FOLLOWEDBY"))
            kw = "FOLLOWEDBY";
        else
            break;
        unsupported(p, "%s between observation expressions (needs several events)", kw);
        dnf_t r = parse_obs_atom(p);
        dnf_free(&r);
    }
    return d;
}

static dnf_t parse_obs_or(parser_t *p)
{
    dnf_t d = parse_obs_and(p);
    while (p->err == LF_OK && eat_keyword(p, "OR")) {
        dnf_t r = parse_obs_and(p);
        dnf_or(p, &d, &r);
    }
    return d;
}

/* The STIX object a comparison is about, for "AND on one object". */
static int cmp_object(lf_ioc_kind_t kind)
{
    return kind >= LF_IOC_MD5 ? LF_IOC_MD5 : (int)kind;
}

void lf_stix_pattern_free(lf_stix_pattern_t *pat)
{
    if (!pat)
        return;
    for (size_t i = 0; i < pat->cmp_count; i++)
        free(pat->cmps[i].value);
    free(pat->cmps);
    free(pat->term_cmps);
    free(pat->term_start);
    free(pat);
}

lf_err_t lf_stix_pattern_parse(const char *text, size_t len, size_t max_bytes,
                               lf_stix_pattern_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    if (errstr && errlen)
        errstr[0] = '\0';
    if (len > max_bytes) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "pattern is %zu bytes, above the limit of %zu", len,
                     max_bytes);
        return LF_EFULL;
    }
    parser_t p = {.s = text, .len = len};
    p.pat = calloc(1, sizeof *p.pat);
    if (!p.pat)
        return LF_ENOMEM;
    dnf_t d = parse_obs_or(&p);
    if (p.err == LF_OK) {
        skip_ws(&p);
        if (p.pos != p.len)
            fail(&p, LF_EPARSE, "unexpected text after the pattern");
    }
    if (p.err == LF_OK && !p.unsupported) {
        for (size_t t = 0; t < d.nterms && !p.unsupported; t++)
            for (size_t i = d.starts[t] + 1; i < dnf_term_end(&d, t); i++)
                if (cmp_object(p.pat->cmps[d.ids[i]].kind) !=
                    cmp_object(p.pat->cmps[d.ids[d.starts[t]]].kind)) {
                    unsupported(&p, "AND across object types (%s and %s) in one observation",
                                lf_ioc_kind_name(p.pat->cmps[d.ids[d.starts[t]]].kind),
                                lf_ioc_kind_name(p.pat->cmps[d.ids[i]].kind));
                    break;
                }
        if (d.nterms == 0 && !p.unsupported)
            fail(&p, LF_EPARSE, "empty pattern");
    }
    lf_err_t rc = p.err != LF_OK ? p.err : p.unsupported ? LF_EINVAL : LF_OK;
    if (rc != LF_OK) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s", p.err != LF_OK ? p.errmsg : p.unsupported_msg);
        dnf_free(&d);
        lf_stix_pattern_free(p.pat);
        return rc;
    }
    lf_stix_pattern_t *pat = p.pat;
    pat->term_cmps = d.ids;
    pat->term_count = d.nterms;
    pat->term_start = realloc(d.starts, (d.nterms + 1) * sizeof *d.starts);
    if (!pat->term_start) {
        free(d.starts);
        lf_stix_pattern_free(pat);
        return LF_ENOMEM;
    }
    pat->term_start[d.nterms] = (uint32_t)d.nids;
    *out = pat;
    return LF_OK;
}

/* ===================================================================== */
/* Bundle import                                                           */
/* ===================================================================== */

static const struct {
    const char *id;
    lf_tlp_t tlp;
} well_known_tlp[] = {
    /* TLP 1.0, STIX 2.1 specification section 7.2.1.4 */
    {"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", LF_TLP_CLEAR}, /* WHITE */
    {"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", LF_TLP_GREEN},
    {"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", LF_TLP_AMBER},
    {"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", LF_TLP_RED},
    /* TLP 2.0, OASIS STIX TLP 2.0 extension */
    {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", LF_TLP_CLEAR},
    {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", LF_TLP_GREEN},
    {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", LF_TLP_AMBER},
    {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", LF_TLP_AMBER_STRICT},
    {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", LF_TLP_RED},
    /* OpenCTI exports its own id for AMBER+STRICT */
    {"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", LF_TLP_AMBER_STRICT},
};

lf_tlp_t lf_stix_tlp_from_marking_id(const char *id)
{
    for (size_t i = 0; i < sizeof well_known_tlp / sizeof well_known_tlp[0]; i++)
        if (!strcmp(id, well_known_tlp[i].id))
            return well_known_tlp[i].tlp;
    return LF_TLP_NONE;
}

/* "amber+strict", "TLP:AMBER", "white" ... */
static lf_tlp_t tlp_from_name(const char *s)
{
    if (!strncasecmp(s, "TLP:", 4))
        s += 4;
    if (!strcasecmp(s, "clear") || !strcasecmp(s, "white"))
        return LF_TLP_CLEAR;
    if (!strcasecmp(s, "green"))
        return LF_TLP_GREEN;
    if (!strcasecmp(s, "amber"))
        return LF_TLP_AMBER;
    if (!strcasecmp(s, "amber+strict"))
        return LF_TLP_AMBER_STRICT;
    if (!strcasecmp(s, "red"))
        return LF_TLP_RED;
    return LF_TLP_NONE;
}

#define TLP2_EXTENSION "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

/* TLP level a bundle-local marking-definition object declares. */
static lf_tlp_t tlp_of_marking_object(json_t *obj)
{
    const char *dt = json_string_value(json_object_get(obj, "definition_type"));
    json_t *def = json_object_get(obj, "definition");
    if (dt && !strcmp(dt, "tlp") && json_is_object(def)) {
        const char *t = json_string_value(json_object_get(def, "tlp"));
        if (t)
            return tlp_from_name(t);
    }
    json_t *ext = json_object_get(json_object_get(obj, "extensions"), TLP2_EXTENSION);
    const char *t2 = json_string_value(json_object_get(ext, "tlp_2_0"));
    if (t2)
        return tlp_from_name(t2);
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (name && !strncasecmp(name, "TLP:", 4))
        return tlp_from_name(name);
    return LF_TLP_NONE;
}

typedef struct marking_map {
    const char **ids;
    lf_tlp_t *tlp;
    size_t count, cap;
} marking_map_t;

static lf_tlp_t marking_lookup(const marking_map_t *m, const char *id)
{
    lf_tlp_t t = lf_stix_tlp_from_marking_id(id);
    if (t != LF_TLP_NONE)
        return t;
    for (size_t i = 0; i < m->count; i++)
        if (!strcmp(m->ids[i], id))
            return m->tlp[i];
    return LF_TLP_NONE;
}

static lf_err_t refuse(lf_ioc_report_t *report, const char *source, char *errstr, size_t errlen,
                       lf_err_t rc, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static lf_err_t refuse(lf_ioc_report_t *report, const char *source, char *errstr, size_t errlen,
                       lf_err_t rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (errstr && errlen)
        snprintf(errstr, errlen, "%s: %s", source, msg);
    lf_ioc_report_add(report, LF_IOC_PROBLEM_ERROR, source, "", "%s", msg);
    if (report)
        report->bundles_refused++;
    return rc;
}

static bool get_time(json_t *obj, const char *key, int64_t *out, bool *present)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    if (!v)
        return true;
    const char *s = json_string_value(v);
    return s && lf_ioc_parse_time(s, strlen(s), out) == LF_OK;
}

#define MAX_LABELS 64

/* Imports one indicator object; skips (and reports) what it cannot use.
 * Returns LF_OK, or LF_EFULL/LF_ENOMEM which refuse the bundle. */
static lf_err_t import_indicator(lf_ioc_builder_t *b, json_t *obj, const marking_map_t *markings,
                                 const char *source, lf_ioc_report_t *report)
{
    const lf_ioc_config_t *cfg = lf_ioc_builder_config(b);
    const char *id = json_string_value(json_object_get(obj, "id"));
    char idbuf[128];
    snprintf(idbuf, sizeof idbuf, "%s", id ? id : "");
#define SKIP(kind, counter, ...)                                                                   \
    do {                                                                                           \
        lf_ioc_report_add(report, kind, source, idbuf, __VA_ARGS__);                               \
        if (report)                                                                                \
            report->counter++;                                                                     \
        return LF_OK;                                                                              \
    } while (0)
    if (!id || strncmp(id, "indicator--", 11) != 0)
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "indicator without a valid \"id\"");
    const char *pattern = json_string_value(json_object_get(obj, "pattern"));
    if (!pattern)
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "indicator without a \"pattern\" string");
    json_t *jtype = json_object_get(obj, "pattern_type");
    const char *ptype = json_string_value(jtype);
    if (jtype && !ptype)
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"pattern_type\" is not a string");
    if (ptype && strcmp(ptype, "stix") != 0)
        SKIP(LF_IOC_PROBLEM_UNSUPPORTED, unsupported, "pattern_type '%.40s' (only 'stix')", ptype);

    lf_ioc_indicator_t meta = {.id = id,
                               .pattern = pattern,
                               .source = source,
                               .confidence = -1,
                               .valid_from_ms = LF_IOC_TIME_NONE_BEFORE,
                               .valid_until_ms = LF_IOC_TIME_NONE_AFTER};
    bool present;
    if (!get_time(obj, "valid_from", &meta.valid_from_ms, &present))
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"valid_from\" is not an RFC 3339 timestamp");
    if (!present)
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "indicator without \"valid_from\"");
    if (!get_time(obj, "valid_until", &meta.valid_until_ms, &present))
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"valid_until\" is not an RFC 3339 timestamp");
    if (present && meta.valid_until_ms <= meta.valid_from_ms)
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"valid_until\" is not after \"valid_from\"");
    int64_t created = 0;
    bool has_created;
    if (!get_time(obj, "created", &created, &has_created))
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"created\" is not an RFC 3339 timestamp");
    if (!get_time(obj, "modified", &meta.modified_ms, &present))
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"modified\" is not an RFC 3339 timestamp");
    if (!present)
        meta.modified_ms = has_created ? created : 0;
    json_t *rev = json_object_get(obj, "revoked");
    if (rev && !json_is_boolean(rev))
        SKIP(LF_IOC_PROBLEM_INVALID, invalid, "\"revoked\" is not a boolean");
    meta.revoked = json_is_true(rev);
    const char *name = json_string_value(json_object_get(obj, "name"));
    meta.name = name ? name : "";

    json_t *conf = json_object_get(obj, "confidence");
    if (conf) {
        if (json_is_integer(conf) && json_integer_value(conf) >= 0 &&
            json_integer_value(conf) <= 100)
            meta.confidence = (int)json_integer_value(conf);
        else
            lf_ioc_report_add(report, LF_IOC_PROBLEM_WARNING, source, idbuf,
                              "\"confidence\" is not an integer 0..100; ignored");
    }
    const char *labels[MAX_LABELS];
    json_t *jl = json_object_get(obj, "labels");
    if (json_is_array(jl)) {
        size_t i;
        json_t *v;
        json_array_foreach(jl, i, v)
        {
            const char *s = json_string_value(v);
            if (!s)
                continue;
            if (meta.label_count == MAX_LABELS) {
                lf_ioc_report_add(report, LF_IOC_PROBLEM_WARNING, source, idbuf,
                                  "more than %d labels; the rest are ignored", MAX_LABELS);
                break;
            }
            labels[meta.label_count++] = s;
        }
    }
    meta.labels = labels;
    json_t *refs = json_object_get(obj, "object_marking_refs");
    if (json_is_array(refs)) {
        size_t i;
        json_t *v;
        json_array_foreach(refs, i, v)
        {
            const char *s = json_string_value(v);
            lf_tlp_t t = s ? marking_lookup(markings, s) : LF_TLP_NONE;
            if (t > meta.tlp)
                meta.tlp = t;
        }
    }

    /* A revoked version only needs its id and version: its pattern is
     * never matched, so it revokes older versions even when the pattern is
     * outside the subset. */
    lf_stix_pattern_t *pat = NULL;
    if (!meta.revoked) {
        char why[256];
        lf_err_t prc = lf_stix_pattern_parse(pattern, strlen(pattern),
                                             (size_t)cfg->max_pattern_bytes, &pat, why, sizeof why);
        if (prc == LF_EINVAL)
            SKIP(LF_IOC_PROBLEM_UNSUPPORTED, unsupported, "unsupported pattern: %s", why);
        if (prc == LF_EPARSE)
            SKIP(LF_IOC_PROBLEM_INVALID, invalid, "malformed pattern: %s", why);
        if (prc == LF_EFULL)
            SKIP(LF_IOC_PROBLEM_INVALID, invalid, "pattern too large: %s", why);
        if (prc != LF_OK)
            return prc;
    }
#undef SKIP
    lf_err_t rc = lf_ioc_builder_add(b, &meta, pat);
    if (rc == LF_OK && report)
        report->indicators++;
    return rc;
}

lf_err_t lf_stix_import_buffer(lf_ioc_builder_t *b, const char *data, size_t len,
                               const char *source, lf_ioc_report_t *report, char *errstr,
                               size_t errlen)
{
    const lf_ioc_config_t *cfg = lf_ioc_builder_config(b);
    if (errstr && errlen)
        errstr[0] = '\0';
    if (!source)
        source = "(buffer)";
    if ((int64_t)len > cfg->max_bundle_bytes)
        return refuse(report, source, errstr, errlen, LF_EFULL,
                      "bundle is %zu bytes, above intel.max_bundle_bytes (%lld)", len,
                      (long long)cfg->max_bundle_bytes);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return refuse(report, source, errstr, errlen, LF_EPARSE, "line %d column %d: %s", jerr.line,
                      jerr.column, jerr.text);
    json_t *objects = json_object_get(root, "objects");
    if (!json_is_object(root) || !json_is_array(objects)) {
        json_decref(root);
        return refuse(report, source, errstr, errlen, LF_EPARSE,
                      "not a STIX bundle: no \"objects\" array");
    }
    const char *rtype = json_string_value(json_object_get(root, "type"));
    if (rtype && strcmp(rtype, "bundle") != 0) {
        lf_err_t rc = refuse(report, source, errstr, errlen, LF_EPARSE,
                             "not a STIX bundle: type is '%.40s'", rtype);
        json_decref(root);
        return rc;
    }

    /* pass 1: count indicators (refuse before adding any) and collect the
     * bundle's own TLP marking definitions */
    size_t nind = 0, i;
    json_t *obj;
    marking_map_t markings = {0};
    lf_err_t rc = LF_OK;
    json_array_foreach(objects, i, obj)
    {
        const char *type = json_string_value(json_object_get(obj, "type"));
        if (!type)
            continue;
        if (!strcmp(type, "indicator")) {
            nind++;
        } else if (!strcmp(type, "marking-definition")) {
            const char *id = json_string_value(json_object_get(obj, "id"));
            lf_tlp_t t = tlp_of_marking_object(obj);
            if (!id || t == LF_TLP_NONE)
                continue;
            if (markings.count == markings.cap) {
                size_t cap = markings.cap ? markings.cap * 2 : 8;
                const char **ids = realloc(markings.ids, cap * sizeof *ids);
                if (ids)
                    markings.ids = ids;
                lf_tlp_t *tl = realloc(markings.tlp, cap * sizeof *tl);
                if (tl)
                    markings.tlp = tl;
                if (!ids || !tl) {
                    rc = LF_ENOMEM;
                    break;
                }
                markings.cap = cap;
            }
            markings.ids[markings.count] = id;
            markings.tlp[markings.count++] = t;
        }
    }
    size_t before = lf_ioc_builder_count(b);
    if (rc == LF_OK && (int64_t)(before + nind) > cfg->max_indicators)
        rc = refuse(report, source, errstr, errlen, LF_EFULL,
                    "%zu indicators would take the set past intel.max_indicators (%lld; %zu "
                    "loaded before this bundle)",
                    nind, (long long)cfg->max_indicators, before);
    else if (rc == LF_ENOMEM)
        rc = refuse(report, source, errstr, errlen, LF_ENOMEM, "out of memory");
    lf_ioc_report_t before_report = report ? *report : (lf_ioc_report_t){0};
    if (rc == LF_OK) {
        json_array_foreach(objects, i, obj)
        {
            const char *type = json_string_value(json_object_get(obj, "type"));
            if (!type || strcmp(type, "indicator") != 0)
                continue;
            rc = import_indicator(b, obj, &markings, source, report);
            if (rc != LF_OK)
                break;
        }
        if (rc != LF_OK) {
            lf_ioc_builder_truncate(b, before);
            if (report) { /* counts of a refused bundle do not stand */
                report->indicators = before_report.indicators;
                report->unsupported = before_report.unsupported;
                report->invalid = before_report.invalid;
            }
            rc = refuse(report, source, errstr, errlen, rc, "%s while adding indicators",
                        lf_strerror(rc));
        } else if (report) {
            report->bundles++;
        }
    }
    free(markings.ids);
    free(markings.tlp);
    json_decref(root);
    return rc;
}

lf_err_t lf_stix_import_file(lf_ioc_builder_t *b, const char *path, lf_ioc_report_t *report,
                             char *errstr, size_t errlen)
{
    const lf_ioc_config_t *cfg = lf_ioc_builder_config(b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return refuse(report, path, errstr, errlen, LF_EIO, "cannot open: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return refuse(report, path, errstr, errlen, LF_EIO, "not a regular file");
    }
    if (sb.st_size > cfg->max_bundle_bytes) {
        close(fd);
        return refuse(report, path, errstr, errlen, LF_EFULL,
                      "bundle is %lld bytes, above intel.max_bundle_bytes (%lld)",
                      (long long)sb.st_size, (long long)cfg->max_bundle_bytes);
    }
    size_t size = (size_t)sb.st_size;
    char *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return refuse(report, path, errstr, errlen, LF_ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        free(data);
        return refuse(report, path, errstr, errlen, LF_EIO, "short read");
    }
    lf_err_t rc = lf_stix_import_buffer(b, data, size, path, report, errstr, errlen);
    free(data);
    return rc;
}
