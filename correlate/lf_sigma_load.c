/* lf_sigma_load.c - Sigma documents into rules, filters, logsource mappings
 * and placeholder lists. Every problem is reported with file, line and
 * column; a rule with an error is skipped, the others load. */
#include "lf_sigma_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- options ---------------------------------------------------------------- */

const lf_config_option_t lf_sigma_config_options[] = {
    LF_CFG_OPT_INT("regex_match_limit", lf_sigma_options_t, regex_match_limit, "100000", 100,
                   100000000,
                   "PCRE2 match limit for one regex evaluation; a regex that needs more is "
                   "counted as no match (bounds regex bombs)"),
    LF_CFG_OPT_INT("regex_depth_limit", lf_sigma_options_t, regex_depth_limit, "1000", 10, 1000000,
                   "PCRE2 backtracking depth limit (interpreter)"),
    LF_CFG_OPT_SIZE("max_file_bytes", lf_sigma_options_t, max_file_bytes, "4MiB", 1024, 1073741824,
                    "largest Sigma rule file that is read"),
    LF_CFG_OPT_INT("max_rules", lf_sigma_options_t, max_rules, "100000", 1, 10000000,
                   "rules beyond this count are refused"),
    LF_CFG_OPT_INT("max_expansions", lf_sigma_options_t, max_expansions, "4096", 1, 1000000,
                   "values one detection item may expand to (windash, expand, base64offset)"),
    LF_CFG_OPT_BOOL("strict_logsource", lf_sigma_options_t, strict_logsource, "true",
                    "skip rules whose logsource no mapping file names (else they see every "
                    "event)"),
    LF_CFG_OPT_BOOL("regex_jit", lf_sigma_options_t, regex_jit, "true",
                    "compile regular expressions with the PCRE2 JIT"),
    LF_CFG_END,
};

void lf_sigma_options_default(lf_sigma_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    char err[128];
    lf_config_set_defaults(lf_sigma_config_options, opts, err, sizeof err);
}

const char *lf_sigma_level_name(lf_sigma_level_t level)
{
    static const char *const names[] = {"", "informational", "low", "medium", "high", "critical"};
    return (unsigned)level < 6 ? names[level] : "";
}

/* ---- ruleset ------------------------------------------------------------------ */

lf_sigma_ruleset_t *lf_sigma_ruleset_new(const lf_sigma_options_t *opts)
{
    lf_sigma_ruleset_t *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    if (opts)
        set->opts = *opts;
    else
        lf_sigma_options_default(&set->opts);
    static const char *const kw[] = {"event.original", "message"};
    for (size_t i = 0; i < 2; i++) {
        lf_field_id_t id = lf_field_lookup(kw[i], strlen(kw[i]));
        if (id != LF_F_COUNT)
            set->keyword_fields[set->nkeyword++] = id;
    }
    return set;
}

void lf_sigma_ruleset_free(lf_sigma_ruleset_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nres; i++)
        pcre2_code_free(set->res[i]);
    free(set->res);
    for (size_t i = 0; i < set->nrules; i++)
        free(set->rules[i]->filters);
    free(set->rules);
    free(set->filters);
    free(set->maps);
    free(set->global_fields);
    free(set->gates);
    free(set->ph);
    sg_arena_free(&set->arena);
    free(set);
}

void lf_sigma_ruleset_stats(const lf_sigma_ruleset_t *set, lf_sigma_load_stats_t *out)
{
    *out = set->stats;
    out->rules = set->nrules;
    out->filters = set->nfilters;
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

/* ---- small helpers over YAML nodes ---------------------------------------------- */

static const char *scalar_or_empty(sg_build_t *b, const sg_ynode_t *n)
{
    if (!n || n->type != SG_Y_SCALAR)
        return "";
    const char *s = sg_strndup(&b->set->arena, n->str, n->len);
    return s ? s : "";
}

static bool strlist(sg_build_t *b, const sg_ynode_t *n, lf_sigma_strlist_t *out)
{
    out->items = NULL;
    out->count = 0;
    if (!n || sg_ynode_is_null(n))
        return true;
    size_t cnt = n->type == SG_Y_SEQ ? n->n : 1;
    const char **items = sg_alloc(&b->set->arena, (cnt + 1) * sizeof *items);
    if (!items)
        return false;
    for (size_t i = 0; i < cnt; i++) {
        const sg_ynode_t *k = n->type == SG_Y_SEQ ? n->kids[i] : n;
        items[out->count++] = scalar_or_empty(b, k);
    }
    out->items = items;
    return true;
}

static bool keq(const sg_ynode_t *k, const char *s)
{
    return k->type == SG_Y_SCALAR && strcmp(k->str, s) == 0;
}

/* ---- ATT&CK tags ------------------------------------------------------------------- */

static const struct {
    const char *name, *id;
} tactics[] = {
    {"reconnaissance", "TA0043"},  {"resource_development", "TA0042"},
    {"initial_access", "TA0001"},  {"execution", "TA0002"},
    {"persistence", "TA0003"},     {"privilege_escalation", "TA0004"},
    {"defense_evasion", "TA0005"}, {"credential_access", "TA0006"},
    {"discovery", "TA0007"},       {"lateral_movement", "TA0008"},
    {"collection", "TA0009"},      {"command_and_control", "TA0011"},
    {"exfiltration", "TA0010"},    {"impact", "TA0040"},
};

static bool attack_tags(sg_build_t *b, lf_sigma_rule_meta_t *meta)
{
    size_t n = meta->tags.count;
    const char **tech = sg_alloc(&b->set->arena, (n + 1) * sizeof *tech);
    const char **tact = sg_alloc(&b->set->arena, (n + 1) * sizeof *tact);
    if (!tech || !tact)
        return false;
    size_t nt = 0, na = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = meta->tags.items[i];
        if (strncasecmp(t, "attack.", 7) != 0)
            continue;
        const char *v = t + 7;
        size_t vl = strlen(v);
        if ((v[0] == 't' || v[0] == 'T') && vl >= 5 && vl < 16 &&
            strspn(v + 1, "0123456789") == 4 && (v[5] == '\0' || v[5] == '.')) {
            char buf[16];
            for (size_t j = 0; j <= vl; j++)
                buf[j] = (char)(v[j] >= 'a' && v[j] <= 'z' ? v[j] - 32 : v[j]);
            tech[nt++] = sg_strndup(&b->set->arena, buf, vl);
            continue;
        }
        if ((v[0] == 't' || v[0] == 'T') && (v[1] == 'a' || v[1] == 'A') && vl == 6 &&
            strspn(v + 2, "0123456789") == 4) {
            char buf[8] = {'T', 'A', v[2], v[3], v[4], v[5], 0, 0};
            tact[na++] = sg_strndup(&b->set->arena, buf, 6);
            continue;
        }
        char norm[40];
        if (vl >= sizeof norm)
            continue;
        for (size_t j = 0; j <= vl; j++)
            norm[j] = v[j] == '-' ? '_' : (char)sg_lower((unsigned char)v[j]);
        for (size_t j = 0; j < sizeof tactics / sizeof *tactics; j++)
            if (strcmp(norm, tactics[j].name) == 0)
                tact[na++] = tactics[j].id;
    }
    for (size_t i = 0; i < nt + na; i++)
        if (i < nt ? !tech[i] : !tact[i - nt])
            return false;
    meta->attack_techniques = (lf_sigma_strlist_t){tech, nt};
    meta->attack_tactics = (lf_sigma_strlist_t){tact, na};
    return true;
}

