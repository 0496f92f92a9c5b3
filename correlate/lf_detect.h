/* lf_detect.h - the detection stage: every new event is matched against
 * the Sigma rules, the YARA rules (on payload fields) and the STIX 2.1
 * indicator sets, and each hit becomes an alert document. Sigma hits also
 * feed the Sigma correlation rules (lf_sigcorr.h), whose alerts are hits
 * of their own kind.
 *
 * Content comes from one rules directory (detect.rules_dir):
 *   sigma/ sigma-mappings/ placeholders.yaml   Sigma rules and correlation
 *                                                rules, field mappings
 *   yara/ (files ending .yar or .yara)           YARA rules
 *   intel/ (files ending .json)                  STIX 2.1 bundles
 * A rule or indicator that cannot be loaded is logged with file, line and
 * reason, counted, and skipped; the rest load. lf_detect_reload() builds a
 * complete new set and swaps it in only when it succeeded, so a bad update
 * never leaves the server without detection.
 *
 * Correlation state lives in memory; a caller that persists it sets
 * correlation_persist and, per store batch: lf_detect_event() and
 * lf_detect_advance() for the batch, lf_detect_take_changes() inside the
 * batch's transaction before the commit, lf_detect_discard_changes() when
 * the transaction fails; at start-up lf_detect_restore() for every stored
 * entry (docs/sigma-correlation.md, "State").
 *
 * Threads: lf_detect_event(), lf_detect_advance(), the state functions and
 * lf_detect_reload() run on the ingest loop thread (one matching thread);
 * construction and destruction on the owner's thread.
 */
#ifndef LF_DETECT_H
#define LF_DETECT_H

#include "lf_buf.h"
#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"
#include "lf_ioc.h"
#include "lf_metrics.h"
#include "lf_sigcorr.h"
#include "lf_sigma.h"
#include "lf_yara.h"

typedef struct lf_detect_config {
    bool enabled;
    char *rules_dir;
    int64_t max_alerts_per_event;
    int64_t correlation_clock_ms; /* lianfangd: idle interval of the correlation clock */
    lf_sigma_options_t sigma;
    lf_sigcorr_options_t correlation;
    lf_yara_config_t yara;
    lf_ioc_config_t intel;
    /* Programmatic only (tools), not part of the option table: extra rule
     * files or folders, classified by name (.yar/.yara YARA, .json STIX
     * bundle, anything else Sigma), and a Sigma mapping folder used when
     * rules_dir is empty. Borrowed. */
    const char *const *paths;
    size_t path_count;
    const char *mappings;
    /* Programmatic: the caller persists correlation state with
     * lf_detect_take_changes()/lf_detect_discard_changes(); enables the
     * engine's change tracking (without it nothing is tracked). */
    bool correlation_persist;
} lf_detect_config_t;

/* The `detect:` section rows. */
extern const lf_config_option_t lf_detect_config_options[];

typedef struct lf_detect lf_detect_t;

typedef enum lf_detect_kind {
    LF_DETECT_SIGMA,
    LF_DETECT_YARA,
    LF_DETECT_INTEL,
    LF_DETECT_CORRELATION,
} lf_detect_kind_t;

/* One hit, valid during the callback. */
typedef struct lf_detect_hit {
    lf_detect_kind_t kind;
    /* Sigma id, "namespace:identifier" for YARA, STIX indicator id, the
     * correlation rule's key (id, else name, else title) */
    const char *rule_id;
    int level;                         /* 0 informational .. 4 critical */
    const lf_sigma_rule_meta_t *sigma; /* Sigma and correlation rules */
    const lf_yara_match_t *yara;
    const lf_ioc_match_t *intel;
    /* LF_DETECT_CORRELATION: the rule, group-by values, count or metric,
     * window and contributing hits */
    const lf_sigcorr_alert_t *correlation;
} lf_detect_hit_t;

typedef struct lf_detect_stats {
    size_t sigma_rules, yara_rules, indicators;
    size_t correlation_rules;
    size_t problems;    /* rules, rule files, bundles or indicators that failed to load */
    size_t unsupported; /* indicators with valid patterns outside the supported subset */
} lf_detect_stats_t;

/* Loads all content. Problems in single rules are logged and skipped
 * (counted in lf_detect_stats().problems); LF_ECONFIG only for an unusable
 * configuration (rules_dir missing, unless explicit paths are given). */
lf_err_t lf_detect_new(const lf_detect_config_t *cfg, lf_metrics_t *metrics, lf_detect_t **out,
                       char *errstr, size_t errlen);
void lf_detect_free(lf_detect_t *d);
/* Reloads everything from rules_dir; on failure the current content stays.
 * Open correlation windows of rules that still exist unchanged (same type,
 * rules, group-by, aliases and field) carry over; the others are dropped
 * and their stored state is deleted at the next lf_detect_take_changes().
 * Call between store batches. */
lf_err_t lf_detect_reload(lf_detect_t *d, char *errstr, size_t errlen);
void lf_detect_stats(const lf_detect_t *d, lf_detect_stats_t *out);

typedef void (*lf_detect_hit_cb)(void *opaque, const lf_detect_hit_t *hit);
/* Matches one event; calls cb per hit (at most max_alerts_per_event),
 * correlation alerts the event's Sigma hits complete included. Returns the
 * number of hits. */
size_t lf_detect_event(lf_detect_t *d, const lf_event_t *ev, int64_t event_time_ms,
                       lf_detect_hit_cb cb, void *opaque);

/* Moves the correlation watermark to now_ms (event time; lianfangd passes
 * the wall clock) and calls cb with the correlation alerts of windows that
 * close (conditions with lt, lte, eq, neq). These hits have no event: pass
 * ev NULL to lf_detect_alert_json(). Call it periodically (e.g. every
 * second) inside a store batch, like lf_detect_event(). Returns the hits. */
size_t lf_detect_advance(lf_detect_t *d, int64_t now_ms, lf_detect_hit_cb cb, void *opaque);

/* Correlation state persistence (see lf_sigcorr.h): put gets every changed
 * (key, value), value NULL = delete. Keys start with the correlation rule's
 * key and are at most LF_SIGCORR_MAX_KEY bytes. */
void lf_detect_take_changes(lf_detect_t *d, lf_sigcorr_put_fn *put, void *opaque);
/* LF_ESTATE without correlation_persist. */
lf_err_t lf_detect_discard_changes(lf_detect_t *d);
/* LF_OK, LF_ENOTFOUND (rule gone or changed), LF_EINVAL (corrupt), LF_EFULL,
 * LF_ENOMEM; refused entries are deleted at the next take. */
lf_err_t lf_detect_restore(lf_detect_t *d, const void *key, size_t klen, const void *val,
                           size_t vlen);
/* Statistics of the correlation engine (zeros when none is loaded). */
void lf_detect_correlation_stats(const lf_detect_t *d, lf_sigcorr_stats_t *out);

/* Writes the alert document of a hit: alert id and type, @timestamp, the
 * rule (ECS rule.*), ATT&CK (threat.*), the indicator or YARA details, the
 * event's agency, host, agent and entities (source/destination IP, user,
 * process, URL), and a reference to the event (agent id, sequence).
 * Correlation hits add correlation.* (type, group-by values, value, hits,
 * window); their @timestamp is the last contributing hit's time, and ev
 * may be NULL (alerts of lf_detect_advance()): no event fields then. */
lf_err_t lf_detect_alert_json(const lf_detect_hit_t *hit, const lf_event_t *ev, uint64_t alert_id,
                              int64_t event_time_ms, lf_buf_t *out);

#endif
