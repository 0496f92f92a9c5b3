/* lf_sigcorr_load.c - correlation documents into rules: parsing with
 * file:line:column diagnostics, reference resolution against the Sigma
 * matcher and the other correlations, cycles, chain depth, levels,
 * generate, and the subscription table the engine looks hits up in. */
#include "lf_sigcorr_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- options --------------------------------------------------------------------------------- */

const lf_config_option_t lf_sigcorr_config_options[] = {
    LF_CFG_OPT_DURATION("lateness", lf_sigcorr_options_t, lateness_ms, "60s", 0, 7 * 86400000LL,
                        "How far (event time) a hit may arrive behind the newest hit of its "
                        "group or the watermark and still be counted; older hits are counted in "
                        "lianfang_detect_correlation_hits_late_total. Windows whose condition is "
                        "decided at their end close this much after it."),
    LF_CFG_OPT_INT("max_groups", lf_sigcorr_options_t, max_groups, "10000", 1, 10000000,
                   "Open groups (distinct group-by values) per correlation rule; a hit that "
                   "would open another is not counted "
                   "(lianfang_detect_correlation_groups_full_total)."),
    LF_CFG_OPT_INT("max_values", lf_sigcorr_options_t, max_values, "1000", 1, 1000000,
                   "Hits one group retains (timestamps, distinct values, samples); past it the "
                   "oldest is evicted (lianfang_detect_correlation_values_evicted_total). Rules "
                   "whose condition needs more are refused."),
    LF_CFG_OPT_DURATION("max_timespan", lf_sigcorr_options_t, max_timespan_ms, "30d", 1000,
                        366 * 86400000LL, "Longest timespan a correlation rule may use."),
    LF_CFG_OPT_INT("max_rules", lf_sigcorr_options_t, max_rules, "10000", 1, 1000000,
                   "Correlation rules beyond this count are refused."),
    LF_CFG_OPT_BOOL("group_by_agency", lf_sigcorr_options_t, group_by_agency, "true",
                    "Every correlation rule also groups by organization.id, so the hits of "
                    "one agency never count towards another's window and each alert belongs "
                    "to one agency (and its incidents). Cross-agency patterns are raised by "
                    "joint defence (incidents.joint). false: windows span agencies."),
    LF_CFG_END,
};

void lf_sigcorr_options_default(lf_sigcorr_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    char err[128];
    lf_config_set_defaults(lf_sigcorr_config_options, opts, err, sizeof err);
    opts->max_file_bytes = 4 << 20;
    opts->track_changes = true;
}

const char *lf_sigcorr_type_name(lf_sigcorr_type_t type)
{
    static const char *const names[] = {
        "event_count", "value_count", "temporal",         "temporal_ordered",
        "value_sum",   "value_avg",   "value_percentile", "value_median",
    };
    return (unsigned)type < sizeof names / sizeof *names ? names[type] : "";
}

/* ---- ruleset --------------------------------------------------------------------------------- */

lf_sigcorr_ruleset_t *lf_sigcorr_ruleset_new(const lf_sigcorr_options_t *opts)
{
    lf_sigcorr_ruleset_t *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    if (opts)
        set->opts = *opts;
    else
        lf_sigcorr_options_default(&set->opts);
    set->meta_set = lf_sigma_ruleset_new(NULL);
    if (!set->meta_set) {
        free(set);
        return NULL;
    }
    return set;
}

void lf_sigcorr_ruleset_free(lf_sigcorr_ruleset_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nrules; i++) {
        free(set->rules[i]->sub_rule);
        free(set->rules[i]->sub_ref);
    }
    free(set->rules);
    lf_sigma_ruleset_free(set->meta_set);
    free(set);
}

/* ---- diagnostics ----------------------------------------------------------------------------- */

typedef struct sc_load {
    lf_sigcorr_ruleset_t *set;
    const char *file;
    const char *rule_id;
    lf_sigma_diag_cb *diag;
    void *ud;
    size_t *errors, *warnings;
} sc_load_t;

/* Forwards lf_sigma's diagnostics (metadata warnings) and counts them. */
static void count_diag(const lf_sigma_diag_t *d, void *ud)
{
    sc_load_t *l = ud;
    if (d->severity == LF_SIGMA_ERROR)
        (*l->errors)++;
    else
        (*l->warnings)++;
    if (l->diag)
        l->diag(d, l->ud);
}

