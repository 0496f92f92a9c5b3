/* lf_sigma.h - native Sigma detection: load, compile, match.
 *
 * Life cycle (see docs/sigma.md for the rule language and the mapping files):
 *
 *   lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&opts);
 *   lf_sigma_load_mappings(set, "rules/sigma-mappings", diag, ud);   first
 *   lf_sigma_load_placeholders(set, "rules/placeholders.yaml", diag, ud);
 *   lf_sigma_load_dir(set, "rules/sigma", diag, ud);                  rules, filters
 *   lf_sigma_matcher_t *m = lf_sigma_compile(set, diag, ud);           consumes set
 *   lf_sigma_scratch_t *s = lf_sigma_scratch_new();                    one per thread
 *   lf_sigma_match(m, ev, s, on_alert, ud);                            per event
 *
 * A rule that cannot be compiled is reported through the diagnostic
 * callback (file, line, column, why) and skipped; the rest load. Warnings
 * (a field not in this build's field table, an unmapped logsource) are
 * reported the same way with LF_SIGMA_WARNING.
 *
 * Threads: a ruleset is owned by one thread until lf_sigma_compile(). A
 * matcher is immutable: any number of threads may match with it at once,
 * each with its own scratch. Reload = build a new ruleset and matcher on any
 * thread, hand the pointer to the matching thread(s), swap it between
 * events, and release the old one with lf_sigma_matcher_unref() when no
 * thread uses it any more (reference counted, so several matching threads
 * can each hold a reference).
 *
 * The hot path (lf_sigma_match) allocates nothing once a scratch has seen
 * its largest event; only then may it grow its buffers.
 */
#ifndef LF_SIGMA_H
#define LF_SIGMA_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lf_sigma_ruleset lf_sigma_ruleset_t;
typedef struct lf_sigma_matcher lf_sigma_matcher_t;
typedef struct lf_sigma_scratch lf_sigma_scratch_t;

/* ---- options --------------------------------------------------------- */

typedef struct lf_sigma_options {
    int64_t regex_match_limit; /* PCRE2 match limit per regex evaluation */
    int64_t regex_depth_limit; /* PCRE2 depth limit (interpreter only) */
    int64_t max_file_bytes;    /* larger rule files are refused */
    int64_t max_rules;         /* rules beyond this count are refused */
    int64_t max_expansions;    /* values one detection item may expand to */
    bool strict_logsource;     /* skip rules whose logsource no mapping names */
    bool regex_jit;            /* PCRE2 JIT compilation */
} lf_sigma_options_t;

/* The option table (for a `sigma:` section of a binary's configuration). */
extern const lf_config_option_t lf_sigma_config_options[];
/* Fills the defaults of lf_sigma_config_options. */
void lf_sigma_options_default(lf_sigma_options_t *opts);

/* ---- diagnostics ------------------------------------------------------ */

typedef enum lf_sigma_severity { LF_SIGMA_WARNING = 1, LF_SIGMA_ERROR = 2 } lf_sigma_severity_t;

typedef struct lf_sigma_diag {
    lf_sigma_severity_t severity;
    const char *file;    /* path or buffer name; never NULL */
    int line, column;    /* 1-based; 0 when not known */
    const char *rule_id; /* id or title of the rule concerned, or "" */
    const char *message; /* what is wrong */
} lf_sigma_diag_t;

/* Called once per problem; the strings are valid only during the call. */
typedef void lf_sigma_diag_cb(const lf_sigma_diag_t *diag, void *ud);

/* ---- rule metadata ----------------------------------------------------- */

typedef enum lf_sigma_level {
    LF_SIGMA_LEVEL_NONE = 0,
    LF_SIGMA_LEVEL_INFORMATIONAL,
    LF_SIGMA_LEVEL_LOW,
    LF_SIGMA_LEVEL_MEDIUM,
    LF_SIGMA_LEVEL_HIGH,
    LF_SIGMA_LEVEL_CRITICAL,
} lf_sigma_level_t;

typedef struct lf_sigma_strlist {
    const char *const *items;
    size_t count;
} lf_sigma_strlist_t;

/* Everything an alert carries about its rule. Strings are never NULL ("" when
 * absent) and live as long as the matcher that returned the struct. */
typedef struct lf_sigma_rule_meta {
    const char *id, *name, *title, *description, *author, *date, *modified;
    const char *status; /* stable, test, experimental, deprecated, unsupported */
    lf_sigma_level_t level;
    const char *level_name;
    const char *product, *category, *service; /* logsource */
    lf_sigma_strlist_t tags;                  /* as written: attack.t1110.001, ... */
    lf_sigma_strlist_t attack_techniques;     /* T1110.001 */
    lf_sigma_strlist_t attack_tactics;        /* TA0006 */
    lf_sigma_strlist_t references, falsepositives, fields;
    const char *file; /* where the rule was loaded from */
    int line;         /* line of the rule document */
    uint32_t index;   /* position in the matcher (0..count-1) */
} lf_sigma_rule_meta_t;

const char *lf_sigma_level_name(lf_sigma_level_t level);

/* ---- loading ------------------------------------------------------------ */

/* New empty ruleset; opts may be NULL for defaults (copied). NULL on ENOMEM. */
lf_sigma_ruleset_t *lf_sigma_ruleset_new(const lf_sigma_options_t *opts);
void lf_sigma_ruleset_free(lf_sigma_ruleset_t *set);

/* Logsource → field mapping files (one file, or every *.yml / *.yaml in a
 * directory, in name order). Load them before the rules they serve.
 * LF_EIO when the path cannot be read; LF_EPARSE when a file is malformed
 * (reported through diag; the other files still load). */