/* ---- selections and conditions -------------------------------------------------------- */

static bool fail(sg_build_t *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(sg_build_t *b, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
    b->line = line;
    b->col = col;
    return false;
}

static bool conj_from_map(sg_build_t *b, const sg_ynode_t *map, sg_conj_t *conj)
{
    conj->nitems = (uint32_t)map->n;
    conj->items = sg_alloc(&b->set->arena, (map->n + 1) * sizeof *conj->items);
    if (!conj->items)
        return fail(b, map->line, map->col, "out of memory");
    for (size_t i = 0; i < map->n; i++) {
        const sg_ynode_t *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        if (k->type != SG_Y_SCALAR)
            return fail(b, k->line, k->col, "a field name must be a string");
        if (!sg_item_compile(b, k->str, k->len, v, false, &conj->items[i], k->line, k->col))
            return false;
    }
    return true;
}

static bool sel_compile(sg_build_t *b, const sg_ynode_t *node, sg_sel_t *sel)
{
    sg_arena_t *a = &b->set->arena;
    if (node->type == SG_Y_MAP) {
        if (node->n == 0)
            return fail(b, node->line, node->col, "empty search identifier");
        sel->nconj = 1;
        sel->conj = sg_alloc(a, sizeof *sel->conj);
        if (!sel->conj)
            return fail(b, node->line, node->col, "out of memory");
        return conj_from_map(b, node, &sel->conj[0]);
    }
    if (node->type == SG_Y_SCALAR) {
        if (sg_ynode_is_null(node))
            return fail(b, node->line, node->col, "empty search identifier");
        sel->nconj = 1;
        sel->conj = sg_alloc(a, sizeof *sel->conj);
        if (!sel->conj || !(sel->conj[0].items = sg_alloc(a, sizeof(sg_item_t))))
            return fail(b, node->line, node->col, "out of memory");
        sel->conj[0].nitems = 1;
        return sg_item_compile(b, "", 0, node, true, &sel->conj[0].items[0], node->line, node->col);
    }
    /* a list: maps are alternatives; plain values form one keyword item */
    if (node->n == 0)
        return fail(b, node->line, node->col, "empty search identifier");
    size_t nmaps = 0, nkw = 0;
    for (size_t i = 0; i < node->n; i++) {
        const sg_ynode_t *k = node->kids[i];
        if (k->type == SG_Y_MAP)
            nmaps++;
        else if (k->type == SG_Y_SCALAR)
            nkw++;
        else
            return fail(b, k->line, k->col, "nested lists are not allowed in a search identifier");
    }
    sel->nconj = (uint32_t)(nmaps + (nkw ? 1 : 0));
    sel->conj = sg_alloc(a, sel->nconj * sizeof *sel->conj);
    if (!sel->conj)
        return fail(b, node->line, node->col, "out of memory");
    size_t c = 0;
    for (size_t i = 0; i < node->n; i++) {
        if (node->kids[i]->type != SG_Y_MAP)
            continue;
        if (node->kids[i]->n == 0)
            return fail(b, node->kids[i]->line, node->kids[i]->col, "empty map");
        if (!conj_from_map(b, node->kids[i], &sel->conj[c++]))
            return false;
    }
    if (nkw) {
        sg_ynode_t *kw = sg_alloc(a, sizeof *kw);
        if (!kw || !(kw->kids = sg_alloc(a, nkw * sizeof *kw->kids)))
            return fail(b, node->line, node->col, "out of memory");
        kw->type = SG_Y_SEQ;
        kw->line = node->line;
        kw->col = node->col;
        for (size_t i = 0; i < node->n; i++)
            if (node->kids[i]->type == SG_Y_SCALAR)
                kw->kids[kw->n++] = node->kids[i];
        sg_conj_t *cj = &sel->conj[c];
        cj->nitems = 1;
        cj->items = sg_alloc(a, sizeof *cj->items);
        if (!cj->items)
            return fail(b, node->line, node->col, "out of memory");
        if (!sg_item_compile(b, "", 0, kw, true, &cj->items[0], node->line, node->col))
            return false;
    }
    return true;
}

typedef struct cparse {
    sg_build_t *b;
    sg_expr_t *e;
    const char *s;
    size_t n, i;
    int line, col, depth;
    sg_cnode_t *nodes;
    size_t nn, cap;
} cparse_t;

static void skip_ws(cparse_t *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* Peeks the next token; returns its length (0 at end). */
static size_t peek(cparse_t *p, const char **tok)
{
    skip_ws(p);
    *tok = p->s + p->i;
    if (p->i >= p->n)
        return 0;
    char c = p->s[p->i];
    if (c == '(' || c == ')' || c == '|')
        return 1;
    size_t j = p->i;
    while (j < p->n && p->s[j] != ' ' && p->s[j] != '\t' && p->s[j] != '\n' && p->s[j] != '\r' &&
           p->s[j] != '(' && p->s[j] != ')' && p->s[j] != '|')
        j++;
    return j - p->i;
}

static bool tok_is(const char *t, size_t l, const char *w)
{
    return strlen(w) == l && strncasecmp(t, w, l) == 0;
}

static int64_t add_node(cparse_t *p, sg_cnode_t node)
{
    if (!grow((void **)&p->nodes, &p->cap, p->nn, sizeof *p->nodes))
        return -1;
    p->nodes[p->nn] = node;
    return (int64_t)p->nn++;
}

#define cfail(p, fmt, tok, l) fail((p)->b, (p)->line, (p)->col, fmt, (int)(l), tok)

static int64_t parse_or(cparse_t *p);

static int64_t make_list(cparse_t *p, uint8_t op, uint32_t arg, const uint32_t *kids, size_t n)
{
    if (n == 1 && op != SG_C_ATLEAST)
        return kids[0];
    uint32_t *k = sg_alloc(&p->b->set->arena, n * sizeof *k);
    if (!k)
        return -1;
    memcpy(k, kids, n * sizeof *k);
    return add_node(p, (sg_cnode_t){op, arg, (uint32_t)n, k});
}

static bool name_match(const char *pat, size_t pl, const char *s)
{
    /* `*` wildcards only */
    sg_tok_t toks[64];
    uint32_t nt = 0;
    for (size_t i = 0; i < pl && nt < 64;) {
        if (pat[i] == '*') {
            toks[nt++] = (sg_tok_t){SG_TOK_STAR, 0, NULL};
            i++;
        } else {
            size_t j = i;
            while (j < pl && pat[j] != '*')
                j++;
            toks[nt++] = (sg_tok_t){SG_TOK_LIT, (uint32_t)(j - i), pat + i};
            i = j;
        }
    }
    return sg_glob_match(toks, nt, s, strlen(s));
}

static int64_t parse_primary(cparse_t *p)
{
    const char *t;
    size_t l = peek(p, &t);
    if (l == 0)
        return cfail(p, "condition: expression expected at the end%.*s", "", 0), -1;
    if (*t == '(') {
        if (++p->depth > 64)
            return cfail(p, "condition: parentheses nested too deep%.*s", "", 0), -1;
        p->i++;
        int64_t r = parse_or(p);
        if (r < 0)
            return -1;
        l = peek(p, &t);
        if (l != 1 || *t != ')')
            return cfail(p, "condition: ')' expected before '%.*s'", t, l), -1;
        p->i++;
        p->depth--;
        return r;
    }
    if (*t == '|')
        return cfail(p,
                     "condition: aggregations ('|%.*s') are not supported; use a Sigma "
                     "correlation rule",
                     "", 0),
               -1;
    if (*t == ')')
        return cfail(p, "condition: unexpected '%.*s'", t, l), -1;
    /* x of */
    const char *t2;
    size_t save = p->i;
    p->i += l;
    size_t l2 = peek(p, &t2);
    if (tok_is(t2, l2, "of")) {
        uint32_t need = 0;
        bool all = false;
        if (tok_is(t, l, "all")) {
            all = true;
        } else if (tok_is(t, l, "any")) {
            need = 1;
        } else {
            char num[16];
            if (l >= sizeof num || strspn(t, "0123456789") < l)
                return cfail(p, "condition: '%.*s of' needs a number, 'any' or 'all'", t, l), -1;
            memcpy(num, t, l);
            num[l] = 0;
            need = (uint32_t)strtoul(num, NULL, 10);
            if (need == 0)
                return cfail(p, "condition: '%.*s of' needs at least 1", t, l), -1;
        }
        p->i += l2;
        const char *t3;
        size_t l3 = peek(p, &t3);
        if (l3 == 0 || *t3 == '(' || *t3 == ')' || *t3 == '|')
            return cfail(p, "condition: search identifier pattern expected after 'of'%.*s", "", 0),
                   -1;
        p->i += l3;
        bool them = tok_is(t3, l3, "them");
        uint32_t kids[256];
        size_t nk = 0;
        for (uint32_t s = 0; s < p->e->nsels; s++) {
            const char *nm = p->e->sels[s].name;
            if (them ? nm[0] == '_' : !name_match(t3, l3, nm))
                continue;
            if (nk == 256)
                return cfail(p, "condition: more than 256 identifiers match '%.*s'", t3, l3), -1;
            int64_t r = add_node(p, (sg_cnode_t){SG_C_SEL, s, 0, NULL});
            if (r < 0)
                return -1;
            kids[nk++] = (uint32_t)r;
        }
        if (nk == 0)
            return cfail(p, "condition: '%.*s' matches no search identifier", t3, l3), -1;
        if (all)
            return make_list(p, SG_C_AND, 0, kids, nk);
        if (need == 1)
            return make_list(p, SG_C_OR, 0, kids, nk);
        if (need > nk)
            return add_node(p, (sg_cnode_t){SG_C_FALSE, 0, 0, NULL});
        return make_list(p, SG_C_ATLEAST, need, kids, nk);
    }
    p->i = save + l;
    if (tok_is(t, l, "and") || tok_is(t, l, "or") || tok_is(t, l, "not") || tok_is(t, l, "of"))
        return cfail(p, "condition: unexpected '%.*s'", t, l), -1;
    for (uint32_t s = 0; s < p->e->nsels; s++)
        if (strlen(p->e->sels[s].name) == l && memcmp(p->e->sels[s].name, t, l) == 0)
            return add_node(p, (sg_cnode_t){SG_C_SEL, s, 0, NULL});
    return cfail(p, "condition: unknown search identifier '%.*s'", t, l), -1;
}

static int64_t parse_not(cparse_t *p)
{
    const char *t;
    size_t l = peek(p, &t);
    if (tok_is(t, l, "not")) {
        if (++p->depth > 256)
            return cfail(p, "condition: nested too deep%.*s", "", 0), -1;
        p->i += l;
        int64_t c = parse_not(p);
        p->depth--;
        if (c < 0)
            return -1;
        uint32_t *k = sg_alloc(&p->b->set->arena, sizeof *k);
        if (!k)
            return -1;
        k[0] = (uint32_t)c;
        return add_node(p, (sg_cnode_t){SG_C_NOT, 0, 1, k});
    }
    return parse_primary(p);
}

static int64_t parse_list(cparse_t *p, const char *word, uint8_t op, int64_t (*sub)(cparse_t *))
{
    uint32_t stackbuf[64];
    uint32_t *kids = stackbuf;
    size_t nk = 0, cap = 64;
    int64_t r = sub(p);
    if (r < 0)
        return -1;
    kids[nk++] = (uint32_t)r;
    for (;;) {
        const char *t;
        size_t l = peek(p, &t);
        if (!tok_is(t, l, word))
            break;
        p->i += l;
        r = sub(p);
        if (r < 0) {
            if (kids != stackbuf)
                free(kids);
            return -1;
        }
        if (nk == cap) {
            uint32_t *nkids = malloc(cap * 2 * sizeof *nkids);
            if (!nkids) {
                if (kids != stackbuf)
                    free(kids);
                return -1;
            }
            memcpy(nkids, kids, nk * sizeof *kids);
            if (kids != stackbuf)
                free(kids);
            kids = nkids;
            cap *= 2;
        }
        kids[nk++] = (uint32_t)r;
    }
    r = make_list(p, op, 0, kids, nk);
    if (kids != stackbuf)
        free(kids);
    return r;
}

static int64_t parse_and(cparse_t *p)
{
    return parse_list(p, "and", SG_C_AND, parse_not);
}

static int64_t parse_or(cparse_t *p)
{
    return parse_list(p, "or", SG_C_OR, parse_and);
}

static int64_t parse_condition(cparse_t *p, const sg_ynode_t *c)
{
    p->s = c->str;
    p->n = c->len;
    p->i = 0;
    p->line = c->line;
    p->col = c->col;
    p->depth = 0;
    int64_t r = parse_or(p);
    if (r < 0) {
        if (!p->b->err[0])
            fail(p->b, c->line, c->col, "condition: out of memory");
        return -1;
    }
    const char *t;
    size_t l = peek(p, &t);
    if (l) {
        if (*t == '|')
            return cfail(p,
                         "condition: aggregations ('|%.*s') are not supported; use a Sigma "
                         "correlation rule",
                         "", 0),
                   -1;
        return cfail(p, "condition: unexpected '%.*s'", t, l), -1;
    }
    return r;
}

/* Compiles a detection-style map (search identifiers + condition). skip
 * names keys that are not identifiers (filter: "rules"). */
static bool expr_compile(sg_build_t *b, const sg_ynode_t *det, const char *const *skip,
                         sg_expr_t *e)
{
    if (!det || det->type != SG_Y_MAP)
        return fail(b, det ? det->line : 0, det ? det->col : 0,
                    "detection must be a map of search identifiers and a condition");
    const sg_ynode_t *cond = NULL;
    size_t nsel = 0;
    for (size_t i = 0; i < det->n; i++) {
        const sg_ynode_t *k = det->kids[2 * i];
        bool skipped = false;
        for (const char *const *s = skip; s && *s; s++)
            skipped = skipped || keq(k, *s);
        if (keq(k, "condition"))
            cond = det->kids[2 * i + 1];
        else if (!skipped && !keq(k, "timeframe"))
            nsel++;
    }
    if (!cond)
        return fail(b, det->line, det->col, "detection has no condition");
    e->sels = sg_alloc(&b->set->arena, (nsel + 1) * sizeof *e->sels);
    if (!e->sels)
        return fail(b, det->line, det->col, "out of memory");
    for (size_t i = 0; i < det->n; i++) {
        const sg_ynode_t *k = det->kids[2 * i], *v = det->kids[2 * i + 1];
        bool skipped = keq(k, "condition");
        for (const char *const *s = skip; s && *s; s++)
            skipped = skipped || keq(k, *s);
        if (skipped)
            continue;
        if (keq(k, "timeframe")) {
            sg_diag(b, LF_SIGMA_WARNING, k->line, k->col,
                    "timeframe is ignored: single-event rules have no time window");
            continue;
        }
        if (k->type != SG_Y_SCALAR || k->len == 0)
            return fail(b, k->line, k->col, "a search identifier must be a non-empty name");
        sg_sel_t *sel = &e->sels[e->nsels++];
        sel->name = sg_strndup(&b->set->arena, k->str, k->len);
        if (!sel->name)
            return fail(b, k->line, k->col, "out of memory");
        if (!sel_compile(b, v, sel))
            return false;
    }
    cparse_t p = {.b = b, .e = e};
    int64_t root;
    if (cond->type == SG_Y_SCALAR) {
        root = parse_condition(&p, cond);
    } else if (cond->type == SG_Y_SEQ && cond->n > 0 && cond->n <= 64) {
        uint32_t kids[64];
        root = 0;
        for (size_t i = 0; i < cond->n && root >= 0; i++) {
            if (cond->kids[i]->type != SG_Y_SCALAR) {
                root = -1;
                fail(b, cond->kids[i]->line, cond->kids[i]->col, "a condition must be a string");
                break;
            }
            root = parse_condition(&p, cond->kids[i]);
            kids[i] = (uint32_t)root;
        }
        if (root >= 0)
            root = make_list(&p, SG_C_OR, 0, kids, cond->n);
    } else {
        root = -1;
        fail(b, cond->line, cond->col, "condition must be a string or a list of 1..64 strings");
    }
    if (root < 0) {
        free(p.nodes);
        if (!b->err[0])
            fail(b, cond->line, cond->col, "out of memory");
        return false;
    }
    e->nodes = sg_alloc(&b->set->arena, (p.nn + 1) * sizeof *e->nodes);
    if (!e->nodes) {
        free(p.nodes);
        return fail(b, cond->line, cond->col, "out of memory");
    }
    memcpy(e->nodes, p.nodes, p.nn * sizeof *e->nodes);
    e->nnodes = (uint32_t)p.nn;
    e->root = (uint32_t)root;
    free(p.nodes);
    return true;
}

/* ---- logsource mapping ----------------------------------------------------------- */

static bool ls_eq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Maps that apply to a logsource, most specific first. Returns how many. */
static size_t logsource_maps(const lf_sigma_ruleset_t *set, const char *product,
                             const char *category, const char *service,
                             const sg_logsource_map_t **out, size_t max)
{
    size_t n = 0;
    for (int spec = 3; spec >= 0; spec--) {
        for (size_t i = 0; i < set->nmaps && n < max; i++) {
            const sg_logsource_map_t *m = &set->maps[i];
            int s = (m->product != NULL) + (m->category != NULL) + (m->service != NULL);
            if (s != spec)
                continue;
            if (m->product && !ls_eq(m->product, product))
                continue;
            if (m->category && !ls_eq(m->category, category))
                continue;
            if (m->service && !ls_eq(m->service, service))
                continue;
            out[n++] = m;
        }
    }
    return n;
}

size_t sg_resolve_field_quiet(const lf_sigma_ruleset_t *set, const lf_sigma_rule_meta_t *meta,
                              const char *name, size_t len, lf_field_id_t *ids, size_t max)
{
    const sg_logsource_map_t *maps[32];
    size_t nm = logsource_maps(set, meta->product[0] ? meta->product : NULL,
                               meta->category[0] ? meta->category : NULL,
                               meta->service[0] ? meta->service : NULL, maps, 32);
    const sg_fieldmap_t *fm = NULL;
    for (size_t i = 0; i <= nm && !fm; i++) {
        const sg_fieldmap_t *f = i < nm ? maps[i]->fields : set->global_fields;
        size_t n = i < nm ? maps[i]->nfields : set->nglobal;
        for (size_t j = 0; j < n && !fm; j++)
            if (strlen(f[j].sigma) == len && memcmp(f[j].sigma, name, len) == 0)
                fm = &f[j];
    }
    if (fm) {
        size_t n = fm->n < max ? fm->n : max;
        memcpy(ids, fm->ids, n * sizeof *ids);
        return n;
    }
    lf_field_id_t id = lf_field_lookup(name, len);
    if (id == LF_F_COUNT)
        return 0;
    ids[0] = id;
    return 1;
}

/* ---- documents ------------------------------------------------------------------- */

static const char *const rule_keys[] = {
    "title",          "id",        "name",
    "related",        "taxonomy",  "status",
    "description",    "license",   "author",
    "references",     "date",      "modified",
    "logsource",      "detection", "fields",
    "falsepositives", "level",     "tags",
    "scope",          "filter",    "regression_tests_path",
    "simulation",     NULL,
};

bool sg_meta_fill(sg_build_t *b, const sg_ynode_t *root, lf_sigma_rule_meta_t *meta)
{
    meta->title = scalar_or_empty(b, sg_ymap_get(root, "title"));
    meta->id = scalar_or_empty(b, sg_ymap_get(root, "id"));
    meta->name = scalar_or_empty(b, sg_ymap_get(root, "name"));
    meta->description = scalar_or_empty(b, sg_ymap_get(root, "description"));
    meta->author = scalar_or_empty(b, sg_ymap_get(root, "author"));
    meta->date = scalar_or_empty(b, sg_ymap_get(root, "date"));
    meta->modified = scalar_or_empty(b, sg_ymap_get(root, "modified"));
    meta->status = scalar_or_empty(b, sg_ymap_get(root, "status"));
    meta->file = b->file;
    meta->line = root->line;
    const sg_ynode_t *lvl = sg_ymap_get(root, "level");
    meta->level_name = scalar_or_empty(b, lvl);
    meta->level = LF_SIGMA_LEVEL_NONE;
    for (int l = LF_SIGMA_LEVEL_INFORMATIONAL; l <= LF_SIGMA_LEVEL_CRITICAL; l++)
        if (strcasecmp(meta->level_name, lf_sigma_level_name((lf_sigma_level_t)l)) == 0)
            meta->level = (lf_sigma_level_t)l;
    if (lvl && meta->level == LF_SIGMA_LEVEL_NONE)
        sg_diag(b, LF_SIGMA_WARNING, lvl->line, lvl->col, "unknown level '%s'", meta->level_name);
    const sg_ynode_t *ls = sg_ymap_get(root, "logsource");
    meta->product = scalar_or_empty(b, sg_ymap_get(ls, "product"));
    meta->category = scalar_or_empty(b, sg_ymap_get(ls, "category"));
    meta->service = scalar_or_empty(b, sg_ymap_get(ls, "service"));
    if (!strlist(b, sg_ymap_get(root, "tags"), &meta->tags) ||
        !strlist(b, sg_ymap_get(root, "references"), &meta->references) ||
        !strlist(b, sg_ymap_get(root, "falsepositives"), &meta->falsepositives) ||
        !strlist(b, sg_ymap_get(root, "fields"), &meta->fields) || !attack_tags(b, meta))
        return fail(b, root->line, root->col, "out of memory");
    return true;
}

static bool add_ptr(sg_rule_t ***arr, size_t *n, size_t *cap, sg_rule_t *r)
{
    if (!grow((void **)arr, cap, *n, sizeof **arr))
        return false;
    (*arr)[(*n)++] = r;
    return true;
}

/* Returns false when the document was skipped because of an error. */
static bool load_doc(sg_build_t *b, const sg_ynode_t *root)
{
    lf_sigma_ruleset_t *set = b->set;
    b->err[0] = '\0';
    b->rule_id = "";
    if (root->type != SG_Y_MAP) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "a Sigma document must be a map");
        return false;
    }
    const char *id = scalar_or_empty(b, sg_ymap_get(root, "id"));
    b->rule_id = id[0] ? id : scalar_or_empty(b, sg_ymap_get(root, "title"));
    if (sg_ymap_get(root, "correlation")) {
        set->stats.skipped_correlation++;
        sg_diag(b, LF_SIGMA_WARNING, root->line, root->col,
                "correlation rule: handled by the correlation engine, not loaded here");
        return true;
    }
    const sg_ynode_t *det = sg_ymap_get(root, "detection");
    const sg_ynode_t *flt = sg_ymap_get(root, "filter");
    if (!det && !flt) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col,
                "neither a rule (no 'detection') nor a filter (no 'filter')");
        return false;
    }
    if (set->nrules + set->nfilters >= (size_t)set->opts.max_rules) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "more than %lld rules",
                (long long)set->opts.max_rules);
        return false;
    }
    for (size_t i = 0; i < root->n; i++) {
        const sg_ynode_t *k = root->kids[2 * i];
        bool known = false;
        for (const char *const *rk = rule_keys; *rk; rk++)
            known = known || keq(k, *rk);
        if (!known && k->type == SG_Y_SCALAR)
            sg_diag(b, LF_SIGMA_WARNING, k->line, k->col, "unknown attribute '%s' (kept, unused)",
                    k->str);
    }
    const sg_ynode_t *title = sg_ymap_get(root, "title");
    if (!title || title->type != SG_Y_SCALAR || title->len == 0) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "title is missing");
        return false;
    }
    sg_rule_t *r = sg_alloc(&set->arena, sizeof *r);
    if (!r || !sg_meta_fill(b, root, &r->meta)) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "out of memory");
        return false;
    }
    r->gate = -1;
    const sg_ynode_t *ls = sg_ymap_get(root, "logsource");
    if (ls && ls->type != SG_Y_MAP) {
        sg_diag(b, LF_SIGMA_ERROR, ls->line, ls->col, "logsource must be a map");
        return false;
    }
    const sg_logsource_map_t *maps[32];
    size_t nm = logsource_maps(set, r->meta.product[0] ? r->meta.product : NULL,
                               r->meta.category[0] ? r->meta.category : NULL,
                               r->meta.service[0] ? r->meta.service : NULL, maps, 32);
    bool has_ls = r->meta.product[0] || r->meta.category[0] || r->meta.service[0];
    /* a map with no keys (catch-all) does not count as mapping this logsource */
    size_t specific = 0;
    for (size_t i = 0; i < nm; i++)
        if (maps[i]->product || maps[i]->category || maps[i]->service)
            specific++;
    if (!flt && has_ls && specific == 0) {
        if (set->opts.strict_logsource) {
            set->stats.skipped_unmapped++;
            sg_diag(b, LF_SIGMA_WARNING, ls ? ls->line : root->line, ls ? ls->col : root->col,
                    "logsource product=%s category=%s service=%s is not mapped; rule skipped",
                    r->meta.product, r->meta.category, r->meta.service);
            return true;
        }
    }
    for (size_t i = 0; i < nm && r->gate < 0 && !flt; i++)
        r->gate = maps[i]->gate;
    b->maps = maps;
    b->nmaps = nm;
    bool ok;
    if (flt) {
        static const char *const skip[] = {"rules", NULL};
        r->is_filter = true;
        const sg_ynode_t *targets = sg_ymap_get(flt, "rules");
        lf_sigma_strlist_t tl;
        if (!targets || sg_ynode_is_null(targets)) {
            ok = fail(b, flt->line, flt->col, "filter.rules: the rules to filter are missing");
        } else if (!strlist(b, targets, &tl)) {
            ok = fail(b, flt->line, flt->col, "out of memory");
        } else {
            r->targets = tl.items;
            r->ntargets = tl.count;
            ok = expr_compile(b, flt, skip, &r->det);
        }
    } else {
        ok = expr_compile(b, det, NULL, &r->det);
    }
    b->maps = NULL;
    b->nmaps = 0;
    if (!ok) {
        sg_diag(b, LF_SIGMA_ERROR, b->line, b->col, "%s; rule skipped", b->err);
        return false;
    }
    bool added = flt ? add_ptr(&set->filters, &set->nfilters, &set->capfilters, r)
                     : add_ptr(&set->rules, &set->nrules, &set->caprules, r);
    if (!added) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "out of memory");
        return false;
    }
    return true;
}

