/* lf_incident.h - Taiwan's incident levels, reporting deadlines and threat
 * lights (資通安全事件等級, 通報時限, 威脅燈號).
 *
 * Pure functions over plain structs: no I/O, no allocation, thread-safe.
 * The model and its sources are in ../shared/domain.md §2 and §4; every
 * number is a field of lf_incident_rules_t, so a change of regulation is a
 * configuration change (the 2026 regulation renamed the 辦法; keep level
 * rules and deadlines in config).
 */
#ifndef LF_INCIDENT_H
#define LF_INCIDENT_H

#include "lf_error.h"

#include <stdbool.h>
#include <stdint.h>

/* Asset classes of the level table (核心業務/系統, 關鍵基礎設施, 機敏). */
typedef enum lf_asset_class {
    LF_ASSET_NON_CORE = 0,       /* non-core information or system */
    LF_ASSET_CORE = 1,           /* core business/system, not CI-related */
    LF_ASSET_CORE_CI = 2,        /* core, related to critical infrastructure */
    LF_ASSET_SENSITIVE = 3,      /* official secret / sensitive information */
    LF_ASSET_NATIONAL_SECRET = 4 /* national secret */
} lf_asset_class_t;
#define LF_ASSET_CLASS_COUNT 5

/* Impact dimensions: 機密性 confidentiality (leak), 完整性 integrity
 * (tampering), 可用性 availability (outage). */
typedef enum lf_cia { LF_CIA_C = 0, LF_CIA_I = 1, LF_CIA_A = 2 } lf_cia_t;

typedef enum lf_severity {
    LF_SEVERITY_NONE = 0,   /* this dimension is not affected */
    LF_SEVERITY_MINOR = 1,  /* 輕微 (A: restored within max tolerable downtime) */
    LF_SEVERITY_SEVERE = 2, /* 嚴重 */
} lf_severity_t;

/* One affected asset with its impact per dimension. */
typedef struct lf_impact {
    lf_asset_class_t asset;
    lf_severity_t cia[3];
} lf_impact_t;

typedef struct lf_incident_rules {
    /* level[asset][severity-1]: the level table; 0 = not applicable. */
    int level[LF_ASSET_CLASS_COUNT][2];
    /* The sensitive and national-secret rows apply to C and I only; for A
     * the asset is judged as this class instead. */
    lf_asset_class_t availability_class_of_secret;
    int64_t report_ms;        /* 通報: after awareness (知悉) */
    int64_t rereport_ms;      /* after a level change */
    int64_t review_low_ms;    /* 審核, levels 1-2: after the report is received */
    int64_t review_high_ms;   /* levels 3-4 */
    int64_t recovery_low_ms;  /* 損害控制或復原, levels 1-2: after awareness */
    int64_t recovery_high_ms; /* levels 3-4 */
    int improvement_months;   /* 調查、處理及改善報告: calendar months after recovery */
    int32_t tz_offset_min;    /* zone of calendar arithmetic (UTC+8: 480) */
} lf_incident_rules_t;

/* The rules of domain.md §2 (Taiwan, 2021-era 通報及應變辦法). */
void lf_incident_rules_default(lf_incident_rules_t *rules);

/* The suggested level 1..4: the maximum over assets and dimensions; 0 when
 * no dimension is affected. */
int lf_incident_level(const lf_incident_rules_t *rules, const lf_impact_t *impacts, int count);

typedef struct lf_incident_deadlines {
    int64_t report_ms;      /* awareness + report_ms (or level change + rereport_ms) */
    int64_t review_ms;      /* report received + review (0 until reported) */
    int64_t recovery_ms;    /* awareness + recovery by level */
    int64_t improvement_ms; /* recovered + N calendar months (0 until recovered) */
} lf_incident_deadlines_t;

typedef struct lf_incident_times {
    int level;                /* current level 1..4 */
    int64_t awareness_ms;     /* 知悉 */
    int64_t level_changed_ms; /* last level change after the first report, 0 = none */
    int64_t reported_ms;      /* report received by the supervisor, 0 = not yet */
    int64_t recovered_ms;     /* 復原 done, 0 = not yet */
} lf_incident_times_t;

/* Computes the deadlines; LF_EINVAL for a level outside 1..4 or no awareness. */
lf_err_t lf_incident_deadlines(const lf_incident_rules_t *rules, const lf_incident_times_t *t,
                               lf_incident_deadlines_t *out);

/* Adds `months` calendar months in the zone tz_offset_min, keeping the local
 * time of day; a day past the month's end becomes its last day
 * (01-31 + 1 month = 02-28 or 02-29). */
int64_t lf_add_calendar_months(int64_t epoch_ms, int months, int32_t tz_offset_min);

/* ---- threat lights (威脅燈號), domain.md §4 ------------------------------ */

typedef enum lf_light {
    LF_LIGHT_GREEN = 0,  /* 綠 */
    LF_LIGHT_BLUE = 1,   /* 藍 */
    LF_LIGHT_YELLOW = 2, /* 黃 */
    LF_LIGHT_ORANGE = 3, /* 橙 */
    LF_LIGHT_RED = 4,    /* 紅 */
    LF_LIGHT_GREY = 5,   /* 灰: sources silent, no judgement possible */
} lf_light_t;

const char *lf_light_name(lf_light_t light); /* "green" ... "grey" */

typedef enum lf_incident_status {
    LF_STATUS_NEW = 0,
    LF_STATUS_ACKNOWLEDGED = 1,
    LF_STATUS_CONTAINED = 2,
    LF_STATUS_RECOVERED = 3,
    LF_STATUS_CLOSED = 4,
} lf_incident_status_t;

/* What a light needs to know of one incident of the agency. */
typedef struct lf_light_incident {
    int level;
    lf_incident_status_t status;
    lf_incident_deadlines_t due;
    bool reported; /* the report was received */
    bool reviewed; /* the level review happened */
    bool improvement_submitted;
    bool in_cross_agency_cluster; /* its cluster spans >= 3 agencies */
} lf_light_incident_t;

typedef struct lf_light_agency {
    const lf_light_incident_t *incidents;
    int count;
    bool untriaged_high_alert; /* a high/critical alert not yet triaged */
    bool sources_silent;       /* every source of the agency is silent */
    int64_t now_ms;
    int yellow_open_level1; /* open level-1 incidents that make yellow; 0 = 3 */
} lf_light_agency_t;

/* The agency's light: the first matching row of domain.md §4. */
lf_light_t lf_light_agency(const lf_light_agency_t *agency);

/* The region's light: the worst agency light (grey counts as green unless
 * every agency is grey), one step higher (at most red) when
 * `cluster_escalation` (one cluster has confirmed incidents at >= 2
 * agencies in >= 2 counties). */
lf_light_t lf_light_region(const lf_light_t *agency_lights, int count, bool cluster_escalation);

#endif