static void diag(sc_load_t *l, lf_sigma_severity_t sev, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void diag(sc_load_t *l, lf_sigma_severity_t sev, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lf_sigma_diag_t d = {sev, l->file ? l->file : "", line, col, l->rule_id ? l->rule_id : "", msg};
    count_diag(&d, l);
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

/* ---- small parsers --------------------------------------------------------------------------- */

static sg_arena_t *arena(sc_load_t *l)
{
    return &l->set->meta_set->arena;
}

static bool is_scalar(const sg_ynode_t *n)
{
    return n && n->type == SG_Y_SCALAR;
}

static bool keq(const sg_ynode_t *k, const char *s)
{
    return is_scalar(k) && strcmp(k->str, s) == 0;
}

/* A YAML number (integer or decimal, finite). */
static bool parse_number(const sg_ynode_t *n, double *out)
{
    if (!is_scalar(n) || n->quoted || n->len == 0 || n->len > 64)
        return false;
    char *end;
    errno = 0;
    double v = strtod(n->str, &end);
    if (end != n->str + n->len || errno == ERANGE || !isfinite(v))
        return false;
    /* strtod also reads hex, inf and nan spellings: accept plain decimals only */
    for (size_t i = 0; i < n->len; i++)
        if (!strchr("0123456789+-.eE", n->str[i]))
            return false;
    *out = v;
    return true;
}

static bool parse_bool(const sg_ynode_t *n, bool *out)
{
    if (!is_scalar(n) || n->quoted)
        return false;
    if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

/* "<digits><s|m|h|d|w>" → ms; 0 when malformed. */
static int64_t parse_timespan(const char *s, size_t len)
{
    if (len < 2 || len > 12)
        return 0;
    int64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        n = n * 10 + (s[i] - '0');
    }
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (s[len - 1] == units[i].unit)
            return n * units[i].ms;
    return 0;
}

static const char *dup_scalar(sc_load_t *l, const sg_ynode_t *n)
{
    return sg_strndup(arena(l), n->str, n->len);
}

/* A scalar or a list of scalars into a string array; false with a diagnostic. */
static bool str_list(sc_load_t *l, const sg_ynode_t *n, const char *what, size_t max,
                     const char ***out, size_t *count)
{
    size_t cnt = n->type == SG_Y_SEQ ? n->n : 1;
    if (n->type == SG_Y_MAP || cnt > max) {
        diag(l, LF_SIGMA_ERROR, n->line, n->col, "%s must be a name or a list of at most %zu names",
             what, max);
        return false;
    }
    const char **items = sg_alloc(arena(l), (cnt + 1) * sizeof *items);
    if (!items)
        return false;
    for (size_t i = 0; i < cnt; i++) {
        const sg_ynode_t *k = n->type == SG_Y_SEQ ? n->kids[i] : n;
        if (!is_scalar(k) || k->len == 0 || sg_ynode_is_null(k)) {
            diag(l, LF_SIGMA_ERROR, k->line, k->col, "%s: every entry must be a non-empty name",
                 what);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(items[j], k->str)) {
                diag(l, LF_SIGMA_ERROR, k->line, k->col, "%s: '%s' is listed twice", what, k->str);
                return false;
            }
        if (!(items[i] = dup_scalar(l, k)))
            return false;
    }
    *out = items;
    *count = cnt;
    return true;
}

/* ---- condition ------------------------------------------------------------------------------- */

static const char *const op_names[] = {"gt", "gte", "lt", "lte", "eq", "neq"};

static bool is_count_type(lf_sigcorr_type_t t)
{
    return t == LF_SIGCORR_EVENT_COUNT || t == LF_SIGCORR_VALUE_COUNT || t == LF_SIGCORR_TEMPORAL ||
           t == LF_SIGCORR_TEMPORAL_ORDERED;
}

static bool is_value_type(lf_sigcorr_type_t t)
{
    return t == LF_SIGCORR_VALUE_COUNT || t >= LF_SIGCORR_VALUE_SUM;
}

static bool parse_condition(sc_load_t *l, sc_rule_t *r, const sg_ynode_t *c)
{
    if (c->type != SG_Y_MAP) {
        if (is_scalar(c) &&
            (r->pub.type == LF_SIGCORR_TEMPORAL || r->pub.type == LF_SIGCORR_TEMPORAL_ORDERED))
            diag(l, LF_SIGMA_ERROR, c->line, c->col,
                 "condition: boolean expressions over rule names are not supported; use a map "
                 "such as {gte: 2} or leave the condition out (all rules)");
        else
            diag(l, LF_SIGMA_ERROR, c->line, c->col,
                 "condition must be a map of gt, gte, lt, lte, eq, neq (and field, percentile)");
        return false;
    }
    bool have_pct = false;
    for (size_t i = 0; i < c->n; i++) {
        const sg_ynode_t *k = c->kids[2 * i], *v = c->kids[2 * i + 1];
        int op = -1;
        for (int o = 0; o < 6; o++)
            if (keq(k, op_names[o]))
                op = o;
        if (op >= 0) {
            double num;
            if (!parse_number(v, &num)) {
                diag(l, LF_SIGMA_ERROR, v->line, v->col, "condition.%s must be a number",
                     op_names[op]);
                return false;
            }
            if (r->nconds == SC_MAX_CONDS) {
                diag(l, LF_SIGMA_ERROR, k->line, k->col, "condition: too many criteria");
                return false;
            }
            for (uint32_t j = 0; j < r->nconds; j++)
                if (r->conds[j].op == (sc_op_t)op) {
                    diag(l, LF_SIGMA_ERROR, k->line, k->col, "condition.%s is given twice",
                         op_names[op]);
                    return false;
                }
            r->conds[r->nconds++] = (sc_cond_t){(sc_op_t)op, num};
        } else if (keq(k, "field")) {
            if (!is_scalar(v) || v->len == 0 || sg_ynode_is_null(v)) {
                diag(l, LF_SIGMA_ERROR, v->line, v->col,
                     "condition.field must be one field name (lists are not supported)");
                return false;
            }
            if (!is_value_type(r->pub.type)) {
                diag(l, LF_SIGMA_ERROR, k->line, k->col,
                     "condition.field is only used by value_count and the value_* types");
                return false;
            }
            if (!(r->pub.field = dup_scalar(l, v)))
                return false;
        } else if (keq(k, "percentile")) {
            double p;
            if (r->pub.type != LF_SIGCORR_VALUE_PERCENTILE) {
                diag(l, LF_SIGMA_ERROR, k->line, k->col,
                     "condition.percentile is only used by value_percentile");
                return false;
            }
            if (!parse_number(v, &p) || p < 0 || p > 100) {
                diag(l, LF_SIGMA_ERROR, v->line, v->col,
                     "condition.percentile must be a number from 0 to 100");
                return false;
            }
            r->pub.percentile = p;
            have_pct = true;
        } else {
            diag(l, LF_SIGMA_ERROR, k->line, k->col,
                 "condition: unknown key '%s' (gt, gte, lt, lte, eq, neq, field, percentile)",
                 is_scalar(k) ? k->str : "?");
            return false;
        }
    }
    if (r->nconds == 0) {
        diag(l, LF_SIGMA_ERROR, c->line, c->col,
             "condition needs at least one of gt, gte, lt, lte, eq, neq");
        return false;
    }
    if (r->pub.type == LF_SIGCORR_VALUE_PERCENTILE && !have_pct) {
        diag(l, LF_SIGMA_ERROR, c->line, c->col,
             "value_percentile needs condition.percentile (0..100)");
        return false;
    }
    return true;
}

/* Checks that some window can satisfy the condition; counts are integers
 * from 1 to the most a window can hold. */
static bool check_condition(sc_load_t *l, sc_rule_t *r, int line, int col)
{
    bool count = is_count_type(r->pub.type);
    double lo = -INFINITY, hi = INFINITY;
    bool lo_strict = false, hi_strict = false;
    for (uint32_t i = 0; i < r->nconds; i++) {
        double v = r->conds[i].v;
        switch (r->conds[i].op) {
        case SC_GT:
            if (v >= lo) {
                lo = v;
                lo_strict = true;
            }
            break;
        case SC_GTE:
            if (v > lo) {
                lo = v;
                lo_strict = false;
            }
            break;
        case SC_LT:
            if (v <= hi) {
                hi = v;
                hi_strict = true;
            }
            break;
        case SC_LTE:
            if (v < hi) {
                hi = v;
                hi_strict = false;
            }
            break;
        case SC_EQ:
            if (v > lo || (v == lo && !lo_strict)) {
                lo = v;
                lo_strict = false;
            } else {
                lo = INFINITY;
            }
            if (v < hi || (v == hi && !hi_strict)) {
                hi = v;
                hi_strict = false;
            } else {
                hi = -INFINITY;
            }
            break;
        case SC_NEQ:
            break;
        }
    }
    double cap = r->pub.type == LF_SIGCORR_TEMPORAL || r->pub.type == LF_SIGCORR_TEMPORAL_ORDERED
                     ? (double)r->nrefs
                     : (double)l->set->opts.max_values;
    bool empty;
    if (count) {
        double ilo = lo_strict ? floor(lo) + 1 : ceil(lo);
        double ihi = hi_strict ? ceil(hi) - 1 : floor(hi);
        if (ilo < 1)
            ilo = 1;
        if (ilo > cap && ihi >= ilo) {
            diag(l, LF_SIGMA_ERROR, line, col,
                 "condition needs at least %.0f in one window, but a window holds at most %.0f "
                 "(%s); rule skipped",
                 ilo, cap,
                 r->pub.type == LF_SIGCORR_TEMPORAL || r->pub.type == LF_SIGCORR_TEMPORAL_ORDERED
                     ? "the number of rules"
                     : "correlation max_values");
            return false;
        }
        if (ihi > cap)
            ihi = cap;
        empty = ilo > ihi;
        for (uint32_t i = 0; i < r->nconds && !empty; i++)
            if (r->conds[i].op == SC_NEQ && ilo == ihi && r->conds[i].v == ilo)
                empty = true;
    } else {
        empty = lo > hi || (lo == hi && (lo_strict || hi_strict));
        for (uint32_t i = 0; i < r->nconds && !empty; i++)
            if (r->conds[i].op == SC_NEQ && lo == hi && r->conds[i].v == lo)
                empty = true;
    }
    if (empty) {
        diag(l, LF_SIGMA_ERROR, line, col, "condition can never hold for a window; rule skipped");
        return false;
    }
    return true;
}

/* ---- documents ------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    lf_sigcorr_type_t type;
} type_names[] = {
    {"event_count", LF_SIGCORR_EVENT_COUNT},
    {"value_count", LF_SIGCORR_VALUE_COUNT},
    {"temporal", LF_SIGCORR_TEMPORAL},
    {"temporal_ordered", LF_SIGCORR_TEMPORAL_ORDERED},
    {"value_sum", LF_SIGCORR_VALUE_SUM},
    {"value_avg", LF_SIGCORR_VALUE_AVG},
    {"value_percentile", LF_SIGCORR_VALUE_PERCENTILE},
    {"value_median", LF_SIGCORR_VALUE_MEDIAN},
};

static const char *const top_keys[] = {
    "title",          "id",     "name",       "related", "taxonomy", "status",        "description",
    "license",        "author", "references", "date",    "modified", "correlation",   "fields",
    "falsepositives", "level",  "tags",       "scope",   "generate", "sigma-version", NULL,
};

static const char *const corr_keys[] = {"type",      "rules",   "group-by", "timespan",
                                        "condition", "aliases", "generate", NULL};

static void unknown_keys(sc_load_t *l, const sg_ynode_t *map, const char *const *known,
                         const char *where)
{
    for (size_t i = 0; i < map->n; i++) {
        const sg_ynode_t *k = map->kids[2 * i];
        bool ok = false;
        for (const char *const *s = known; *s && !ok; s++)
            ok = keq(k, *s);
        if (!ok)
            diag(l, LF_SIGMA_WARNING, k->line, k->col, "unknown attribute '%s'%s (ignored)",
                 is_scalar(k) ? k->str : "?", where);
    }
}

static bool parse_aliases(sc_load_t *l, sc_rule_t *r, const sg_ynode_t *a)
{
    if (a->type != SG_Y_MAP) {
        diag(l, LF_SIGMA_ERROR, a->line, a->col,
             "aliases must be a map: alias → {rule name: field}");
        return false;
    }
    r->aliases = sg_alloc(arena(l), (a->n + 1) * sizeof *r->aliases);
    if (!r->aliases)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const sg_ynode_t *k = a->kids[2 * i], *v = a->kids[2 * i + 1];
        if (!is_scalar(k) || k->len == 0 || v->type != SG_Y_MAP || v->n == 0) {
            diag(l, LF_SIGMA_ERROR, v->line, v->col,
                 "alias '%s' must map rule names to field names", is_scalar(k) ? k->str : "?");
            return false;
        }
        sc_alias_t *al = &r->aliases[r->naliases++];
        al->name = dup_scalar(l, k);
        al->entries = sg_alloc(arena(l), v->n * sizeof *al->entries);
        if (!al->name || !al->entries)
            return false;
        for (size_t j = 0; j < v->n; j++) {
            const sg_ynode_t *rk = v->kids[2 * j], *fv = v->kids[2 * j + 1];
            if (!is_scalar(rk) || rk->len == 0 || !is_scalar(fv) || fv->len == 0 ||
                sg_ynode_is_null(fv)) {
                diag(l, LF_SIGMA_ERROR, fv->line, fv->col,
                     "alias '%s': each entry is <rule name>: <field name>", al->name);
                return false;
            }
            al->entries[al->n].rule = dup_scalar(l, rk);
            al->entries[al->n].field = dup_scalar(l, fv);
            if (!al->entries[al->n].rule || !al->entries[al->n].field)
                return false;
            al->n++;
        }
    }
    return true;
}

/* Parses one correlation document; false when it was skipped. */
static bool load_corr_doc(sc_load_t *l, const sg_ynode_t *root, const sg_ynode_t *corr)
{
    lf_sigcorr_ruleset_t *set = l->set;
    const sg_ynode_t *idn = sg_ymap_get(root, "id"), *title = sg_ymap_get(root, "title");
    l->rule_id = is_scalar(idn) ? idn->str : is_scalar(title) ? title->str : "";
    if (set->nrules >= (size_t)set->opts.max_rules) {
        diag(l, LF_SIGMA_ERROR, root->line, root->col, "more than %lld correlation rules",
             (long long)set->opts.max_rules);
        return false;
    }
    if (!is_scalar(title) || title->len == 0 || sg_ynode_is_null(title)) {
        diag(l, LF_SIGMA_ERROR, root->line, root->col, "title is missing; rule skipped");
        return false;
    }
    if (corr->type != SG_Y_MAP) {
        diag(l, LF_SIGMA_ERROR, corr->line, corr->col, "correlation must be a map; rule skipped");
        return false;
    }
    unknown_keys(l, root, top_keys, "");
    unknown_keys(l, corr, corr_keys, " in correlation");
    sc_rule_t *r = sg_alloc(arena(l), sizeof *r);
    if (!r)
        return false;
    r->line = root->line;
    r->col = root->col;
    char err[256] = "";
    sg_build_t b = {.set = set->meta_set,
                    .err = err,
                    .errlen = sizeof err,
                    .diag = count_diag,
                    .ud = l,
                    .file = l->file,
                    .rule_id = l->rule_id};
    if (!sg_meta_fill(&b, root, &r->pub.meta))
        return false;
    r->pub.meta.file = l->file;
    /* persistent key */
    r->pub.key = r->pub.meta.id[0]     ? r->pub.meta.id
                 : r->pub.meta.name[0] ? r->pub.meta.name
                                       : r->pub.meta.title;
    if (strlen(r->pub.key) > SC_MAX_RULE_KEY) {
        diag(l, LF_SIGMA_ERROR, root->line, root->col,
             "the rule's id (or name, or title) is longer than %d bytes; rule skipped",
             SC_MAX_RULE_KEY);
        return false;
    }
    r->pub.field = "";
    /* type */
    const sg_ynode_t *t = sg_ymap_get(corr, "type");
    if (!t) {
        diag(l, LF_SIGMA_ERROR, corr->line, corr->col, "correlation.type is missing; rule skipped");
        return false;
    }
    bool found = false;
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names && is_scalar(t); i++)
        if (!strcmp(t->str, type_names[i].name)) {
            r->pub.type = type_names[i].type;
            found = true;
        }
    if (!found) {
        diag(l, LF_SIGMA_ERROR, t->line, t->col,
             "unknown correlation type '%s' (event_count, value_count, temporal, "
             "temporal_ordered, value_sum, value_avg, value_percentile, value_median); rule "
             "skipped",
             is_scalar(t) ? t->str : "?");
        return false;
    }
    /* rules */
    const sg_ynode_t *rl = sg_ymap_get(corr, "rules");
    if (!rl || sg_ynode_is_null(rl)) {
        diag(l, LF_SIGMA_ERROR, corr->line, corr->col,
             "correlation.rules is missing; rule skipped");
        return false;
    }
    const char **refs;
    size_t nrefs;
    if (!str_list(l, rl, "correlation.rules", SC_MAX_REFS, &refs, &nrefs))
        return false;
    if (nrefs == 0) {
        diag(l, LF_SIGMA_ERROR, rl->line, rl->col, "correlation.rules is empty; rule skipped");
        return false;
    }
    r->refs = sg_alloc(arena(l), nrefs * sizeof *r->refs);
    if (!r->refs)
        return false;
    for (size_t i = 0; i < nrefs; i++) {
        const sg_ynode_t *k = rl->type == SG_Y_SEQ ? rl->kids[i] : rl;
        r->refs[i] = (sc_ref_t){.written = refs[i], .corr = -1, .line = k->line, .col = k->col};
    }
    r->nrefs = (uint32_t)nrefs;
    /* group-by */
    const sg_ynode_t *gb = sg_ymap_get(corr, "group-by");
    if (gb && !sg_ynode_is_null(gb)) {
        const char **names;
        size_t n;
        /* one place is kept for the agency (below) */
        if (!str_list(l, gb, "correlation.group-by", SC_MAX_GROUP_BY - 1, &names, &n))
            return false;
        r->pub.group_by = names;
        r->pub.group_count = n;
    } else {
        static const char *const none[] = {NULL};
        r->pub.group_by = none;
    }
    /* One agency's windows never mix with another's: the agency joins the
     * group-by (cross-agency patterns are joint defence's, incidents.md). */
    if (l->set->opts.group_by_agency) {
        bool have = false;
        for (size_t g = 0; g < r->pub.group_count; g++)
            have = have || !strcmp(r->pub.group_by[g], LF_SIGCORR_AGENCY_FIELD);
        if (!have) {
            const char **names = sg_alloc(arena(l), (r->pub.group_count + 2) * sizeof *names);
            if (!names)
                return false;
            for (size_t g = 0; g < r->pub.group_count; g++)
                names[g] = r->pub.group_by[g];
            names[r->pub.group_count] = LF_SIGCORR_AGENCY_FIELD;
            names[r->pub.group_count + 1] = NULL;
            r->pub.group_by = names;
            r->pub.group_count++;
        }
    }
    /* timespan */
    const sg_ynode_t *ts = sg_ymap_get(corr, "timespan");
    if (!ts || sg_ynode_is_null(ts)) {
        diag(l, LF_SIGMA_ERROR, corr->line, corr->col,
             "correlation.timespan is missing; rule skipped");
        return false;
    }
    r->pub.timespan_ms = is_scalar(ts) ? parse_timespan(ts->str, ts->len) : 0;
    if (r->pub.timespan_ms <= 0) {
        diag(l, LF_SIGMA_ERROR, ts->line, ts->col,
             "timespan '%s' is not <number><s|m|h|d|w> greater than zero; rule skipped",
             is_scalar(ts) ? ts->str : "?");
        return false;
    }
    if (r->pub.timespan_ms > set->opts.max_timespan_ms) {
        diag(l, LF_SIGMA_ERROR, ts->line, ts->col,
             "timespan '%s' is longer than correlation max_timespan (%lld s); rule skipped",
             ts->str, (long long)(set->opts.max_timespan_ms / 1000));
        return false;
    }
    /* condition */
    const sg_ynode_t *cond = sg_ymap_get(corr, "condition");
    bool temporal =
        r->pub.type == LF_SIGCORR_TEMPORAL || r->pub.type == LF_SIGCORR_TEMPORAL_ORDERED;
    if (cond && !sg_ynode_is_null(cond)) {
        if (!parse_condition(l, r, cond))
            return false;
    } else if (temporal) {
        r->conds[0] = (sc_cond_t){SC_GTE, (double)r->nrefs};
        r->nconds = 1;
    } else {
        diag(l, LF_SIGMA_ERROR, corr->line, corr->col,
             "correlation.condition is missing (needed by %s); rule skipped",
             lf_sigcorr_type_name(r->pub.type));
        return false;
    }
    if (is_value_type(r->pub.type) && !r->pub.field[0]) {
        diag(l, LF_SIGMA_ERROR, cond->line, cond->col,
             "%s needs condition.field (the field whose values are measured); rule skipped",
             lf_sigcorr_type_name(r->pub.type));
        return false;
    }
    if (r->pub.type == LF_SIGCORR_VALUE_MEDIAN)
        r->pub.percentile = 50;
    if (!check_condition(l, r, cond ? cond->line : corr->line, cond ? cond->col : corr->col))
        return false;
    for (uint32_t i = 0; i < r->nconds; i++)
        if (r->conds[i].op >= SC_LT)
            r->pub.at_window_end = true;
    /* aliases */
    const sg_ynode_t *al = sg_ymap_get(corr, "aliases");
    if (al && !sg_ynode_is_null(al) && !parse_aliases(l, r, al))
        return false;
    /* generate: in the correlation section (pySigma) or at the top (specification) */
    const sg_ynode_t *gen = sg_ymap_get(corr, "generate");
    if (!gen)
        gen = sg_ymap_get(root, "generate");
    if (gen && !parse_bool(gen, &r->pub.generate)) {
        diag(l, LF_SIGMA_ERROR, gen->line, gen->col, "generate must be true or false");
        return false;
    }
    r->pub.report = true;
    if (!grow((void **)&set->rules, &set->caprules, set->nrules, sizeof *set->rules))
        return false;
    set->rules[set->nrules++] = r;
    return true;
}

static lf_err_t load_text(sc_load_t *l, const char *name, const char *data, size_t len)
{
    lf_sigcorr_ruleset_t *set = l->set;
    l->rule_id = "";
    l->file = name;
    if (len > (size_t)set->opts.max_file_bytes) {
        diag(l, LF_SIGMA_ERROR, 0, 0, "file larger than max_file_bytes (%lld)",
             (long long)set->opts.max_file_bytes);
        return LF_EFULL;
    }
    l->file = sg_strndup(arena(l), name, strlen(name));
    if (!l->file)
        return LF_ENOMEM;
    sg_arena_t tmp = {0};
    sg_ynode_t **docs;
    size_t ndocs;
    int line, col;
    char err[512] = "";
    lf_err_t rc = sg_yaml_parse(data, len, &tmp, &docs, &ndocs, err, sizeof err, &line, &col);
    lf_err_t out = LF_OK;
    for (size_t i = 0; i < ndocs; i++) {
        const sg_ynode_t *root = docs[i];
        if (root->type != SG_Y_MAP)
            continue; /* not a rule document; lf_sigma reports it */
        const sg_ynode_t *corr = sg_ymap_get(root, "correlation");
        if (!corr)
            continue;
        l->rule_id = "";
        size_t before = *l->errors;
        if (!load_corr_doc(l, root, corr)) {
            if (*l->errors == before)
                diag(l, LF_SIGMA_ERROR, root->line, root->col, "out of memory; rule skipped");
            out = LF_EPARSE;
        }
    }
    if (rc != LF_OK) {
        /* lf_sigma reports syntax errors of the same files; only the
         * documents before the error are used here too */
        l->rule_id = "";
        diag(l, LF_SIGMA_WARNING, line, col, "correlation documents after this point skipped: %s",
             err[0] ? err : lf_strerror(rc));
        out = rc == LF_ENOMEM ? LF_ENOMEM : LF_EPARSE;
    }
    sg_arena_free(&tmp);
    return out;
}

static lf_err_t read_file(sc_load_t *l, const char *path, char **data, size_t *len)
{
    l->file = path;
    l->rule_id = "";
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag(l, LF_SIGMA_ERROR, 0, 0, "cannot open: %s", strerror(errno));
        return LF_EIO;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap > (size_t)l->set->opts.max_file_bytes)
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
        diag(l, LF_SIGMA_ERROR, 0, 0, "read error");
        return LF_EIO;
    }
    *data = buf;
    *len = n;
    return LF_OK;
}