typedef enum doc_kind { DOC_RULES, DOC_MAPPINGS, DOC_PLACEHOLDERS } doc_kind_t;

static bool load_mapping_doc(sg_build_t *b, const sg_ynode_t *root);
static bool load_placeholder_doc(sg_build_t *b, const sg_ynode_t *root);

static lf_err_t load_text(lf_sigma_ruleset_t *set, const char *name, const char *data, size_t len,
                          doc_kind_t kind, lf_sigma_diag_cb *diag, void *ud)
{
    char err[512] = "";
    sg_build_t b = {.set = set,
                    .err = err,
                    .errlen = sizeof err,
                    .diag = diag,
                    .ud = ud,
                    .file = name,
                    .rule_id = ""};
    if (len > (size_t)set->opts.max_file_bytes) {
        sg_diag(&b, LF_SIGMA_ERROR, 0, 0, "file larger than max_file_bytes (%lld)",
                (long long)set->opts.max_file_bytes);
        return LF_EFULL;
    }
    /* names live in the arena so diagnostics and metadata can point at them */
    b.file = sg_strndup(&set->arena, name, strlen(name));
    if (!b.file)
        return LF_ENOMEM;
    sg_arena_t tmp = {0};
    sg_ynode_t **docs;
    size_t ndocs;
    int line, col;
    lf_err_t rc = sg_yaml_parse(data, len, &tmp, &docs, &ndocs, err, sizeof err, &line, &col);
    lf_err_t out = LF_OK;
    for (size_t i = 0; i < ndocs; i++) {
        if (sg_ynode_is_null(docs[i]))
            continue; /* an empty document, e.g. after a trailing --- */
        bool ok = kind == DOC_RULES      ? load_doc(&b, docs[i])
                  : kind == DOC_MAPPINGS ? load_mapping_doc(&b, docs[i])
                                         : load_placeholder_doc(&b, docs[i]);
        if (!ok)
            out = LF_EPARSE;
    }
    if (rc != LF_OK) {
        b.rule_id = "";
        sg_diag(&b, LF_SIGMA_ERROR, line, col, "%s", err[0] ? err : lf_strerror(rc));
        out = rc == LF_ENOMEM ? LF_ENOMEM : LF_EPARSE;
    }
    sg_arena_free(&tmp);
    return out;
}

