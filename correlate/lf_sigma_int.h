/* lf_sigma_int.h - private structures of the Sigma engine (correlate/ only).
 *
 * Layering inside correlate/:
 *   lf_sigma_yaml.c     YAML text → node tree with line numbers (libyaml)
 *   lf_sigma_value.c    modifier table, value strings, value matchers
 *   lf_sigma_load.c     documents → rules, filters, mappings, placeholders
 *   lf_sigma_ac.c       Aho–Corasick automaton of the literal prefilter
 *   lf_sigma_match.c    compile to a matcher, match events
 */
#ifndef LF_SIGMA_INT_H
#define LF_SIGMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "lf_sigma.h"

#include <pcre2.h>
#include <stdatomic.h>

/* ---- arena: everything a ruleset compiles lives in one ----------------- */

typedef struct sg_chunk sg_chunk_t;
typedef struct sg_arena {
    sg_chunk_t *head;
    size_t used, cap; /* in head */
} sg_arena_t;

void *sg_alloc(sg_arena_t *a, size_t n); /* zeroed, 16-aligned; NULL on ENOMEM */
char *sg_strndup(sg_arena_t *a, const char *s, size_t n);
void sg_arena_free(sg_arena_t *a);

/* ---- YAML node tree ---------------------------------------------------- */

typedef enum sg_ytype { SG_Y_SCALAR, SG_Y_SEQ, SG_Y_MAP } sg_ytype_t;

typedef struct sg_ynode {
    sg_ytype_t type;
    int line, col;
    bool quoted;     /* scalar written in quotes or as a block */
    const char *str; /* scalar, NUL-terminated */
    size_t len;
    size_t n;               /* SEQ: items; MAP: pairs */
    struct sg_ynode **kids; /* SEQ: n items; MAP: 2n (key, value, key, value, ...) */
} sg_ynode_t;

/* Parses every document of data into trees allocated in arena. On a syntax
 * error returns LF_EPARSE with the position and reason in err/line/col; the
 * documents before the error are still returned. */
lf_err_t sg_yaml_parse(const char *data, size_t len, sg_arena_t *arena, sg_ynode_t ***docs,
                       size_t *ndocs, char *err, size_t errlen, int *line, int *col);
const sg_ynode_t *sg_ymap_get(const sg_ynode_t *map, const char *key);

/* Rule directories: file(ud, path) for every *.yml and *.yaml below dir,
 * in name order, descending at most SG_YAML_WALK_DEPTH levels and skipping
 * hidden entries and directories named "tests". Returns the first error
 * file() returned (LF_ENOMEM before any other), LF_EIO when dir cannot be
 * opened. Used by the Sigma and the correlation rule loaders. */
#define SG_YAML_WALK_DEPTH 16
typedef lf_err_t sg_yaml_file_fn(void *ud, const char *path);
lf_err_t sg_yaml_walk(const char *dir, sg_yaml_file_fn *file, void *ud);
/* Plain scalar null, ~ or empty. */
bool sg_ynode_is_null(const sg_ynode_t *n);

/* ---- compiled values ----------------------------------------------------- */

#define SG_MAX_FIELDS 4 /* ECS fields one Sigma field may map to */

typedef enum sg_vkind {
    SG_V_STR,
    SG_V_RE,
    SG_V_CIDR,
    SG_V_CMP,
    SG_V_TIME,
    SG_V_EXISTS,
    SG_V_NULL,
    SG_V_FIELDREF,
} sg_vkind_t;

typedef enum sg_smode { SG_S_EXACT, SG_S_PREFIX, SG_S_SUFFIX, SG_S_CONTAINS, SG_S_GLOB } sg_smode_t;
typedef enum sg_tok_type { SG_TOK_LIT, SG_TOK_STAR, SG_TOK_ONE } sg_tok_type_t;
typedef enum sg_cmp { SG_CMP_LT, SG_CMP_LTE, SG_CMP_GT, SG_CMP_GTE } sg_cmp_t;
typedef enum sg_tpart {
    SG_T_MINUTE,
    SG_T_HOUR,
    SG_T_DAY,
    SG_T_WEEK,
    SG_T_MONTH,
    SG_T_YEAR
} sg_tpart_t;

