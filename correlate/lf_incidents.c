/* lf_incidents.c - incidents and joint-defence correlation over the
 * store's keyed tables. Model: docs/incidents.md; tables: docs/store.md. */
#include "lf_incidents.h"

#include "lf_bytes.h"
#include "lf_json.h"
#include "lf_log.h"
#include "lf_time.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_COMP "incidents"

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

#define LINK_ALERT   'a'
#define LINK_HISTORY 'h'
#define KEY_GROUP    'g'
#define KEY_OPEN     'o'
#define KEY_COUNTS   'c' /* incident id + this byte: the counts record (below) */
#define SEP          '\x1f'

/* ---- configuration ---------------------------------------------------------- */

#define CFG lf_incidents_config_t

static const lf_config_option_t joint_options[] = {
    LF_CFG_OPT_BOOL("enabled", lf_incidents_joint_config_t, enabled, "true",
                    "Raise a regional alert when one entity is seen at several agencies of "
                    "one region (區域聯防)."),
    LF_CFG_OPT_DURATION("window", lf_incidents_joint_config_t, window_ms, "1h", 1000, 30 * DAY_MS,
                        "Sightings at different agencies count together when they are at "
                        "most this far apart (event time)."),
    LF_CFG_OPT_INT("min_agencies", lf_incidents_joint_config_t, min_agencies, "3", 2, 1000,
                   "Distinct agencies of one region that must see the entity."),
    LF_CFG_OPT_INT("min_rule_level", lf_incidents_joint_config_t, min_rule_level, "3", 0, 4,
                   "A rule firing counts as a joint entity from this alert level (3 = high); "
                   "source IPs, file hashes and indicators count at any level."),
    LF_CFG_OPT_BOOL("private_addresses", lf_incidents_joint_config_t, private_addresses, "false",
                    "Also join on private, loopback and link-local source IPs (the same "
                    "private address at two agencies is usually two different hosts)."),
    LF_CFG_OPT_INT("max_sightings", lf_incidents_joint_config_t, max_sightings, "64", 2, 4096,
                   "Agencies remembered per entity and region; the oldest are forgotten."),
    LF_CFG_END,
};

static const lf_config_option_t lights_options[] = {
    LF_CFG_OPT_INT("yellow_open_level1", lf_incidents_lights_config_t, yellow_open_level1, "3", 1,
                   1000, "This many open level-1 incidents make an agency yellow (黃)."),
    LF_CFG_OPT_INT("yellow_cluster_size", lf_incidents_lights_config_t, yellow_cluster_size, "3", 2,
                   1000,
                   "An agency with an open incident in a cross-agency cluster of at least this "
                   "many agencies is yellow."),
    LF_CFG_OPT_INT("step_up_agencies", lf_incidents_lights_config_t, step_up_agencies, "2", 1, 1000,
                   "A region's light goes one step up when one cluster has confirmed incidents "
                   "at this many agencies ..."),
    LF_CFG_OPT_INT("step_up_counties", lf_incidents_lights_config_t, step_up_counties, "2", 1, 100,
                   "... in at least this many counties of the region."),
    LF_CFG_END,
};

const lf_config_option_t lf_incidents_config_options[] = {
    LF_CFG_OPT_BOOL("enabled", CFG, enabled, "true",
                    "Group alerts into incidents (needs detection enabled)."),
    LF_CFG_OPT_STRING("regions_file", CFG, regions_file, "",
                      "Region and agency model (docs/regions.md); rules/regions/taiwan.yaml "
                      "ships the six regions. Empty: no regions (no joint defence, agency "
                      "lights only for agencies seen in incidents)."),
    LF_CFG_OPT_DURATION("group_window", CFG, group_window_ms, "1h", 1000, 30 * DAY_MS,
                        "An alert joins the open incident of its agency, rule and entity "
                        "when that incident's last alert is at most this old."),
    LF_CFG_OPT_INT("min_alert_level", CFG, min_alert_level, "2", 0, 4,
                   "Alerts below this level (0 informational, 1 low, 2 medium, 3 high, "
                   "4 critical) do not open or join incidents."),
    LF_CFG_OPT_INT("max_list_entries", CFG, max_list_entries, "32", 1, 1024,
                   "Rule ids, entities and ATT&CK techniques kept per incident."),
    LF_CFG_OPT_DURATION("silent_after", CFG, silent_after_ms, "1h", 1000, 30 * DAY_MS,
                        "An agency whose agents have all sent nothing for this long shows "
                        "the grey light (no judgement possible)."),
    LF_CFG_OPT_DURATION("report_deadline", CFG, report_deadline_ms, "1h", 1000, 30 * DAY_MS,
                        "通報: report within this of awareness (知悉)."),
    LF_CFG_OPT_DURATION("rereport_deadline", CFG, rereport_deadline_ms, "1h", 1000, 30 * DAY_MS,
                        "Report again within this of a level change after the first report."),
    LF_CFG_OPT_DURATION("review_deadline_low", CFG, review_deadline_low_ms, "8h", 1000, 30 * DAY_MS,
                        "審核 of a level 1-2 report by the supervisor."),
    LF_CFG_OPT_DURATION("review_deadline_high", CFG, review_deadline_high_ms, "2h", 1000,
                        30 * DAY_MS, "審核 of a level 3-4 report by the supervisor."),
    LF_CFG_OPT_DURATION("recovery_deadline_low", CFG, recovery_deadline_low_ms, "72h", 1000,
                        365 * DAY_MS, "損害控制或復原 of a level 1-2 incident, from awareness."),
    LF_CFG_OPT_DURATION("recovery_deadline_high", CFG, recovery_deadline_high_ms, "36h", 1000,
                        365 * DAY_MS, "損害控制或復原 of a level 3-4 incident, from awareness."),
    LF_CFG_OPT_INT("improvement_months", CFG, improvement_months, "1", 1, 24,
                   "調查、處理及改善報告: calendar months after recovery."),
    LF_CFG_OPT_INT("tz_offset_min", CFG, tz_offset_min, "480", -720, 840,
                   "Zone of calendar arithmetic and of printed times, minutes east of UTC "
                   "(Taiwan: 480)."),
    LF_CFG_OPT_SECTION("joint", CFG, joint, joint_options,
                       "Cross-agency joint-defence correlation."),
    LF_CFG_OPT_SECTION("lights", CFG, lights, lights_options,
                       "Thresholds of the threat lights (domain rules: docs/incidents.md)."),
    LF_CFG_END,
};

#undef CFG

/* ---- engine ------------------------------------------------------------------ */

/* Documents of the open batch, parsed once and written once at its end
 * (lf_incidents_batch_end): grouping many alerts of one incident in a
 * batch costs one parse and one serialisation, not one per alert. Writer
 * thread only. */
#define CACHE_SLOTS 8192 /* power of two */
#define CACHE_MAX   4096 /* entries before an early write-out */

typedef struct cache_ent {
    uint8_t *key; /* table byte + key bytes; NULL = free slot */
    size_t klen;
    json_t *val;
    bool dirty;
} cache_ent_t;

typedef struct cache {
    cache_ent_t *slots;
    size_t count;
    lf_store_batch_t *batch; /* the batch the entries belong to */
} cache_t;

static lf_err_t cache_flush(cache_t *c, lf_store_wtx_t *w);

enum { IM_OPENED, IM_GROUPED, IM_BELOW, IM_JOINT, IM_UNKNOWN_AGENCY, IM_COUNT };

static const lf_metric_t metric_templates[IM_COUNT] = {
    [IM_OPENED] = {.name = "lianfang_incidents_opened_total",
                   .help = "Incidents opened (agency and regional).",
                   .kind = LF_METRIC_COUNTER},
    [IM_GROUPED] = {.name = "lianfang_incidents_alerts_grouped_total",
                    .help = "Alerts attached to an incident.",
                    .kind = LF_METRIC_COUNTER},
    [IM_BELOW] = {.name = "lianfang_incidents_alerts_below_level_total",
                  .help = "Alerts below incidents.min_alert_level (no incident).",
                  .kind = LF_METRIC_COUNTER},
    [IM_JOINT] = {.name = "lianfang_incidents_joint_alerts_total",
                  .help = "Regional (cross-agency) alerts raised.",
                  .kind = LF_METRIC_COUNTER},
    [IM_UNKNOWN_AGENCY] = {.name = "lianfang_incidents_unknown_agency_total",
                           .help = "Alerts whose organization.id is not in the region model.",
                           .kind = LF_METRIC_COUNTER},
};

/* The counts record of an incident, beside its document in the incidents
 * table (key: id, then KEY_COUNTS). Every alert of an incident changes its
 * counts; few change its document (a new rule, entity, tactic or a higher
 * level). Repeated alerts therefore write 104 fixed bytes instead of
 * parsing and serialising the JSON document: fingerprints of the alert
 * contents already merged into the document tell which case an alert is.
 * Readers lay the counts over the document. */
#define COUNTS_VERSION 1
#define COUNTS_FP      8
#define COUNTS_BYTES   (8 + 4 * 8 + COUNTS_FP * 8)

typedef struct counts {
    uint64_t alert_count;
    int64_t first_ms, last_ms, updated_ms;
    int status;    /* a copy of the document's, for the grouping check */
    int max_level; /* highest alert level, as in the document; -1: none yet */
    unsigned nfp;  /* fingerprints in fp, a ring once full */
    unsigned fp_next;
    uint64_t fp[COUNTS_FP];
} counts_t;

/* The joint record of one entity in one region (table joint): which
 * agencies saw it and when, and whether its cluster fired. Binary, as
 * every alert with a public source IP, file hash or indicator reads and
 * writes one. Layout (little-endian): u8 version, u8 fired, u16 nsight,
 * u32 nmembers, i64 fired_ms, u64 regional incident; nsight times (u8
 * agency length, agency, i64 time_ms, u64 alert, u8 ninc, u64 incident ids);
 * nmembers times u64 member incident id. Sightings are oldest first. */
#define JOINT_VERSION     1
#define JOINT_HEAD        24
#define JOINT_MAX_INC     16
#define JOINT_MAX_MEMBERS 4096
#define JOINT_MAX_AGENCY  255

typedef struct jsight {
    const char *agency; /* into jrec_t.raw, or the alert's */
    size_t agency_len;
    int64_t time_ms;
    uint64_t alert;
    unsigned ninc;
    uint64_t inc[JOINT_MAX_INC];
} jsight_t;

typedef struct jrec {
    bool fired;
    int64_t fired_ms;
    uint64_t regional;
    size_t nsight, cap; /* cap: incidents.joint.max_sightings + 1 */
    jsight_t *sight;
    size_t nmembers;
    uint64_t *members; /* JOINT_MAX_MEMBERS */
    lf_buf_t raw;      /* the stored value, copied */
    lf_buf_t enc;      /* the value to store */
} jrec_t;

struct lf_incidents {
    cache_t cache;
    jrec_t joint;     /* writer thread */
    lf_buf_t scratch; /* writer thread: alert link values */
    lf_incidents_config_t cfg;
    lf_store_t *st;
    lf_region_model_t regions;
    bool have_regions;
    lf_incident_rules_t rules;
    lf_metric_t m[IM_COUNT];
};

lf_err_t lf_incidents_new(const lf_incidents_config_t *cfg, lf_store_t *st, lf_incidents_t **out,
                          char *errstr, size_t errlen)
{
    *out = NULL;
    lf_incidents_t *inc = calloc(1, sizeof *inc);
    if (!inc)
        return LF_ENOMEM;
    inc->cfg = *cfg;
    inc->cfg.regions_file = NULL;
    inc->st = st;
    memcpy(inc->m, metric_templates, sizeof inc->m);
    lf_buf_init(&inc->scratch, 1u << 20);
    lf_buf_init(&inc->joint.raw, 8u << 20);
    lf_buf_init(&inc->joint.enc, 8u << 20);
    inc->joint.cap = (size_t)cfg->joint.max_sightings + 1;
    inc->joint.sight = calloc(inc->joint.cap, sizeof *inc->joint.sight);
    inc->joint.members = calloc(JOINT_MAX_MEMBERS, sizeof *inc->joint.members);
    inc->cache.slots = calloc(CACHE_SLOTS, sizeof *inc->cache.slots);
    if (!inc->cache.slots || !inc->joint.sight || !inc->joint.members) {
        lf_incidents_free(inc);
        return LF_ENOMEM;
    }
    lf_incident_rules_default(&inc->rules);
    inc->rules.report_ms = cfg->report_deadline_ms;
    inc->rules.rereport_ms = cfg->rereport_deadline_ms;
    inc->rules.review_low_ms = cfg->review_deadline_low_ms;
    inc->rules.review_high_ms = cfg->review_deadline_high_ms;
    inc->rules.recovery_low_ms = cfg->recovery_deadline_low_ms;
    inc->rules.recovery_high_ms = cfg->recovery_deadline_high_ms;
    inc->rules.improvement_months = (int)cfg->improvement_months;
    inc->rules.tz_offset_min = (int32_t)cfg->tz_offset_min;
    if (cfg->regions_file && cfg->regions_file[0]) {
        lf_err_t rc = lf_region_model_load(cfg->regions_file, &inc->regions, errstr, errlen);
        if (rc != LF_OK) {
            lf_incidents_free(inc);
            return rc;
        }
        inc->have_regions = true;
    }
    *out = inc;
    return LF_OK;
}