static lf_err_t load_one_file(sc_load_t *l, const char *path)
{
    char *data;
    size_t len;
    lf_err_t rc = read_file(l, path, &data, &len);
    if (rc != LF_OK)
        return rc;
    rc = load_text(l, path, data, len);
    free(data);
    return rc;
}

static lf_err_t walk_file(void *opaque, const char *path)
{
    return load_one_file(opaque, path);
}

static lf_err_t load_path(sc_load_t *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        l->file = path;
        l->rule_id = "";
        diag(l, LF_SIGMA_ERROR, 0, 0, "cannot read: %s", strerror(errno));
        return LF_EIO;
    }
    if (!S_ISDIR(st.st_mode))
        return load_one_file(l, path);
    return sg_yaml_walk(path, walk_file, l);
}

static sc_load_t loader(lf_sigcorr_ruleset_t *set, lf_sigma_diag_cb *d, void *ud)
{
    return (sc_load_t){
        .set = set, .diag = d, .ud = ud, .errors = &set->errors, .warnings = &set->warnings};
}

lf_err_t lf_sigcorr_load_file(lf_sigcorr_ruleset_t *set, const char *path, lf_sigma_diag_cb *d,
                              void *ud)
{
    sc_load_t l = loader(set, d, ud);
    return load_one_file(&l, path);
}