typedef struct sg_tok {
    uint8_t type;
    uint32_t len;
    const char *lit;
} sg_tok_t;

typedef struct sg_value {
    uint8_t kind;  /* sg_vkind_t */
    uint8_t smode; /* STR: sg_smode_t; FIELDREF: EXACT/PREFIX/SUFFIX/CONTAINS */
    uint8_t op;    /* CMP: sg_cmp_t; TIME: sg_tpart_t */
    bool cased;
    bool exists;     /* EXISTS */
    const char *lit; /* STR non-GLOB: the literal, lowercased unless cased */
    size_t lit_len;
    const sg_tok_t *toks; /* STR GLOB */
    uint32_t ntoks;
    pcre2_code *re;         /* RE */
    uint8_t family, prefix; /* CIDR: 4 or 6 */
    uint8_t addr[16];
    double num;   /* CMP */
    int64_t part; /* TIME */
    uint8_t nref; /* FIELDREF */
    lf_field_id_t ref[SG_MAX_FIELDS];
} sg_value_t;

typedef struct sg_item {
    uint8_t nfields; /* 0: the Sigma field maps to nothing known: "field absent" */
    lf_field_id_t fields[SG_MAX_FIELDS];
    bool all, neg;
    uint32_t nvals;
    sg_value_t *vals;
} sg_item_t;

typedef struct sg_conj {
    uint32_t nitems;
    sg_item_t *items;
} sg_conj_t;

/* One search identifier: OR over its maps, AND inside each map. */
typedef struct sg_sel {
    const char *name;
    uint32_t nconj;
    sg_conj_t *conj;
} sg_sel_t;

typedef enum sg_cop { SG_C_SEL, SG_C_AND, SG_C_OR, SG_C_NOT, SG_C_ATLEAST, SG_C_FALSE } sg_cop_t;

typedef struct sg_cnode {
    uint8_t op;
    uint32_t arg; /* SEL: selection index; ATLEAST: threshold */
    uint32_t n;   /* children */
    uint32_t *kids;
} sg_cnode_t;

typedef struct sg_expr {
    sg_sel_t *sels;
    uint32_t nsels;
    sg_cnode_t *nodes;
    uint32_t nnodes, root;
} sg_expr_t;

typedef struct sg_rule sg_rule_t;
struct sg_rule {
    lf_sigma_rule_meta_t meta;
    sg_expr_t det;
    int32_t gate; /* logsource gate, -1: every event */
    bool is_filter;
    const char *const *targets; /* filter: rule ids or names */
    size_t ntargets;
    sg_rule_t **filters; /* rule: filters applied AND NOT */
    size_t nfilters, capfilters;
};

/* ---- mapping and placeholders ---------------------------------------------- */

typedef struct sg_fieldmap {
    const char *sigma;
    uint8_t n;
    lf_field_id_t ids[SG_MAX_FIELDS];
} sg_fieldmap_t;

typedef struct sg_logsource_map {
    const char *name, *product, *category, *service; /* NULL: any */
    sg_fieldmap_t *fields;
    size_t nfields;
    int32_t gate; /* -1: no event condition */
    const char *file;
    int line;
} sg_logsource_map_t;

typedef struct sg_placeholder {
    const char *name;
    const char *const *values;
    size_t n;
} sg_placeholder_t;