void lf_incidents_free(lf_incidents_t *inc)
{
    if (!inc)
        return;
    if (inc->have_regions)
        lf_region_model_free(&inc->regions);
    if (inc->cache.slots)
        cache_flush(&inc->cache, NULL);
    free(inc->cache.slots);
    lf_buf_free(&inc->scratch);
    free(inc->joint.sight);
    free(inc->joint.members);
    lf_buf_free(&inc->joint.raw);
    lf_buf_free(&inc->joint.enc);
    free(inc);
}

lf_err_t lf_incidents_register_metrics(lf_incidents_t *inc, lf_metrics_t *reg)
{
    return lf_metrics_register(reg, inc->m, IM_COUNT);
}

const lf_region_model_t *lf_incidents_regions(const lf_incidents_t *inc)
{
    return inc->have_regions ? &inc->regions : NULL;
}

lf_err_t lf_incidents_batch_end(lf_incidents_t *inc, lf_store_batch_t *b, bool commit)
{
    lf_err_t rc = LF_OK;
    if (commit && inc->cache.batch == b && inc->cache.count) {
        lf_store_wtx_t *w = lf_store_batch_wtx(b);
        rc = w ? cache_flush(&inc->cache, w) : LF_ESTATE;
    }
    cache_flush(&inc->cache, NULL);
    inc->cache.batch = NULL;
    return rc;
}

void lf_incidents_stats(lf_incidents_t *inc, lf_incidents_stats_t *out)
{
    out->incidents_opened = (uint64_t)lf_metric_get(&inc->m[IM_OPENED]);
    out->alerts_grouped = (uint64_t)lf_metric_get(&inc->m[IM_GROUPED]);
    out->alerts_below_level = (uint64_t)lf_metric_get(&inc->m[IM_BELOW]);
    out->joint_alerts = (uint64_t)lf_metric_get(&inc->m[IM_JOINT]);
    out->unknown_agency = (uint64_t)lf_metric_get(&inc->m[IM_UNKNOWN_AGENCY]);
}

/* ---- small helpers --------------------------------------------------------------- */

static const char *const status_names[] = {"new", "acknowledged", "contained", "recovered",
                                           "closed"};
static const char *const level_names[] = {"informational", "low", "medium", "high", "critical"};
static const char *const asset_names[] = {"non_core", "core", "core_ci", "sensitive",
                                          "national_secret"};
static const char *const severity_names[] = {"none", "minor", "severe"};

static int name_index(const char *const *names, int count, const char *s)
{
    for (int i = 0; s && i < count; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static bool open_status(int status)
{
    return status >= LF_STATUS_NEW && status <= LF_STATUS_CONTAINED;
}

static json_t *jstr(lf_str_t s)
{
    return json_stringn_nocheck(s.ptr ? s.ptr : "", s.len);
}

static int64_t jint(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *jcstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Adds s to the array when absent, keeping at most max entries. */
static void set_add(json_t *arr, lf_str_t s, size_t max)
{
    if (!s.len)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_string_length(v) == s.len && memcmp(json_string_value(v), s.ptr, s.len) == 0)
            return;
    }
    if (json_array_size(arr) < max)
        json_array_append_new(arr, jstr(s));
}

static json_t *obj_array(json_t *obj, const char *key)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(obj, key, a);
    }
    return a;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static cache_ent_t *cache_find(cache_t *c, const uint8_t *key, size_t klen, bool *found)
{
    size_t i = (size_t)hash_bytes(key, klen) & (CACHE_SLOTS - 1);
    for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
        cache_ent_t *e = &c->slots[i];
        if (!e->key) {
            *found = false;
            return e;
        }
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *found = true;
            return e;
        }
    }
}

/* Writes every dirty entry into w and empties the cache. */
static lf_err_t cache_flush(cache_t *c, lf_store_wtx_t *w)
{
    lf_err_t rc = LF_OK;
    for (size_t i = 0; c->count && i < CACHE_SLOTS; i++) {
        cache_ent_t *e = &c->slots[i];
        if (!e->key)
            continue;
        if (e->dirty && rc == LF_OK && w) {
            char *text = json_dumps(e->val, JSON_COMPACT);
            rc = text ? lf_store_wtx_put(w, (lf_store_table_t)e->key[0], e->key + 1, e->klen - 1,
                                         text, strlen(text))
                      : LF_ENOMEM;
            free(text);
        }
        free(e->key);
        json_decref(e->val);
        *e = (cache_ent_t){0};
        c->count--;
    }
    c->count = 0;
    return rc;
}

/* Reads a JSON value of a table, through the cache when c is given (the
 * writer's batch). *out is a new reference. */
static lf_err_t load_json(cache_t *c, lf_store_wtx_t *w, lf_store_table_t t, const void *key,
                          size_t klen, json_t **out)
{
    uint8_t ck[LF_STORE_MAX_KEY + 1];
    cache_ent_t *e = NULL;
    if (c && c->slots && klen <= LF_STORE_MAX_KEY) {
        ck[0] = (uint8_t)t;
        memcpy(ck + 1, key, klen);
        bool found;
        e = cache_find(c, ck, klen + 1, &found);
        if (found) {
            *out = json_incref(e->val);
            return LF_OK;
        }
    }
    lf_str_t v;
    lf_err_t rc = lf_store_wtx_get(w, t, key, klen, &v);
    if (rc != LF_OK)
        return rc;
    *out = json_loadb(v.ptr, v.len, 0, NULL);
    if (!json_is_object(*out)) {
        json_decref(*out);
        lf_error(LOG_COMP, "a record of store table %d is not a JSON object", (int)t);
        return LF_ESTORE;
    }
    if (e && c->count < CACHE_MAX && (e->key = malloc(klen + 1))) {
        memcpy(e->key, ck, klen + 1);
        e->klen = klen + 1;
        e->val = json_incref(*out);
        e->dirty = false;
        c->count++;
    }
    return LF_OK;
}

/* Writes a JSON value (borrowed) of a table: into the cache when c is
 * given, else serialised into w now. */
static lf_err_t put_json(cache_t *c, lf_store_wtx_t *w, lf_store_table_t t, const void *key,
                         size_t klen, json_t *val)
{
    if (c && c->slots && klen <= LF_STORE_MAX_KEY) {
        if (c->count >= CACHE_MAX) {
            lf_err_t rc = cache_flush(c, w);
            if (rc != LF_OK)
                return rc;
        }
        uint8_t ck[LF_STORE_MAX_KEY + 1];
        ck[0] = (uint8_t)t;
        memcpy(ck + 1, key, klen);
        bool found;
        cache_ent_t *e = cache_find(c, ck, klen + 1, &found);
        if (found) {
            if (e->val != val) {
                json_decref(e->val);
                e->val = json_incref(val);
            }
            e->dirty = true;
            return LF_OK;
        }
        if ((e->key = malloc(klen + 1))) {
            memcpy(e->key, ck, klen + 1);
            e->klen = klen + 1;
            e->val = json_incref(val);
            e->dirty = true;
            c->count++;
            return LF_OK;
        }
    }
    char *text = json_dumps(val, JSON_COMPACT);
    if (!text)
        return LF_ENOMEM;
    lf_err_t rc = lf_store_wtx_put(w, t, key, klen, text, strlen(text));
    free(text);
    return rc;
}

static lf_err_t put_doc(cache_t *c, lf_store_wtx_t *w, uint64_t id, json_t *doc)
{
    uint8_t k[8];
    lf_put_be64(k, id);
    return put_json(c, w, LF_TABLE_INCIDENTS, k, 8, doc);
}

static lf_err_t load_doc(cache_t *c, lf_store_wtx_t *w, uint64_t id, json_t **doc)
{
    uint8_t k[8];
    lf_put_be64(k, id);
    return load_json(c, w, LF_TABLE_INCIDENTS, k, 8, doc);
}

static lf_err_t put_link(lf_store_wtx_t *w, uint64_t id, char kind, uint64_t sub, json_t *val)
{
    uint8_t k[17];
    lf_put_be64(k, id);
    k[8] = (uint8_t)kind;
    lf_put_be64(k + 9, sub);
    char *text = json_dumps(val, JSON_COMPACT);
    if (!text)
        return LF_ENOMEM;
    lf_err_t rc = lf_store_wtx_put(w, LF_TABLE_INCIDENT_LINKS, k, sizeof k, text, strlen(text));
    free(text);
    return rc;
}

/* Appends a history entry (takes entry) and bumps the incident's counter. */
static lf_err_t history(lf_store_wtx_t *w, uint64_t id, json_t *doc, int64_t now_ms, json_t *entry)
{
    int64_t n = jint(doc, "history_count") + 1;
    json_object_set_new(doc, "history_count", json_integer(n));
    json_object_set_new(entry, "time_ms", json_integer(now_ms));
    lf_err_t rc = put_link(w, id, LINK_HISTORY, (uint64_t)n, entry);
    json_decref(entry);
    return rc;
}

static lf_err_t set_open_index(lf_store_wtx_t *w, uint64_t id, bool open)
{
    uint8_t k[9];
    k[0] = KEY_OPEN;
    lf_put_be64(k + 1, id);
    return open ? lf_store_wtx_put(w, LF_TABLE_INCIDENT_KEYS, k, 9, "", 0)
                : lf_store_wtx_del(w, LF_TABLE_INCIDENT_KEYS, k, 9);
}

/* ---- counts records ----------------------------------------------------------- */

static void counts_key(uint8_t k[9], uint64_t id)
{
    lf_put_be64(k, id);
    k[8] = KEY_COUNTS;
}

/* Layout (little-endian): u8 version, u8 status, i8 max_level, u8 nfp,
 * u8 fp_next, 3 reserved; u64 alert_count; i64 first, last, updated;
 * u64 fp[COUNTS_FP]. */
static void counts_encode(const counts_t *c, uint8_t out[COUNTS_BYTES])
{
    memset(out, 0, COUNTS_BYTES);
    out[0] = COUNTS_VERSION;
    out[1] = (uint8_t)c->status;
    out[2] = (uint8_t)(int8_t)c->max_level;
    out[3] = (uint8_t)c->nfp;
    out[4] = (uint8_t)c->fp_next;
    lf_put_le64(out + 8, c->alert_count);
    lf_put_le64(out + 16, (uint64_t)c->first_ms);
    lf_put_le64(out + 24, (uint64_t)c->last_ms);
    lf_put_le64(out + 32, (uint64_t)c->updated_ms);
    for (unsigned i = 0; i < COUNTS_FP; i++)
        lf_put_le64(out + 40 + 8 * i, c->fp[i]);
}

static bool counts_decode(lf_str_t v, counts_t *c)
{
    const uint8_t *p = (const uint8_t *)v.ptr;
    if (v.len != COUNTS_BYTES || p[0] != COUNTS_VERSION || p[1] > LF_STATUS_CLOSED ||
        p[3] > COUNTS_FP || p[4] >= COUNTS_FP)
        return false;
    c->status = p[1];
    c->max_level = (int8_t)p[2];
    c->nfp = p[3];
    c->fp_next = p[4];
    c->alert_count = lf_get_le64(p + 8);
    c->first_ms = (int64_t)lf_get_le64(p + 16);
    c->last_ms = (int64_t)lf_get_le64(p + 24);
    c->updated_ms = (int64_t)lf_get_le64(p + 32);
    for (unsigned i = 0; i < COUNTS_FP; i++)
        c->fp[i] = lf_get_le64(p + 40 + 8 * i);
    return true;
}

/* The counts of an incident stored before counts records existed: taken
 * from its document. */