lf_err_t lf_sigcorr_load_dir(lf_sigcorr_ruleset_t *set, const char *path, lf_sigma_diag_cb *d,
                             void *ud)
{
    sc_load_t l = loader(set, d, ud);
    return load_path(&l, path);
}

lf_err_t lf_sigcorr_load_buffer(lf_sigcorr_ruleset_t *set, const char *name, const char *data,
                                size_t len, lf_sigma_diag_cb *d, void *ud)
{
    sc_load_t l = loader(set, d, ud);
    return load_text(&l, name, data, len);
}

/* ---- resolution ------------------------------------------------------------------------------ */

typedef struct name_ix {
    const char *s;
    uint32_t idx;
} name_ix_t;

static int name_cmp(const void *a, const void *b)
{
    const name_ix_t *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Every index whose string equals s: [*first, *first + return). */
static size_t name_find(const name_ix_t *ix, size_t n, const char *s, size_t *first)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(ix[mid].s, s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && !strcmp(ix[end].s, s))
        end++;
    *first = lo;
    return end - lo;
}

typedef struct resolver {
    sc_load_t l;
    lf_sigcorr_ruleset_t *set;
    const lf_sigma_matcher_t *base;
    name_ix_t *corr_ix, *base_ix; /* ids and names */
    size_t ncorr_ix, nbase_ix;
    uint8_t *color;
    int *height;
} resolver_t;

