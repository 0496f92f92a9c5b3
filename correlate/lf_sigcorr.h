/* lf_sigcorr.h - Sigma correlation rules (specification v2.1) evaluated on
 * the stream of Sigma hits, with state that can be persisted exactly once.
 *
 * Life cycle (docs/sigma-correlation.md describes the rule language, the
 * window semantics and the limits):
 *
 *   lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(&opts);
 *   lf_sigcorr_load_dir(set, "rules/sigma", diag, ud);      correlation documents
 *   lf_sigcorr_t *c = lf_sigcorr_new(set, matcher, diag, ud); consumes set
 *   lf_sigcorr_restore(c, key, klen, val, vlen);            per persisted entry
 *   lf_sigcorr_feed(c, &hit, on_alert, ud);                 per Sigma hit
 *   lf_sigcorr_advance(c, now_ms, on_alert, ud);            periodically
 *   lf_sigcorr_take_changes(c, put, ud);                    in the batch's txn
 *   lf_sigcorr_discard_changes(c);                          when it aborts
 *
 * Loading reads only correlation documents (those with a `correlation:`
 * key); other documents of the same files (the base rules of a
 * multi-document file) are left to lf_sigma. References (`rules:`) are
 * resolved against the ids and names of the compiled Sigma matcher and of
 * the other correlation rules. A rule that cannot be used (unknown type,
 * missing timespan, unknown or failed reference, reference cycle, bad
 * condition, ...) is reported through the diagnostic callback with file,
 * line and column, and skipped; the others load.
 *
 * State: one group per (correlation rule, group-by values), each holding
 * the hits of its open window(s). With track_changes, every group changed
 * since the last lf_sigcorr_take_changes() is handed to the caller as
 * (key, value) to store in the same transaction as the events that changed
 * it; lf_sigcorr_discard_changes() rolls the memory back to the state of
 * that last take when the transaction fails. Values are versioned,
 * checksummed and checked field by field on restore.
 *
 * Threads: an lf_sigcorr_t belongs to one thread (the ingest loop): every
 * function on it runs there. A ruleset is owned by one thread until
 * lf_sigcorr_new(). Callbacks must not call back into the engine.
 */
#ifndef LF_SIGCORR_H
#define LF_SIGCORR_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_sigma.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lf_sigcorr_ruleset lf_sigcorr_ruleset_t;
typedef struct lf_sigcorr lf_sigcorr_t;

/* ---- options ----------------------------------------------------------------- */

/* The ECS field of the agency (lianfangd sets it on every event). */
#define LF_SIGCORR_AGENCY_FIELD "organization.id"

typedef struct lf_sigcorr_options {
    int64_t lateness_ms;     /* out-of-order tolerance in event time */
    int64_t max_groups;      /* open groups per correlation rule */
    int64_t max_values;      /* hits retained per group (samples, distinct values) */
    int64_t max_timespan_ms; /* longest timespan a rule may ask for */
    int64_t max_rules;       /* correlation rules beyond this count are refused */
    bool group_by_agency;    /* LF_SIGCORR_AGENCY_FIELD joins every rule's group-by */
    /* Not part of the option table: */
    int64_t max_file_bytes; /* larger rule files are refused (lf_detect: sigma.max_file_bytes) */
    bool track_changes;     /* keep the dirty set and undo log for take/discard */
} lf_sigcorr_options_t;

/* The option table (for a `correlation:` configuration section). */
extern const lf_config_option_t lf_sigcorr_config_options[];
/* Fills the defaults: the table's, max_file_bytes 4 MiB, track_changes true. */
void lf_sigcorr_options_default(lf_sigcorr_options_t *opts);

/* ---- loading --------------------------------------------------------------------- */

/* New empty ruleset; opts may be NULL for defaults (copied). NULL on ENOMEM. */
lf_sigcorr_ruleset_t *lf_sigcorr_ruleset_new(const lf_sigcorr_options_t *opts);
void lf_sigcorr_ruleset_free(lf_sigcorr_ruleset_t *set);

/* Correlation documents of one file, every *.yml / *.yaml under a
 * directory (recursively, in name order, skipping "tests" directories, as
 * lf_sigma_load_dir does), or a buffer (name is used in diagnostics).
 * LF_OK when every correlation document was accepted, LF_EPARSE when one
 * was skipped, LF_EIO when a path cannot be read, LF_EFULL past
 * max_file_bytes or max_rules, LF_ENOMEM. */