static void counts_from_doc(const json_t *doc, counts_t *c)
{
    *c = (counts_t){.alert_count = (uint64_t)jint(doc, "alert_count"),
                    .first_ms = jint(doc, "first_alert_ms"),
                    .last_ms = jint(doc, "last_alert_ms"),
                    .updated_ms = jint(doc, "updated_ms"),
                    .status = name_index(status_names, 5, jcstr(doc, "status")),
                    .max_level = (int)jint(doc, "max_alert_level")};
    if (c->status < 0)
        c->status = LF_STATUS_NEW;
}

static lf_err_t counts_get(lf_store_wtx_t *w, uint64_t id, counts_t *c)
{
    uint8_t k[9];
    counts_key(k, id);
    lf_str_t v;
    lf_err_t rc = lf_store_wtx_get(w, LF_TABLE_INCIDENTS, k, sizeof k, &v);
    if (rc != LF_OK)
        return rc;
    if (!counts_decode(v, c)) {
        lf_error(LOG_COMP,
                 "the counts record of incident %" PRIu64 " is damaged: rebuilt from "
                 "its document",
                 id);
        return LF_ENOTFOUND;
    }
    return LF_OK;
}

static lf_err_t counts_put(lf_store_wtx_t *w, uint64_t id, const counts_t *c)
{
    uint8_t k[9], v[COUNTS_BYTES];
    counts_key(k, id);
    counts_encode(c, v);
    return lf_store_wtx_put(w, LF_TABLE_INCIDENTS, k, sizeof k, v, sizeof v);
}

/* Lays the counts over a document read for clients. */
static void counts_overlay(json_t *doc, const counts_t *c)
{
    json_object_set_new(doc, "alert_count", json_integer((json_int_t)c->alert_count));
    json_object_set_new(doc, "first_alert_ms", json_integer(c->first_ms));
    json_object_set_new(doc, "last_alert_ms", json_integer(c->last_ms));
    if (c->updated_ms > jint(doc, "updated_ms"))
        json_object_set_new(doc, "updated_ms", json_integer(c->updated_ms));
}

static uint64_t fp_mix(uint64_t h, lf_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 1099511628211ull;
    return (h ^ 0x1f) * 1099511628211ull; /* a separator, so "ab","c" != "a","bc" */
}

/* What an alert would merge into its incident's document. */
static uint64_t alert_fingerprint(const lf_incident_alert_t *a)
{
    uint64_t h = 1469598103934665603ull;
    lf_str_t parts[] = {a->rule_id, a->source_ip, a->user, a->host, a->file_hash, a->indicator};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        h = fp_mix(h, parts[i]);
    for (size_t i = 0; i < a->tactic_count; i++)
        h = fp_mix(h, lf_str_c(a->tactics[i]));
    h = fp_mix(h, lf_str_c("|"));
    for (size_t i = 0; i < a->technique_count; i++)
        h = fp_mix(h, lf_str_c(a->techniques[i]));
    return h;
}

static bool counts_has_fp(const counts_t *c, uint64_t fp)
{
    for (unsigned i = 0; i < c->nfp; i++)
        if (c->fp[i] == fp)
            return true;
    return false;
}

static void counts_add_fp(counts_t *c, uint64_t fp)
{
    if (counts_has_fp(c, fp))
        return;
    c->fp[c->fp_next] = fp;
    c->fp_next = (c->fp_next + 1) % COUNTS_FP;
    if (c->nfp < COUNTS_FP)
        c->nfp++;
}

/* ---- level suggestion ----------------------------------------------------------- */

/* The CIA dimension an ATT&CK tactic points at: exfiltration and collection
 * leak (C); impact is an outage (A); footholds and tampering (execution,
 * persistence, privilege escalation, defence evasion, lateral movement,
 * command and control) change the system (I). Other tactics
 * (reconnaissance, initial access attempts, credential access, discovery)
 * suggest nothing of their own. */
static int tactic_dimension(const char *t)
{
    static const struct {
        const char *id;
        int dim;
    } map[] = {
        {"TA0010", LF_CIA_C}, {"TA0009", LF_CIA_C}, {"TA0040", LF_CIA_A},
        {"TA0002", LF_CIA_I}, {"TA0003", LF_CIA_I}, {"TA0004", LF_CIA_I},
        {"TA0005", LF_CIA_I}, {"TA0008", LF_CIA_I}, {"TA0011", LF_CIA_I},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].id, t) == 0)
            return map[i].dim;
    return -1;
}

/* The suggested impact of an incident from its alerts: the dimensions of
 * its tactics (integrity when none says otherwise), severe when an alert
 * is critical; the asset class of its host from the region model. */
static void suggest_impact(lf_incidents_t *inc, json_t *doc)
{
    json_t *impact = json_object_get(doc, "impact");
    if (json_is_true(json_object_get(impact, "set_by_analyst")))
        return;
    int sev = jint(doc, "max_alert_level") >= 4 ? LF_SEVERITY_SEVERE : LF_SEVERITY_MINOR;
    int cia[3] = {0, 0, 0};
    bool any = false;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tactics"), i, t)
    {
        int d = tactic_dimension(json_string_value(t));
        if (d >= 0) {
            cia[d] = sev;
            any = true;
        }
    }
    if (!any)
        cia[LF_CIA_I] = sev;
    int asset = LF_ASSET_NON_CORE;
    const char *asset_name = "";
    const lf_region_t *region;
    const lf_region_agency_t *ag =
        inc->have_regions
            ? lf_region_find_agency(&inc->regions, lf_str_c(jcstr(doc, "agency")), &region)
            : NULL;
    json_t *hosts = json_object_get(json_object_get(doc, "entities"), "host.name");
    for (size_t a = 0; ag && a < ag->asset_count; a++) {
        const lf_region_asset_t *as = &ag->assets[a];
        for (size_t h = 0; h < as->host_count; h++) {
            size_t j;
            json_t *hv;
            json_array_foreach(hosts, j, hv)
            {
                if (strcmp(json_string_value(hv), as->hosts[h]) == 0 && as->asset_class > asset) {
                    asset = as->asset_class;
                    asset_name = as->name;
                }
            }
        }
    }
    impact = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "asset", asset_names[asset], "asset_name",
                       asset_name, "c", severity_names[cia[0]], "i", severity_names[cia[1]], "a",
                       severity_names[cia[2]], "set_by_analyst", 0);
    json_object_set_new(doc, "impact", impact);
}

/* Computes the suggested level from the impact; the level follows it unless
 * an analyst set the level. */
static void apply_level(lf_incidents_t *inc, json_t *doc)
{
    json_t *impact = json_object_get(doc, "impact");
    lf_impact_t im = {.asset = LF_ASSET_NON_CORE};
    int a = name_index(asset_names, LF_ASSET_CLASS_COUNT, jcstr(impact, "asset"));
    im.asset = a < 0 ? LF_ASSET_NON_CORE : (lf_asset_class_t)a;
    static const char *const dims[] = {"c", "i", "a"};
    for (int d = 0; d < 3; d++) {
        int s = name_index(severity_names, 3, jcstr(impact, dims[d]));
        im.cia[d] = s < 0 ? LF_SEVERITY_NONE : (lf_severity_t)s;
    }
    int suggested = lf_incident_level(&inc->rules, &im, 1);
    if (suggested < 1)
        suggested = 1;
    json_object_set_new(doc, "suggested_level", json_integer(suggested));
    if (!json_is_true(json_object_get(doc, "level_set_by_analyst")))
        json_object_set_new(doc, "level", json_integer(suggested));
}

/* ---- grouping ----------------------------------------------------------------------- */

static size_t group_key(uint8_t *k, size_t cap, const lf_incident_alert_t *a, const char **etype,
                        lf_str_t *evalue)
{
    if (a->source_ip.len) {
        *etype = "source.ip";
        *evalue = a->source_ip;
    } else if (a->user.len) {
        *etype = "user.name";
        *evalue = a->user;
    } else {
        *etype = "host.name";
        *evalue = a->host;
    }
    lf_str_t parts[] = {a->agency, a->rule_id, lf_str_c(*etype), *evalue};
    size_t n = 0;
    k[n++] = KEY_GROUP;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = parts[i].len;
        if (n + len + 1 > cap)
            len = cap - n - 1 > 0 ? cap - n - 1 : 0;
        if (len)
            memcpy(k + n, parts[i].ptr, len);
        n += len;
        if (n < cap)
            k[n++] = SEP;
    }
    return n;
}

/* The alert link of an incident: a summary of the alert, written with the
 * streaming JSON writer (one per alert, so no JSON tree is built). */
static lf_err_t put_alert_link(lf_incidents_t *inc, lf_store_wtx_t *w, uint64_t id,
                               const lf_incident_alert_t *a)
{
    lf_buf_t *b = &inc->scratch;
    lf_buf_reset(b);
    lf_json_t js;
    lf_json_init(&js, b);
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_uint(&js, a->alert_id);
    lf_json_key(&js, "time_ms");
    lf_json_int(&js, a->time_ms);
    lf_json_key(&js, "level");
    lf_json_int(&js, a->level);
    lf_json_key(&js, "kind");
    lf_json_cstring(&js, a->kind ? a->kind : "");
    lf_json_key(&js, "rule_id");
    lf_json_string(&js, a->rule_id.ptr, a->rule_id.len);
    lf_str_t title = a->rule_title.len ? a->rule_title : a->rule_id;
    lf_json_key(&js, "rule");
    lf_json_string(&js, title.ptr, title.len);
    if (a->agent_id.len) {
        lf_json_key(&js, "agent_id");
        lf_json_string(&js, a->agent_id.ptr, a->agent_id.len);
        lf_json_key(&js, "seq");
        lf_json_uint(&js, a->event_seq);
    }
    lf_json_object_end(&js);
    lf_err_t rc = lf_json_error(&js);
    if (rc != LF_OK)
        return rc;
    uint8_t k[17];
    lf_put_be64(k, id);
    k[8] = LINK_ALERT;
    lf_put_be64(k + 9, a->alert_id);
    return lf_store_wtx_put(w, LF_TABLE_INCIDENT_LINKS, k, sizeof k, b->data, b->len);
}

static void add_alert_to_doc(lf_incidents_t *inc, json_t *doc, const lf_incident_alert_t *a)
{
    size_t max = (size_t)inc->cfg.max_list_entries;
    if (a->level > jint(doc, "max_alert_level"))
        json_object_set_new(doc, "max_alert_level", json_integer(a->level));
    set_add(obj_array(doc, "rule_ids"), a->rule_id, max);
    json_t *ent = json_object_get(doc, "entities");
    if (!json_is_object(ent)) {
        ent = json_object();
        json_object_set_new(doc, "entities", ent);
    }
    set_add(obj_array(ent, "source.ip"), a->source_ip, max);
    set_add(obj_array(ent, "user.name"), a->user, max);
    set_add(obj_array(ent, "host.name"), a->host, max);
    set_add(obj_array(ent, "file.hash"), a->file_hash, max);
    set_add(obj_array(ent, "indicator"), a->indicator, max);
    for (size_t i = 0; i < a->tactic_count; i++)
        set_add(obj_array(doc, "tactics"), lf_str_c(a->tactics[i]), max);
    for (size_t i = 0; i < a->technique_count; i++)
        set_add(obj_array(doc, "techniques"), lf_str_c(a->techniques[i]), max);
}

static lf_err_t new_incident(lf_incidents_t *inc, lf_store_wtx_t *w, const lf_incident_alert_t *a,
                             lf_str_t region_id, uint64_t *id_out, json_t **doc_out)
{
    uint64_t id;
    lf_err_t rc = lf_store_wtx_next_id(w, "incident", &id);
    if (rc != LF_OK)
        return rc;
    int64_t now = lf_time_now_ms();
    char title[512];
    snprintf(title, sizeof title, "%.*s",
             (int)(a->rule_title.len ? a->rule_title.len : a->rule_id.len),
             a->rule_title.len ? a->rule_title.ptr : a->rule_id.ptr);
    json_t *doc = json_pack("{s:I,s:s,s:s,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:b}", "id", (json_int_t)id,
                            "title", title, "status", "new", "level", 1, "suggested_level", 1,
                            "max_alert_level", a->level, "created_ms", (json_int_t)now,
                            "updated_ms", (json_int_t)now, "first_alert_ms", (json_int_t)a->time_ms,
                            "last_alert_ms", (json_int_t)a->time_ms, "level_set_by_analyst", 0);
    json_object_set_new(doc, "agency", jstr(a->agency));
    const lf_region_t *region = NULL;
    const lf_region_agency_t *ag = inc->have_regions && a->agency.len
                                       ? lf_region_find_agency(&inc->regions, a->agency, &region)
                                       : NULL;
    if (ag) {
        json_object_set_new(doc, "agency_name", json_string(ag->name));
        json_object_set_new(doc, "county", json_string(ag->county));
    } else if (a->agency.len && inc->have_regions) {
        lf_metric_add(&inc->m[IM_UNKNOWN_AGENCY], 1);
    }
    if (region)
        json_object_set_new(doc, "region", json_string(region->id));
    else if (region_id.len)
        json_object_set_new(doc, "region", jstr(region_id));
    json_object_set_new(doc, "assignee", json_string(""));
    json_object_set_new(doc, "alert_count", json_integer(0));
    json_object_set_new(doc, "history_count", json_integer(0));
    *id_out = id;
    *doc_out = doc;
    lf_metric_add(&inc->m[IM_OPENED], 1);
    rc = set_open_index(w, id, true);
    if (rc == LF_OK)
        rc = history(w, id, doc, now,
                     json_pack("{s:s,s:s,s:I}", "action", "created", "by", "lianfang", "alert_id",
                               (json_int_t)a->alert_id));
    return rc;
}