static void rule_diag(resolver_t *rv, sc_rule_t *r, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void rule_diag(resolver_t *rv, sc_rule_t *r, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rv->l.file = r->pub.meta.file;
    rv->l.rule_id = r->pub.key;
    diag(&rv->l, LF_SIGMA_ERROR, line, col, "%s; rule skipped", msg);
    r->failed = true;
}

static bool build_index(resolver_t *rv)
{
    lf_sigcorr_ruleset_t *set = rv->set;
    rv->corr_ix = malloc((2 * set->nrules + 1) * sizeof *rv->corr_ix);
    size_t nb = rv->base ? lf_sigma_matcher_rule_count(rv->base) : 0;
    rv->base_ix = malloc((2 * nb + 1) * sizeof *rv->base_ix);
    if (!rv->corr_ix || !rv->base_ix)
        return false;
    for (size_t i = 0; i < nb; i++) {
        const lf_sigma_rule_meta_t *m = lf_sigma_matcher_rule(rv->base, i);
        if (m->id[0])
            rv->base_ix[rv->nbase_ix++] = (name_ix_t){m->id, (uint32_t)i};
        if (m->name[0] && strcmp(m->name, m->id))
            rv->base_ix[rv->nbase_ix++] = (name_ix_t){m->name, (uint32_t)i};
    }
    qsort(rv->base_ix, rv->nbase_ix, sizeof *rv->base_ix, name_cmp);
    return true;
}

/* The ids and names of the correlation rules not skipped so far. */
static void build_corr_index(resolver_t *rv)
{
    lf_sigcorr_ruleset_t *set = rv->set;
    for (size_t i = 0; i < set->nrules; i++) {
        if (set->rules[i]->failed)
            continue;
        const lf_sigma_rule_meta_t *m = &set->rules[i]->pub.meta;
        if (m->id[0])
            rv->corr_ix[rv->ncorr_ix++] = (name_ix_t){m->id, (uint32_t)i};
        if (m->name[0] && strcmp(m->name, m->id))
            rv->corr_ix[rv->ncorr_ix++] = (name_ix_t){m->name, (uint32_t)i};
    }
    qsort(rv->corr_ix, rv->ncorr_ix, sizeof *rv->corr_ix, name_cmp);
}

/* Duplicate keys, ids and names among correlation rules and with base rules. */
static void check_duplicates(resolver_t *rv)
{
    lf_sigcorr_ruleset_t *set = rv->set;
    for (size_t i = 0; i < set->nrules; i++) {
        sc_rule_t *r = set->rules[i];
        for (size_t j = 0; j < i && !r->failed; j++) {
            sc_rule_t *o = set->rules[j];
            if (o->failed)
                continue;
            if (!strcmp(r->pub.key, o->pub.key) ||
                (r->pub.meta.id[0] && !strcmp(r->pub.meta.id, o->pub.meta.id)) ||
                (r->pub.meta.name[0] && !strcmp(r->pub.meta.name, o->pub.meta.name)))
                rule_diag(rv, r, r->line, r->col,
                          "correlation '%s' has the id or name of the correlation at %s:%d",
                          r->pub.key, o->pub.meta.file, o->line);
        }
        size_t first;
        if (!r->failed && r->pub.meta.id[0] &&
            name_find(rv->base_ix, rv->nbase_ix, r->pub.meta.id, &first))
            rule_diag(rv, r, r->line, r->col, "id '%s' is also the id or name of a Sigma rule",
                      r->pub.meta.id);
        if (!r->failed && r->pub.meta.name[0] &&
            name_find(rv->base_ix, rv->nbase_ix, r->pub.meta.name, &first))
            rule_diag(rv, r, r->line, r->col, "name '%s' is also the id or name of a Sigma rule",
                      r->pub.meta.name);
    }
}

static void resolve_refs(resolver_t *rv)
{
    lf_sigcorr_ruleset_t *set = rv->set;
    for (size_t i = 0; i < set->nrules; i++) {
        sc_rule_t *r = set->rules[i];
        for (uint32_t k = 0; k < r->nrefs && !r->failed; k++) {
            sc_ref_t *ref = &r->refs[k];
            size_t cf, bf;
            size_t nc = name_find(rv->corr_ix, rv->ncorr_ix, ref->written, &cf);
            size_t nbase = name_find(rv->base_ix, rv->nbase_ix, ref->written, &bf);
            if (nc && nbase) {
                rule_diag(rv, r, ref->line, ref->col,
                          "'%s' names both a Sigma rule and a correlation rule", ref->written);
            } else if (nc) {
                ref->corr = (int32_t)rv->corr_ix[cf].idx;
                if ((size_t)ref->corr == i)
                    rule_diag(rv, r, ref->line, ref->col, "the rule references itself");
            } else if (!nbase) {
                rule_diag(rv, r, ref->line, ref->col,
                          "references unknown rule '%s' (no loaded Sigma or correlation rule has "
                          "this id or name)",
                          ref->written);
            }
            for (uint32_t j = 0; j < k && !r->failed; j++) {
                bool same = ref->corr >= 0 ? ref->corr == r->refs[j].corr
                                           : r->refs[j].corr < 0 && nbase &&
                                                 name_find(rv->base_ix, rv->nbase_ix,
                                                           r->refs[j].written, &cf) &&
                                                 rv->base_ix[cf].idx == rv->base_ix[bf].idx;
                if (same)
                    rule_diag(rv, r, ref->line, ref->col,
                              "'%s' and '%s' are the same rule, listed twice", r->refs[j].written,
                              ref->written);
            }
        }
    }
}

/* A rule that references a failed correlation fails too, until nothing changes. */
static void propagate_failures(resolver_t *rv)
{
    lf_sigcorr_ruleset_t *set = rv->set;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < set->nrules; i++) {
            sc_rule_t *r = set->rules[i];
            for (uint32_t k = 0; k < r->nrefs && !r->failed; k++)
                if (r->refs[k].corr >= 0 && set->rules[r->refs[k].corr]->failed) {
                    rule_diag(rv, r, r->refs[k].line, r->refs[k].col,
                              "references correlation '%s', which was skipped", r->refs[k].written);
                    changed = true;
                }
        }
    }
}

