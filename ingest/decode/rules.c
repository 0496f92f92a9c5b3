/* Declarative decoders: rule files under rules/decoders/ (docs/decoding.md).
 *
 * One YAML file holds a list of decoders. Each decoder says when it is
 * tried (program names, a prefix, literals the body must contain), how the
 * body is taken apart (pattern/regex rules, a key=value map, CSV layouts)
 * and which constant fields a match sets. Patterns are compiled to PCRE2
 * (JIT); captures go straight to interned ECS ids, so matching a record
 * allocates nothing and every value borrows from the record.
 */
#include "lf_decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct target {
    lf_field_id_t id; /* LF_F_COUNT: skip */
    char *extra_key;  /* labels.<key> */
} target_t;

typedef struct setter {
    target_t to;
    char *value;
    size_t len;
} setter_t;

typedef struct rule {
    char *name;
    pcre2_code *re;
    target_t *caps; /* index = group number */
    uint32_t ncaps;
    setter_t *sets;
    size_t nsets;
} rule_t;

typedef struct kv_entry {
    char *key;
    size_t klen;
    target_t to;
} kv_entry_t;

typedef struct csv_layout {
    char *value;
    target_t *cols;
    size_t ncols;
} csv_layout_t;

typedef struct rdec {
    char **programs;
    size_t nprograms;
    char *prefix;
    size_t prefix_len;
    char **contains;
    size_t ncontains;
    char **contains_any;
    size_t ncontains_any;
    rule_t program_rule; /* program_regex: fields from the program name */
    bool has_program_rule;
    setter_t *sets;
    size_t nsets;
    kv_entry_t *kv;
    size_t nkv;
    bool has_kv;
    char *kv_date, *kv_time; /* keys combined into @timestamp */
    int csv_select;
    csv_layout_t *layouts;
    size_t nlayouts;
    rule_t *rules;
    size_t nrules;
} rdec_t;

/* ---- matching --------------------------------------------------------------- */

static bool apply(lf_dec_input_t *in, lf_event_t *ev, const target_t *to, lf_str_t v)
{
    if (to->extra_key) {
        if (v.len == 0 || (v.len == 1 && v.ptr[0] == '-'))
            return false;
        return lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_STR, lf_str_c(to->extra_key), v,
                                  0);
    }
    if (to->id == LF_F_COUNT)
        return false;
    if (lf_field_kind(to->id) == LF_KIND_LIST) {
        /* Several rules or a decoder and a rule may add keywords. */
        if (v.len == 0)
            return false;
        if (!lf_event_has(ev, to->id)) {
            lf_event_set_str(ev, to->id, v);
            return true;
        }
        lf_str_t kw = lf_dec_dup(in, v);
        char *tmp = lf_arena_alloc(in->arena, kw.len + 1);
        if (!kw.ptr || !tmp)
            return false;
        memcpy(tmp, kw.ptr, kw.len);
        tmp[kw.len] = '\0';
        lf_dec_list_add(in, ev, to->id, tmp);
        return true;
    }
    return lf_dec_set(in, ev, to->id, v);
}

static void apply_sets(lf_dec_input_t *in, lf_event_t *ev, const setter_t *sets, size_t n)
{
    for (size_t i = 0; i < n; i++)
        apply(in, ev, &sets[i].to, lf_str_n(sets[i].value, sets[i].len));
}

static bool program_matches(const rdec_t *rd, lf_str_t prog)
{
    for (size_t i = 0; i < rd->nprograms; i++) {
        const char *p = rd->programs[i];
        size_t l = strlen(p);
        if (l && p[l - 1] == '*') {
            if (prog.len >= l - 1 && memcmp(prog.ptr, p, l - 1) == 0)
                return true;
        } else if (prog.len == l && memcmp(prog.ptr, p, l) == 0) {
            return true;
        }
    }
    return false;
}

static bool rules_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    const rdec_t *rd = dec->data;
    if (rd->nprograms && !program_matches(rd, in->program))
        return false;
    if (rd->prefix &&
        (in->body.len < rd->prefix_len || memcmp(in->body.ptr, rd->prefix, rd->prefix_len) != 0))
        return false;
    for (size_t i = 0; i < rd->ncontains; i++)
        if (!lf_dec_memmem(in->body, rd->contains[i], strlen(rd->contains[i])))
            return false;
    if (rd->ncontains_any) {
        size_t i = 0;
        while (i < rd->ncontains_any &&
               !lf_dec_memmem(in->body, rd->contains_any[i], strlen(rd->contains_any[i])))
            i++;
        if (i == rd->ncontains_any)
            return false;
    }
    return true;
}

