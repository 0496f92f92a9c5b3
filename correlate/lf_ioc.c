/* lf_ioc.c - indicator builder, compiled sets and per-event matching.
 *
 * A compiled set holds, per observable kind, one open-addressing hash set of
 * exact values (domains, URLs, hashes, full-length IPs as 4/16 raw bytes)
 * and one binary trie per IP family for real prefixes. Each key leads to a
 * chain of postings; a posting names a term (one AND-group of an
 * indicator's pattern). Terms of one comparison match on the key alone;
 * terms with several comparisons are indexed by their most selective one
 * (the anchor) and the others are checked against the event's fields of
 * the same ECS object (file.*, process.*, ...) when the anchor hits.
 */
#include "lf_ioc.h"
#include "lf_stix.h"

#include "lf_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* ===================================================================== */
/* names, report, metrics, config                                          */
/* ===================================================================== */

const char *lf_ioc_kind_name(lf_ioc_kind_t kind)
{
    static const char *const names[] = {
#define LF_IOC_KIND_NAME(id, name) name,
        LF_IOC_KINDS(LF_IOC_KIND_NAME)
#undef LF_IOC_KIND_NAME
    };
    return (unsigned)kind < LF_IOC_KIND_COUNT ? names[kind] : "unknown";
}

const char *lf_tlp_name(lf_tlp_t tlp)
{
    static const char *const names[] = {
#define LF_TLP_NAME(id, name) name,
        LF_TLP_LEVELS(LF_TLP_NAME)
#undef LF_TLP_NAME
    };
    return (unsigned)tlp < sizeof names / sizeof names[0] ? names[tlp] : "";
}

const char *lf_ioc_problem_kind_name(lf_ioc_problem_kind_t kind)
{
    switch (kind) {
    case LF_IOC_PROBLEM_WARNING:
        return "warning";
    case LF_IOC_PROBLEM_UNSUPPORTED:
        return "unsupported";
    case LF_IOC_PROBLEM_INVALID:
        return "invalid";
    case LF_IOC_PROBLEM_ERROR:
        return "error";
    }
    return "unknown";
}

void lf_ioc_report_init(lf_ioc_report_t *report)
{
    memset(report, 0, sizeof *report);
}

void lf_ioc_report_free(lf_ioc_report_t *report)
{
    free(report->problems);
    memset(report, 0, sizeof *report);
}

void lf_ioc_report_add(lf_ioc_report_t *report, lf_ioc_problem_kind_t kind, const char *source,
                       const char *object_id, const char *fmt, ...)
{
    if (!report)
        return;
    if (kind == LF_IOC_PROBLEM_WARNING)
        report->warnings++;
    if (report->problem_count >= LF_IOC_REPORT_MAX_PROBLEMS) {
        report->problems_omitted++;
        return;
    }
    if (!report->problems) {
        report->problems = calloc(LF_IOC_REPORT_MAX_PROBLEMS, sizeof *report->problems);
        if (!report->problems) {
            report->problems_omitted++;
            return;
        }
    }
    lf_ioc_problem_t *p = &report->problems[report->problem_count++];
    p->kind = kind;
    snprintf(p->source, sizeof p->source, "%s", source ? source : "");
    snprintf(p->object_id, sizeof p->object_id, "%s", object_id ? object_id : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->reason, sizeof p->reason, fmt, ap);
    va_end(ap);
}

void lf_ioc_metrics_init(lf_ioc_metrics_t *m)
{
    static const struct {
        const char *name, *help;
        lf_metric_kind_t kind;
    } rows[] = {
#define LF_IOC_METRIC_ROW(id, nm, kd, hp) {nm, hp, LF_METRIC_##kd},
        LF_IOC_METRICS(LF_IOC_METRIC_ROW)
#undef LF_IOC_METRIC_ROW
    };
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < LF_IOC_M_COUNT; i++) {
        m->m[i].name = rows[i].name;
        m->m[i].help = rows[i].help;
        m->m[i].kind = rows[i].kind;
    }
}

static const char *const domain_match_choices[] = {"exact", "suffix", NULL};