enum { WHITE, GRAY, BLACK };

/* Height of the chain below rule i (1: only base rules), cycles and chains
 * deeper than SC_MAX_CHAIN fail the rule; depth bounds the recursion. */
static int chain_height(resolver_t *rv, size_t i, int depth)
{
    sc_rule_t *r = rv->set->rules[i];
    if (rv->color[i] == BLACK)
        return r->failed ? -1 : rv->height[i];
    if (rv->color[i] == GRAY)
        return -2; /* cycle */
    if (depth > SC_MAX_CHAIN) {
        rule_diag(rv, r, r->line, r->col, "correlations are chained deeper than %d", SC_MAX_CHAIN);
        rv->color[i] = BLACK;
        return -1;
    }
    rv->color[i] = GRAY;
    int h = 1;
    for (uint32_t k = 0; k < r->nrefs && !r->failed; k++) {
        if (r->refs[k].corr < 0)
            continue;
        int sub = chain_height(rv, (size_t)r->refs[k].corr, depth + 1);
        if (sub == -2) {
            rule_diag(rv, r, r->refs[k].line, r->refs[k].col,
                      "reference cycle: '%s' leads back to this rule", r->refs[k].written);
        } else if (sub < 0) {
            if (!r->failed)
                rule_diag(rv, r, r->refs[k].line, r->refs[k].col,
                          "references correlation '%s', which was skipped", r->refs[k].written);
        } else if (sub + 1 > h) {
            h = sub + 1;
        }
    }
    if (!r->failed && h > SC_MAX_CHAIN) {
        rule_diag(rv, r, r->line, r->col, "correlations are chained deeper than %d", SC_MAX_CHAIN);
    }
    rv->color[i] = BLACK;
    rv->height[i] = h;
    return r->failed ? -1 : h;
}