static lf_err_t read_file(lf_sigma_ruleset_t *set, const char *path, char **data, size_t *len,
                          lf_sigma_diag_cb *diag, void *ud)
{
    char err[64];
    sg_build_t b = {.set = set,
                    .err = err,
                    .errlen = sizeof err,
                    .diag = diag,
                    .ud = ud,
                    .file = path,
                    .rule_id = ""};
    FILE *f = fopen(path, "rb");
    if (!f) {
        sg_diag(&b, LF_SIGMA_ERROR, 0, 0, "cannot open: %s", strerror(errno));
        return LF_EIO;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap > (size_t)set->opts.max_file_bytes)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool ioerr = ferror(f);
    fclose(f);
    if (!buf)
        return LF_ENOMEM;
    if (ioerr) {
        free(buf);
        sg_diag(&b, LF_SIGMA_ERROR, 0, 0, "read error");
        return LF_EIO;
    }
    *data = buf;
    *len = n;
    return LF_OK;
}

static lf_err_t load_path_file(lf_sigma_ruleset_t *set, const char *path, doc_kind_t kind,
                               lf_sigma_diag_cb *diag, void *ud)
{
    char *data;
    size_t len;
    lf_err_t rc = read_file(set, path, &data, &len, diag, ud);
    if (rc != LF_OK)
        return rc;
    rc = load_text(set, path, data, len, kind, diag, ud);
    free(data);
    return rc;
}

