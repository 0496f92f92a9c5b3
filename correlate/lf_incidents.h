/* lf_incidents.h - incidents (資通安全事件) and cross-agency joint-defence
 * correlation (區域聯防), kept in the store's keyed tables.
 *
 * Every stored alert of level >= incidents.min_alert_level is attached to
 * an open incident of its agency with the same grouping key (rule and
 * entity: source IP, else user, else host) whose last alert is at most
 * incidents.group_window older, or opens a new one. The incident carries
 * the regulatory model of lf_incident.h: a suggested level 1-4 from the
 * CIA impact and the asset class, the status lifecycle, the deadlines
 * counted from awareness, and the threat lights derived from the open
 * incidents.
 *
 * Joint defence: the same public source IP, file hash, indicator or
 * high-level rule seen at incidents.joint.min_agencies different agencies
 * of one region within incidents.joint.window raises one regional alert
 * that links the agency alerts, and one regional incident; the agency
 * incidents are marked as members of that cluster.
 *
 * All writes of an alert happen in the store batch that stores the alert,
 * so incidents are exactly-once with the events (docs/incidents.md);
 * within a batch, records are kept parsed and written once at its end
 * (lf_incidents_batch_end).
 * Analyst actions run in their own short write transaction.
 *
 * Threads: lf_incidents_on_alert() on the store's writer thread; the
 * read functions and lf_incidents_act() on any thread.
 */
#ifndef LF_INCIDENTS_H
#define LF_INCIDENTS_H

#include "lf_buf.h"
#include "lf_config.h"
#include "lf_error.h"
#include "lf_incident.h"
#include "lf_metrics.h"
#include "lf_region.h"
#include "lf_store.h"
#include "lf_str.h"

typedef struct lf_incidents_joint_config {
    bool enabled;
    int64_t window_ms;
    int64_t min_agencies;
    int64_t min_rule_level; /* a rule counts as a joint entity from this alert level */
    bool private_addresses; /* also join on private / loopback source IPs */
    int64_t max_sightings;  /* agencies remembered per entity */
} lf_incidents_joint_config_t;

typedef struct lf_incidents_lights_config {
    int64_t yellow_open_level1;  /* open level-1 incidents that make an agency yellow */
    int64_t yellow_cluster_size; /* agencies of a cluster that make its members yellow */
    int64_t step_up_agencies;    /* confirmed member agencies for the region step-up */
    int64_t step_up_counties;    /* ... in at least this many counties */
} lf_incidents_lights_config_t;

typedef struct lf_incidents_config {
    bool enabled;
    char *regions_file;       /* region model (docs/regions.md); "" = none */
    int64_t group_window_ms;  /* alerts of one key join an incident within this */
    int64_t min_alert_level;  /* 0 informational .. 4 critical */
    int64_t max_list_entries; /* rule ids / entities / techniques kept per incident */
    int64_t silent_after_ms;  /* an agency whose agents are all silent this long is grey */
    int64_t report_deadline_ms, rereport_deadline_ms;
    int64_t review_deadline_low_ms, review_deadline_high_ms;
    int64_t recovery_deadline_low_ms, recovery_deadline_high_ms;
    int64_t improvement_months;
    int64_t tz_offset_min;
    lf_incidents_joint_config_t joint;
    lf_incidents_lights_config_t lights;
} lf_incidents_config_t;

extern const lf_config_option_t lf_incidents_config_options[];

typedef struct lf_incidents lf_incidents_t;

/* Loads the region model (when configured). Borrows st for the engine's
 * lifetime. LF_ECONFIG with a message for a bad region file. */
lf_err_t lf_incidents_new(const lf_incidents_config_t *cfg, lf_store_t *st, lf_incidents_t **out,
                          char *errstr, size_t errlen);
void lf_incidents_free(lf_incidents_t *inc);
/* Registers the engine's counters (lianfang_incidents_*) for /metrics. */
lf_err_t lf_incidents_register_metrics(lf_incidents_t *inc, lf_metrics_t *reg);
/* The region model (NULL when none is configured). */
const lf_region_model_t *lf_incidents_regions(const lf_incidents_t *inc);

/* What grouping needs to know of one stored alert. Strings are borrowed
 * during the call; empty = absent. */