/* Whether an alias entry's rule string designates reference k of r. */
static bool alias_names_ref(const lf_sigcorr_t *c, const sc_rule_t *r, uint32_t k, const char *s)
{
    const sc_ref_t *ref = &r->refs[k];
    if (!strcmp(ref->written, s))
        return true;
    if (ref->corr >= 0) {
        const lf_sigma_rule_meta_t *m = &c->rules[ref->corr]->pub.meta;
        return (m->id[0] && !strcmp(m->id, s)) || (m->name[0] && !strcmp(m->name, s));
    }
    size_t nb = c->base ? lf_sigma_matcher_rule_count(c->base) : 0;
    for (size_t i = 0; i < nb; i++) {
        const lf_sigma_rule_meta_t *m = lf_sigma_matcher_rule(c->base, i);
        bool is_ref = (m->id[0] && !strcmp(m->id, ref->written)) ||
                      (m->name[0] && !strcmp(m->name, ref->written));
        if (is_ref && ((m->id[0] && !strcmp(m->id, s)) || (m->name[0] && !strcmp(m->name, s))))
            return true;
    }
    return false;
}

static const char *field_through_aliases(const lf_sigcorr_t *c, const sc_rule_t *r,
                                         const char *name, uint32_t k)
{
    for (size_t a = 0; a < r->naliases; a++) {
        if (strcmp(r->aliases[a].name, name))
            continue;
        for (size_t e = 0; e < r->aliases[a].n; e++)
            if (alias_names_ref(c, r, k, r->aliases[a].entries[e].rule))
                return r->aliases[a].entries[e].field;
    }
    return name;
}

static bool finish_rule(lf_sigcorr_t *c, sc_rule_t *r, sc_load_t *l)
{
    sg_arena_t *a = &c->meta_set->arena;
    size_t ng = r->pub.group_count;
    r->field_for = sg_alloc(a, (ng * r->nrefs + 1) * sizeof *r->field_for);
    r->vfield_for = sg_alloc(a, (r->nrefs + 1) * sizeof *r->vfield_for);
    if (!r->field_for || !r->vfield_for)
        return false;
    uint64_t fp = sc_hash64(&r->pub.type, sizeof r->pub.type, 0x5c0);
    for (uint32_t k = 0; k < r->nrefs; k++) {
        fp = sc_hash64(r->refs[k].written, strlen(r->refs[k].written) + 1, fp);
        for (size_t g = 0; g < ng; g++) {
            const char *f = field_through_aliases(c, r, r->pub.group_by[g], k);
            r->field_for[g * r->nrefs + k] = f;
            fp = sc_hash64(f, strlen(f) + 1, fp);
        }
        r->vfield_for[k] = field_through_aliases(c, r, r->pub.field, k);
        fp = sc_hash64(r->vfield_for[k], strlen(r->vfield_for[k]) + 1, fp);
    }
    fp = sc_hash64(&ng, sizeof ng, fp);
    r->fingerprint = fp;
    /* aliases that name no listed rule, or are not used */
    for (size_t i = 0; i < r->naliases; i++) {
        bool used = !strcmp(r->aliases[i].name, r->pub.field);
        for (size_t g = 0; g < ng; g++)
            used = used || !strcmp(r->aliases[i].name, r->pub.group_by[g]);
        l->file = r->pub.meta.file;
        l->rule_id = r->pub.key;
        if (!used)
            diag(l, LF_SIGMA_WARNING, r->line, r->col,
                 "alias '%s' is neither in group-by nor the condition field", r->aliases[i].name);
        for (size_t e = 0; e < r->aliases[i].n; e++) {
            bool any = false;
            for (uint32_t k = 0; k < r->nrefs && !any; k++)
                any = alias_names_ref(c, r, k, r->aliases[i].entries[e].rule);
            if (!any)
                diag(l, LF_SIGMA_WARNING, r->line, r->col,
                     "alias '%s' names rule '%s', which is not in rules", r->aliases[i].name,
                     r->aliases[i].entries[e].rule);
        }
    }
    return true;
}

static int sub_cmp(const void *a, const void *b)
{
    return strcmp(((const sc_sub_t *)a)->key, ((const sc_sub_t *)b)->key);
}

static sc_sub_t *sub_get(lf_sigcorr_t *c, size_t *cap, const char *key)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (!strcmp(c->subs[i].key, key))
            return &c->subs[i];
    if (!grow((void **)&c->subs, cap, c->nsubs, sizeof *c->subs))
        return NULL;
    sc_sub_t *s = &c->subs[c->nsubs++];
    memset(s, 0, sizeof *s);
    s->key = key;
    return s;
}

static bool sub_add(sc_sub_t *s, uint32_t rule, uint32_t ref)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        uint32_t *a = realloc(s->rule, cap * sizeof *a);
        if (!a)
            return false;
        s->rule = a;
        uint32_t *b = realloc(s->ref, cap * sizeof *b);
        if (!b)
            return false;
        s->ref = b;
        s->cap = cap;
    }
    s->rule[s->n] = rule;
    s->ref[s->n++] = ref;
    return true;
}

/* Subscription key of a base rule: by id when it has one, else by name. */
static const char *base_key(sg_arena_t *a, const lf_sigma_rule_meta_t *m)
{
    const char *s = m->id[0] ? m->id : m->name;
    size_t n = strlen(s);
    char *k = sg_alloc(a, n + 3);
    if (!k)
        return NULL;
    k[0] = m->id[0] ? 'i' : 'n';
    k[1] = ':';
    memcpy(k + 2, s, n);
    return k;
}