typedef struct walk_ctx {
    lf_sigma_ruleset_t *set;
    doc_kind_t kind;
    lf_sigma_diag_cb *diag;
    void *ud;
} walk_ctx_t;

static lf_err_t walk_file(void *opaque, const char *path)
{
    walk_ctx_t *w = opaque;
    return load_path_file(w->set, path, w->kind, w->diag, w->ud);
}

static lf_err_t load_path(lf_sigma_ruleset_t *set, const char *path, doc_kind_t kind,
                          lf_sigma_diag_cb *diag, void *ud)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        char err[8];
        sg_build_t b = {.set = set,
                        .err = err,
                        .errlen = sizeof err,
                        .diag = diag,
                        .ud = ud,
                        .file = path,
                        .rule_id = ""};
        sg_diag(&b, LF_SIGMA_ERROR, 0, 0, "cannot read: %s", strerror(errno));
        return LF_EIO;
    }
    if (!S_ISDIR(st.st_mode))
        return load_path_file(set, path, kind, diag, ud);
    walk_ctx_t w = {.set = set, .kind = kind, .diag = diag, .ud = ud};
    return sg_yaml_walk(path, walk_file, &w);
}

lf_err_t lf_sigma_load_file(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                            void *ud)
{
    return load_path_file(set, path, DOC_RULES, diag, ud);
}