/* Attaches alert a to the incident of key k (opening one when needed).
 * With doc_out the incident's document is handed back (a new reference)
 * for the caller to change and write; otherwise it is only read and
 * written when the alert adds something to it (see counts_t). */
static lf_err_t group_alert(lf_incidents_t *inc, lf_store_wtx_t *w, const lf_incident_alert_t *a,
                            const uint8_t *k, size_t klen, lf_str_t region_id,
                            uint64_t *incident_out, json_t **doc_out)
{
    uint64_t id = 0;
    json_t *doc = NULL;
    counts_t cnt;
    bool joined = false;
    lf_str_t v;
    lf_err_t rc = lf_store_wtx_get(w, LF_TABLE_INCIDENT_KEYS, k, klen, &v);
    if (rc == LF_OK && v.len == 8) {
        id = lf_get_be64((const uint8_t *)v.ptr);
        rc = counts_get(w, id, &cnt);
        if (rc == LF_ENOTFOUND) {
            rc = load_doc(&inc->cache, w, id, &doc);
            if (rc == LF_OK)
                counts_from_doc(doc, &cnt);
        }
        if (rc == LF_OK) {
            joined =
                open_status(cnt.status) && a->time_ms <= cnt.last_ms + inc->cfg.group_window_ms;
        } else if (rc != LF_ENOTFOUND) {
            return rc;
        }
        if (!joined) {
            json_decref(doc);
            doc = NULL;
        }
    } else if (rc != LF_OK && rc != LF_ENOTFOUND) {
        return rc;
    }
    if (!joined) {
        rc = new_incident(inc, w, a, region_id, &id, &doc);
        if (rc == LF_OK) {
            uint8_t idb[8];
            lf_put_be64(idb, id);
            rc = lf_store_wtx_put(w, LF_TABLE_INCIDENT_KEYS, k, klen, idb, 8);
        }
        if (rc != LF_OK) {
            json_decref(doc);
            return rc;
        }
        cnt = (counts_t){.first_ms = a->time_ms,
                         .last_ms = a->time_ms,
                         .status = LF_STATUS_NEW,
                         .max_level = -1};
    }
    int64_t now = lf_time_now_ms();
    uint64_t fp = alert_fingerprint(a);
    bool changes_doc = doc || doc_out || a->level > cnt.max_level || !counts_has_fp(&cnt, fp);
    cnt.alert_count++;
    if (a->time_ms < cnt.first_ms)
        cnt.first_ms = a->time_ms;
    if (a->time_ms > cnt.last_ms)
        cnt.last_ms = a->time_ms;
    cnt.updated_ms = now;
    if (changes_doc) {
        if (!doc && (rc = load_doc(&inc->cache, w, id, &doc)) != LF_OK)
            return rc;
        add_alert_to_doc(inc, doc, a);
        suggest_impact(inc, doc);
        apply_level(inc, doc);
        counts_overlay(doc, &cnt);
        json_object_set_new(doc, "updated_ms", json_integer(now));
        if (a->level > cnt.max_level)
            cnt.max_level = a->level;
        counts_add_fp(&cnt, fp);
    }
    rc = counts_put(w, id, &cnt);
    if (rc == LF_OK)
        rc = put_alert_link(inc, w, id, a);
    lf_metric_add(&inc->m[IM_GROUPED], 1);
    *incident_out = id;
    if (doc_out) {
        *doc_out = doc;
    } else if (doc) {
        if (rc == LF_OK)
            rc = put_doc(&inc->cache, w, id, doc);
        json_decref(doc);
    }
    return rc;
}

/* ---- joint defence ----------------------------------------------------------------- */

static bool private_ip(lf_str_t ip)
{
    char b[64];
    if (ip.len == 0 || ip.len >= sizeof b)
        return true;
    memcpy(b, ip.ptr, ip.len);
    b[ip.len] = '\0';
    unsigned o1 = 0, o2 = 0;
    const char *q = b;
    bool v4 = !strchr(b, ':');
    for (int octet = 0; v4 && octet < 2; octet++) {
        unsigned x = 0;
        int digits = 0;
        for (; *q >= '0' && *q <= '9' && digits < 4; q++, digits++)
            x = x * 10 + (unsigned)(*q - '0');
        v4 = digits > 0 && *q == '.';
        q++;
        if (octet == 0)
            o1 = x;
        else
            o2 = x;
    }
    if (v4) {
        return o1 == 10 || o1 == 127 || o1 == 0 || (o1 == 172 && o2 >= 16 && o2 <= 31) ||
               (o1 == 192 && o2 == 168) || (o1 == 169 && o2 == 254) ||
               (o1 == 100 && o2 >= 64 && o2 <= 127);
    }
    return strcmp(b, "::1") == 0 || strncmp(b, "fe80:", 5) == 0 || strncmp(b, "fc", 2) == 0 ||
           strncmp(b, "fd", 2) == 0;
}

/* Adds id to an array of integers when absent; true when it was added. */
static bool id_set_add(json_t *arr, uint64_t id, size_t max)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if ((uint64_t)json_integer_value(v) == id)
            return false;
    }
    if (json_array_size(arr) >= max)
        return false;
    json_array_append_new(arr, json_integer((json_int_t)id));
    return true;
}

/* Adds v to a set of at most max ids; true when it was added. */
static bool u64_set_add(uint64_t *set, size_t *n, size_t max, uint64_t v)
{
    for (size_t i = 0; i < *n; i++)
        if (set[i] == v)
            return false;
    if (*n >= max)
        return false;
    set[(*n)++] = v;
    return true;
}

static void jrec_clear(jrec_t *r)
{
    r->fired = false;
    r->fired_ms = 0;
    r->regional = 0;
    r->nsight = 0;
    r->nmembers = 0;
}

/* Reads a stored joint record into r (copying it, as sightings point into
 * it). Keeps the newest r->cap - 1 sightings. False when damaged. */
static bool jrec_decode(jrec_t *r, lf_str_t v)
{
    jrec_clear(r);
    if (!v.len)
        return true;
    lf_buf_reset(&r->raw);
    if (v.len < JOINT_HEAD || lf_buf_append(&r->raw, v.ptr, v.len) != LF_OK)
        return false;
    const uint8_t *p = (const uint8_t *)r->raw.data, *end = p + v.len;
    if (p[0] != JOINT_VERSION)
        return false;
    size_t ns = (size_t)p[2] | (size_t)p[3] << 8;
    size_t nm = lf_get_le32(p + 4);
    r->fired = p[1] != 0;
    r->fired_ms = (int64_t)lf_get_le64(p + 8);
    r->regional = lf_get_le64(p + 16);
    p += JOINT_HEAD;
    size_t keep = r->cap - 1, skip = ns > keep ? ns - keep : 0;
    for (size_t i = 0; i < ns; i++) {
        if (end - p < 1 || (size_t)(end - p) < 1u + p[0] + 17u)
            return false;
        jsight_t si = {.agency_len = p[0], .agency = (const char *)p + 1};
        p += 1 + si.agency_len;
        si.time_ms = (int64_t)lf_get_le64(p);
        si.alert = lf_get_le64(p + 8);
        si.ninc = p[16];
        p += 17;
        if (si.ninc > JOINT_MAX_INC || (size_t)(end - p) < 8u * si.ninc)
            return false;
        for (unsigned j = 0; j < si.ninc; j++, p += 8)
            si.inc[j] = lf_get_le64(p);
        if (i >= skip)
            r->sight[r->nsight++] = si;
    }
    if (nm > JOINT_MAX_MEMBERS || (size_t)(end - p) != 8u * nm)
        return false;
    for (size_t i = 0; i < nm; i++, p += 8)
        r->members[r->nmembers++] = lf_get_le64(p);
    return true;
}

static lf_err_t jrec_encode(jrec_t *r)
{
    lf_buf_t *b = &r->enc;
    lf_buf_reset(b);
    uint8_t head[JOINT_HEAD] = {JOINT_VERSION, r->fired};
    head[2] = (uint8_t)(r->nsight & 0xff);
    head[3] = (uint8_t)(r->nsight >> 8);
    for (int i = 0; i < 4; i++)
        head[4 + i] = (uint8_t)(r->nmembers >> (8 * i));
    lf_put_le64(head + 8, (uint64_t)r->fired_ms);
    lf_put_le64(head + 16, r->regional);
    lf_err_t rc = lf_buf_append(b, head, sizeof head);
    for (size_t i = 0; rc == LF_OK && i < r->nsight; i++) {
        const jsight_t *si = &r->sight[i];
        uint8_t alen =
            (uint8_t)(si->agency_len > JOINT_MAX_AGENCY ? JOINT_MAX_AGENCY : si->agency_len);
        uint8_t f[17];
        lf_put_le64(f, (uint64_t)si->time_ms);
        lf_put_le64(f + 8, si->alert);
        f[16] = (uint8_t)si->ninc;
        rc = lf_buf_append(b, &alen, 1);
        if (rc == LF_OK)
            rc = lf_buf_append(b, si->agency, alen);
        if (rc == LF_OK)
            rc = lf_buf_append(b, f, sizeof f);
        for (unsigned j = 0; rc == LF_OK && j < si->ninc; j++) {
            uint8_t id[8];
            lf_put_le64(id, si->inc[j]);
            rc = lf_buf_append(b, id, 8);
        }
    }
    for (size_t i = 0; rc == LF_OK && i < r->nmembers; i++) {
        uint8_t id[8];
        lf_put_le64(id, r->members[i]);
        rc = lf_buf_append(b, id, 8);
    }
    return rc;
}

typedef struct joint_ctx {
    lf_incidents_t *inc;
    lf_store_batch_t *b;
    lf_store_wtx_t *w;
    const lf_incident_alert_t *a;
    const lf_region_t *region;
    uint64_t incident_id;
} joint_ctx_t;

static lf_err_t mark_cluster(cache_t *cache, lf_store_wtx_t *w, uint64_t id, const char *cluster,
                             int agencies, uint64_t regional_incident)
{
    json_t *doc;
    lf_err_t rc = load_doc(cache, w, id, &doc);
    if (rc != LF_OK)
        return rc == LF_ENOTFOUND ? LF_OK : rc;
    json_object_set_new(doc, "cluster",
                        json_pack("{s:s,s:i,s:I}", "key", cluster, "agencies", agencies,
                                  "regional_incident", (json_int_t)regional_incident));
    rc = put_doc(cache, w, id, doc);
    json_decref(doc);
    return rc;
}