const lf_config_option_t lf_ioc_config_options[] = {
    LF_CFG_OPT_SIZE("max_bundle_bytes", lf_ioc_config_t, max_bundle_bytes, "32MiB", 1024, 1LL << 30,
                    "Largest STIX bundle accepted (file or API); a larger one is refused before "
                    "it is parsed. Parsing takes a few times this much memory."),
    LF_CFG_OPT_INT("max_indicators", lf_ioc_config_t, max_indicators, "1000000", 1, 20000000,
                   "Most indicator objects held for one compiled set, over all bundles; a "
                   "bundle that would pass it is refused as a whole."),
    LF_CFG_OPT_SIZE("max_pattern_bytes", lf_ioc_config_t, max_pattern_bytes, "16KiB", 64, 1 << 20,
                    "Longest STIX pattern compiled; longer ones are reported and skipped."),
    LF_CFG_OPT_ENUM("domain_match", lf_ioc_config_t, domain_match, "exact", domain_match_choices,
                    "exact: domain-name:value = 'x' matches x only (STIX semantics); suffix: "
                    "also every subdomain of x. `LIKE '%.x'` always matches subdomains."),
    LF_CFG_OPT_STRLIST("ip_fields", lf_ioc_config_t, ip_fields, ip_field_count, 64,
                       "ECS fields checked against ipv4-addr/ipv6-addr indicators (empty: "
                       "source.ip destination.ip client.ip server.ip host.ip related.ip)."),
    LF_CFG_OPT_STRLIST("domain_fields", lf_ioc_config_t, domain_fields, domain_field_count, 64,
                       "ECS fields checked against domain-name indicators (empty: url.domain "
                       "dns.question.name destination.domain source.domain client.domain "
                       "server.domain)."),
    LF_CFG_OPT_STRLIST("url_fields", lf_ioc_config_t, url_fields, url_field_count, 64,
                       "ECS fields checked against url indicators (empty: url.full "
                       "url.original)."),
    LF_CFG_OPT_STRLIST("md5_fields", lf_ioc_config_t, md5_fields, md5_field_count, 64,
                       "ECS fields checked against MD5 indicators (empty: file.hash.md5 "
                       "process.hash.md5)."),
    LF_CFG_OPT_STRLIST("sha1_fields", lf_ioc_config_t, sha1_fields, sha1_field_count, 64,
                       "ECS fields checked against SHA-1 indicators (empty: file.hash.sha1 "
                       "process.hash.sha1)."),
    LF_CFG_OPT_STRLIST("sha256_fields", lf_ioc_config_t, sha256_fields, sha256_field_count, 64,
                       "ECS fields checked against SHA-256 indicators (empty: file.hash.sha256 "
                       "process.hash.sha256)."),
    LF_CFG_END,
};

void lf_ioc_config_defaults(lf_ioc_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    lf_config_set_defaults(lf_ioc_config_options, cfg, NULL, 0);
}

/* The built-in field lists, in the order matches are looked for. */
static const char *const default_ip_fields[] = {"source.ip", "destination.ip", "client.ip",
                                                "server.ip", "host.ip",        "related.ip"};
static const char *const default_domain_fields[] = {"url.domain",         "dns.question.name",
                                                    "destination.domain", "source.domain",
                                                    "client.domain",      "server.domain"};
static const char *const default_url_fields[] = {"url.full", "url.original"};
static const char *const default_md5_fields[] = {"file.hash.md5", "process.hash.md5"};
static const char *const default_sha1_fields[] = {"file.hash.sha1", "process.hash.sha1"};
static const char *const default_sha256_fields[] = {"file.hash.sha256", "process.hash.sha256"};

/* Field lists are per "list": IPv4 and IPv6 share one. */
enum { LIST_IP, LIST_DOMAIN, LIST_URL, LIST_MD5, LIST_SHA1, LIST_SHA256, LIST_COUNT };

static int list_of_kind(lf_ioc_kind_t k)
{
    switch (k) {
    case LF_IOC_IPV4:
    case LF_IOC_IPV6:
        return LIST_IP;
    case LF_IOC_DOMAIN:
        return LIST_DOMAIN;
    case LF_IOC_URL:
        return LIST_URL;
    case LF_IOC_MD5:
        return LIST_MD5;
    case LF_IOC_SHA1:
        return LIST_SHA1;
    default:
        return LIST_SHA256;
    }
}

static void config_list(const lf_ioc_config_t *cfg, int list, const char *const **paths,
                        size_t *count)
{
    switch (list) {
#define PICK(L, fld, cnt, def)                                                                     \
    case L:                                                                                        \
        if (cfg->cnt) {                                                                            \
            *paths = (const char *const *)cfg->fld;                                                \
            *count = cfg->cnt;                                                                     \
        } else {                                                                                   \
            *paths = def;                                                                          \
            *count = sizeof def / sizeof def[0];                                                   \
        }                                                                                          \
        break;
        PICK(LIST_IP, ip_fields, ip_field_count, default_ip_fields)
        PICK(LIST_DOMAIN, domain_fields, domain_field_count, default_domain_fields)
        PICK(LIST_URL, url_fields, url_field_count, default_url_fields)
        PICK(LIST_MD5, md5_fields, md5_field_count, default_md5_fields)
        PICK(LIST_SHA1, sha1_fields, sha1_field_count, default_sha1_fields)
        PICK(LIST_SHA256, sha256_fields, sha256_field_count, default_sha256_fields)
#undef PICK
    default:
        *paths = NULL;
        *count = 0;
    }
}

/* ===================================================================== */
/* time                                                                    */
/* ===================================================================== */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

lf_err_t lf_ioc_parse_time(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec;
    if (len < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return LF_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return LF_EPARSE;
    size_t i = 19;
    int64_t ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t f0 = i;
        int64_t scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == f0)
            return LF_EPARSE;
    }
    int64_t offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return LF_EPARSE;
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return LF_EPARSE;
    }
    if (i != len)
        return LF_EPARSE;
    int64_t days = lf_time_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec) - offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return LF_OK;
}

/* ===================================================================== */
/* builder                                                                 */
/* ===================================================================== */

typedef struct entry {
    lf_ioc_indicator_t meta; /* strings owned (see entry_free) */
    lf_stix_pattern_t *pattern;
    size_t seq;
} entry_t;

struct lf_ioc_builder {
    lf_ioc_config_t cfg; /* deep copy */
    entry_t *entries;
    size_t count, cap;
    size_t seq;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s ? s : "", n);
        d[n] = '\0';
    }
    return d;
}