lf_err_t lf_sigma_load_dir(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                           void *ud)
{
    return load_path(set, path, DOC_RULES, diag, ud);
}

lf_err_t lf_sigma_load_buffer(lf_sigma_ruleset_t *set, const char *name, const char *data,
                              size_t len, lf_sigma_diag_cb *diag, void *ud)
{
    return load_text(set, name, data, len, DOC_RULES, diag, ud);
}

lf_err_t lf_sigma_load_mappings(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                                void *ud)
{
    return load_path(set, path, DOC_MAPPINGS, diag, ud);
}

lf_err_t lf_sigma_load_mappings_buffer(lf_sigma_ruleset_t *set, const char *name, const char *data,
                                       size_t len, lf_sigma_diag_cb *diag, void *ud)
{
    return load_text(set, name, data, len, DOC_MAPPINGS, diag, ud);
}

lf_err_t lf_sigma_load_placeholders(lf_sigma_ruleset_t *set, const char *path,
                                    lf_sigma_diag_cb *diag, void *ud)
{
    return load_path(set, path, DOC_PLACEHOLDERS, diag, ud);
}

lf_err_t lf_sigma_load_placeholders_buffer(lf_sigma_ruleset_t *set, const char *name,
                                           const char *data, size_t len, lf_sigma_diag_cb *diag,
                                           void *ud)
{
    return load_text(set, name, data, len, DOC_PLACEHOLDERS, diag, ud);
}