/* Stores the regional alert and its incident; marks the member incidents. */
static lf_err_t joint_fire(joint_ctx_t *c, jrec_t *r, const char *kind, lf_str_t value,
                           const char *cluster)
{
    lf_incidents_t *inc = c->inc;
    uint64_t alert_id = lf_store_batch_next_alert_id(c->b);
    int agencies = (int)r->nsight;
    lf_buf_t doc;
    lf_buf_init(&doc, 1u << 20);
    lf_json_t js;
    lf_json_init(&js, &doc);
    char rule_id[64], title[600];
    snprintf(rule_id, sizeof rule_id, "lianfang.joint.%s", kind);
    snprintf(title, sizeof title, "聯防: %s %.*s seen at %d agencies of %s", kind,
             (int)(value.len > 256 ? 256 : value.len), value.ptr, agencies, c->region->name);
    lf_json_object_begin(&js);
    lf_json_key(&js, "@timestamp");
    lf_json_timestamp_ms(&js, c->a->time_ms);
    lf_json_key(&js, "alert");
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_uint(&js, alert_id);
    lf_json_key(&js, "type");
    lf_json_cstring(&js, "joint");
    lf_json_key(&js, "created");
    lf_json_timestamp_ms(&js, lf_time_now_ms());
    lf_json_key(&js, "level");
    lf_json_cstring(&js, "high");
    lf_json_object_end(&js);
    lf_json_key(&js, "rule");
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_cstring(&js, rule_id);
    lf_json_key(&js, "name");
    lf_json_cstring(&js, title);
    lf_json_key(&js, "ruleset");
    lf_json_cstring(&js, "joint-defence");
    lf_json_object_end(&js);
    lf_json_key(&js, "lianfang");
    lf_json_object_begin(&js);
    lf_json_key(&js, "region");
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_cstring(&js, c->region->id);
    lf_json_key(&js, "name");
    lf_json_cstring(&js, c->region->name);
    lf_json_object_end(&js);
    lf_json_key(&js, "joint");
    lf_json_object_begin(&js);
    lf_json_key(&js, "entity");
    lf_json_cstring(&js, kind);
    lf_json_key(&js, "value");
    lf_json_string(&js, value.ptr, value.len);
    lf_json_key(&js, "window_s");
    lf_json_int(&js, inc->cfg.joint.window_ms / 1000);
    lf_json_key(&js, "sightings");
    lf_json_array_begin(&js);
    for (size_t i = 0; i < r->nsight; i++) {
        const jsight_t *si = &r->sight[i];
        lf_json_object_begin(&js);
        lf_json_key(&js, "agency");
        lf_json_string(&js, si->agency, si->agency_len);
        lf_json_key(&js, "time_ms");
        lf_json_int(&js, si->time_ms);
        lf_json_key(&js, "alert");
        lf_json_uint(&js, si->alert);
        lf_json_key(&js, "incidents");
        lf_json_array_begin(&js);
        for (unsigned j = 0; j < si->ninc; j++)
            lf_json_uint(&js, si->inc[j]);
        lf_json_array_end(&js);
        lf_json_object_end(&js);
    }
    lf_json_array_end(&js);
    lf_json_object_end(&js);
    lf_json_object_end(&js);
    lf_json_key(&js, "event");
    lf_json_object_begin(&js);
    lf_json_key(&js, "kind");
    lf_json_cstring(&js, "alert");
    lf_json_key(&js, "severity");
    lf_json_int(&js, 3);
    lf_json_object_end(&js);
    lf_json_object_end(&js);
    lf_err_t rc = lf_json_error(&js);
    if (rc == LF_OK) {
        lf_store_alert_in_t in = {.timestamp_ms = c->a->time_ms,
                                  .agency = lf_str_c(""),
                                  .rule_id = lf_str_c(rule_id),
                                  .level = 3,
                                  .doc = doc.data,
                                  .doc_len = doc.len};
        rc = lf_store_batch_put_alert(c->b, &in);
    }
    lf_buf_free(&doc);
    if (rc != LF_OK)
        return rc;
    lf_metric_add(&inc->m[IM_JOINT], 1);

    /* The regional incident: keyed by region and entity, so later joint
     * alerts of the same entity join it while it is open. */
    lf_incident_alert_t ra = {.alert_id = alert_id,
                              .time_ms = c->a->time_ms,
                              .level = 3,
                              .kind = "joint",
                              .agency = lf_str_c(""),
                              .rule_id = lf_str_c(rule_id),
                              .rule_title = lf_str_c(title)};
    if (strcmp(kind, "source.ip") == 0)
        ra.source_ip = value;
    else if (strcmp(kind, "file.hash") == 0)
        ra.file_hash = value;
    else if (strcmp(kind, "indicator") == 0)
        ra.indicator = value;
    uint8_t k[LF_STORE_MAX_KEY];
    int kl = snprintf((char *)k, sizeof k, "j%s%c%s", c->region->id, SEP, cluster);
    size_t klen = kl < 0 ? 0 : (size_t)kl >= sizeof k ? sizeof k - 1 : (size_t)kl;
    uint64_t rid;
    json_t *rdoc;
    rc = group_alert(inc, c->w, &ra, k, klen, lf_str_c(c->region->id), &rid, &rdoc);
    if (rc != LF_OK)
        return rc;
    json_object_set_new(rdoc, "scope", json_string("region"));
    json_object_set_new(rdoc, "cluster",
                        json_pack("{s:s,s:i,s:I}", "key", cluster, "agencies", agencies,
                                  "regional_incident", (json_int_t)rid));
    json_t *members = obj_array(rdoc, "member_incidents");
    for (size_t i = 0; i < r->nsight; i++) {
        for (unsigned j = 0; j < r->sight[i].ninc; j++) {
            uint64_t mid = r->sight[i].inc[j];
            id_set_add(members, mid, JOINT_MAX_MEMBERS);
            if (mid && rc == LF_OK && u64_set_add(r->members, &r->nmembers, JOINT_MAX_MEMBERS, mid))
                rc = mark_cluster(&c->inc->cache, c->w, mid, cluster, agencies, rid);
        }
    }
    if (rc == LF_OK)
        rc = put_doc(&c->inc->cache, c->w, rid, rdoc);
    json_decref(rdoc);
    r->fired = true;
    r->fired_ms = c->a->time_ms;
    r->regional = rid;
    return rc;
}

/* Records one sighting of (kind, value) and fires when enough agencies of
 * the region saw it within the window. */
static lf_err_t joint_sight(joint_ctx_t *c, const char *kind, lf_str_t value, bool *clustered)
{
    lf_incidents_t *inc = c->inc;
    if (!value.len || *clustered)
        return LF_OK;
    uint8_t k[LF_STORE_MAX_KEY];
    char cluster[400];
    snprintf(cluster, sizeof cluster, "%s=%.*s", kind, (int)(value.len > 300 ? 300 : value.len),
             value.ptr);
    int kl = snprintf((char *)k, sizeof k, "%s%c%s", c->region->id, SEP, cluster);
    size_t klen = kl < 0 ? 0 : (size_t)kl >= sizeof k ? sizeof k - 1 : (size_t)kl;
    jrec_t *r = &inc->joint;
    lf_str_t v = {0};
    lf_err_t rc = lf_store_wtx_get(c->w, LF_TABLE_JOINT, k, klen, &v);
    if (rc != LF_OK && rc != LF_ENOTFOUND)
        return rc;
    if (!jrec_decode(r, rc == LF_OK ? v : (lf_str_t){0})) {
        lf_error(LOG_COMP, "the joint record of %s in region %s is damaged: counted anew", cluster,
                 c->region->id);
        jrec_clear(r);
    }
    rc = LF_OK;
    const lf_incident_alert_t *a = c->a;
    int64_t t = a->time_ms, win = inc->cfg.joint.window_ms;
    /* Forget sightings outside the window; refresh this agency's one. */
    size_t n = 0;
    bool mine = false;
    for (size_t i = 0; i < r->nsight; i++) {
        jsight_t si = r->sight[i];
        if (si.time_ms < t - win || si.time_ms > t + win)
            continue;
        if (si.agency_len == a->agency.len &&
            memcmp(si.agency, a->agency.ptr, si.agency_len) == 0) {
            mine = true;
            if (t >= si.time_ms) {
                si.time_ms = t;
                si.alert = a->alert_id;
            }
            size_t ninc = si.ninc;
            u64_set_add(si.inc, &ninc, JOINT_MAX_INC, c->incident_id);
            si.ninc = (unsigned)ninc;
        }
        r->sight[n++] = si;
    }
    r->nsight = n;
    if (!mine) {
        r->sight[r->nsight++] = (jsight_t){
            .agency = a->agency.ptr,
            .agency_len = a->agency.len > JOINT_MAX_AGENCY ? JOINT_MAX_AGENCY : a->agency.len,
            .time_ms = t,
            .alert = a->alert_id,
            .ninc = 1,
            .inc = {c->incident_id}};
        if (r->nsight > (size_t)inc->cfg.joint.max_sightings) {
            memmove(r->sight, r->sight + 1, (r->nsight - 1) * sizeof *r->sight);
            r->nsight--;
        }
    }
    int agencies = (int)r->nsight;
    bool fired_recently = r->fired && t - r->fired_ms <= win && r->fired_ms - t <= win;
    if (agencies >= inc->cfg.joint.min_agencies) {
        *clustered = true;
        if (!fired_recently) {
            rc = joint_fire(c, r, kind, value, cluster);
        } else if (u64_set_add(r->members, &r->nmembers, JOINT_MAX_MEMBERS, c->incident_id)) {
            /* An incident not yet in the cluster that already fired (another
             * agency, or a second incident of a member): link it. */
            uint64_t rid = r->regional;
            rc = mark_cluster(&c->inc->cache, c->w, c->incident_id, cluster, agencies, rid);
            json_t *rdoc;
            if (rc == LF_OK && rid && load_doc(&c->inc->cache, c->w, rid, &rdoc) == LF_OK) {
                id_set_add(obj_array(rdoc, "member_incidents"), c->incident_id, JOINT_MAX_MEMBERS);
                json_object_set_new(json_object_get(rdoc, "cluster"), "agencies",
                                    json_integer(agencies));
                rc = put_doc(&c->inc->cache, c->w, rid, rdoc);
                json_decref(rdoc);
            }
        }
    }
    if (rc == LF_OK)
        rc = jrec_encode(r);
    if (rc == LF_OK)
        rc = lf_store_wtx_put(c->w, LF_TABLE_JOINT, k, klen, r->enc.data, r->enc.len);
    return rc;
}

static lf_err_t joint_check(lf_incidents_t *inc, lf_store_batch_t *b, lf_store_wtx_t *w,
                            const lf_incident_alert_t *a, uint64_t incident_id)
{
    if (!inc->cfg.joint.enabled || !inc->have_regions || !a->agency.len)
        return LF_OK;
    const lf_region_t *region = NULL;
    if (!lf_region_find_agency(&inc->regions, a->agency, &region) || !region)
        return LF_OK;
    joint_ctx_t c = {
        .inc = inc, .b = b, .w = w, .a = a, .region = region, .incident_id = incident_id};
    /* The entities in order of specificity; once the alert belongs to a
     * cluster (by its source IP, say), its other entities are not counted,
     * so one attack raises one regional alert, not one per entity. */
    lf_err_t rc = LF_OK;
    bool clustered = false;
    if (a->source_ip.len && (inc->cfg.joint.private_addresses || !private_ip(a->source_ip)))
        rc = joint_sight(&c, "source.ip", a->source_ip, &clustered);
    if (rc == LF_OK)
        rc = joint_sight(&c, "file.hash", a->file_hash, &clustered);
    if (rc == LF_OK)
        rc = joint_sight(&c, "indicator", a->indicator, &clustered);
    if (rc == LF_OK && a->level >= inc->cfg.joint.min_rule_level)
        rc = joint_sight(&c, "rule", a->rule_id, &clustered);
    return rc;
}

lf_err_t lf_incidents_on_alert(lf_incidents_t *inc, lf_store_batch_t *b,
                               const lf_incident_alert_t *a)
{
    if (!inc->cfg.enabled)
        return LF_OK;
    if (a->level < inc->cfg.min_alert_level) {
        lf_metric_add(&inc->m[IM_BELOW], 1);
        return LF_OK;
    }
    lf_store_wtx_t *w = lf_store_batch_wtx(b);
    if (!w)
        return LF_ESTATE;
    if (inc->cache.batch != b && inc->cache.count) {
        lf_error(LOG_COMP, "incident changes of an earlier batch were never written "
                           "(lf_incidents_batch_end was not called): discarded");
        cache_flush(&inc->cache, NULL);
    }
    inc->cache.batch = b;
    uint8_t k[LF_STORE_MAX_KEY];
    const char *etype;
    lf_str_t evalue;
    size_t klen = group_key(k, sizeof k, a, &etype, &evalue);
    uint64_t id;
    lf_err_t rc = group_alert(inc, w, a, k, klen, lf_str_c(""), &id, NULL);
    if (rc == LF_OK)
        rc = joint_check(inc, b, w, a, id);
    return rc;
}

/* ---- views ------------------------------------------------------------------------ */

typedef struct view {
    lf_incident_times_t times;
    lf_incident_deadlines_t due;
    bool have_due;
    bool overdue_report, overdue_review, overdue_recovery, overdue_improvement;
    int status;
} view_t;

