/* lf_detect.h - the detection stage: every new event is matched against
 * the Sigma rules, the YARA rules (on payload fields) and the STIX 2.1
 * indicator sets, and each hit becomes an alert document.
 *
 * Content comes from one rules directory (detect.rules_dir):
 *   sigma/ sigma-mappings/ placeholders.yaml   Sigma rules, field mappings
 *   yara/ (files ending .yar or .yara)           YARA rules
 *   intel/ (files ending .json)                  STIX 2.1 bundles
 * A rule or indicator that cannot be loaded is logged with file, line and
 * reason, counted, and skipped; the rest load. lf_detect_reload() builds a
 * complete new set and swaps it in only when it succeeded, so a bad update
 * never leaves the server without detection.
 *
 * Threads: lf_detect_event() and lf_detect_reload() run on the ingest loop
 * thread (one matching thread); construction and destruction on the
 * owner's thread.
 */
#ifndef LF_DETECT_H
#define LF_DETECT_H

#include "lf_buf.h"
#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"
#include "lf_ioc.h"
#include "lf_metrics.h"
#include "lf_sigma.h"
#include "lf_yara.h"

typedef struct lf_detect_config {
    bool enabled;
    char *rules_dir;
    int64_t max_alerts_per_event;
    lf_sigma_options_t sigma;
    lf_yara_config_t yara;
    lf_ioc_config_t intel;
    /* Programmatic only (tools), not part of the option table: extra rule
     * files or folders, classified by name (.yar/.yara YARA, .json STIX
     * bundle, anything else Sigma), and a Sigma mapping folder used when
     * rules_dir is empty. Borrowed. */
    const char *const *paths;
    size_t path_count;
    const char *mappings;
} lf_detect_config_t;

/* The `detect:` section rows. */
extern const lf_config_option_t lf_detect_config_options[];

typedef struct lf_detect lf_detect_t;

typedef enum lf_detect_kind { LF_DETECT_SIGMA, LF_DETECT_YARA, LF_DETECT_INTEL } lf_detect_kind_t;

/* One hit, valid during the callback. */
typedef struct lf_detect_hit {
    lf_detect_kind_t kind;
    const char *rule_id; /* Sigma id, "namespace:identifier" for YARA, STIX indicator id */
    int level;           /* 0 informational .. 4 critical */
    const lf_sigma_rule_meta_t *sigma;
    const lf_yara_match_t *yara;
    const lf_ioc_match_t *intel;
} lf_detect_hit_t;

typedef struct lf_detect_stats {
    size_t sigma_rules, yara_rules, indicators;
    size_t problems;    /* rules, rule files, bundles or indicators that failed to load */
    size_t unsupported; /* indicators with valid patterns outside the supported subset */
} lf_detect_stats_t;

/* Loads all content. Problems in single rules are logged and skipped
 * (counted in lf_detect_stats().problems); LF_ECONFIG only for an unusable
 * configuration (rules_dir missing, unless explicit paths are given). */
lf_err_t lf_detect_new(const lf_detect_config_t *cfg, lf_metrics_t *metrics, lf_detect_t **out,
                       char *errstr, size_t errlen);
void lf_detect_free(lf_detect_t *d);
/* Reloads everything from rules_dir; on failure the current content stays. */
lf_err_t lf_detect_reload(lf_detect_t *d, char *errstr, size_t errlen);
void lf_detect_stats(const lf_detect_t *d, lf_detect_stats_t *out);

typedef void (*lf_detect_hit_cb)(void *opaque, const lf_detect_hit_t *hit);
/* Matches one event; calls cb per hit (at most max_alerts_per_event).
 * Returns the number of hits. */
size_t lf_detect_event(lf_detect_t *d, const lf_event_t *ev, int64_t event_time_ms,
                       lf_detect_hit_cb cb, void *opaque);

/* Writes the alert document of a hit: alert id and type, @timestamp, the
 * rule (ECS rule.*), ATT&CK (threat.*), the indicator or YARA details, the
 * event's agency, host, agent and entities (source/destination IP, user,
 * process, URL), and a reference to the event (agent id, sequence). */
lf_err_t lf_detect_alert_json(const lf_detect_hit_t *hit, const lf_event_t *ev, uint64_t alert_id,
                              int64_t event_time_ms, lf_buf_t *out);

#endif