static bool run_rules(const rule_t *rules, size_t nrules, lf_str_t subject, lf_dec_input_t *in,
                      lf_event_t *ev)
{
    pcre2_match_data *md = in->state->match;
    for (size_t r = 0; r < nrules; r++) {
        const rule_t *rule = &rules[r];
        int rc = pcre2_match(rule->re, (PCRE2_SPTR)subject.ptr, subject.len, 0, 0, md, NULL);
        if (rc < 0)
            continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t groups = pcre2_get_ovector_count(md);
        for (uint32_t g = 1; g < rule->ncaps && g < groups; g++) {
            if (ov[2 * g] == PCRE2_UNSET)
                continue;
            apply(in, ev, &rule->caps[g],
                  lf_str_n(subject.ptr + ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
        }
        apply_sets(in, ev, rule->sets, rule->nsets);
        in->rule = rule->name;
        return true;
    }
    return false;
}

static const kv_entry_t *kv_find(const rdec_t *rd, const char *k, size_t kl)
{
    for (size_t i = 0; i < rd->nkv; i++)
        if (rd->kv[i].klen == kl && memcmp(rd->kv[i].key, k, kl) == 0)
            return &rd->kv[i];
    return NULL;
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* key=value pairs separated by spaces; values may be "quoted". */
static size_t run_kv(const rdec_t *rd, lf_dec_input_t *in, lf_event_t *ev)
{
    const char *s = in->body.ptr, *end = s + in->body.len;
    size_t mapped = 0;
    lf_str_t date = LF_STR_NULL, time = LF_STR_NULL;
    bool have_time = false;
    while (s < end) {
        while (s < end && *s == ' ')
            s++;
        const char *k = s;
        while (s < end && is_key_char(*s))
            s++;
        if (s == end || *s != '=' || s == k) {
            while (s < end && *s != ' ')
                s++; /* a bare word ("SYN", "[UFW") */
            continue;
        }
        size_t kl = (size_t)(s - k);
        s++;
        lf_str_t v;
        if (s < end && *s == '"') {
            const char *vs = ++s;
            while (s < end && *s != '"')
                s++;
            v = lf_str_n(vs, (size_t)(s - vs));
            if (s < end)
                s++;
        } else {
            const char *vs = s;
            while (s < end && *s != ' ')
                s++;
            v = lf_str_n(vs, (size_t)(s - vs));
        }
        if (rd->kv_date && strlen(rd->kv_date) == kl && memcmp(rd->kv_date, k, kl) == 0)
            date = v;
        else if (rd->kv_time && strlen(rd->kv_time) == kl && memcmp(rd->kv_time, k, kl) == 0)
            time = v;
        const kv_entry_t *e = kv_find(rd, k, kl);
        if (e) {
            if (apply(in, ev, &e->to, v) && e->to.id == LF_F_TIMESTAMP)
                have_time = true;
            mapped++;
        }
    }
    if (date.len && time.len && !have_time) {
        char buf[64];
        if (date.len + time.len + 1 < sizeof buf) {
            memcpy(buf, date.ptr, date.len);
            buf[date.len] = ' ';
            memcpy(buf + date.len + 1, time.ptr, time.len);
            lf_str_t dt = lf_dec_dup(in, lf_str_n(buf, date.len + 1 + time.len));
            if (dt.ptr)
                lf_dec_set(in, ev, LF_F_TIMESTAMP, dt);
        }
        mapped++;
    }
    return mapped;
}

#define CSV_MAX_COLS 256

static lf_dec_rc_t run_csv(const rdec_t *rd, lf_dec_input_t *in, lf_event_t *ev)
{
    lf_str_t cols[CSV_MAX_COLS];
    size_t n = 0;
    const char *s = in->body.ptr, *end = s + in->body.len;
    while (n < CSV_MAX_COLS) {
        if (s < end && *s == '"') {
            const char *vs = ++s;
            while (s < end && *s != '"')
                s++;
            cols[n++] = lf_str_n(vs, (size_t)(s - vs));
            if (s < end)
                s++;
            while (s < end && *s != ',')
                s++;
        } else {
            const char *vs = s;
            while (s < end && *s != ',')
                s++;
            cols[n++] = lf_str_n(vs, (size_t)(s - vs));
        }
        if (s >= end)
            break;
        s++;
    }
    if ((size_t)rd->csv_select >= n)
        return LF_DEC_NOMATCH;
    lf_str_t sel = cols[rd->csv_select];
    for (size_t l = 0; l < rd->nlayouts; l++) {
        const csv_layout_t *lay = &rd->layouts[l];
        if (!lf_str_eq_c(sel, lay->value))
            continue;
        if (n + 4 < lay->ncols / 2) {
            in->error = "CSV record has far fewer columns than its layout";
            return LF_DEC_FAIL;
        }
        for (size_t c = 0; c < n && c < lay->ncols; c++)
            apply(in, ev, &lay->cols[c], cols[c]);
        return LF_DEC_OK;
    }
    return LF_DEC_NOMATCH;
}

static lf_dec_rc_t rules_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    const rdec_t *rd = dec->data;
    bool structured = false;
    if (rd->nlayouts) {
        lf_dec_rc_t rc = run_csv(rd, in, ev);
        if (rc != LF_DEC_OK)
            return rc;
        structured = true;
    }
    if (rd->has_kv) {
        if (run_kv(rd, in, ev) == 0)
            return LF_DEC_NOMATCH;
        structured = true;
    }
    bool matched = rd->nrules && run_rules(rd->rules, rd->nrules, in->body, in, ev);
    if (matched && rd->has_program_rule) {
        const char *rule = in->rule;
        run_rules(&rd->program_rule, 1, in->program, in, ev);
        in->rule = rule;
    }
    if (!matched && !structured)
        return LF_DEC_NOMATCH;
    apply_sets(in, ev, rd->sets, rd->nsets);
    return LF_DEC_OK;
}

/* ---- loading ---------------------------------------------------------------- */

typedef struct loader {
    yaml_document_t doc;
    const char *file;
    char *errstr;
    size_t errlen;
    size_t *used;
    int errors;
    lf_decoders_t *set;
} loader_t;

static void report(loader_t *L, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(loader_t *L, const yaml_node_t *node, const char *fmt, ...)
{
    L->errors++;
    if (!L->errlen || *L->used >= L->errlen - 1)
        return;
    char *o = L->errstr + *L->used;
    size_t room = L->errlen - *L->used;
    int n = snprintf(o, room, "%s%s:%zu:%zu: ", *L->used ? "\n" : "", L->file,
                     node ? node->start_mark.line + 1 : 0, node ? node->start_mark.column + 1 : 0);
    if (n < 0 || (size_t)n >= room) {
        *L->used = L->errlen - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(o + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    size_t add = (size_t)n + (m > 0 ? (size_t)m : 0);
    *L->used += add < room ? add : room - 1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(loader_t *L, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(&L->doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(&L->doc, p->value);
    }
    return NULL;
}

static bool check_keys(loader_t *L, yaml_node_t *map, const char *where, const char *const *allowed)
{
    bool ok = true;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        const char *k = scalar(kn);
        bool known = false;
        for (size_t i = 0; k && allowed[i]; i++)
            known |= strcmp(k, allowed[i]) == 0;
        if (!known) {
            report(L, kn, "%s: unknown key '%s'", where, k ? k : "?");
            ok = false;
        }
    }
    return ok;
}

/* Resolves an ECS path or labels.<key>. */
static bool resolve_target(loader_t *L, yaml_node_t *node, const char *where, const char *path,
                           target_t *to)
{
    to->extra_key = NULL;
    to->id = LF_F_COUNT;
    if (strcmp(path, "-") == 0 || path[0] == '\0')
        return true;
    if (strncmp(path, "labels.", 7) == 0 && path[7]) {
        to->extra_key = strdup(path + 7);
        return to->extra_key != NULL;
    }
    to->id = lf_field_lookup(path, strlen(path));
    if (to->id == LF_F_COUNT) {
        report(L, node,
               "%s: '%s' is not an ECS field Lianfang knows (see ingest/lf_event.h) "
               "and not labels.<name>",
               where, path);
        return false;
    }
    static const lf_field_id_t reserved[] = {LF_F_EVENT_ORIGINAL,        LF_F_LIANFANG_DECODER,
                                             LF_F_LIANFANG_DECODE_ERROR, LF_F_AGENT_ID,
                                             LF_F_EVENT_SEQUENCE,        LF_F_EVENT_INGESTED};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (to->id == reserved[i]) {
            report(L, node, "%s: '%s' is set by the pipeline, not by decoders", where, path);
            to->id = LF_F_COUNT;
            return false;
        }
    return true;
}

static bool load_sets(loader_t *L, yaml_node_t *node, const char *where, setter_t **out,
                      size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!node)
        return true;
    if (node->type != YAML_MAPPING_NODE) {
        report(L, node, "%s: expected a map of field: value", where);
        return false;
    }
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    setter_t *sets = calloc(n ? n : 1, sizeof *sets);
    if (!sets)
        return false;
    bool ok = true;
    size_t k = 0;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
        const char *key = scalar(kn), *val = scalar(vn);
        if (!key || !val) {
            report(L, kn, "%s: expected field: scalar value", where);
            ok = false;
            continue;
        }
        setter_t *st = &sets[k];
        if (!resolve_target(L, kn, where, key, &st->to)) {
            ok = false;
            continue;
        }
        if (st->to.id != LF_F_COUNT && lf_field_kind(st->to.id) == LF_KIND_INT) {
            int64_t tmp;
            if (!lf_dec_int(lf_str_c(val), &tmp)) {
                report(L, vn, "%s: %s: '%s' is not an integer", where, key, val);
                free(st->to.extra_key);
                ok = false;
                continue;
            }
        }
        st->value = strdup(val);
        st->len = strlen(val);
        k++;
    }
    *out = sets;
    *nout = k;
    return ok;
}

static bool load_strlist(loader_t *L, yaml_node_t *node, const char *where, char ***out,
                         size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!node)
        return true;
    if (node->type == YAML_SCALAR_NODE) {
        *out = calloc(1, sizeof **out);
        if (!*out)
            return false;
        (*out)[0] = strdup(scalar(node));
        *nout = 1;
        return true;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        report(L, node, "%s: expected a string or a list of strings", where);
        return false;
    }
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return false;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(&L->doc, node->data.sequence.items.start[i]);
        if (!scalar(it)) {
            report(L, it, "%s[%zu]: expected a string", where, i);
            return false;
        }
        (*out)[(*nout)++] = strdup(scalar(it));
    }
    return true;
}

/* Pattern syntax: literal text with %{field} (non-space run), %{field:TYPE}
 * where TYPE is int, ip, word, rest (to the end), any (shortest), quoted
 * ("..." without the quotes), data (everything up to the next literal,
 * greedy); %{-} or %{-:TYPE} matches without keeping. */
static char *pattern_to_regex(loader_t *L, yaml_node_t *node, const char *where, const char *pat,
                              char ***fields, size_t *nfields)
{
    size_t cap = strlen(pat) * 2 + 64, len = 0;
    char *re = malloc(cap);
    *fields = NULL;
    *nfields = 0;
    if (!re)
        return NULL;
    re[len++] = '^';
    for (const char *p = pat; *p;) {
        if (p[0] == '%' && p[1] == '{') {
            const char *close = strchr(p, '}');
            if (!close) {
                report(L, node, "%s: unterminated %%{ in pattern", where);
                free(re);
                return NULL;
            }
            char name[128], type[32] = "";
            size_t nl = (size_t)(close - p - 2);
            if (nl == 0 || nl >= sizeof name) {
                report(L, node, "%s: empty or too long %%{} in pattern", where);
                free(re);
                return NULL;
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            char *colon = strchr(name, ':');
            if (colon) {
                snprintf(type, sizeof type, "%s", colon + 1);
                *colon = '\0';
            }
            static const struct {
                const char *type, *re;
            } types[] = {{"", "\\S+"},
                         {"int", "-?\\d+"},
                         {"ip", "[0-9A-Fa-f:.]+"},
                         {"word", "\\w+"},
                         {"rest", ".*"},
                         {"any", ".+?"},
                         {"quoted", "\"(?:[^\"\\\\]|\\\\.)*\""},
                         {"data", ".*"}};
            const char *sub = NULL;
            for (size_t i = 0; i < sizeof types / sizeof *types; i++)
                if (strcmp(type, types[i].type) == 0)
                    sub = types[i].re;
            if (!sub) {
                report(L, node,
                       "%s: unknown pattern type '%s' (int, ip, word, rest, any, quoted, "
                       "data)",
                       where, type);
                free(re);
                return NULL;
            }
            bool keep = strcmp(name, "-") != 0;
            bool quoted = strcmp(type, "quoted") == 0;
            if (len + strlen(sub) + 16 >= cap) {
                cap = cap * 2 + strlen(sub) + 16;
                char *nre = realloc(re, cap);
                if (!nre) {
                    free(re);
                    return NULL;
                }
                re = nre;
            }
            if (quoted)
                len += (size_t)snprintf(re + len, cap - len, "\"%s(?:[^\"\\\\]|\\\\.)*%s\"",
                                        keep ? "(" : "", keep ? ")" : "");
            else
                len +=
                    (size_t)snprintf(re + len, cap - len, "%s%s%s", keep ? "(" : "(?:", sub, ")");
            if (keep) {
                char **nf = realloc(*fields, (*nfields + 1) * sizeof *nf);
                if (!nf) {
                    free(re);
                    return NULL;
                }
                *fields = nf;
                (*fields)[(*nfields)++] = strdup(name);
            }
            p = close + 1;
            continue;
        }
        if (len + 4 >= cap) {
            cap *= 2;
            char *nre = realloc(re, cap);
            if (!nre) {
                free(re);
                return NULL;
            }
            re = nre;
        }
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ' ' || c >= 0x80))
            re[len++] = '\\';
        re[len++] = *p++;
    }
    re[len] = '\0';
    return re;
}