static void compute_view(lf_incidents_t *inc, const json_t *doc, int64_t now, view_t *v)
{
    memset(v, 0, sizeof *v);
    v->status = name_index(status_names, 5, jcstr(doc, "status"));
    v->times.level = (int)jint(doc, "level");
    v->times.awareness_ms = jint(doc, "awareness_ms");
    v->times.level_changed_ms = jint(doc, "level_changed_ms");
    v->times.reported_ms = jint(doc, "reported_ms");
    v->times.recovered_ms = jint(doc, "recovered_ms");
    v->have_due = lf_incident_deadlines(&inc->rules, &v->times, &v->due) == LF_OK;
    if (!v->have_due || v->status == LF_STATUS_CLOSED)
        return;
    bool reported = v->times.reported_ms && (!v->times.level_changed_ms ||
                                             v->times.reported_ms >= v->times.level_changed_ms);
    v->overdue_report = !reported && now > v->due.report_ms;
    v->overdue_review = v->times.reported_ms && !jint(doc, "reviewed_ms") && v->due.review_ms &&
                        now > v->due.review_ms;
    v->overdue_recovery = !v->times.recovered_ms && now > v->due.recovery_ms;
    v->overdue_improvement = v->times.recovered_ms && !jint(doc, "improvement_submitted_ms") &&
                             v->due.improvement_ms && now > v->due.improvement_ms;
}

static bool view_overdue(const view_t *v)
{
    return v->overdue_report || v->overdue_review || v->overdue_recovery || v->overdue_improvement;
}

static void put_time(json_t *o, const char *key, int64_t ms)
{
    if (!ms) {
        json_object_set_new(o, key, json_null());
        return;
    }
    char b[40];
    size_t n = lf_time_format_rfc3339_ms(ms, b, sizeof b);
    json_object_set_new(o, key, json_stringn(b, n));
}

/* The document as clients see it: stored fields plus names, times and
 * computed deadlines. Returns a new reference. */
static json_t *render(lf_incidents_t *inc, const json_t *doc, int64_t now)
{
    json_t *o = json_deep_copy(doc);
    view_t v;
    compute_view(inc, doc, now, &v);
    static const char *const stamps[] = {"created",
                                         "updated",
                                         "first_alert",
                                         "last_alert",
                                         "awareness",
                                         "acknowledged",
                                         "reported",
                                         "reviewed",
                                         "contained",
                                         "recovered",
                                         "improvement_submitted",
                                         "closed",
                                         "level_changed"};
    for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_ms", stamps[i]);
        int64_t ms = jint(doc, key);
        json_object_del(o, key);
        put_time(o, stamps[i], ms);
    }
    json_t *due = json_object();
    put_time(due, "report", v.have_due ? v.due.report_ms : 0);
    put_time(due, "review", v.have_due ? v.due.review_ms : 0);
    put_time(due, "recovery", v.have_due ? v.due.recovery_ms : 0);
    put_time(due, "improvement", v.have_due ? v.due.improvement_ms : 0);
    json_object_set_new(o, "deadlines", due);
    json_object_set_new(o, "overdue",
                        json_pack("{s:b,s:b,s:b,s:b,s:b}", "any", view_overdue(&v), "report",
                                  v.overdue_report, "review", v.overdue_review, "recovery",
                                  v.overdue_recovery, "improvement", v.overdue_improvement));
    int64_t mal = jint(doc, "max_alert_level");
    json_object_set_new(o, "max_alert_level_name",
                        json_string(level_names[mal < 0   ? 0
                                                : mal > 4 ? 4
                                                          : mal]));
    if (!json_object_get(o, "scope"))
        json_object_set_new(o, "scope", json_string("agency"));
    return o;
}

static lf_err_t dump_into(json_t *o, lf_buf_t *out)
{
    char *text = json_dumps(o, JSON_COMPACT);
    if (!text)
        return LF_ENOMEM;
    lf_buf_reset(out);
    lf_err_t rc = lf_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

typedef struct list_ctx {
    lf_incidents_t *inc;
    const lf_incident_query_t *q;
    json_t *items;
    size_t count;
    uint64_t last_id;
    bool more;
    uint64_t counts_id; /* the incident whose counts record was just seen */
    counts_t counts;
} list_ctx_t;

static bool str_eq(lf_str_t a, const char *b)
{
    return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

static bool list_cb(void *opaque, lf_str_t key, lf_str_t val)
{
    list_ctx_t *c = opaque;
    bool counts = key.len == 9 && key.ptr[8] == KEY_COUNTS;
    if (key.len != 8 && !counts)
        return true;
    uint64_t id = lf_get_be64((const uint8_t *)key.ptr);
    if (c->count >= c->q->limit && (counts || id != c->counts_id)) {
        c->more = true;
        c->last_id = id;
        return false;
    }
    if (counts) { /* keys descend: an incident's counts come just before it */
        c->counts_id = counts_decode(val, &c->counts) ? id : 0;
        return true;
    }
    json_t *doc = json_loadb(val.ptr, val.len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return true;
    }
    if (c->counts_id == id)
        counts_overlay(doc, &c->counts);
    const lf_incident_query_t *q = c->q;
    int status = name_index(status_names, 5, jcstr(doc, "status"));
    bool ok = true;
    if (q->status.len) {
        if (str_eq(q->status, "open"))
            ok = open_status(status);
        else
            ok = status >= 0 && str_eq(q->status, status_names[status]);
    }
    if (ok && q->level)
        ok = jint(doc, "level") == q->level;
    if (ok && q->agency.len)
        ok = str_eq(q->agency, jcstr(doc, "agency"));
    if (ok && q->region.len)
        ok = str_eq(q->region, jcstr(doc, "region"));
    if (ok && q->from_ms)
        ok = jint(doc, "first_alert_ms") >= q->from_ms;
    if (ok && q->to_ms)
        ok = jint(doc, "first_alert_ms") < q->to_ms;
    if (ok && q->overdue_only) {
        view_t v;
        compute_view(c->inc, doc, q->now_ms, &v);
        ok = view_overdue(&v);
    }
    if (ok) {
        json_array_append_new(c->items, render(c->inc, doc, q->now_ms));
        c->count++;
    }
    json_decref(doc);
    return true;
}

lf_err_t lf_incidents_list_json(lf_incidents_t *inc, const lf_incident_query_t *q, lf_buf_t *out)
{
    uint8_t start[9];
    lf_store_scan_t scan = {.reverse = true, .max_examined = 200000};
    if (q->cursor && q->cursor[0]) {
        char *end;
        unsigned long long id = strtoull(q->cursor, &end, 10);
        if (*end || id == 0)
            return LF_EINVAL;
        lf_put_be64(start, id);
        start[8] = 0xff; /* from the incident's last key: its counts record */
        scan.start = start;
        scan.start_len = 9;
    }
    if (q->limit == 0 || q->limit > LF_STORE_SCAN_LIMIT_MAX)
        return LF_EINVAL;
    list_ctx_t c = {.inc = inc, .q = q, .items = json_array()};
    size_t examined = 0;
    lf_err_t rc = lf_store_table_scan(inc->st, LF_TABLE_INCIDENTS, &scan, list_cb, &c, &examined);
    if (rc != LF_OK) {
        json_decref(c.items);
        return rc;
    }
    char cursor[32] = "";
    if (c.more)
        snprintf(cursor, sizeof cursor, "%" PRIu64, c.last_id);
    json_t *o = json_pack("{s:o,s:s}", "incidents", c.items, "next_cursor", cursor);
    rc = dump_into(o, out);
    json_decref(o);
    return rc;
}

typedef struct links_ctx {
    json_t *alerts, *history;
    size_t max_alerts;
    size_t alert_total;
} links_ctx_t;

static bool links_cb(void *opaque, lf_str_t key, lf_str_t val)
{
    links_ctx_t *c = opaque;
    if (key.len != 17)
        return true;
    json_t *v = json_loadb(val.ptr, val.len, 0, NULL);
    if (!v)
        return true;
    if (key.ptr[8] == LINK_ALERT) {
        c->alert_total++;
        if (json_array_size(c->alerts) < c->max_alerts)
            json_array_append(c->alerts, v);
    } else if (key.ptr[8] == LINK_HISTORY) {
        int64_t ms = jint(v, "time_ms");
        json_object_del(v, "time_ms");
        put_time(v, "time", ms);
        json_array_append(c->history, v);
    }
    json_decref(v);
    return true;
}

typedef struct one_ctx {
    json_t *doc;
    counts_t counts;
    bool have_counts;
} one_ctx_t;

static bool one_cb(void *opaque, lf_str_t key, lf_str_t val)
{
    one_ctx_t *c = opaque;
    if (key.len == 8 && !c->doc)
        c->doc = json_loadb(val.ptr, val.len, 0, NULL);
    else if (key.len == 9 && key.ptr[8] == KEY_COUNTS)
        c->have_counts = counts_decode(val, &c->counts);
    return true;
}

/* Reads incident id with its links (any thread). */
static lf_err_t read_full(lf_incidents_t *inc, uint64_t id, json_t **doc, links_ctx_t *links)
{
    uint8_t k[8];
    lf_put_be64(k, id);
    one_ctx_t one = {0};
    lf_store_scan_t one_scan = {.prefix = k, .prefix_len = 8, .max_examined = 4};
    lf_err_t rc = lf_store_table_scan(inc->st, LF_TABLE_INCIDENTS, &one_scan, one_cb, &one, NULL);
    if (rc != LF_OK) {
        json_decref(one.doc);
        return rc;
    }
    if (!one.doc)
        return LF_ENOTFOUND;
    if (!json_is_object(one.doc)) {
        json_decref(one.doc);
        return LF_ESTORE;
    }
    if (one.have_counts)
        counts_overlay(one.doc, &one.counts);
    *doc = one.doc;
    if (!links)
        return LF_OK;
    lf_store_scan_t scan = {.prefix = k, .prefix_len = 8};
    return lf_store_table_scan(inc->st, LF_TABLE_INCIDENT_LINKS, &scan, links_cb, links, NULL);
}

lf_err_t lf_incidents_get_json(lf_incidents_t *inc, uint64_t id, int64_t now_ms, lf_buf_t *out)
{
    json_t *doc;
    links_ctx_t links = {.alerts = json_array(), .history = json_array(), .max_alerts = 1000};
    lf_err_t rc = read_full(inc, id, &doc, &links);
    if (rc == LF_OK) {
        json_t *o = render(inc, doc, now_ms);
        json_object_set(o, "alerts", links.alerts);
        json_object_set_new(o, "alerts_listed",
                            json_integer((json_int_t)json_array_size(links.alerts)));
        json_object_set(o, "history", links.history);
        rc = dump_into(o, out);
        json_decref(o);
        json_decref(doc);
    }
    json_decref(links.alerts);
    json_decref(links.history);
    return rc;
}

/* ---- threat lights ----------------------------------------------------------------- */

typedef struct agency_state {
    const char *id;
    const char *name;
    const char *county;
    const char *region;
    lf_light_incident_t *incs;
    size_t count, cap;
    bool untriaged_high;
    bool has_agents;
    int64_t last_seen_ms;
    int open_by_level[5];
    int overdue;
} agency_state_t;

typedef struct lights_ctx {
    lf_incidents_t *inc;
    agency_state_t *ag;
    size_t count, cap;
    json_t *clusters; /* cluster key -> {agency: county} for confirmed incidents */
    int64_t now;
    lf_err_t rc;
} lights_ctx_t;

static agency_state_t *agency_get(lights_ctx_t *c, const char *id)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->ag[i].id, id) == 0)
            return &c->ag[i];
    if (c->count == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        agency_state_t *n = realloc(c->ag, ncap * sizeof *n);
        if (!n)
            return NULL;
        c->ag = n;
        c->cap = ncap;
    }
    agency_state_t *a = &c->ag[c->count++];
    memset(a, 0, sizeof *a);
    a->id = strdup(id);
    a->name = "";
    a->county = "";
    a->region = "";
    return a->id ? a : NULL;
}