struct lf_sigma_ruleset {
    lf_sigma_options_t opts;
    sg_arena_t arena;
    sg_rule_t **rules, **filters;
    size_t nrules, caprules, nfilters, capfilters;
    sg_logsource_map_t *maps;
    size_t nmaps, capmaps;
    sg_fieldmap_t *global_fields;
    size_t nglobal, capglobal;
    lf_field_id_t keyword_fields[SG_MAX_FIELDS];
    uint8_t nkeyword;
    bool keyword_set;
    sg_sel_t **gates;
    size_t ngates, capgates;
    sg_placeholder_t *ph;
    size_t nph, capph;
    pcre2_code **res;
    size_t nres, capres, nres_jit;
    lf_sigma_load_stats_t stats;
};

/* ---- value building (lf_sigma_value.c) ------------------------------------- */

typedef struct sg_build {
    lf_sigma_ruleset_t *set;
    const sg_logsource_map_t *const *maps; /* the rule's logsource maps, most specific first */
    size_t nmaps;
    char *err; /* reason of a failure */
    size_t errlen;
    int line, col; /* position of a failure */
    lf_sigma_diag_cb *diag;
    void *ud;
    const char *file, *rule_id;
    bool strict_logsource;
} sg_build_t;

/* Resolves a Sigma field name to ECS ids through the rule's maps; 0 ids when
 * unknown (a warning is reported). */
uint8_t sg_resolve_field(sg_build_t *b, const char *name, size_t len, lf_field_id_t *ids, int line,
                         int col);
/* Compiles one detection item (key "Field|mod|mod", value node) into item. */
bool sg_item_compile(sg_build_t *b, const char *key, size_t keylen, const sg_ynode_t *val,
                     bool keyword, sg_item_t *item, int line, int col);
/* Emits a diagnostic. */
void sg_diag(sg_build_t *b, lf_sigma_severity_t sev, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Fills the metadata of a rule document (title, id, name, level, tags with
 * their ATT&CK ids, ...) into strings of the ruleset's arena; also used for
 * correlation documents (lf_sigcorr_load.c). false on ENOMEM. */
bool sg_meta_fill(sg_build_t *b, const sg_ynode_t *root, lf_sigma_rule_meta_t *meta);
/* sg_resolve_field for a rule of a compiled set, without diagnostics (safe
 * on an immutable matcher from any thread). Returns the number of ids. */
size_t sg_resolve_field_quiet(const lf_sigma_ruleset_t *set, const lf_sigma_rule_meta_t *meta,
                              const char *name, size_t len, lf_field_id_t *ids, size_t max);

/* Value evaluation (lf_sigma_match.c). */
struct lf_sigma_scratch;
bool sg_item_eval(const sg_item_t *item, struct lf_sigma_scratch *s);
bool sg_sel_eval(const sg_sel_t *sel, struct lf_sigma_scratch *s);

/* Glob match of tokens against s (case already folded by the caller). */
bool sg_glob_match(const sg_tok_t *toks, uint32_t ntoks, const char *s, size_t n);

/* ---- Aho–Corasick (lf_sigma_ac.c) ------------------------------------------- */

typedef struct sg_ac sg_ac_t;
typedef struct sg_ac_builder sg_ac_builder_t;

sg_ac_builder_t *sg_ac_builder_new(void);
/* Adds a pattern (matched ASCII case-insensitively); returns LF_OK. */
lf_err_t sg_ac_builder_add(sg_ac_builder_t *b, const char *pat, size_t len, uint32_t id);
sg_ac_t *sg_ac_build(sg_ac_builder_t *b); /* consumes b; NULL on ENOMEM */
void sg_ac_builder_free(sg_ac_builder_t *b);
void sg_ac_free(sg_ac_t *ac);
size_t sg_ac_states(const sg_ac_t *ac);
/* Calls hit(id, ud) for every pattern occurring in text (possibly several
 * times for one id). */
typedef void sg_ac_hit_cb(uint32_t id, void *ud);
void sg_ac_scan(const sg_ac_t *ac, const char *text, size_t len, sg_ac_hit_cb *hit, void *ud);

/* ---- helpers ---------------------------------------------------------------- */

static inline unsigned char sg_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

#endif