lf_err_t lf_sigma_load_mappings(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                                void *ud);
lf_err_t lf_sigma_load_mappings_buffer(lf_sigma_ruleset_t *set, const char *name, const char *data,
                                       size_t len, lf_sigma_diag_cb *diag, void *ud);

/* Placeholder file for the `expand` modifier: a YAML map of name → list of
 * strings (docs/sigma.md). Load it before the rules. */
lf_err_t lf_sigma_load_placeholders(lf_sigma_ruleset_t *set, const char *path,
                                    lf_sigma_diag_cb *diag, void *ud);
lf_err_t lf_sigma_load_placeholders_buffer(lf_sigma_ruleset_t *set, const char *name,
                                           const char *data, size_t len, lf_sigma_diag_cb *diag,
                                           void *ud);

/* Sigma rule and filter documents. A file may hold several YAML documents.
 * Every rule that fails is reported and skipped; the others are added.
 * Returns LF_OK when every document loaded, LF_EPARSE when at least one was
 * skipped, LF_EIO when the file or directory cannot be read, LF_EFULL past
 * max_rules or max_file_bytes. lf_sigma_load_dir recurses, in name order,
 * into *.yml and *.yaml files (skipping a "tests" directory). */
lf_err_t lf_sigma_load_file(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                            void *ud);
lf_err_t lf_sigma_load_dir(lf_sigma_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                           void *ud);
lf_err_t lf_sigma_load_buffer(lf_sigma_ruleset_t *set, const char *name, const char *data,
                              size_t len, lf_sigma_diag_cb *diag, void *ud);

typedef struct lf_sigma_load_stats {
    size_t rules, filters;      /* loaded */
    size_t errors, warnings;    /* reported so far */
    size_t skipped_unmapped;    /* rules skipped for an unmapped logsource */
    size_t skipped_correlation; /* correlation documents (handled elsewhere) */
} lf_sigma_load_stats_t;
void lf_sigma_ruleset_stats(const lf_sigma_ruleset_t *set, lf_sigma_load_stats_t *out);

/* ---- compiling and matching ------------------------------------------------ */

/* Attaches the filters to their rules, builds the literal prefilter and
 * returns the immutable matcher (reference count 1). Consumes set in every
 * case (also on failure, NULL = out of memory). A filter naming no loaded
 * rule is reported as a warning. */
lf_sigma_matcher_t *lf_sigma_compile(lf_sigma_ruleset_t *set, lf_sigma_diag_cb *diag, void *ud);

lf_sigma_matcher_t *lf_sigma_matcher_ref(lf_sigma_matcher_t *m);
/* Drops one reference; the last one frees the matcher. NULL is ignored. */
void lf_sigma_matcher_unref(lf_sigma_matcher_t *m);

size_t lf_sigma_matcher_rule_count(const lf_sigma_matcher_t *m);
const lf_sigma_rule_meta_t *lf_sigma_matcher_rule(const lf_sigma_matcher_t *m, size_t index);

/* Resolves a Sigma field name as the rule at index sees it: the fields: of
 * the mapping entries of its logsource (most specific first), the global
 * fields:, then the name itself when it is an ECS field of this build.
 * Writes up to max ECS ids (a Sigma field may map to several) and returns
 * how many; 0 when the name resolves to nothing or index is out of range.
 * Reads only the immutable matcher: any thread. */
size_t lf_sigma_matcher_resolve_field(const lf_sigma_matcher_t *m, size_t index, const char *name,
                                      lf_field_id_t *ids, size_t max);

typedef struct lf_sigma_matcher_stats {
    size_t rules;       /* rules in the matcher */
    size_t prefiltered; /* rules that run only when one of their literals is seen */
    size_t unfiltered;  /* rules that run on every event of their logsource */
    size_t literals;    /* distinct (field, literal) pairs in the automata */
    size_t automaton_states;
    size_t logsource_gates; /* distinct logsource conditions */
    size_t regexes, regexes_jit;
} lf_sigma_matcher_stats_t;
void lf_sigma_matcher_stats(const lf_sigma_matcher_t *m, lf_sigma_matcher_stats_t *out);

/* Per-thread working memory; usable with any matcher. NULL on ENOMEM. */
lf_sigma_scratch_t *lf_sigma_scratch_new(void);
void lf_sigma_scratch_free(lf_sigma_scratch_t *s);
/* Regex evaluations stopped by the PCRE2 match/depth limits (counted as
 * "no match") since the scratch was created. */
uint64_t lf_sigma_scratch_regex_limit_hits(const lf_sigma_scratch_t *s);

/* Called for every rule that matches, in rule index order. Return false to
 * stop matching this event. */
typedef bool lf_sigma_match_cb(const lf_sigma_rule_meta_t *rule, void *ud);

/* Matches one event against every rule: the literal prefilter selects the
 * candidate rules, which then run their full check. Returns the number of
 * matching rules reported, or LF_ENOMEM when the scratch could not grow.
 * The event is borrowed for the call only. cb may be NULL (count only). */
int lf_sigma_match(const lf_sigma_matcher_t *m, const lf_event_t *ev, lf_sigma_scratch_t *s,
                   lf_sigma_match_cb *cb, void *ud);

/* The same result computed without prefilter or logsource memo: every rule
 * is checked in full, one after the other. For tests and benchmarks. */
int lf_sigma_match_naive(const lf_sigma_matcher_t *m, const lf_event_t *ev, lf_sigma_scratch_t *s,
                         lf_sigma_match_cb *cb, void *ud);

#endif