static bool build_subscriptions(lf_sigcorr_t *c, resolver_t *rv)
{
    size_t capsubs = 0;
    sg_arena_t *a = &c->meta_set->arena;
    for (size_t i = 0; i < c->nrules; i++) {
        sc_rule_t *r = c->rules[i];
        for (uint32_t k = 0; k < r->nrefs; k++) {
            if (r->refs[k].corr >= 0) {
                sc_rule_t *t = c->rules[r->refs[k].corr];
                size_t n = t->nsubs;
                uint32_t *nr = realloc(t->sub_rule, (n + 1) * sizeof *nr);
                if (!nr)
                    return false;
                t->sub_rule = nr;
                uint32_t *nf = realloc(t->sub_ref, (n + 1) * sizeof *nf);
                if (!nf)
                    return false;
                t->sub_ref = nf;
                t->sub_rule[n] = (uint32_t)i;
                t->sub_ref[n] = k;
                t->nsubs++;
                if (!r->pub.generate)
                    t->pub.report = false;
                continue;
            }
            size_t first, n = name_find(rv->base_ix, rv->nbase_ix, r->refs[k].written, &first);
            for (size_t j = 0; j < n; j++) {
                const lf_sigma_rule_meta_t *m =
                    lf_sigma_matcher_rule(c->base, rv->base_ix[first + j].idx);
                const char *key = base_key(a, m);
                sc_sub_t *s = key ? sub_get(c, &capsubs, key) : NULL;
                if (!s)
                    return false;
                bool dup = false;
                for (size_t x = 0; x < s->n; x++)
                    dup = dup || (s->rule[x] == i && s->ref[x] == k);
                if (!dup && !sub_add(s, (uint32_t)i, k))
                    return false;
                if (!r->pub.generate)
                    s->suppress = true;
                if (!r->refs[k].base_key)
                    r->refs[k].base_key = key;
            }
        }
    }
    if (c->nsubs)
        qsort(c->subs, c->nsubs, sizeof *c->subs, sub_cmp);
    return true;
}

/* Levels: the rule's own, else the highest of what it references. */
static void fill_levels(lf_sigcorr_t *c, resolver_t *rv, int *height)
{
    for (int h = 1; h <= SC_MAX_CHAIN; h++) {
        for (size_t i = 0; i < c->nrules; i++) {
            sc_rule_t *r = c->rules[i];
            if (height[i] != h || r->pub.meta.level != LF_SIGMA_LEVEL_NONE)
                continue;
            lf_sigma_level_t best = LF_SIGMA_LEVEL_NONE;
            for (uint32_t k = 0; k < r->nrefs; k++) {
                lf_sigma_level_t lv = LF_SIGMA_LEVEL_NONE;
                if (r->refs[k].corr >= 0) {
                    lv = c->rules[r->refs[k].corr]->pub.meta.level;
                } else {
                    size_t first,
                        n = name_find(rv->base_ix, rv->nbase_ix, r->refs[k].written, &first);
                    for (size_t j = 0; j < n; j++) {
                        lf_sigma_level_t bl =
                            lf_sigma_matcher_rule(c->base, rv->base_ix[first + j].idx)->level;
                        if (bl > lv)
                            lv = bl;
                    }
                }
                if (lv > best)
                    best = lv;
            }
            r->pub.meta.level = best;
            r->pub.meta.level_name = lf_sigma_level_name(best);
        }
    }
}

lf_sigcorr_t *lf_sigcorr_new(lf_sigcorr_ruleset_t *set, lf_sigma_matcher_t *base,
                             lf_sigma_diag_cb *d, void *ud)
{
    if (!set)
        return NULL;
    lf_sigcorr_t *c = calloc(1, sizeof *c);
    resolver_t rv = {.l = loader(set, d, ud), .set = set, .base = base};
    int *old_height = NULL;
    if (!c)
        goto fail;
    c->opts = set->opts;
    if (!build_index(&rv))
        goto fail;
    rv.color = calloc(set->nrules + 1, 1);
    rv.height = calloc(set->nrules + 1, sizeof *rv.height);
    if (!rv.color || !rv.height)
        goto fail;
    check_duplicates(&rv);
    build_corr_index(&rv);
    resolve_refs(&rv);
    propagate_failures(&rv);
    for (size_t i = 0; i < set->nrules; i++)
        if (!set->rules[i]->failed)
            chain_height(&rv, i, 0);
    propagate_failures(&rv);
    /* survivors, with correlation references renumbered */
    uint32_t *remap = malloc((set->nrules + 1) * sizeof *remap);
    old_height = rv.height;
    c->rules = malloc((set->nrules + 1) * sizeof *c->rules);
    int *height = malloc((set->nrules + 1) * sizeof *height);
    if (!remap || !c->rules || !height) {
        free(remap);
        free(height);
        goto fail;
    }
    for (size_t i = 0; i < set->nrules; i++) {
        if (set->rules[i]->failed)
            continue;
        remap[i] = (uint32_t)c->nrules;
        height[c->nrules] = old_height[i];
        c->rules[c->nrules++] = set->rules[i];
    }
    for (size_t i = 0; i < c->nrules; i++) {
        sc_rule_t *r = c->rules[i];
        r->pub.meta.index = (uint32_t)i;
        for (uint32_t k = 0; k < r->nrefs; k++)
            if (r->refs[k].corr >= 0)
                r->refs[k].corr = (int32_t)remap[r->refs[k].corr];
    }
    free(remap);
    c->meta_set = set->meta_set;
    set->meta_set = NULL;
    c->base = base ? lf_sigma_matcher_ref(base) : NULL;
    bool ok = build_subscriptions(c, &rv);
    for (size_t i = 0; i < c->nrules && ok; i++)
        ok = finish_rule(c, c->rules[i], &rv.l);
    if (ok)
        fill_levels(c, &rv, height);
    free(height);
    c->stats.rules = c->nrules;
    c->stats.errors = set->errors;
    c->stats.warnings = set->warnings;
    free(set->rules);
    set->rules = NULL;
    set->nrules = 0;
    lf_sigcorr_ruleset_free(set);
    free(rv.corr_ix);
    free(rv.base_ix);
    free(rv.color);
    free(old_height);
    if (!ok) {
        lf_sigcorr_free(c);
        return NULL;
    }
    return c;
fail:
    free(rv.corr_ix);
    free(rv.base_ix);
    free(rv.color);
    free(rv.height);
    if (c) {
        free(c->rules);
        free(c);
    }
    lf_sigcorr_ruleset_free(set);
    return NULL;
}

size_t lf_sigcorr_rule_count(const lf_sigcorr_t *c)
{
    return c ? c->nrules : 0;
}

const lf_sigcorr_rule_t *lf_sigcorr_rule(const lf_sigcorr_t *c, size_t index)
{
    return c && index < c->nrules ? &c->rules[index]->pub : NULL;
}