static bool lights_incident_cb(void *opaque, lf_str_t key, lf_str_t val)
{
    lights_ctx_t *c = opaque;
    if (key.len != 8) /* counts records: the lights need only the documents */
        return true;
    json_t *doc = json_loadb(val.ptr, val.len, 0, NULL);
    if (!json_is_object(doc) || !jcstr(doc, "agency")[0]) {
        json_decref(doc);
        return true;
    }
    view_t v;
    compute_view(c->inc, doc, c->now, &v);
    if (v.status == LF_STATUS_CLOSED || v.status < 0) {
        json_decref(doc);
        return true;
    }
    agency_state_t *a = agency_get(c, jcstr(doc, "agency"));
    if (!a) {
        c->rc = LF_ENOMEM;
        json_decref(doc);
        return false;
    }
    if (a->count == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 8;
        lf_light_incident_t *n = realloc(a->incs, ncap * sizeof *n);
        if (!n) {
            c->rc = LF_ENOMEM;
            json_decref(doc);
            return false;
        }
        a->incs = n;
        a->cap = ncap;
    }
    json_t *cluster = json_object_get(doc, "cluster");
    lf_light_incident_t *li = &a->incs[a->count++];
    *li = (lf_light_incident_t){
        .level = (int)jint(doc, "level"),
        .status = (lf_incident_status_t)v.status,
        .due = v.due,
        .reported = jint(doc, "reported_ms") != 0,
        .reviewed = jint(doc, "reviewed_ms") != 0,
        .improvement_submitted = jint(doc, "improvement_submitted_ms") != 0,
        .in_cross_agency_cluster =
            jint(cluster, "agencies") >= c->inc->cfg.lights.yellow_cluster_size,
    };
    if (!v.have_due) {
        /* No awareness yet: no clock runs; the incident still counts. */
        li->due = (lf_incident_deadlines_t){0};
        li->reported = true;
        li->reviewed = true;
    }
    if (view_overdue(&v))
        a->overdue++;
    if (open_status(v.status)) {
        int lv = li->level < 1 ? 1 : li->level > 4 ? 4 : li->level;
        a->open_by_level[lv]++;
    }
    if (v.status == LF_STATUS_NEW && jint(doc, "max_alert_level") >= 3)
        a->untriaged_high = true;
    if (cluster && v.status >= LF_STATUS_ACKNOWLEDGED && v.status <= LF_STATUS_RECOVERED) {
        const char *ck = jcstr(cluster, "key");
        json_t *members = json_object_get(c->clusters, ck);
        if (!members) {
            members = json_object();
            json_object_set_new(c->clusters, ck, members);
        }
        json_object_set_new(members, a->id, json_string(jcstr(doc, "county")));
    }
    json_decref(doc);
    return true;
}

static bool lights_agent_cb(void *opaque, const lf_store_agent_info_t *info)
{
    lights_ctx_t *c = opaque;
    if (!info->agency.len)
        return true;
    char id[LF_STORE_MAX_LABEL + 1];
    size_t n = info->agency.len < LF_STORE_MAX_LABEL ? info->agency.len : LF_STORE_MAX_LABEL;
    memcpy(id, info->agency.ptr, n);
    id[n] = '\0';
    agency_state_t *a = agency_get(c, id);
    if (!a) {
        c->rc = LF_ENOMEM;
        return false;
    }
    a->has_agents = true;
    if (info->last_seen_ms > a->last_seen_ms)
        a->last_seen_ms = info->last_seen_ms;
    return true;
}

lf_err_t lf_incidents_lights_json(lf_incidents_t *inc, int64_t now_ms, lf_buf_t *out)
{
    lights_ctx_t c = {.inc = inc, .now = now_ms, .clusters = json_object()};
    /* Every agency of the model, then those only seen in data. */
    for (size_t r = 0; inc->have_regions && r < inc->regions.region_count; r++) {
        const lf_region_t *reg = &inc->regions.regions[r];
        for (size_t i = 0; i < reg->agency_count; i++) {
            agency_state_t *a = agency_get(&c, reg->agencies[i].id);
            if (!a) {
                c.rc = LF_ENOMEM;
                break;
            }
            a->name = reg->agencies[i].name;
            a->county = reg->agencies[i].county;
            a->region = reg->id;
        }
    }
    lf_store_scan_t scan = {.max_examined = 0};
    lf_err_t rc = c.rc;
    if (rc == LF_OK)
        rc = lf_store_table_scan(inc->st, LF_TABLE_INCIDENTS, &scan, lights_incident_cb, &c, NULL);
    if (rc == LF_OK)
        rc = c.rc;
    if (rc == LF_OK)
        rc = lf_store_agents_list(inc->st, lights_agent_cb, &c);
    if (rc == LF_OK)
        rc = c.rc;

    json_t *agencies = json_array(), *regions = json_array();
    lf_light_t *lights = calloc(c.count ? c.count : 1, sizeof *lights);
    if (!lights)
        rc = LF_ENOMEM;
    for (size_t i = 0; rc == LF_OK && i < c.count; i++) {
        agency_state_t *a = &c.ag[i];
        lf_light_agency_t la = {.incidents = a->incs,
                                .count = (int)a->count,
                                .untriaged_high_alert = a->untriaged_high,
                                .sources_silent = !a->has_agents || now_ms - a->last_seen_ms >
                                                                        inc->cfg.silent_after_ms,
                                .now_ms = now_ms,
                                .yellow_open_level1 = (int)inc->cfg.lights.yellow_open_level1};
        lights[i] = lf_light_agency(&la);
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:i,s:i,s:i,s:i}", "agency", a->id, "name", a->name,
                      "county", a->county, "region", a->region, "light", lf_light_name(lights[i]),
                      "sources_silent", la.sources_silent, "open_level_1", a->open_by_level[1],
                      "open_level_2", a->open_by_level[2], "open_level_3", a->open_by_level[3],
                      "open_level_4", a->open_by_level[4]);
        json_object_set_new(o, "overdue", json_integer(a->overdue));
        put_time(o, "last_seen", a->last_seen_ms);
        json_array_append_new(agencies, o);
    }
    for (size_t r = 0; rc == LF_OK && inc->have_regions && r < inc->regions.region_count; r++) {
        const lf_region_t *reg = &inc->regions.regions[r];
        lf_light_t *rl = calloc(reg->agency_count ? reg->agency_count : 1, sizeof *rl);
        if (!rl) {
            rc = LF_ENOMEM;
            break;
        }
        size_t n = 0;
        for (size_t i = 0; i < c.count; i++)
            if (strcmp(c.ag[i].region, reg->id) == 0 && n < reg->agency_count)
                rl[n++] = lights[i];
        /* Step up when one cluster has confirmed incidents at >= 2 agencies
         * in >= 2 counties of this region. */
        bool escalate = false;
        const char *ck;
        json_t *members;
        json_object_foreach(c.clusters, ck, members)
        {
            size_t in_region = 0;
            json_t *counties = json_object();
            const char *aid;
            json_t *county;
            json_object_foreach(members, aid, county)
            {
                const lf_region_t *ar = NULL;
                if (lf_region_find_agency(&inc->regions, lf_str_c(aid), &ar) && ar == reg) {
                    in_region++;
                    json_object_set(counties, json_string_value(county), json_true());
                }
            }
            if ((int64_t)in_region >= inc->cfg.lights.step_up_agencies &&
                (int64_t)json_object_size(counties) >= inc->cfg.lights.step_up_counties)
                escalate = true;
            json_decref(counties);
        }
        lf_light_t light = lf_light_region(rl, (int)n, escalate);
        free(rl);
        json_array_append_new(regions, json_pack("{s:s,s:s,s:s,s:b,s:i}", "region", reg->id, "name",
                                                 reg->name, "light", lf_light_name(light),
                                                 "cluster_step_up", escalate, "agencies", (int)n));
    }
    if (rc == LF_OK) {
        json_t *o = json_pack("{s:o,s:o}", "agencies", agencies, "regions", regions);
        put_time(o, "computed", now_ms);
        rc = dump_into(o, out);
        json_decref(o);
    } else {
        json_decref(agencies);
        json_decref(regions);
    }
    free(lights);
    for (size_t i = 0; i < c.count; i++) {
        free((void *)c.ag[i].id);
        free(c.ag[i].incs);
    }
    free(c.ag);
    json_decref(c.clusters);
    return rc;
}

/* ---- actions -------------------------------------------------------------------------- */

static bool parse_time(const char *s, int64_t *ms)
{
    return s && lf_time_parse(s, ms);
}

lf_err_t lf_incidents_act(lf_incidents_t *inc, uint64_t id, const char *body, size_t len,
                          int64_t now_ms, lf_buf_t *out, char *errstr, size_t errlen)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(errstr, errlen, __VA_ARGS__);                                                     \
        rc = LF_EINVAL;                                                                            \
        goto done;                                                                                 \
    } while (0)
    json_error_t jerr;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(req)) {
        snprintf(errstr, errlen, "the body must be a JSON object: %s",
                 req ? "not an object" : jerr.text);
        json_decref(req);
        return LF_EINVAL;
    }
    lf_store_wtx_t *w = NULL;
    json_t *doc = NULL, *entry = NULL;
    lf_err_t rc = lf_store_update_begin(inc->st, &w);
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "the store cannot take the change now: %s", lf_strerror(rc));
        json_decref(req);
        return rc;
    }
    rc = load_doc(NULL, w, id, &doc);
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "incident %" PRIu64 " %s", id,
                 rc == LF_ENOTFOUND ? "does not exist" : "cannot be read");
        goto done;
    }
    const char *action = jcstr(req, "action");
    const char *by = jcstr(req, "by");
    if (!by[0])
        FAIL("\"by\" (who makes the change) is required");
    if (strlen(by) > 128)
        FAIL("\"by\" is longer than 128 bytes");
    int status = name_index(status_names, 5, jcstr(doc, "status"));
    entry = json_pack("{s:s,s:s}", "action", action, "by", by);
    if (strcmp(action, "status") == 0) {
        int to = name_index(status_names, 5, jcstr(req, "status"));
        if (to < 0)
            FAIL("\"status\" must be one of new, acknowledged, contained, recovered, closed");
        if (to <= status)
            FAIL("status can only move forward (new → acknowledged → contained → recovered → "
                 "closed); it is %s",
                 status_names[status < 0 ? 0 : status]);
        static const char *const stamp[] = {NULL, "acknowledged_ms", "contained_ms", "recovered_ms",
                                            "closed_ms"};
        json_object_set_new(doc, stamp[to], json_integer(now_ms));
        if (!jint(doc, "awareness_ms"))
            json_object_set_new(doc, "awareness_ms", json_integer(now_ms));
        if (to >= LF_STATUS_RECOVERED && !jint(doc, "recovered_ms"))
            json_object_set_new(doc, "recovered_ms", json_integer(now_ms));
        json_object_set_new(entry, "from", json_string(status_names[status < 0 ? 0 : status]));
        json_object_set_new(entry, "to", json_string(status_names[to]));
        json_object_set_new(doc, "status", json_string(status_names[to]));
        if (!open_status(to) && open_status(status))
            rc = set_open_index(w, id, false);
        counts_t cnt;
        lf_err_t crc = rc == LF_OK ? counts_get(w, id, &cnt) : LF_ENOTFOUND;
        if (crc == LF_OK) {
            cnt.status = to;
            rc = counts_put(w, id, &cnt);
        } else if (crc != LF_ENOTFOUND) {
            rc = crc;
        }
    } else if (strcmp(action, "level") == 0) {
        json_int_t lv = json_integer_value(json_object_get(req, "level"));
        const char *reason = jcstr(req, "reason");
        if (lv < 1 || lv > 4)
            FAIL("\"level\" must be 1, 2, 3 or 4");
        if (!reason[0])
            FAIL("a level change needs a \"reason\" (it is kept in the history)");
        json_object_set_new(entry, "from", json_integer(jint(doc, "level")));
        json_object_set_new(entry, "to", json_integer(lv));
        json_object_set_new(entry, "reason", json_string(reason));
        if (lv != jint(doc, "level") && jint(doc, "reported_ms"))
            json_object_set_new(doc, "level_changed_ms", json_integer(now_ms));
        json_object_set_new(doc, "level", json_integer(lv));
        json_object_set_new(doc, "level_set_by_analyst", json_true());
    } else if (strcmp(action, "impact") == 0) {
        int asset = name_index(asset_names, LF_ASSET_CLASS_COUNT, jcstr(req, "asset"));
        if (asset < 0)
            FAIL("\"asset\" must be one of non_core, core, core_ci, sensitive, national_secret");
        static const char *const dims[] = {"c", "i", "a"};
        json_t *impact = json_pack("{s:s,s:b}", "asset", asset_names[asset], "set_by_analyst", 1);
        for (int d = 0; d < 3; d++) {
            const char *sv = jcstr(req, dims[d]);
            int s = sv[0] ? name_index(severity_names, 3, sv) : 0;
            if (s < 0) {
                json_decref(impact);
                FAIL("\"%s\" must be none, minor or severe", dims[d]);
            }
            json_object_set_new(impact, dims[d], json_string(severity_names[s]));
        }
        json_object_set_new(impact, "asset_name", json_string(jcstr(req, "asset_name")));
        json_object_set(entry, "impact", impact);
        json_object_set_new(doc, "impact", impact);
        int before = (int)jint(doc, "level");
        apply_level(inc, doc);
        if (jint(doc, "level") != before && jint(doc, "reported_ms"))
            json_object_set_new(doc, "level_changed_ms", json_integer(now_ms));
    } else if (strcmp(action, "assign") == 0) {
        const char *who = jcstr(req, "assignee");
        if (strlen(who) > 128)
            FAIL("\"assignee\" is longer than 128 bytes");
        json_object_set_new(entry, "from", json_string(jcstr(doc, "assignee")));
        json_object_set_new(entry, "to", json_string(who));
        json_object_set_new(doc, "assignee", json_string(who));
    } else if (strcmp(action, "note") == 0) {
        const char *text = jcstr(req, "text");
        if (!text[0] || strlen(text) > 16384)
            FAIL("\"text\" must be 1 to 16384 bytes");
        json_object_set_new(entry, "text", json_string(text));
    } else if (strcmp(action, "awareness") == 0 || strcmp(action, "reported") == 0 ||
               strcmp(action, "reviewed") == 0 || strcmp(action, "improvement_submitted") == 0) {
        int64_t at = now_ms;
        const char *ats = jcstr(req, "at");
        if (ats[0] && !parse_time(ats, &at))
            FAIL("\"at\" must be an RFC 3339 time such as 2026-03-10T09:40:00+08:00");
        if (at > now_ms + 5 * MIN_MS)
            FAIL("\"at\" lies in the future");
        if (strcmp(action, "awareness") != 0 && !jint(doc, "awareness_ms"))
            FAIL("set the awareness time (知悉) first");
        if (strcmp(action, "reviewed") == 0 && !jint(doc, "reported_ms"))
            FAIL("the incident has not been reported yet");
        if (strcmp(action, "improvement_submitted") == 0 && !jint(doc, "recovered_ms"))
            FAIL("the incident has not recovered yet");
        char key[48];
        snprintf(key, sizeof key, "%s_ms", action);
        json_object_set_new(doc, key, json_integer(at));
        put_time(entry, "at", at);
    } else {
        FAIL("unknown action \"%s\": use status, level, impact, assign, note, awareness, "
             "reported, reviewed or improvement_submitted",
             action);
    }
    if (json_object_get(req, "note") && strcmp(action, "note") != 0)
        json_object_set_new(entry, "note", json_string(jcstr(req, "note")));
    json_object_set_new(doc, "updated_ms", json_integer(now_ms));
    if (rc == LF_OK)
        rc = history(w, id, doc, now_ms, entry);
    else
        json_decref(entry);
    entry = NULL;
    if (rc == LF_OK)
        rc = put_doc(NULL, w, id, doc);
    if (rc == LF_OK) {
        rc = lf_store_update_commit(w);
        w = NULL;
        if (rc != LF_OK)
            snprintf(errstr, errlen, "the change could not be stored: %s", lf_strerror(rc));
    }