static void strlist_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static bool strlist_copy(char ***dst, size_t *dcount, char *const *src, size_t n)
{
    *dst = NULL;
    *dcount = 0;
    if (n == 0)
        return true;
    char **v = calloc(n, sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = dup_str(src[i]))) {
            strlist_free(v, n);
            return false;
        }
    *dst = v;
    *dcount = n;
    return true;
}

lf_ioc_builder_t *lf_ioc_builder_new(const lf_ioc_config_t *cfg)
{
    lf_ioc_builder_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (cfg) {
        b->cfg = *cfg;
        b->cfg.ip_fields = b->cfg.domain_fields = b->cfg.url_fields = NULL;
        b->cfg.md5_fields = b->cfg.sha1_fields = b->cfg.sha256_fields = NULL;
        bool ok = strlist_copy(&b->cfg.ip_fields, &b->cfg.ip_field_count, cfg->ip_fields,
                               cfg->ip_field_count) &&
                  strlist_copy(&b->cfg.domain_fields, &b->cfg.domain_field_count,
                               cfg->domain_fields, cfg->domain_field_count) &&
                  strlist_copy(&b->cfg.url_fields, &b->cfg.url_field_count, cfg->url_fields,
                               cfg->url_field_count) &&
                  strlist_copy(&b->cfg.md5_fields, &b->cfg.md5_field_count, cfg->md5_fields,
                               cfg->md5_field_count) &&
                  strlist_copy(&b->cfg.sha1_fields, &b->cfg.sha1_field_count, cfg->sha1_fields,
                               cfg->sha1_field_count) &&
                  strlist_copy(&b->cfg.sha256_fields, &b->cfg.sha256_field_count,
                               cfg->sha256_fields, cfg->sha256_field_count);
        if (!ok) {
            lf_ioc_builder_free(b);
            return NULL;
        }
    } else {
        lf_ioc_config_defaults(&b->cfg);
    }
    return b;
}

static void entry_free(entry_t *e)
{
    free((char *)e->meta.id);
    free((char *)e->meta.name);
    free((char *)e->meta.pattern);
    free((char *)e->meta.source);
    for (size_t i = 0; i < e->meta.label_count; i++)
        free((char *)e->meta.labels[i]);
    free((void *)e->meta.labels);
    lf_stix_pattern_free(e->pattern);
    memset(e, 0, sizeof *e);
}

void lf_ioc_builder_free(lf_ioc_builder_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++)
        entry_free(&b->entries[i]);
    free(b->entries);
    lf_config_free(lf_ioc_config_options, &b->cfg);
    free(b);
}

const lf_ioc_config_t *lf_ioc_builder_config(const lf_ioc_builder_t *b)
{
    return &b->cfg;
}

size_t lf_ioc_builder_count(const lf_ioc_builder_t *b)
{
    return b->count;
}

void lf_ioc_builder_truncate(lf_ioc_builder_t *b, size_t count)
{
    while (b->count > count)
        entry_free(&b->entries[--b->count]);
}

/* Copies meta's strings into e->meta. */
static bool meta_copy(lf_ioc_indicator_t *dst, const lf_ioc_indicator_t *src)
{
    *dst = *src;
    dst->labels = NULL;
    dst->label_count = 0;
    dst->id = dup_str(src->id);
    dst->name = dup_str(src->name);
    dst->pattern = dup_str(src->pattern);
    dst->source = dup_str(src->source);
    bool ok = dst->id && dst->name && dst->pattern && dst->source;
    if (ok && src->label_count) {
        const char **labels = calloc(src->label_count, sizeof *labels);
        dst->labels = labels;
        ok = labels != NULL;
        for (size_t i = 0; ok && i < src->label_count; i++) {
            labels[i] = dup_str(src->labels[i]);
            ok = labels[i] != NULL;
            dst->label_count = i + 1;
        }
    }
    return ok;
}

lf_err_t lf_ioc_builder_add(lf_ioc_builder_t *b, const lf_ioc_indicator_t *meta,
                            lf_stix_pattern_t *pattern)
{
    if ((int64_t)b->count >= b->cfg.max_indicators) {
        lf_stix_pattern_free(pattern);
        return LF_EFULL;
    }
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        entry_t *n = realloc(b->entries, cap * sizeof *n);
        if (!n) {
            lf_stix_pattern_free(pattern);
            return LF_ENOMEM;
        }
        b->entries = n;
        b->cap = cap;
    }
    entry_t *e = &b->entries[b->count];
    memset(e, 0, sizeof *e);
    e->pattern = pattern;
    e->seq = b->seq++;
    if (!meta_copy(&e->meta, meta)) {
        entry_free(e);
        return LF_ENOMEM;
    }
    b->count++;
    return LF_OK;
}

/* ===================================================================== */
/* hash set of byte strings and IP prefix tries                            */
/* ===================================================================== */

typedef struct posting {
    uint32_t term;
    uint32_t next;
    uint8_t flags; /* POST_EXACT / POST_SUFFIX for domains */
} posting_t;

enum { POST_EXACT = 1, POST_SUFFIX = 2 };

typedef struct slot {
    uint64_t hash;
    uint32_t off, len;
    uint32_t head; /* NIL: empty slot */
} slot_t;

typedef struct strset {
    slot_t *slots;
    size_t cap, count; /* cap: power of two */
    char *keys;
    size_t keys_len, keys_cap;
} strset_t;

static uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void strset_free(strset_t *s)
{
    free(s->slots);
    free(s->keys);
    memset(s, 0, sizeof *s);
}

static bool strset_grow(strset_t *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    slot_t *n = malloc(cap * sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < cap; i++)
        n[i].head = NIL;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].head == NIL)
            continue;
        size_t j = s->slots[i].hash & (cap - 1);
        while (n[j].head != NIL)
            j = (j + 1) & (cap - 1);
        n[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = n;
    s->cap = cap;
    return true;
}

static slot_t *strset_find(const strset_t *s, const void *key, size_t len)
{
    if (s->count == 0)
        return NULL;
    uint64_t h = hash_bytes(key, len);
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        slot_t *sl = &s->slots[j];
        if (sl->head == NIL)
            return NULL;
        if (sl->hash == h && sl->len == len && memcmp(s->keys + sl->off, key, len) == 0)
            return sl;
    }
}

/* Returns the slot of key; a new key is inserted with `posting` as the
 * head of its chain (an existing key keeps its chain: the caller links). */
static slot_t *strset_insert(strset_t *s, const void *key, size_t len, uint32_t posting)
{
    slot_t *sl = strset_find(s, key, len);
    if (sl)
        return sl;
    if ((s->count + 1) * 2 > s->cap && !strset_grow(s))
        return NULL;
    if (s->keys_len + len > s->keys_cap) {
        size_t cap = s->keys_cap ? s->keys_cap : 1024;
        while (cap < s->keys_len + len)
            cap *= 2;
        char *k = realloc(s->keys, cap);
        if (!k)
            return NULL;
        s->keys = k;
        s->keys_cap = cap;
    }
    if (s->keys_len + len > UINT32_MAX)
        return NULL;
    memcpy(s->keys + s->keys_len, key, len);
    uint64_t h = hash_bytes(key, len);
    size_t j = h & (s->cap - 1);
    while (s->slots[j].head != NIL)
        j = (j + 1) & (s->cap - 1);
    s->slots[j] =
        (slot_t){.hash = h, .off = (uint32_t)s->keys_len, .len = (uint32_t)len, .head = posting};
    s->keys_len += len;
    s->count++;
    return &s->slots[j];
}

typedef struct trie_node {
    uint32_t child[2];
    uint32_t head;
} trie_node_t;

typedef struct trie {
    trie_node_t *nodes;
    size_t count, cap;
} trie_t;

static uint32_t trie_node_new(trie_t *t)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        trie_node_t *n = realloc(t->nodes, cap * sizeof *n);
        if (!n)
            return NIL;
        t->nodes = n;
        t->cap = cap;
    }
    t->nodes[t->count] = (trie_node_t){{NIL, NIL}, NIL};
    return (uint32_t)t->count++;
}

/* The node for prefix addr/bits (created as needed). */
static trie_node_t *trie_insert(trie_t *t, const uint8_t *addr, unsigned bits)
{
    if (t->count == 0 && trie_node_new(t) == NIL)
        return NULL;
    uint32_t n = 0;
    for (unsigned b = 0; b < bits; b++) {
        unsigned bit = (addr[b / 8] >> (7 - b % 8)) & 1u;
        if (t->nodes[n].child[bit] == NIL) {
            uint32_t c = trie_node_new(t);
            if (c == NIL)
                return NULL;
            t->nodes[n].child[bit] = c;
        }
        n = t->nodes[n].child[bit];
    }
    return &t->nodes[n];
}

/* ===================================================================== */
/* compiled set                                                            */
/* ===================================================================== */

typedef struct term {
    uint32_t indicator;
    uint32_t cmp_first; /* into set->cmps */
    uint16_t cmp_count;
    uint16_t anchor; /* index within the term */
} term_t;

typedef struct binding {
    lf_field_id_t field;
    lf_str_t group; /* the ECS object: "file" of file.hash.md5 */
} binding_t;

struct lf_ioc_set {
    _Atomic long refs;
    lf_ioc_indicator_t *inds; /* owned strings */
    size_t ind_count;
    term_t *terms;
    size_t term_count;
    lf_stix_cmp_t *cmps; /* values owned */
    size_t cmp_count;
    posting_t *posts;
    size_t post_count, post_cap;
    strset_t exact[LF_IOC_KIND_COUNT]; /* IPs as raw bytes, text otherwise */
    trie_t trie[2];                    /* IPv4, IPv6 prefixes shorter than full */
    binding_t *bind[LIST_COUNT];
    size_t bind_count[LIST_COUNT];
    char *group_text; /* storage of binding groups */
    bool domain_suffix_all;
    lf_ioc_metrics_t *metrics;
};

static void indicator_free(lf_ioc_indicator_t *m)
{
    entry_t e = {.meta = *m};
    entry_free(&e);
}

static void set_free(lf_ioc_set_t *set)
{
    for (size_t i = 0; i < set->ind_count; i++)
        indicator_free(&set->inds[i]);
    free(set->inds);
    free(set->terms);
    for (size_t i = 0; i < set->cmp_count; i++)
        free(set->cmps[i].value);
    free(set->cmps);
    free(set->posts);
    for (int k = 0; k < LF_IOC_KIND_COUNT; k++)
        strset_free(&set->exact[k]);
    for (int f = 0; f < 2; f++)
        free(set->trie[f].nodes);
    for (int l = 0; l < LIST_COUNT; l++)
        free(set->bind[l]);
    free(set->group_text);
    free(set);
}