/* Compiles a pattern (is_pattern) or a regex with named groups into rule. */
static bool compile_rule(loader_t *L, yaml_node_t *src, const char *where, const char *text,
                         bool is_pattern, yaml_node_t *aliases, rule_t *rule)
{
    char **fields = NULL;
    size_t nfields = 0;
    char *re;
    bool ok = true;
    if (is_pattern) {
        re = pattern_to_regex(L, src, where, text, &fields, &nfields);
        if (!re) {
            for (size_t i = 0; i < nfields; i++)
                free(fields[i]);
            free(fields);
            return false;
        }
    } else {
        re = strdup(text);
        if (!re)
            return false;
    }
    int errcode;
    PCRE2_SIZE erroff;
    rule->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &errcode, &erroff, NULL);
    free(re);
    if (!rule->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        report(L, src, "%s: %s does not compile at offset %zu: %s", where,
               is_pattern ? "pattern" : "regex", (size_t)erroff, (const char *)msg);
        for (size_t i = 0; i < nfields; i++)
            free(fields[i]);
        free(fields);
        return false;
    }
    pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);
    uint32_t groups = 0;
    pcre2_pattern_info(rule->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    rule->ncaps = groups + 1;
    rule->caps = calloc(rule->ncaps, sizeof *rule->caps);
    if (!rule->caps) {
        for (size_t i = 0; i < nfields; i++)
            free(fields[i]);
        free(fields);
        return false;
    }
    for (uint32_t g = 0; g < rule->ncaps; g++)
        rule->caps[g].id = LF_F_COUNT;
    if (groups + 1 > L->set->max_ovector)
        L->set->max_ovector = groups + 1;
    if (is_pattern) {
        for (size_t i = 0; i < nfields; i++) {
            ok &= resolve_target(L, src, where, fields[i], &rule->caps[i + 1]);
            free(fields[i]);
        }
        free(fields);
        return ok;
    }
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table;
    pcre2_pattern_info(rule->re, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(rule->re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(rule->re, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = table + i * entry;
        uint32_t g = ((uint32_t)e[0] << 8) | e[1];
        char path[64];
        size_t o = 0;
        for (const char *c = (const char *)e + 2; *c && o < sizeof path - 1; c++) {
            if (c[0] == '_' && c[1] == '_') {
                path[o++] = '.';
                c++;
            } else {
                path[o++] = *c;
            }
        }
        path[o] = '\0';
        /* fields: {group: ecs.path} names groups whose path is too long for
         * PCRE2 (32 characters). */
        const char *alias = scalar(map_get(L, aliases, (const char *)e + 2));
        if (alias)
            snprintf(path, sizeof path, "%s", alias);
        else if (path[0] == '_' && path[1] != '_')
            continue; /* _name: a named group that is not kept */
        ok &= resolve_target(L, src, where, strcmp(path, "timestamp") ? path : "@timestamp",
                             &rule->caps[g]);
    }
    return ok;
}

static bool load_rule_regex(loader_t *L, yaml_node_t *node, const char *where, const char *regex,
                            rule_t *rule)
{
    memset(rule, 0, sizeof *rule);
    rule->name = strdup("program");
    return rule->name && compile_rule(L, node, where, regex, false, NULL, rule);
}

static bool load_rule(loader_t *L, yaml_node_t *node, const char *where, rule_t *rule)
{
    memset(rule, 0, sizeof *rule);
    if (node->type != YAML_MAPPING_NODE) {
        report(L, node, "%s: expected a map (name, pattern or regex, set)", where);
        return false;
    }
    static const char *const keys[] = {"name",   "pattern",     "regex", "set",
                                       "fields", "description", NULL};
    bool ok = check_keys(L, node, where, keys);
    yaml_node_t *nn = map_get(L, node, "name"), *pn = map_get(L, node, "pattern"),
                *rn = map_get(L, node, "regex");
    rule->name = strdup(scalar(nn) ? scalar(nn) : "rule");
    if (!rule->name)
        return false;
    if (!!scalar(pn) == !!scalar(rn)) {
        report(L, node, "%s: needs exactly one of pattern or regex", where);
        return false;
    }
    ok &= compile_rule(L, pn ? pn : rn, where, scalar(pn) ? scalar(pn) : scalar(rn), pn != NULL,
                       map_get(L, node, "fields"), rule);
    ok &= load_sets(L, map_get(L, node, "set"), where, &rule->sets, &rule->nsets);
    return ok;
}

static void free_target(target_t *t)
{
    free(t->extra_key);
}

static void free_rule(rule_t *rule)
{
    free(rule->name);
    if (rule->re)
        pcre2_code_free(rule->re);
    for (uint32_t g = 0; rule->caps && g < rule->ncaps; g++)
        free_target(&rule->caps[g]);
    free(rule->caps);
    for (size_t i = 0; i < rule->nsets; i++) {
        free_target(&rule->sets[i].to);
        free(rule->sets[i].value);
    }
    free(rule->sets);
}

void lf_rules_free_data(void *data)
{
    rdec_t *rd = data;
    for (size_t i = 0; i < rd->nprograms; i++)
        free(rd->programs[i]);
    free(rd->programs);
    free(rd->prefix);
    for (size_t i = 0; i < rd->ncontains; i++)
        free(rd->contains[i]);
    free(rd->contains);
    for (size_t i = 0; i < rd->ncontains_any; i++)
        free(rd->contains_any[i]);
    free(rd->contains_any);
    free_rule(&rd->program_rule);
    for (size_t i = 0; i < rd->nsets; i++) {
        free_target(&rd->sets[i].to);
        free(rd->sets[i].value);
    }
    free(rd->sets);
    for (size_t i = 0; i < rd->nkv; i++) {
        free(rd->kv[i].key);
        free_target(&rd->kv[i].to);
    }
    free(rd->kv);
    free(rd->kv_date);
    free(rd->kv_time);
    for (size_t i = 0; i < rd->nlayouts; i++) {
        free(rd->layouts[i].value);
        for (size_t c = 0; c < rd->layouts[i].ncols; c++)
            free_target(&rd->layouts[i].cols[c]);
        free(rd->layouts[i].cols);
    }
    free(rd->layouts);
    for (size_t r = 0; r < rd->nrules; r++)
        free_rule(&rd->rules[r]);
    free(rd->rules);
    free(rd);
}

static bool load_kv(loader_t *L, yaml_node_t *node, const char *where, rdec_t *rd)
{
    if (node->type != YAML_MAPPING_NODE) {
        report(L, node, "%s: expected a map (fields, date, time)", where);
        return false;
    }
    static const char *const keys[] = {"fields", "date", "time", NULL};
    bool ok = check_keys(L, node, where, keys);
    rd->has_kv = true;
    if (scalar(map_get(L, node, "date")))
        rd->kv_date = strdup(scalar(map_get(L, node, "date")));
    if (scalar(map_get(L, node, "time")))
        rd->kv_time = strdup(scalar(map_get(L, node, "time")));
    yaml_node_t *fn = map_get(L, node, "fields");
    if (!fn || fn->type != YAML_MAPPING_NODE) {
        report(L, node, "%s.fields: expected a map of key: ECS field", where);
        return false;
    }
    size_t n = (size_t)(fn->data.mapping.pairs.top - fn->data.mapping.pairs.start);
    rd->kv = calloc(n ? n : 1, sizeof *rd->kv);
    if (!rd->kv)
        return false;
    for (yaml_node_pair_t *p = fn->data.mapping.pairs.start; p < fn->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
        if (!scalar(kn) || !scalar(vn)) {
            report(L, kn, "%s.fields: expected key: field", where);
            ok = false;
            continue;
        }
        kv_entry_t *e = &rd->kv[rd->nkv];
        if (!resolve_target(L, vn, where, scalar(vn), &e->to)) {
            ok = false;
            continue;
        }
        e->key = strdup(scalar(kn));
        e->klen = strlen(e->key);
        rd->nkv++;
    }
    return ok;
}

static bool load_csv(loader_t *L, yaml_node_t *node, const char *where, rdec_t *rd)
{
    if (node->type != YAML_MAPPING_NODE) {
        report(L, node, "%s: expected a map (select, layouts)", where);
        return false;
    }
    static const char *const keys[] = {"select", "layouts", NULL};
    bool ok = check_keys(L, node, where, keys);
    const char *sel = scalar(map_get(L, node, "select"));
    int64_t col;
    if (!sel || !lf_dec_int(lf_str_c(sel), &col) || col < 0 || col >= CSV_MAX_COLS) {
        report(L, node,
               "%s.select: expected the 0-based column (0..%d) whose value picks a "
               "layout",
               where, CSV_MAX_COLS - 1);
        return false;
    }
    rd->csv_select = (int)col;
    yaml_node_t *ln = map_get(L, node, "layouts");
    if (!ln || ln->type != YAML_MAPPING_NODE) {
        report(L, node, "%s.layouts: expected a map of value: [columns]", where);
        return false;
    }
    size_t n = (size_t)(ln->data.mapping.pairs.top - ln->data.mapping.pairs.start);
    rd->layouts = calloc(n ? n : 1, sizeof *rd->layouts);
    if (!rd->layouts)
        return false;
    for (yaml_node_pair_t *p = ln->data.mapping.pairs.start; p < ln->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
        if (!scalar(kn) || vn->type != YAML_SEQUENCE_NODE) {
            report(L, kn, "%s.layouts: expected value: [column fields]", where);
            ok = false;
            continue;
        }
        csv_layout_t *lay = &rd->layouts[rd->nlayouts++];
        lay->value = strdup(scalar(kn));
        size_t nc = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
        lay->cols = calloc(nc ? nc : 1, sizeof *lay->cols);
        if (!lay->cols)
            return false;
        for (size_t c = 0; c < nc; c++) {
            yaml_node_t *it = yaml_document_get_node(&L->doc, vn->data.sequence.items.start[c]);
            const char *f = scalar(it);
            lay->cols[c].id = LF_F_COUNT;
            if (!f) {
                report(L, it, "%s.layouts.%s[%zu]: expected a field name or -", where, lay->value,
                       c);
                ok = false;
            } else {
                ok &= resolve_target(L, it, where, f, &lay->cols[c]);
            }
        }
        lay->ncols = nc;
    }
    return ok;
}

static bool load_decoder(loader_t *L, yaml_node_t *node, size_t index)
{
    char where[96];
    snprintf(where, sizeof where, "decoders[%zu]", index);
    if (node->type != YAML_MAPPING_NODE) {
        report(L, node, "%s: expected a map", where);
        return false;
    }
    static const char *const keys[] = {"name", "description", "when",          "set", "kv",
                                       "csv",  "rules",       "program_regex", NULL};
    bool ok = check_keys(L, node, where, keys);
    const char *name = scalar(map_get(L, node, "name"));
    if (!name || !*name) {
        report(L, node, "%s.name: required", where);
        return false;
    }
    snprintf(where, sizeof where, "decoders[%zu] (%s)", index, name);
    if (lf_decoders_find(L->set, name) || !strcmp(name, "cef") || !strcmp(name, "leef") ||
        !strcmp(name, "json") || !strcmp(name, "windows-xml") || !strcmp(name, "auditd")) {
        report(L, node, "%s: a decoder named '%s' already exists", where, name);
        return false;
    }
    rdec_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return false;
    yaml_node_t *when = map_get(L, node, "when");
    if (!when || when->type != YAML_MAPPING_NODE) {
        report(L, node,
               "%s.when: required (program, prefix and/or contains), so the decoder is "
               "not tried on every record",
               where);
        ok = false;
    } else {
        static const char *const wkeys[] = {"program", "prefix", "contains", "contains_any", NULL};
        ok &= check_keys(L, when, where, wkeys);
        ok &= load_strlist(L, map_get(L, when, "contains_any"), where, &rd->contains_any,
                           &rd->ncontains_any);
        ok &= load_strlist(L, map_get(L, when, "program"), where, &rd->programs, &rd->nprograms);
        ok &= load_strlist(L, map_get(L, when, "contains"), where, &rd->contains, &rd->ncontains);
        const char *prefix = scalar(map_get(L, when, "prefix"));
        if (prefix) {
            rd->prefix = strdup(prefix);
            rd->prefix_len = strlen(prefix);
        }
        if (!rd->nprograms && !rd->prefix && !rd->ncontains && !rd->ncontains_any) {
            report(L, when,
                   "%s.when: give at least one of program, prefix, contains, "
                   "contains_any",
                   where);
            ok = false;
        }
    }
    ok &= load_sets(L, map_get(L, node, "set"), where, &rd->sets, &rd->nsets);
    yaml_node_t *prn = map_get(L, node, "program_regex");
    if (prn) {
        /* Compiled like a rule: a map {regex: ...} built on the fly. */
        if (!scalar(prn)) {
            report(L, prn, "%s.program_regex: expected a regex with named groups", where);
            ok = false;
        } else {
            ok &= load_rule_regex(L, prn, where, scalar(prn), &rd->program_rule);
            rd->has_program_rule = true;
        }
    }
    yaml_node_t *kv = map_get(L, node, "kv"), *csv = map_get(L, node, "csv"),
                *rules = map_get(L, node, "rules");
    if (kv)
        ok &= load_kv(L, kv, where, rd);
    if (csv)
        ok &= load_csv(L, csv, where, rd);
    if (rules) {
        if (rules->type != YAML_SEQUENCE_NODE) {
            report(L, rules, "%s.rules: expected a list", where);
            ok = false;
        } else {
            size_t n = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
            rd->rules = calloc(n ? n : 1, sizeof *rd->rules);
            for (size_t i = 0; rd->rules && i < n; i++) {
                char rwhere[128];
                snprintf(rwhere, sizeof rwhere, "%s.rules[%zu]", where, i);
                yaml_node_t *it =
                    yaml_document_get_node(&L->doc, rules->data.sequence.items.start[i]);
                ok &= load_rule(L, it, rwhere, &rd->rules[i]);
                rd->nrules = i + 1;
            }
        }
    }
    if (!kv && !csv && !rules) {
        report(L, node, "%s: needs rules, kv or csv", where);
        ok = false;
    }
    if (!ok) {
        lf_rules_free_data(rd);
        return false;
    }
    char origin[512];
    const char *base = strrchr(L->file, '/');
    snprintf(origin, sizeof origin, "%s:%zu", base ? base + 1 : L->file, node->start_mark.line + 1);
    lf_decoder_t *dec = lf_decoders_add(L->set, name, origin);
    if (!dec) {
        lf_rules_free_data(rd);
        return false;
    }
    dec->probe = rules_probe;
    dec->decode = rules_decode;
    dec->data = rd;
    return true;
}

lf_err_t lf_rules_load_file(lf_decoders_t *set, const char *path, char *errstr, size_t errlen,
                            size_t *errused)
{
    loader_t L = {.file = path, .errstr = errstr, .errlen = errlen, .used = errused, .set = set};
    FILE *f = fopen(path, "rb");
    if (!f) {
        report(&L, NULL, "cannot open");
        return LF_EIO;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &L.doc)) {
        L.errors++;
        if (errlen && *errused < errlen - 1) {
            int n = snprintf(errstr + *errused, errlen - *errused, "%s%s:%zu:%zu: YAML: %s",
                             *errused ? "\n" : "", path, parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "syntax error");
            if (n > 0)
                *errused += (size_t)n < errlen - *errused ? (size_t)n : errlen - *errused - 1;
        }
        yaml_parser_delete(&parser);
        fclose(f);
        return LF_ECONFIG;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    yaml_node_t *list = root ? map_get(&L, root, "decoders") : NULL;
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        report(&L, root, "expected a top-level 'decoders:' list");
    } else {
        static const char *const keys[] = {"decoders", NULL};
        check_keys(&L, root, "top level", keys);
        size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
        for (size_t i = 0; i < n; i++)
            load_decoder(&L, yaml_document_get_node(&L.doc, list->data.sequence.items.start[i]), i);
    }
    yaml_document_delete(&L.doc);
    return L.errors ? LF_ECONFIG : LF_OK;
}