/* ---- mapping documents ------------------------------------------------------------- */

/* ECS names (one or a list) → ids; unknown names are warned about and left out. */
static bool ecs_targets(sg_build_t *b, const sg_ynode_t *v, sg_fieldmap_t *fm)
{
    size_t cnt = v->type == SG_Y_SEQ ? v->n : 1;
    if (v->type == SG_Y_MAP || cnt == 0 || cnt > SG_MAX_FIELDS)
        return fail(b, v->line, v->col, "a field maps to one ECS field name or a list of 1..%d",
                    SG_MAX_FIELDS);
    for (size_t i = 0; i < cnt; i++) {
        const sg_ynode_t *t = v->type == SG_Y_SEQ ? v->kids[i] : v;
        if (t->type != SG_Y_SCALAR || t->len == 0)
            return fail(b, t->line, t->col, "an ECS field name must be a string");
        lf_field_id_t id = lf_field_lookup(t->str, t->len);
        if (id == LF_F_COUNT) {
            sg_diag(b, LF_SIGMA_WARNING, t->line, t->col,
                    "ECS field '%s' is not in this build's field table; mapping to it is inactive",
                    t->str);
            continue;
        }
        fm->ids[fm->n++] = id;
    }
    return true;
}

static bool fieldmaps(sg_build_t *b, const sg_ynode_t *m, sg_fieldmap_t **out, size_t *n,
                      size_t *cap)
{
    if (m->type != SG_Y_MAP)
        return fail(b, m->line, m->col, "fields must be a map of Sigma field → ECS field(s)");
    for (size_t i = 0; i < m->n; i++) {
        const sg_ynode_t *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
        if (k->type != SG_Y_SCALAR || k->len == 0)
            return fail(b, k->line, k->col, "a Sigma field name must be a string");
        if (!grow((void **)out, cap, *n, sizeof **out))
            return fail(b, k->line, k->col, "out of memory");
        sg_fieldmap_t *fm = &(*out)[*n];
        memset(fm, 0, sizeof *fm);
        fm->sigma = sg_strndup(&b->set->arena, k->str, k->len);
        if (!fm->sigma)
            return fail(b, k->line, k->col, "out of memory");
        if (!ecs_targets(b, v, fm))
            return false;
        (*n)++;
    }
    return true;
}