lf_ioc_set_t *lf_ioc_set_retain(lf_ioc_set_t *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void lf_ioc_set_release(lf_ioc_set_t *set)
{
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        set_free(set);
}

size_t lf_ioc_set_indicator_count(const lf_ioc_set_t *set)
{
    return set ? set->ind_count : 0;
}

const lf_ioc_indicator_t *lf_ioc_set_find(const lf_ioc_set_t *set, const char *id)
{
    for (size_t i = 0; set && i < set->ind_count; i++)
        if (!strcmp(set->inds[i].id, id))
            return &set->inds[i];
    return NULL;
}

static uint32_t post_new(lf_ioc_set_t *set, uint32_t term, uint8_t flags, uint32_t next)
{
    if (set->post_count == set->post_cap) {
        size_t cap = set->post_cap ? set->post_cap * 2 : 256;
        posting_t *n = realloc(set->posts, cap * sizeof *n);
        if (!n)
            return NIL;
        set->posts = n;
        set->post_cap = cap;
    }
    set->posts[set->post_count] = (posting_t){.term = term, .next = next, .flags = flags};
    return (uint32_t)set->post_count++;
}

/* Indexes comparison c as the anchor of term `term`. */
static bool index_cmp(lf_ioc_set_t *set, const lf_stix_cmp_t *c, uint32_t term)
{
    uint8_t flags = 0;
    const void *key = c->value;
    size_t klen = c->len;
    if (c->kind == LF_IOC_DOMAIN)
        flags = c->suffix                ? POST_SUFFIX
                : set->domain_suffix_all ? POST_EXACT | POST_SUFFIX
                                         : POST_EXACT;
    if (c->kind == LF_IOC_IPV4 || c->kind == LF_IOC_IPV6) {
        unsigned full = c->kind == LF_IOC_IPV4 ? 32 : 128;
        if (c->prefix_len < full) {
            trie_node_t *node =
                trie_insert(&set->trie[c->kind == LF_IOC_IPV6], c->addr, c->prefix_len);
            if (!node)
                return false;
            uint32_t p = post_new(set, term, 0, node->head);
            if (p == NIL)
                return false;
            node->head = p;
            return true;
        }
        key = c->addr;
        klen = full / 8;
    }
    uint32_t p = post_new(set, term, flags, NIL);
    if (p == NIL)
        return false;
    slot_t *sl = strset_insert(&set->exact[c->kind], key, klen, p);
    if (!sl)
        return false;
    if (sl->head != p) { /* existing key: prepend */
        set->posts[p].next = sl->head;
        sl->head = p;
    }
    return true;
}

/* Lower is more selective: used to choose the anchor of an AND term. */
static int selectivity(const lf_stix_cmp_t *c)
{
    switch (c->kind) {
    case LF_IOC_SHA256:
    case LF_IOC_SHA1:
    case LF_IOC_MD5:
        return 0;
    case LF_IOC_URL:
        return 1;
    case LF_IOC_DOMAIN:
        return c->suffix ? 4 : 2;
    default:
        return c->prefix_len == (c->kind == LF_IOC_IPV4 ? 32 : 128) ? 3 : 5 + (128 - c->prefix_len);
    }
}

static int cmp_entries(const void *a, const void *b)
{
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    int c = strcmp(x->meta.id, y->meta.id);
    if (c)
        return c;
    if (x->meta.modified_ms != y->meta.modified_ms)
        return x->meta.modified_ms < y->meta.modified_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool bind_fields(lf_ioc_set_t *set, const lf_ioc_config_t *cfg, lf_ioc_report_t *report)
{
    size_t text = 0;
    for (int l = 0; l < LIST_COUNT; l++) {
        const char *const *paths;
        size_t n;
        config_list(cfg, l, &paths, &n);
        for (size_t i = 0; i < n; i++)
            text += strlen(paths[i]) + 1;
    }
    set->group_text = malloc(text ? text : 1);
    if (!set->group_text)
        return false;
    size_t used = 0;
    for (int l = 0; l < LIST_COUNT; l++) {
        const char *const *paths;
        size_t n;
        config_list(cfg, l, &paths, &n);
        set->bind[l] = calloc(n ? n : 1, sizeof *set->bind[l]);
        if (!set->bind[l])
            return false;
        for (size_t i = 0; i < n; i++) {
            lf_field_id_t id = lf_field_lookup(paths[i], strlen(paths[i]));
            if (id >= LF_F_COUNT) {
                lf_ioc_report_add(report, LF_IOC_PROBLEM_WARNING, "intel", "",
                                  "field %s is not in the event field table; indicators are "
                                  "not checked against it",
                                  paths[i]);
                continue;
            }
            const char *dot = strchr(paths[i], '.');
            size_t glen = dot ? (size_t)(dot - paths[i]) : strlen(paths[i]);
            memcpy(set->group_text + used, paths[i], glen);
            binding_t *bd = &set->bind[l][set->bind_count[l]++];
            bd->field = id;
            bd->group = lf_str_n(set->group_text + used, glen);
            used += glen + 1;
        }
    }
    return true;
}

lf_err_t lf_ioc_set_build(lf_ioc_builder_t *b, lf_ioc_metrics_t *metrics, lf_ioc_set_t **out,
                          lf_ioc_report_t *report, char *errstr, size_t errlen)
{
    *out = NULL;
    lf_ioc_set_t *set = calloc(1, sizeof *set);
    entry_t **order = calloc(b->count ? b->count : 1, sizeof *order);
    if (!set || !order) {
        free(set);
        free(order);
        if (errstr && errlen)
            snprintf(errstr, errlen, "out of memory for the indicator set");
        return LF_ENOMEM;
    }
    atomic_init(&set->refs, 1);
    set->metrics = metrics;
    set->domain_suffix_all = b->cfg.domain_match == LF_IOC_DOMAIN_SUFFIX;
    const char *where = "field bindings";
    if (!bind_fields(set, &b->cfg, report))
        goto nomem;

    for (size_t i = 0; i < b->count; i++)
        order[i] = &b->entries[i];
    qsort(order, b->count, sizeof *order, cmp_entries);

    /* pick one version per id; count what is kept for the allocations */
    size_t keep = 0, nterms = 0, ncmps = 0;
    for (size_t i = 0; i < b->count;) {
        size_t j = i;
        bool revoked = false;
        while (j < b->count && !strcmp(order[j]->meta.id, order[i]->meta.id))
            revoked |= order[j++]->meta.revoked;
        entry_t *last = order[j - 1];
        if (revoked) {
            if (report)
                report->revoked++;
            for (size_t k = i; k < j; k++)
                order[k] = NULL;
        } else {
            if (report)
                report->superseded += j - i - 1;
            for (size_t k = i; k + 1 < j; k++)
                order[k] = NULL;
            keep++;
            nterms += last->pattern->term_count;
            for (size_t t = 0; t < last->pattern->term_count; t++)
                ncmps += last->pattern->term_start[t + 1] - last->pattern->term_start[t];
        }
        i = j;
    }
    where = "indicators";
    set->inds = calloc(keep ? keep : 1, sizeof *set->inds);
    set->terms = calloc(nterms ? nterms : 1, sizeof *set->terms);
    set->cmps = calloc(ncmps ? ncmps : 1, sizeof *set->cmps);
    if (!set->inds || !set->terms || !set->cmps)
        goto nomem;
    for (size_t i = 0; i < b->count; i++) {
        entry_t *e = order[i];
        if (!e)
            continue;
        uint32_t ind = (uint32_t)set->ind_count;
        if (!meta_copy(&set->inds[ind], &e->meta)) {
            indicator_free(&set->inds[ind]);
            goto nomem;
        }
        set->ind_count++;
        const lf_stix_pattern_t *pat = e->pattern;
        for (size_t t = 0; t < pat->term_count; t++) {
            term_t *term = &set->terms[set->term_count];
            term->indicator = ind;
            term->cmp_first = (uint32_t)set->cmp_count;
            int best = 1 << 30;
            for (uint32_t k = pat->term_start[t]; k < pat->term_start[t + 1]; k++) {
                lf_stix_cmp_t c = pat->cmps[pat->term_cmps[k]];
                if (c.value && !(c.value = dup_str(c.value)))
                    goto nomem;
                set->cmps[set->cmp_count++] = c;
                if (selectivity(&c) < best) {
                    best = selectivity(&c);
                    term->anchor = term->cmp_count;
                }
                term->cmp_count++;
            }
            if (!index_cmp(set, &set->cmps[term->cmp_first + term->anchor],
                           (uint32_t)set->term_count))
                goto nomem;
            set->term_count++;
        }
    }
    free(order);
    if (report)
        report->compiled += set->ind_count;
    if (metrics)
        lf_metric_set(&metrics->m[LF_IOC_M_INDICATORS], (int64_t)set->ind_count);
    *out = set;
    return LF_OK;
nomem:
    if (errstr && errlen)
        snprintf(errstr, errlen, "out of memory while compiling the indicator set (%s)", where);
    free(order);
    set_free(set);
    return LF_ENOMEM;
}

/* ===================================================================== */
/* matching                                                                */
/* ===================================================================== */

#define MAX_EMITTED 64

typedef struct match_ctx {
    const lf_ioc_set_t *set;
    const lf_event_t *ev;
    int64_t time_ms;
    lf_ioc_match_cb cb;
    void *cbctx;
    size_t matches;
    bool stop;
    uint32_t emitted[MAX_EMITTED];
    size_t emitted_count;
} match_ctx_t;

/* One element of a field value, parsed into the comparable form. */
typedef struct value {
    lf_str_t raw;
    int family; /* IP lists: 4, 6 or 0 when not an address */
    uint8_t addr[16];
    char norm[4096];
    size_t nlen;
} value_t;

/* Calls fn on each element of a text value: IPs, domains and hashes can
 * come as lists ("a, b"); URLs are taken whole. */
static bool split_list(int list)
{
    return list != LIST_URL;
}

static bool prepare(int list, value_t *v)
{
    unsigned plen;
    switch (list) {
    case LIST_IP:
        return lf_stix_parse_ip(v->raw.ptr, v->raw.len, false, &v->family, v->addr, &plen);
    case LIST_DOMAIN:
        return (v->nlen =
                    lf_stix_normalize_domain(v->raw.ptr, v->raw.len, v->norm, sizeof v->norm)) > 0;
    case LIST_URL:
        return (v->nlen = lf_stix_normalize_url(v->raw.ptr, v->raw.len, v->norm, sizeof v->norm)) >
               0;
    case LIST_MD5:
        return (v->nlen = lf_stix_normalize_hash(v->raw.ptr, v->raw.len, 32, v->norm,
                                                 sizeof v->norm)) > 0;
    case LIST_SHA1:
        return (v->nlen = lf_stix_normalize_hash(v->raw.ptr, v->raw.len, 40, v->norm,
                                                 sizeof v->norm)) > 0;
    default:
        return (v->nlen = lf_stix_normalize_hash(v->raw.ptr, v->raw.len, 64, v->norm,
                                                 sizeof v->norm)) > 0;
    }
}

static bool prefix_contains(const lf_stix_cmp_t *c, const uint8_t *addr)
{
    unsigned full = c->prefix_len / 8, rest = c->prefix_len % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

/* Does prepared value v satisfy comparison c? subdomains: exact domain
 * comparisons also take subdomains (domain_match: suffix). */
static bool cmp_matches(const lf_stix_cmp_t *c, const value_t *v, bool subdomains)
{
    switch (c->kind) {
    case LF_IOC_IPV4:
        return v->family == 4 && prefix_contains(c, v->addr);
    case LF_IOC_IPV6:
        return v->family == 6 && prefix_contains(c, v->addr);
    case LF_IOC_DOMAIN:
        if (!c->suffix && v->nlen == c->len && !memcmp(v->norm, c->value, c->len))
            return true;
        return (c->suffix || subdomains) && v->nlen > c->len + 1 &&
               v->norm[v->nlen - c->len - 1] == '.' &&
               !memcmp(v->norm + v->nlen - c->len, c->value, c->len);
    default:
        return v->nlen == c->len && !memcmp(v->norm, c->value, c->len);
    }
}

typedef bool (*element_fn)(match_ctx_t *mc, int list, const binding_t *bd, value_t *v,
                           const void *arg);

/* Walks the elements of field bd's value; fn returns true to stop. */
static bool for_each_element(match_ctx_t *mc, int list, const binding_t *bd, element_fn fn,
                             const void *arg)
{
    char numbuf[64];
    lf_str_t text;
    if (!lf_event_value_text(mc->ev, bd->field, numbuf, sizeof numbuf, &text) || !text.ptr)
        return false;
    value_t v;
    if (!split_list(list)) {
        v.raw = text;
        v.nlen = 0;
        v.family = 0;
        return prepare(list, &v) && fn(mc, list, bd, &v, arg);
    }
    size_t i = 0;
    while (i < text.len) {
        while (i < text.len && (text.ptr[i] == ',' || text.ptr[i] == ' ' || text.ptr[i] == '\t'))
            i++;
        size_t s = i;
        while (i < text.len && text.ptr[i] != ',' && text.ptr[i] != ' ' && text.ptr[i] != '\t')
            i++;
        if (i == s)
            break;
        v.raw = lf_str_n(text.ptr + s, i - s);
        v.nlen = 0;
        v.family = 0;
        if (prepare(list, &v) && fn(mc, list, bd, &v, arg))
            return true;
    }
    return false;
}

static bool verify_element(match_ctx_t *mc, int list, const binding_t *bd, value_t *v,
                           const void *arg)
{
    return cmp_matches(arg, v, mc->set->domain_suffix_all);
}

/* The non-anchor comparisons of an AND term, on the same ECS object. */
static bool verify_term(match_ctx_t *mc, const term_t *term, lf_str_t group)
{
    const lf_ioc_set_t *set = mc->set;
    for (uint16_t k = 0; k < term->cmp_count; k++) {
        if (k == term->anchor)
            continue;
        const lf_stix_cmp_t *c = &set->cmps[term->cmp_first + k];
        int list = list_of_kind(c->kind);
        bool ok = false;
        for (size_t f = 0; f < set->bind_count[list] && !ok; f++) {
            const binding_t *bd = &set->bind[list][f];
            if (lf_str_eq(bd->group, group) && lf_event_has(mc->ev, bd->field))
                ok = for_each_element(mc, list, bd, verify_element, c);
        }
        if (!ok)
            return false;
    }
    return true;
}

static void visit_postings(match_ctx_t *mc, uint32_t head, uint8_t want, lf_ioc_kind_t kind,
                           const binding_t *bd, const value_t *v)
{
    const lf_ioc_set_t *set = mc->set;
    for (uint32_t p = head; p != NIL && !mc->stop; p = set->posts[p].next) {
        const posting_t *post = &set->posts[p];
        if (want && !(post->flags & want))
            continue;
        const term_t *term = &set->terms[post->term];
        const lf_ioc_indicator_t *ind = &set->inds[term->indicator];
        bool seen = false;
        for (size_t i = 0; i < mc->emitted_count && !seen; i++)
            seen = mc->emitted[i] == term->indicator;
        if (seen)
            continue;
        if (mc->time_ms < ind->valid_from_ms || mc->time_ms >= ind->valid_until_ms) {
            if (set->metrics)
                lf_metric_add(&set->metrics->m[LF_IOC_M_OUTSIDE_VALIDITY], 1);
            continue;
        }
        if (term->cmp_count > 1 && !verify_term(mc, term, bd->group))
            continue;
        if (mc->emitted_count < MAX_EMITTED)
            mc->emitted[mc->emitted_count++] = term->indicator;
        mc->matches++;
        lf_ioc_match_t m = {.indicator = ind, .kind = kind, .field = bd->field, .value = v->raw};
        if (!mc->cb(&m, mc->cbctx))
            mc->stop = true;
    }
}

static bool lookup_element(match_ctx_t *mc, int list, const binding_t *bd, value_t *v,
                           const void *arg)
{
    const lf_ioc_set_t *set = mc->set;
    switch (list) {
    case LIST_IP: {
        lf_ioc_kind_t kind = v->family == 4 ? LF_IOC_IPV4 : LF_IOC_IPV6;
        unsigned bits = v->family == 4 ? 32 : 128;
        const slot_t *sl = strset_find(&set->exact[kind], v->addr, bits / 8);
        if (sl)
            visit_postings(mc, sl->head, 0, kind, bd, v);
        const trie_t *t = &set->trie[v->family == 6];
        uint32_t n = t->count ? 0 : NIL;
        for (unsigned b = 0; n != NIL && !mc->stop; b++) {
            if (t->nodes[n].head != NIL)
                visit_postings(mc, t->nodes[n].head, 0, kind, bd, v);
            if (b == bits)
                break;
            n = t->nodes[n].child[(v->addr[b / 8] >> (7 - b % 8)) & 1u];
        }
        break;
    }
    case LIST_DOMAIN: {
        const slot_t *sl = strset_find(&set->exact[LF_IOC_DOMAIN], v->norm, v->nlen);
        if (sl)
            visit_postings(mc, sl->head, POST_EXACT, LF_IOC_DOMAIN, bd, v);
        for (size_t i = 0; i < v->nlen && !mc->stop; i++) {
            if (v->norm[i] != '.')
                continue;
            sl = strset_find(&set->exact[LF_IOC_DOMAIN], v->norm + i + 1, v->nlen - i - 1);
            if (sl)
                visit_postings(mc, sl->head, POST_SUFFIX, LF_IOC_DOMAIN, bd, v);
        }
        break;
    }
    default: {
        lf_ioc_kind_t kind = list == LIST_URL    ? LF_IOC_URL
                             : list == LIST_MD5  ? LF_IOC_MD5
                             : list == LIST_SHA1 ? LF_IOC_SHA1
                                                 : LF_IOC_SHA256;
        const slot_t *sl = strset_find(&set->exact[kind], v->norm, v->nlen);
        if (sl)
            visit_postings(mc, sl->head, 0, kind, bd, v);
        break;
    }
    }
    return mc->stop;
}

size_t lf_ioc_match(const lf_ioc_set_t *set, const lf_event_t *ev, int64_t time_ms,
                    lf_ioc_match_cb cb, void *ctx)
{
    if (!set || set->term_count == 0)
        return 0;
    match_ctx_t mc = {.set = set, .ev = ev, .time_ms = time_ms, .cb = cb, .cbctx = ctx};
    static const lf_ioc_kind_t first_kind[LIST_COUNT] = {LF_IOC_IPV4, LF_IOC_DOMAIN, LF_IOC_URL,
                                                         LF_IOC_MD5,  LF_IOC_SHA1,   LF_IOC_SHA256};
    for (int l = 0; l < LIST_COUNT && !mc.stop; l++) {
        bool any = set->exact[first_kind[l]].count > 0 ||
                   (l == LIST_IP && (set->exact[LF_IOC_IPV6].count > 0 || set->trie[0].count ||
                                     set->trie[1].count));
        if (!any)
            continue;
        for (size_t f = 0; f < set->bind_count[l] && !mc.stop; f++) {
            const binding_t *bd = &set->bind[l][f];
            if (lf_event_has(ev, bd->field))
                for_each_element(&mc, l, bd, lookup_element, NULL);
        }
    }
    if (set->metrics) {
        lf_metric_add(&set->metrics->m[LF_IOC_M_EVENTS], 1);
        if (mc.matches)
            lf_metric_add(&set->metrics->m[LF_IOC_M_MATCHES], (int64_t)mc.matches);
    }
    return mc.matches;
}

/* ===================================================================== */
/* holder                                                                  */
/* ===================================================================== */

void lf_ioc_holder_init(lf_ioc_holder_t *h)
{
    pthread_mutex_init(&h->lock, NULL);
    h->set = NULL;
    atomic_init(&h->generation, 0);
}

void lf_ioc_holder_destroy(lf_ioc_holder_t *h)
{
    lf_ioc_set_release(h->set);
    h->set = NULL;
    pthread_mutex_destroy(&h->lock);
}

void lf_ioc_holder_swap(lf_ioc_holder_t *h, lf_ioc_set_t *set)
{
    pthread_mutex_lock(&h->lock);
    lf_ioc_set_t *old = h->set;
    h->set = set;
    atomic_fetch_add(&h->generation, 1);
    pthread_mutex_unlock(&h->lock);
    lf_ioc_set_release(old);
}

lf_ioc_set_t *lf_ioc_holder_acquire(lf_ioc_holder_t *h)
{
    pthread_mutex_lock(&h->lock);
    lf_ioc_set_t *set = lf_ioc_set_retain(h->set);
    pthread_mutex_unlock(&h->lock);
    return set;
}