done:
    if (rc != LF_OK && entry)
        json_decref(entry);
    lf_store_update_abort(w);
    json_decref(doc);
    json_decref(req);
    if (rc == LF_OK)
        rc = lf_incidents_get_json(inc, id, now_ms, out);
    return rc;
#undef FAIL
}

/* ---- notification draft (通報) ------------------------------------------------------- */

static void html_text(lf_buf_t *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            lf_buf_append(out, "&lt;", 4);
            break;
        case '>':
            lf_buf_append(out, "&gt;", 4);
            break;
        case '&':
            lf_buf_append(out, "&amp;", 5);
            break;
        case '"':
            lf_buf_append(out, "&quot;", 6);
            break;
        default:
            lf_buf_append(out, s, 1);
        }
    }
}

static void html_row(lf_buf_t *out, const char *zh, const char *en, const char *value)
{
    lf_buf_append_str(out, "<tr><th>");
    html_text(out, zh);
    lf_buf_append_str(out, "<br><small>");
    html_text(out, en);
    lf_buf_append_str(out, "</small></th><td>");
    html_text(out, value && value[0] ? value : "—");
    lf_buf_append_str(out, "</td></tr>\n");
}

/* Local time in the configured zone: "2026-03-10 09:40 (UTC+8)". */
static void local_time(const lf_incidents_t *inc, const json_t *v, char *b, size_t n)
{
    const char *s = json_string_value(v);
    int64_t ms;
    if (!s || !lf_time_parse(s, &ms)) {
        snprintf(b, n, "%s", "");
        return;
    }
    int off = (int)inc->cfg.tz_offset_min;
    time_t t = (time_t)((ms + off * MIN_MS) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(b, n, "%04d-%02d-%02d %02d:%02d (UTC%+d%s)", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, off / 60, off % 60 ? ":30" : "");
}

lf_err_t lf_incidents_report(lf_incidents_t *inc, uint64_t id, int64_t now_ms, bool html,
                             lf_buf_t *out)
{
    json_t *doc;
    links_ctx_t links = {.alerts = json_array(), .history = json_array(), .max_alerts = 50};
    lf_err_t rc = read_full(inc, id, &doc, &links);
    if (rc != LF_OK) {
        json_decref(links.alerts);
        json_decref(links.history);
        return rc;
    }
    json_t *o = render(inc, doc, now_ms);
    const lf_region_t *region = NULL;
    const lf_region_agency_t *ag =
        inc->have_regions
            ? lf_region_find_agency(&inc->regions, lf_str_c(jcstr(doc, "agency")), &region)
            : NULL;
    /* The description an analyst starts from: what fired, where, against what. */
    lf_buf_t desc;
    lf_buf_init(&desc, 64 * 1024);
    char line[1024];
    char first[64], last[64];
    local_time(inc, json_object_get(o, "first_alert"), first, sizeof first);
    local_time(inc, json_object_get(o, "last_alert"), last, sizeof last);
    snprintf(line, sizeof line, "%s. %" PRId64 " alert(s) between %s and %s.", jcstr(doc, "title"),
             jint(doc, "alert_count"), first, last);
    lf_buf_append_str(&desc, line);
    const char *ek;
    json_t *ev;
    json_object_foreach(json_object_get(doc, "entities"), ek, ev)
    {
        if (!json_array_size(ev))
            continue;
        snprintf(line, sizeof line, " %s:", ek);
        lf_buf_append_str(&desc, line);
        size_t i;
        json_t *x;
        json_array_foreach(ev, i, x)
        {
            lf_buf_append_str(&desc, i ? ", " : " ");
            lf_buf_append_str(&desc, json_string_value(x));
        }
        lf_buf_append_str(&desc, ".");
    }
    lf_buf_append_byte(&desc, '\0');
    json_t *actions = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(links.history, i, h)
    {
        const char *act = jcstr(h, "action");
        if (strcmp(act, "created") != 0)
            json_array_append(actions, h);
    }
    json_t *impact = json_object_get(doc, "impact");
    json_t *r = json_pack(
        "{s:I,s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:o,s:s,s:O,s:O,s:O,s:O,s:O,s:s,s:s}", "incident_id",
        (json_int_t)id, "form", "資通安全事件通報 (incident notification draft)", "agency",
        json_object_get(doc, "agency"), "occurrence_time", json_object_get(o, "first_alert"),
        "awareness_time", json_object_get(o, "awareness"), "level", json_object_get(doc, "level"),
        "suggested_level", json_object_get(doc, "suggested_level"), "impact",
        impact ? impact : json_null(), "attack",
        json_pack("{s:O,s:O}", "tactics",
                  json_object_get(doc, "tactics") ? json_object_get(doc, "tactics") : json_null(),
                  "techniques",
                  json_object_get(doc, "techniques") ? json_object_get(doc, "techniques")
                                                     : json_null()),
        "description", desc.data ? desc.data : "", "actions_taken", actions, "deadlines",
        json_object_get(o, "deadlines"), "overdue", json_object_get(o, "overdue"), "alerts",
        links.alerts, "status", json_object_get(doc, "status"), "support_needed", "", "contact",
        jcstr(doc, "assignee"));
    if (!r) {
        rc = LF_ENOMEM;
        goto out;
    }
    if (ag)
        json_object_set_new(
            r, "agency_detail",
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "name", ag->name, "county", ag->county,
                      "responsibility_level", lf_region_level_name(ag->level), "reviewer",
                      ag->reviewer ? ag->reviewer : "", "region", region ? region->name : "",
                      "critical_infrastructure", ag->critical_infrastructure));
    if (!html) {
        rc = dump_into(r, out);
        json_decref(r);
        goto out;
    }
    lf_buf_reset(out);
    char t1[64], t2[64], num[32];
    lf_buf_append_str(out, "<!doctype html>\n<html lang=\"zh-Hant\"><head><meta charset=\"utf-8\">"
                           "<title>資通安全事件通報 – ");
    snprintf(num, sizeof num, "#%" PRIu64, id);
    html_text(out, num);
    lf_buf_append_str(out,
                      "</title><link rel=\"stylesheet\" "
                      "href=\"/report.css\"></head><body>\n<h1>資通安全事件通報單 <small>Incident "
                      "notification (draft)</small></h1>\n<p class=\"noprint\">Draft generated "
                      "by Lianfang from the incident record; check every field before "
                      "submitting.</p>\n<table>\n");
    html_row(out, "事件編號", "Incident", num);
    html_row(out, "機關", "Agency", ag ? ag->name : jcstr(doc, "agency"));
    html_row(out, "機關代碼", "Agency id", jcstr(doc, "agency"));
    if (ag) {
        html_row(out, "資通安全責任等級", "Responsibility level", lf_region_level_name(ag->level));
        html_row(out, "縣市 / 區域聯防", "County / region", ag->county);
        html_row(out, "上級或監督機關", "Supervising agency", ag->reviewer);
    }
    local_time(inc, json_object_get(o, "first_alert"), t1, sizeof t1);
    html_row(out, "發生時間", "Occurrence time", t1);
    local_time(inc, json_object_get(o, "awareness"), t2, sizeof t2);
    html_row(out, "知悉時間", "Awareness time", t2);
    snprintf(num, sizeof num, "%" PRId64 " (suggested %" PRId64 ")", jint(doc, "level"),
             jint(doc, "suggested_level"));
    html_row(out, "事件等級", "Incident level", num);
    snprintf(line, sizeof line, "asset %s %s; C %s, I %s, A %s", jcstr(impact, "asset"),
             jcstr(impact, "asset_name"), jcstr(impact, "c"), jcstr(impact, "i"),
             jcstr(impact, "a"));
    html_row(out, "影響 (機密性/完整性/可用性)", "Impact (C/I/A)", line);
    html_row(out, "事件說明", "Description", desc.data ? desc.data : "");
    lf_buf_t acts;
    lf_buf_init(&acts, 64 * 1024);
    json_array_foreach(actions, i, h)
    {
        char when[64];
        local_time(inc, json_object_get(h, "time"), when, sizeof when);
        char to[160] = "";
        json_t *tv = json_object_get(h, "to");
        if (json_is_string(tv))
            snprintf(to, sizeof to, " → %s", json_string_value(tv));
        else if (json_is_integer(tv))
            snprintf(to, sizeof to, " → %" PRId64, (int64_t)json_integer_value(tv));
        else if (json_is_string(json_object_get(h, "at")))
            local_time(inc, json_object_get(h, "at"), to, sizeof to);
        const char *why = jcstr(h, json_object_get(h, "text")     ? "text"
                                   : json_object_get(h, "reason") ? "reason"
                                                                  : "note");
        snprintf(line, sizeof line, "%s %s: %s%s%s\n", when, jcstr(h, "by"), jcstr(h, "action"),
                 to[0] && to[0] != ' ' ? " " : "", to);
        lf_buf_append_str(&acts, line);
        if (why[0]) {
            lf_buf_append_str(&acts, "    ");
            lf_buf_append_str(&acts, why);
            lf_buf_append_str(&acts, "\n");
        }
    }
    lf_buf_append_byte(&acts, '\0');
    html_row(out, "應變處置", "Actions taken", acts.data ? acts.data : "");
    lf_buf_free(&acts);
    html_row(out, "需要支援事項", "Support needed", "");
    json_t *due = json_object_get(o, "deadlines");
    local_time(inc, json_object_get(due, "report"), t1, sizeof t1);
    html_row(out, "通報期限", "Report due", t1);
    local_time(inc, json_object_get(due, "recovery"), t1, sizeof t1);
    html_row(out, "損害控制或復原期限", "Recovery due", t1);
    html_row(out, "聯絡人", "Contact", jcstr(doc, "assignee"));
    lf_buf_append_str(out, "</table>\n</body></html>\n");
    json_decref(r);
out:
    lf_buf_free(&desc);
    json_decref(actions);
    json_decref(o);
    json_decref(doc);
    json_decref(links.alerts);
    json_decref(links.history);
    return rc;
}