lf_err_t lf_sigcorr_load_file(lf_sigcorr_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                              void *ud);
lf_err_t lf_sigcorr_load_dir(lf_sigcorr_ruleset_t *set, const char *path, lf_sigma_diag_cb *diag,
                             void *ud);
lf_err_t lf_sigcorr_load_buffer(lf_sigcorr_ruleset_t *set, const char *name, const char *data,
                                size_t len, lf_sigma_diag_cb *diag, void *ud);

/* Resolves references against base (the Sigma matcher whose hits will be
 * fed; may be NULL when only correlations are referenced), reports and
 * drops unusable rules, and returns the engine with empty state. Consumes
 * set in every case. Holds a reference on base until lf_sigcorr_free().
 * NULL on ENOMEM. */
lf_sigcorr_t *lf_sigcorr_new(lf_sigcorr_ruleset_t *set, lf_sigma_matcher_t *base,
                             lf_sigma_diag_cb *diag, void *ud);
void lf_sigcorr_free(lf_sigcorr_t *c);

/* ---- rules ------------------------------------------------------------------------- */

typedef enum lf_sigcorr_type {
    LF_SIGCORR_EVENT_COUNT,
    LF_SIGCORR_VALUE_COUNT,
    LF_SIGCORR_TEMPORAL,
    LF_SIGCORR_TEMPORAL_ORDERED,
    LF_SIGCORR_VALUE_SUM,
    LF_SIGCORR_VALUE_AVG,
    LF_SIGCORR_VALUE_PERCENTILE,
    LF_SIGCORR_VALUE_MEDIAN,
} lf_sigcorr_type_t;

/* "event_count", ... */
const char *lf_sigcorr_type_name(lf_sigcorr_type_t type);

/* One loaded correlation rule. Strings live as long as the engine. */
typedef struct lf_sigcorr_rule {
    /* id, name, title, description, author, dates, status, level (the
     * rule's own, else the highest of the rules it references), tags and
     * their ATT&CK ids, references, falsepositives, file and line.
     * meta.index is the rule's position in the engine. */
    lf_sigma_rule_meta_t meta;
    const char *key; /* persistent identity: id, else name, else title */
    lf_sigcorr_type_t type;
    const char *const *group_by; /* names as written (fields or aliases) */
    size_t group_count;
    const char *field; /* value field (value_* types), else "" */
    double percentile; /* value_percentile (0..100), value_median 50 */
    int64_t timespan_ms;
    bool at_window_end; /* the condition is decided when the window closes */
    bool generate;      /* the rule's `generate:` */
    /* false when a correlation that references this one has generate:
     * false: its alerts then feed that correlation but are not reported. */
    bool report;
} lf_sigcorr_rule_t;

size_t lf_sigcorr_rule_count(const lf_sigcorr_t *c);
const lf_sigcorr_rule_t *lf_sigcorr_rule(const lf_sigcorr_t *c, size_t index);

/* Whether the alerts of a base Sigma rule should be kept: false when a
 * correlation rule references it (by id or name) with generate: false,
 * as pySigma disables the output of such rules. */
bool lf_sigcorr_keep_base_alert(const lf_sigcorr_t *c, const char *rule_id, const char *rule_name);
/* Whether any correlation rule references the base rule (its hits matter). */
bool lf_sigcorr_uses(const lf_sigcorr_t *c, const char *rule_id, const char *rule_name);

/* ---- feeding ------------------------------------------------------------------------- */

/* Value of a field of the hit's event, by the name written in the
 * correlation rule (group-by field, alias target or condition field).
 * ptr NULL: absent. The string must stay valid until the next call. */
typedef lf_str_t lf_sigcorr_get_fn(void *opaque, const char *field);

typedef struct lf_sigcorr_hit {
    const char *rule_id;   /* the base Sigma rule's id, "" if none */
    const char *rule_name; /* its name, "" if none */
    int64_t time_ms;       /* event time */
    lf_sigcorr_get_fn *get;
    void *opaque;
} lf_sigcorr_hit_t;

/* One correlation alert; everything is valid during the callback only. */
typedef struct lf_sigcorr_alert {
    const lf_sigcorr_rule_t *rule;
    const lf_str_t *group_values; /* rule->group_count values, in group-by order */
    double value;                 /* the count or metric that met the condition */
    uint32_t hits;                /* contributing hits */
    int64_t window_start_ms, window_end_ms;
    int64_t first_ms, last_ms; /* first and last contributing hit */
} lf_sigcorr_alert_t;