typedef struct lf_incident_alert {
    uint64_t alert_id;
    int64_t time_ms;  /* the event's @timestamp */
    int level;        /* 0 informational .. 4 critical */
    const char *kind; /* "sigma", "yara", "intel", "correlation" */
    lf_str_t agency, rule_id, rule_title, host, user, source_ip, file_hash, indicator;
    lf_str_t agent_id;
    uint64_t event_seq;
    const char *const *tactics; /* ATT&CK tactic ids (TA0001) */
    size_t tactic_count;
    const char *const *techniques; /* T1110.001 */
    size_t technique_count;
} lf_incident_alert_t;

typedef struct lf_incidents_stats {
    uint64_t incidents_opened, alerts_grouped, alerts_below_level, joint_alerts;
    uint64_t unknown_agency; /* alerts whose agency is not in the region model */
} lf_incidents_stats_t;

/* Groups one alert just stored in batch b; may store a regional alert in
 * the same batch (and group it). Writer thread. Errors are the store's
 * (the batch is then failed). */
lf_err_t lf_incidents_on_alert(lf_incidents_t *inc, lf_store_batch_t *b,
                               const lf_incident_alert_t *alert);
/* Must be called once per batch that saw lf_incidents_on_alert(): with
 * commit = true just before the batch commits (writes the batch's cached
 * incident and sighting records into it; an error fails the batch), with
 * commit = false after an abort (drops them). Writer thread. */
lf_err_t lf_incidents_batch_end(lf_incidents_t *inc, lf_store_batch_t *b, bool commit);
void lf_incidents_stats(lf_incidents_t *inc, lf_incidents_stats_t *out);

/* ---- reading (any thread) -------------------------------------------------- */

typedef struct lf_incident_query {
    const char *cursor; /* "" = newest */
    size_t limit;       /* 1..1000 */
    lf_str_t status;    /* "open" (new, acknowledged, contained), or one status; "" = any */
    int level;          /* 0 = any */
    lf_str_t agency, region;
    bool overdue_only;
    int64_t from_ms, to_ms; /* on the incident's first alert, 0 = unbounded */
    int64_t now_ms;
} lf_incident_query_t;

/* Writes {"incidents":[...],"next_cursor":"..."} newest first, each with
 * its deadlines and overdue flags computed at now_ms. LF_EINVAL for a bad
 * cursor. */
lf_err_t lf_incidents_list_json(lf_incidents_t *inc, const lf_incident_query_t *q, lf_buf_t *out);
/* One incident with its linked alerts and its history (timeline).
 * LF_ENOTFOUND when unknown. */
lf_err_t lf_incidents_get_json(lf_incidents_t *inc, uint64_t id, int64_t now_ms, lf_buf_t *out);
/* The threat lights of every agency and region (domain.md §4). */
lf_err_t lf_incidents_lights_json(lf_incidents_t *inc, int64_t now_ms, lf_buf_t *out);
/* The notification draft (通報) of an incident: JSON, or printable HTML. */
lf_err_t lf_incidents_report(lf_incidents_t *inc, uint64_t id, int64_t now_ms, bool html,
                             lf_buf_t *out);

/* ---- analyst actions (any thread) ---------------------------------------- */

/* Applies one action given as a JSON object (docs/incidents.md):
 *   {"action":"status","status":"acknowledged","by":"...","note":"..."}
 *   {"action":"level","level":3,"reason":"...","by":"..."}
 *   {"action":"impact","asset":"core","c":"severe","i":"none","a":"none","by":"..."}
 *   {"action":"assign","assignee":"...","by":"..."}
 *   {"action":"note","text":"...","by":"..."}
 *   {"action":"awareness"|"reported"|"reviewed"|"improvement_submitted","at":"<RFC
 * 3339>","by":"..."} On success writes the updated incident (as lf_incidents_get_json) to out.
 * LF_EINVAL with a message in errstr for a malformed or disallowed action
 * (e.g. a status going backwards, a level change without reason),
 * LF_ENOTFOUND, or a store error. */
lf_err_t lf_incidents_act(lf_incidents_t *inc, uint64_t id, const char *body, size_t len,
                          int64_t now_ms, lf_buf_t *out, char *errstr, size_t errlen);

#endif