static bool load_mapping_doc(sg_build_t *b, const sg_ynode_t *root)
{
    lf_sigma_ruleset_t *set = b->set;
    b->err[0] = '\0';
    if (root->type != SG_Y_MAP) {
        sg_diag(b, LF_SIGMA_ERROR, root->line, root->col, "a mapping file must be a map");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < root->n && ok; i++) {
        const sg_ynode_t *k = root->kids[2 * i], *v = root->kids[2 * i + 1];
        if (keq(k, "keywords")) {
            sg_fieldmap_t fm = {0};
            ok = ecs_targets(b, v, &fm);
            if (ok) {
                memcpy(set->keyword_fields, fm.ids, sizeof fm.ids);
                set->nkeyword = fm.n;
                set->keyword_set = true;
            }
        } else if (keq(k, "fields")) {
            ok = fieldmaps(b, v, &set->global_fields, &set->nglobal, &set->capglobal);
        } else if (keq(k, "logsources")) {
            if (v->type != SG_Y_SEQ) {
                ok = fail(b, v->line, v->col, "logsources must be a list");
                break;
            }
            for (size_t j = 0; j < v->n && ok; j++) {
                const sg_ynode_t *e = v->kids[j];
                if (e->type != SG_Y_MAP) {
                    ok = fail(b, e->line, e->col, "a logsource entry must be a map");
                    break;
                }
                if (!grow((void **)&set->maps, &set->capmaps, set->nmaps, sizeof *set->maps)) {
                    ok = fail(b, e->line, e->col, "out of memory");
                    break;
                }
                sg_logsource_map_t *m = &set->maps[set->nmaps];
                memset(m, 0, sizeof *m);
                m->gate = -1;
                m->file = b->file;
                m->line = e->line;
                size_t nf = 0, capf = 0;
                sg_fieldmap_t *fl = NULL;
                for (size_t x = 0; x < e->n && ok; x++) {
                    const sg_ynode_t *ek = e->kids[2 * x], *ev = e->kids[2 * x + 1];
                    const char **slot = keq(ek, "name")       ? &m->name
                                        : keq(ek, "product")  ? &m->product
                                        : keq(ek, "category") ? &m->category
                                        : keq(ek, "service")  ? &m->service
                                                              : NULL;
                    if (slot) {
                        if (ev->type != SG_Y_SCALAR)
                            ok = fail(b, ev->line, ev->col, "%s must be a string", ek->str);
                        else
                            *slot = sg_strndup(&set->arena, ev->str, ev->len);
                    } else if (keq(ek, "fields")) {
                        ok = fieldmaps(b, ev, &fl, &nf, &capf);
                    } else if (keq(ek, "events")) {
                        sg_sel_t *sel = sg_alloc(&set->arena, sizeof *sel);
                        if (!sel || !grow((void **)&set->gates, &set->capgates, set->ngates,
                                          sizeof *set->gates)) {
                            ok = fail(b, ev->line, ev->col, "out of memory");
                            break;
                        }
                        b->rule_id = m->name ? m->name : "";
                        ok = sel_compile(b, ev, sel);
                        if (ok) {
                            sel->name = m->name ? m->name : "events";
                            m->gate = (int32_t)set->ngates;
                            set->gates[set->ngates++] = sel;
                        }
                    } else {
                        ok = fail(b, ek->line, ek->col,
                                  "unknown key '%s' in a logsource entry (name, product, "
                                  "category, service, events, fields)",
                                  ek->type == SG_Y_SCALAR ? ek->str : "?");
                    }
                }
                if (ok && fl) {
                    m->fields = sg_alloc(&set->arena, nf * sizeof *fl);
                    if (m->fields)
                        memcpy(m->fields, fl, nf * sizeof *fl);
                    m->nfields = nf;
                }
                free(fl);
                if (ok)
                    set->nmaps++;
            }
        } else {
            ok = fail(b, k->line, k->col,
                      "unknown key '%s' in a mapping file (keywords, fields, logsources)",
                      k->type == SG_Y_SCALAR ? k->str : "?");
        }
    }
    if (!ok)
        sg_diag(b, LF_SIGMA_ERROR, b->line, b->col, "%s", b->err);
    b->rule_id = "";
    return ok;
}

static bool load_placeholder_doc(sg_build_t *b, const sg_ynode_t *root)
{
    lf_sigma_ruleset_t *set = b->set;
    b->err[0] = '\0';
    const sg_ynode_t *m = sg_ymap_get(root, "placeholders");
    if (!m)
        m = root;
    if (m->type != SG_Y_MAP) {
        sg_diag(b, LF_SIGMA_ERROR, m->line, m->col,
                "a placeholders file is a map of name → list of values");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < m->n && ok; i++) {
        const sg_ynode_t *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
        if (k->type != SG_Y_SCALAR || k->len == 0) {
            ok = fail(b, k->line, k->col, "a placeholder name must be a string");
            break;
        }
        lf_sigma_strlist_t l;
        if (v->type == SG_Y_MAP || (v->type == SG_Y_SEQ && v->n == 0)) {
            ok = fail(b, v->line, v->col, "placeholder '%s' needs a value or a list of values",
                      k->str);
            break;
        }
        for (size_t j = 0; v->type == SG_Y_SEQ && j < v->n; j++)
            if (v->kids[j]->type != SG_Y_SCALAR)
                ok = fail(b, v->kids[j]->line, v->kids[j]->col, "placeholder values are strings");
        if (!ok)
            break;
        if (!strlist(b, v, &l) ||
            !grow((void **)&set->ph, &set->capph, set->nph, sizeof *set->ph)) {
            ok = fail(b, k->line, k->col, "out of memory");
            break;
        }
        /* a later definition replaces an earlier one */
        sg_placeholder_t *ph = NULL;
        for (size_t j = 0; j < set->nph; j++)
            if (strcmp(set->ph[j].name, k->str) == 0)
                ph = &set->ph[j];
        if (!ph) {
            ph = &set->ph[set->nph++];
            ph->name = sg_strndup(&set->arena, k->str, k->len);
        }
        ph->values = l.items;
        ph->n = l.count;
    }
    if (!ok)
        sg_diag(b, LF_SIGMA_ERROR, b->line, b->col, "%s", b->err);
    return ok;
}