typedef void lf_sigcorr_alert_cb(void *ud, const lf_sigcorr_alert_t *alert);

/* Feeds one base-rule hit to every correlation rule that references the
 * rule; alerts (also of chained correlations) go to cb (may be NULL).
 * Returns the number of alerts, or LF_ENOMEM (the hit is then not counted
 * anywhere it could not be stored). */
int lf_sigcorr_feed(lf_sigcorr_t *c, const lf_sigcorr_hit_t *hit, lf_sigcorr_alert_cb *cb,
                    void *ud);

/* Moves the engine's event-time watermark to now_ms (it never moves back):
 * windows whose end plus the lateness lies before it close (conditions
 * decided at window end are evaluated then), and groups that can no longer
 * contribute are dropped. Returns the number of alerts or LF_ENOMEM. */
int lf_sigcorr_advance(lf_sigcorr_t *c, int64_t now_ms, lf_sigcorr_alert_cb *cb, void *ud);

/* ---- state persistence ---------------------------------------------------------------- */

/* Longest key the engine produces: the rule key (at most 200 bytes), a 0
 * byte and a 16-byte digest of the group-by values. */
#define LF_SIGCORR_MAX_KEY 217

/* put(opaque, key, klen, val, vlen): store or replace; val NULL: delete the
 * key (it may not be stored: ignore "not found"). Pointers are valid during
 * the call only. */
typedef void lf_sigcorr_put_fn(void *opaque, const void *key, size_t klen, const void *val,
                               size_t vlen);

/* Hands every group changed since the last take (and the deletions of
 * groups closed, of entries restored for rules no longer loaded, and of
 * corrupt entries) to put. Call it inside the transaction that stores the
 * batch whose hits caused the changes, before the commit. Without
 * track_changes every open group is handed over (a full snapshot). */
void lf_sigcorr_take_changes(lf_sigcorr_t *c, lf_sigcorr_put_fn *put, void *opaque);

/* Rolls the state back to what it was at the end of the last committed
 * batch (or at start-up): call it when the batch's transaction failed,
 * whether before or after lf_sigcorr_take_changes(). Whatever follows a
 * take (a feed, an advance or the next take) confirms that take's batch as
 * committed, so call this before anything else. LF_ESTATE without
 * track_changes. */
lf_err_t lf_sigcorr_discard_changes(lf_sigcorr_t *c);

/* Loads one persisted entry at start-up, before the first feed. LF_OK;
 * LF_ENOTFOUND when no loaded rule has the key's rule (removed, or changed
 * in type, group-by, aliases, field or rules) - the entry is then deleted
 * at the next take; LF_EINVAL for a malformed or corrupt entry (also
 * deleted); LF_EFULL when the rule already has max_groups groups;
 * LF_ENOMEM. Never crashes on any input. */
lf_err_t lf_sigcorr_restore(lf_sigcorr_t *c, const void *key, size_t klen, const void *val,
                            size_t vlen);

/* Moves the state of from into to (a reload): groups of rules that still
 * exist unchanged continue, the others are deleted at the next take of to;
 * the watermark and pending changes carry over. Call between batches. */
lf_err_t lf_sigcorr_transfer(lf_sigcorr_t *to, const lf_sigcorr_t *from);

/* The rule key a persisted key starts with (up to the 0 byte), for
 * reporting; false when key is not one of ours. */
bool lf_sigcorr_key_rule(const void *key, size_t klen, lf_str_t *rule_key);

/* ---- statistics -------------------------------------------------------------------------- */

typedef struct lf_sigcorr_stats {
    size_t rules;                /* loaded correlation rules */
    size_t errors, warnings;     /* diagnostics while loading */
    size_t groups;               /* open groups now */
    uint64_t hits;               /* hits counted into a group */
    uint64_t hits_late;          /* older than the lateness allows: not counted */
    uint64_t hits_missing_group; /* a group-by value absent: not counted */
    uint64_t hits_missing_value; /* value field absent or not a number: not counted */
    uint64_t groups_full;        /* a new group refused: max_groups reached */
    uint64_t values_evicted;     /* oldest hit of a group evicted: max_values reached */
    uint64_t alerts;
    uint64_t restored, restore_unknown, restore_invalid, restore_full;
} lf_sigcorr_stats_t;

void lf_sigcorr_stats(const lf_sigcorr_t *c, lf_sigcorr_stats_t *out);

#endif
