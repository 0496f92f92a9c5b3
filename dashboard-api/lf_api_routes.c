/* lf_api_routes.c - the route table and its handlers.
 *
 * Adding an endpoint means adding a handler and one row at the bottom; the
 * dispatcher, the 405 Allow header, the unknown-parameter check, the
 * per-route counters and the reference in docs/api.md all follow the table.
 *
 * Threads: handlers run on libmicrohttpd pool threads, concurrently.
 */
#include "lf_api_internal.h"
#include "lf_log.h"
#include "lf_time.h"

#include <string.h>

#define LOG_COMPONENT "api"

#define LF_API_DEFAULT_PAGE 100

static void storage_error(lf_api_resp_t *resp, const char *what, lf_err_t rc)
{
    lf_error(LOG_COMPONENT, "%s: %s", what, lf_strerror(rc));
    lf_api_resp_error(resp, 500, "internal", "storage error");
}

/* ---- GET /api/v1/health --------------------------------------------------- */

static void handle_health(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_api_t *api = req->api;
    lf_api_health_t health;
    memset(&health, 0, sizeof health);
    memcpy(health.status, "ok", 3);
    if (api->deps.health)
        api->deps.health(api->deps.health_opaque, &health);
    health.status[sizeof health.status - 1] = '\0';
    if (health.count > LF_API_HEALTH_MAX_CHECKS)
        health.count = LF_API_HEALTH_MAX_CHECKS;

    bool degraded = strcmp(health.status, "ok") != 0;
    for (size_t i = 0; i < health.count; i++) {
        lf_api_health_check_t *check = &health.checks[i];
        check->name[sizeof check->name - 1] = '\0';
        check->detail[sizeof check->detail - 1] = '\0';
        if (!check->ok)
            degraded = true;
    }

    lf_json_t js;
    lf_json_init(&js, &resp->body);
    lf_json_object_begin(&js);
    lf_json_key(&js, "status");
    lf_json_cstring(&js, degraded ? "degraded" : "ok");
    lf_json_key(&js, "version");
    lf_json_cstring(&js, LF_VERSION);
    lf_json_key(&js, "uptime_s");
    lf_json_int(&js, (lf_time_mono_ms() - api->started_mono_ms) / 1000);
    lf_json_key(&js, "checks");
    lf_json_array_begin(&js);
    for (size_t i = 0; i < health.count; i++) {
        lf_json_object_begin(&js);
        lf_json_key(&js, "name");
        lf_json_cstring(&js, health.checks[i].name);
        lf_json_key(&js, "ok");
        lf_json_bool(&js, health.checks[i].ok);
        lf_json_key(&js, "detail");
        lf_json_cstring(&js, health.checks[i].detail);
        lf_json_object_end(&js);
    }
    lf_json_array_end(&js);
    lf_json_object_end(&js);
    resp->status = degraded ? 503 : 200;
    lf_api_resp_json_finish(req, resp, &js);
}

/* ---- GET /api/v1/events --------------------------------------------------- */

/* Room kept after the last event for `],"next_cursor":"...","count":n}`. */
#define LF_API_PAGE_TRAILER 128

typedef struct doc_page {
    lf_json_t *js;
    size_t count;  /* documents written */
    size_t fit;    /* documents that fit with room for the trailer */
    bool overflow; /* the body reached its maximum: the scan stopped */
} doc_page_t;

/* Appends one stored JSON document to a page; false stops the scan. */
static bool doc_page_add(doc_page_t *page, const char *doc, size_t doc_len)
{
    if (doc_len)
        lf_json_raw(page->js, doc, doc_len);
    else
        lf_json_null(page->js);
    page->count++;
    const lf_buf_t *body = page->js->out;
    if (lf_json_error(page->js) != LF_OK || body->len + LF_API_PAGE_TRAILER > body->max) {
        page->overflow = true;
        return false;
    }
    page->fit++;
    return true;
}

static bool events_page_add(void *opaque, const lf_store_event_out_t *ev)
{
    return doc_page_add(opaque, ev->doc, ev->doc_len);
}

static bool alerts_page_add(void *opaque, const lf_store_alert_out_t *alert)
{
    return doc_page_add(opaque, alert->doc, alert->doc_len);
}

/* Runs one store scan into the page; fills next_cursor. */
typedef lf_err_t (*page_scan_fn)(lf_store_t *store, void *query, doc_page_t *page,
                                 char *next_cursor);

static lf_err_t scan_events(lf_store_t *store, void *query, doc_page_t *page, char *next_cursor)
{
    return lf_store_events_scan(store, query, events_page_add, page, next_cursor);
}

static lf_err_t scan_alerts(lf_store_t *store, void *query, doc_page_t *page, char *next_cursor)
{
    return lf_store_alerts_scan(store, query, alerts_page_add, page, next_cursor);
}

static void store_read_error(lf_api_resp_t *resp, const char *what, lf_err_t rc);

/* Answers `{"<key>":[docs...],"next_cursor":...,"count":n}`. A page whose
 * documents would pass max_response_size is shortened to the documents that
 * fit (the cursor then continues from there); only a single document larger
 * than the limit is refused. `limit` points into `query`. */
static void respond_paged(lf_api_req_t *req, lf_api_resp_t *resp, const char *key,
                          page_scan_fn scan, void *query, size_t *limit)
{
    lf_api_t *api = req->api;
    for (int attempt = 0;; attempt++) {
        lf_buf_reset(&resp->body);
        lf_json_t js;
        lf_json_init(&js, &resp->body);
        lf_json_object_begin(&js);
        lf_json_key(&js, key);
        lf_json_array_begin(&js);
        doc_page_t page = {.js = &js};
        char next_cursor[LF_STORE_CURSOR_MAX] = "";
        lf_err_t rc = scan(api->deps.store, query, &page, next_cursor);
        if (page.overflow) {
            if (page.fit == 0 || attempt == 3) {
                lf_metric_add(&api->too_large, 1);
                lf_api_resp_error(resp, 500, "response_too_large",
                                  "one %s document is larger than the response limit of %lld "
                                  "bytes",
                                  key, (long long)api->max_response_size);
                return;
            }
            *limit = page.fit;
            continue;
        }
        if (rc == LF_EINVAL) {
            lf_api_resp_error(resp, 400, "bad_request", "cursor is malformed");
            return;
        }
        if (rc != LF_OK) {
            store_read_error(resp, key, rc);
            return;
        }
        next_cursor[sizeof next_cursor - 1] = '\0';
        lf_json_array_end(&js);
        lf_json_key(&js, "next_cursor");
        if (next_cursor[0])
            lf_json_cstring(&js, next_cursor);
        else
            lf_json_null(&js);
        lf_json_key(&js, "count");
        lf_json_uint(&js, page.count);
        lf_json_object_end(&js);
        lf_api_resp_json_finish(req, resp, &js);
        return;
    }
}

/* Maps a store read error to a response. */
static void store_read_error(lf_api_resp_t *resp, const char *what, lf_err_t rc)
{
    if (rc == LF_EAGAIN) {
        lf_api_resp_error(resp, 503, "unavailable", "the store is busy; retry shortly");
        return;
    }
    storage_error(resp, what, rc);
}

static void handle_events(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_api_t *api = req->api;
    lf_store_query_t q = {.limit = (size_t)(api->max_page_size < LF_API_DEFAULT_PAGE
                                                ? api->max_page_size
                                                : LF_API_DEFAULT_PAGE)};

    const char *v = lf_api_req_query(req, "limit");
    if (v) {
        uint64_t limit;
        if (!lf_api_parse_u64(v, strlen(v), &limit) || limit < 1 ||
            limit > (uint64_t)api->max_page_size) {
            lf_api_resp_error(resp, 400, "bad_request", "limit must be 1..%lld",
                              (long long)api->max_page_size);
            return;
        }
        q.limit = (size_t)limit;
    }
    q.cursor = lf_api_req_query(req, "cursor");
    if (q.cursor && strlen(q.cursor) >= LF_STORE_CURSOR_MAX) {
        lf_api_resp_error(resp, 400, "bad_request", "cursor is malformed");
        return;
    }
    v = lf_api_req_query(req, "agent");
    if (v) {
        q.agent_id = lf_str_c(v);
        if (q.agent_id.len > LF_STORE_MAX_AGENT_ID) {
            lf_api_resp_error(resp, 400, "bad_request", "agent must be at most %d bytes",
                              LF_STORE_MAX_AGENT_ID);
            return;
        }
    }
    v = lf_api_req_query(req, "agency");
    if (v) {
        q.agency = lf_str_c(v);
        if (q.agency.len > LF_STORE_MAX_LABEL) {
            lf_api_resp_error(resp, 400, "bad_request", "agency must be at most %u bytes",
                              LF_STORE_MAX_LABEL);
            return;
        }
    }
    static const struct {
        const char *name;
        size_t offset;
    } bounds[] = {
        {"from", offsetof(lf_store_query_t, from_ms)},
        {"to", offsetof(lf_store_query_t, to_ms)},
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        v = lf_api_req_query(req, bounds[i].name);
        if (!v)
            continue;
        int64_t ms;
        if (!lf_api_parse_time(v, &ms)) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "%s must be an RFC 3339 time (2026-03-10T09:02:00+08:00) or "
                              "epoch milliseconds",
                              bounds[i].name);
            return;
        }
        memcpy((char *)&q + bounds[i].offset, &ms, sizeof ms);
    }
    if (q.from_ms && q.to_ms && q.from_ms >= q.to_ms) {
        lf_api_resp_error(resp, 400, "bad_request", "from must be earlier than to");
        return;
    }

    respond_paged(req, resp, "events", scan_events, &q, &q.limit);
}

/* ---- GET /api/v1/events/{agent_id}/{seq} ---------------------------------- */

static bool event_doc_copy(void *opaque, const lf_store_event_out_t *ev)
{
    lf_json_t *js = opaque;
    if (ev->doc_len)
        lf_json_raw(js, ev->doc, ev->doc_len);
    else
        lf_json_null(js);
    return false;
}

static void handle_event(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_str_t agent_id = req->path_params[0];
    lf_str_t seq_str = req->path_params[1];
    uint64_t seq;
    if (agent_id.len > LF_STORE_MAX_AGENT_ID) {
        lf_api_resp_error(resp, 400, "bad_request", "agent id must be at most %d bytes",
                          LF_STORE_MAX_AGENT_ID);
        return;
    }
    if (!lf_api_parse_u64(seq_str.ptr, seq_str.len, &seq) || seq == 0) {
        lf_api_resp_error(resp, 400, "bad_request", "seq must be a positive integer");
        return;
    }
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    lf_err_t rc = lf_store_event_get(req->api->deps.store, agent_id, seq, event_doc_copy, &js);
    if (rc == LF_ENOTFOUND || rc == LF_EINVAL) {
        lf_api_resp_error(resp, 404, "not_found", "no event %llu from that agent",
                          (unsigned long long)seq);
        return;
    }
    if (rc != LF_OK) {
        store_read_error(resp, "event get", rc);
        return;
    }
    lf_api_resp_json_finish(req, resp, &js);
}

/* GET /api/v1/agents and /api/v1/agents/{id}: lf_api_agents.c. */

/* ---- GET /api/v1/alerts --------------------------------------------------- */

static const char *const alert_levels[] = {"informational", "low", "medium", "high", "critical"};

static void handle_alerts(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_api_t *api = req->api;
    lf_store_alert_query_t q = {.limit = (size_t)(api->max_page_size < LF_API_DEFAULT_PAGE
                                                      ? api->max_page_size
                                                      : LF_API_DEFAULT_PAGE)};
    const char *v = lf_api_req_query(req, "limit");
    if (v) {
        uint64_t limit;
        if (!lf_api_parse_u64(v, strlen(v), &limit) || limit < 1 ||
            limit > (uint64_t)api->max_page_size) {
            lf_api_resp_error(resp, 400, "bad_request", "limit must be 1..%lld",
                              (long long)api->max_page_size);
            return;
        }
        q.limit = (size_t)limit;
    }
    q.cursor = lf_api_req_query(req, "cursor");
    if (q.cursor && strlen(q.cursor) >= LF_STORE_CURSOR_MAX) {
        lf_api_resp_error(resp, 400, "bad_request", "cursor is malformed");
        return;
    }
    if ((v = lf_api_req_query(req, "agency")))
        q.agency = lf_str_c(v);
    if ((v = lf_api_req_query(req, "rule")))
        q.rule_id = lf_str_c(v);
    if (q.agency.len > LF_STORE_MAX_LABEL || q.rule_id.len > LF_STORE_MAX_LABEL) {
        lf_api_resp_error(resp, 400, "bad_request", "agency and rule must be at most %u bytes",
                          LF_STORE_MAX_LABEL);
        return;
    }
    if ((v = lf_api_req_query(req, "min_level"))) {
        int level = -1;
        for (int i = 0; i < 5; i++)
            if (!strcmp(v, alert_levels[i]))
                level = i;
        if (level < 0) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "min_level must be informational, low, medium, high or critical");
            return;
        }
        q.min_level = level;
    }
    respond_paged(req, resp, "alerts", scan_alerts, &q, &q.limit);
}

static bool alert_doc_copy(void *opaque, const lf_store_alert_out_t *alert)
{
    lf_json_t *js = opaque;
    if (alert->doc_len)
        lf_json_raw(js, alert->doc, alert->doc_len);
    else
        lf_json_null(js);
    return false;
}

static void handle_alert(lf_api_req_t *req, lf_api_resp_t *resp)
{
    uint64_t id;
    lf_str_t id_str = req->path_params[0];
    if (!lf_api_parse_u64(id_str.ptr, id_str.len, &id) || id == 0) {
        lf_api_resp_error(resp, 400, "bad_request", "alert id must be a positive integer");
        return;
    }
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    lf_err_t rc = lf_store_alert_get(req->api->deps.store, id, alert_doc_copy, &js);
    if (rc == LF_ENOTFOUND) {
        lf_api_resp_error(resp, 404, "not_found", "no alert %llu", (unsigned long long)id);
        return;
    }
    if (rc != LF_OK) {
        store_read_error(resp, "alert", rc);
        return;
    }
    lf_api_resp_json_finish(req, resp, &js);
}

/* ---- Incidents, lights, reports (lf_incidents.h) ------------------------- */

static bool incidents_available(lf_api_req_t *req, lf_api_resp_t *resp)
{
    if (req->api->deps.incidents)
        return true;
    lf_api_resp_error(resp, 404, "not_found",
                      "incidents are disabled (incidents.enabled or detect.enabled is false)");
    return false;
}

static bool parse_incident_id(lf_api_req_t *req, lf_api_resp_t *resp, uint64_t *id)
{
    lf_str_t s = req->path_params[0];
    if (!lf_api_parse_u64(s.ptr, s.len, id) || *id == 0) {
        lf_api_resp_error(resp, 400, "bad_request", "incident id must be a positive integer");
        return false;
    }
    return true;
}

/* Maps an lf_incidents result onto the response. */
static void incidents_result(lf_api_resp_t *resp, lf_err_t rc, const char *what, uint64_t id)
{
    if (rc == LF_OK)
        return;
    if (rc == LF_ENOTFOUND)
        lf_api_resp_error(resp, 404, "not_found", "no incident %llu", (unsigned long long)id);
    else if (rc == LF_EFULL)
        lf_api_resp_error(resp, 500, "response_too_large",
                          "the %s is larger than api.max_response_size", what);
    else if (rc == LF_EINVAL)
        lf_api_resp_error(resp, 400, "bad_request", "malformed cursor");
    else
        store_read_error(resp, what, rc);
}

static void handle_incidents(lf_api_req_t *req, lf_api_resp_t *resp)
{
    if (!incidents_available(req, resp))
        return;
    lf_api_t *api = req->api;
    lf_incident_query_t q = {.limit = (size_t)(api->max_page_size < LF_API_DEFAULT_PAGE
                                                   ? api->max_page_size
                                                   : LF_API_DEFAULT_PAGE),
                             .now_ms = lf_time_now_ms()};
    const char *v = lf_api_req_query(req, "limit");
    uint64_t n;
    if (v) {
        if (!lf_api_parse_u64(v, strlen(v), &n) || n < 1 || n > (uint64_t)api->max_page_size) {
            lf_api_resp_error(resp, 400, "bad_request", "limit must be 1..%lld",
                              (long long)api->max_page_size);
            return;
        }
        q.limit = (size_t)n;
    }
    q.cursor = lf_api_req_query(req, "cursor");
    if ((v = lf_api_req_query(req, "status"))) {
        static const char *const ok[] = {"open",      "new",       "acknowledged",
                                         "contained", "recovered", "closed"};
        bool found = false;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            found |= strcmp(v, ok[i]) == 0;
        if (!found) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "status must be open, new, acknowledged, contained, recovered or "
                              "closed");
            return;
        }
        q.status = lf_str_c(v);
    }
    if ((v = lf_api_req_query(req, "level"))) {
        if (!lf_api_parse_u64(v, strlen(v), &n) || n < 1 || n > 4) {
            lf_api_resp_error(resp, 400, "bad_request", "level must be 1, 2, 3 or 4");
            return;
        }
        q.level = (int)n;
    }
    if ((v = lf_api_req_query(req, "agency")))
        q.agency = lf_str_c(v);
    if ((v = lf_api_req_query(req, "region")))
        q.region = lf_str_c(v);
    if ((v = lf_api_req_query(req, "overdue"))) {
        if (strcmp(v, "true") && strcmp(v, "false")) {
            lf_api_resp_error(resp, 400, "bad_request", "overdue must be true or false");
            return;
        }
        q.overdue_only = strcmp(v, "true") == 0;
    }
    static const char *const times[] = {"from", "to"};
    int64_t *dst[] = {&q.from_ms, &q.to_ms};
    for (int i = 0; i < 2; i++) {
        if ((v = lf_api_req_query(req, times[i])) && !lf_api_parse_time(v, dst[i])) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "%s must be RFC 3339 (2026-03-10T09:00:00+08:00) or epoch ms",
                              times[i]);
            return;
        }
    }
    incidents_result(resp, lf_incidents_list_json(api->deps.incidents, &q, &resp->body),
                     "incident list", 0);
}

static void handle_incident(lf_api_req_t *req, lf_api_resp_t *resp)
{
    uint64_t id;
    if (!incidents_available(req, resp) || !parse_incident_id(req, resp, &id))
        return;
    incidents_result(
        resp, lf_incidents_get_json(req->api->deps.incidents, id, lf_time_now_ms(), &resp->body),
        "incident", id);
}

static void handle_incident_action(lf_api_req_t *req, lf_api_resp_t *resp)
{
    uint64_t id;
    if (!incidents_available(req, resp) || !parse_incident_id(req, resp, &id))
        return;
    /* JSON only: a browser cannot send it cross-site without a CORS
     * preflight, which this API never grants. */
    const char *ct =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        lf_api_resp_error(resp, 415, "unsupported_media_type",
                          "send the action as Content-Type: application/json");
        return;
    }
    char err[512] = "";
    lf_err_t rc = lf_incidents_act(req->api->deps.incidents, id, req->body ? req->body : "",
                                   req->body_len, lf_time_now_ms(), &resp->body, err, sizeof err);
    if (rc == LF_EINVAL) {
        lf_api_resp_error(resp, 400, "bad_request", "%s", err);
        return;
    }
    if (rc == LF_ENOTFOUND) {
        lf_api_resp_error(resp, 404, "not_found", "no incident %llu", (unsigned long long)id);
        return;
    }
    if (rc != LF_OK) {
        lf_error(LOG_COMPONENT, "incident %llu action: %s", (unsigned long long)id, err);
        lf_api_resp_error(resp, 503, "unavailable", "%s", err[0] ? err : "storage error");
    }
}

static void handle_incident_report(lf_api_req_t *req, lf_api_resp_t *resp)
{
    uint64_t id;
    if (!incidents_available(req, resp) || !parse_incident_id(req, resp, &id))
        return;
    const char *format = lf_api_req_query(req, "format");
    bool html = format && strcmp(format, "html") == 0;
    if (format && !html && strcmp(format, "json") != 0) {
        lf_api_resp_error(resp, 400, "bad_request", "format must be json or html");
        return;
    }
    lf_err_t rc =
        lf_incidents_report(req->api->deps.incidents, id, lf_time_now_ms(), html, &resp->body);
    incidents_result(resp, rc, "report", id);
    if (rc == LF_OK && html) {
        resp->content_type = "text/html; charset=utf-8";
        resp->page = true;
    }
}

static void handle_lights(lf_api_req_t *req, lf_api_resp_t *resp)
{
    if (!incidents_available(req, resp))
        return;
    incidents_result(
        resp, lf_incidents_lights_json(req->api->deps.incidents, lf_time_now_ms(), &resp->body),
        "lights", 0);
}

/* ---- GET /api/v1/decode-failures ------------------------------------------ */

static void handle_decode_failures(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_api_t *api = req->api;
    if (!api->deps.decode_failures) {
        lf_api_resp_error(resp, 404, "not_found", "no decoding stage in this process");
        return;
    }
    lf_err_t rc = api->deps.decode_failures(api->deps.decode_failures_opaque, &resp->body);
    if (rc == LF_EFULL)
        lf_api_resp_error(resp, 500, "response_too_large",
                          "the failures are larger than api.max_response_size");
    else if (rc != LF_OK)
        lf_api_resp_error(resp, 500, "internal", "%s", lf_strerror(rc));
}

/* ---- GET /api/v1/stats ---------------------------------------------------- */

static void handle_stats(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_store_stats_t stats;
    memset(&stats, 0, sizeof stats);
    lf_err_t rc = lf_store_stats(req->api->deps.store, &stats);
    if (rc != LF_OK) {
        store_read_error(resp, "stats", rc);
        return;
    }
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    lf_json_object_begin(&js);
    lf_json_key(&js, "store");
    lf_json_object_begin(&js);
    lf_json_key(&js, "events");
    lf_json_uint(&js, stats.events);
    lf_json_key(&js, "alerts");
    lf_json_uint(&js, stats.alerts);
    lf_json_key(&js, "agents");
    lf_json_uint(&js, stats.agents);
    lf_json_key(&js, "map_used");
    lf_json_uint(&js, stats.map_used);
    lf_json_key(&js, "map_size");
    lf_json_uint(&js, stats.map_size);
    lf_json_object_end(&js);
    lf_json_object_end(&js);
    lf_api_resp_json_finish(req, resp, &js);
}

/* ---- GET /metrics --------------------------------------------------------- */

static void handle_metrics(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_api_t *api = req->api;
    lf_err_t rc = LF_OK;
    if (api->deps.metrics)
        rc = lf_metrics_write_prometheus(api->deps.metrics, &resp->body);
    if (rc == LF_OK)
        rc = lf_metrics_write_prometheus(&api->own_metrics, &resp->body);
    if (rc == LF_OK)
        rc = lf_api_agents_metrics(api, &resp->body);
    if (rc == LF_EFULL) {
        lf_metric_add(&api->too_large, 1);
        lf_api_resp_error(resp, 500, "response_too_large", "metrics exceed the response limit");
        return;
    }
    if (rc != LF_OK) {
        lf_api_resp_error(resp, 500, "internal", "%s", lf_strerror(rc));
        return;
    }
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- The dashboard's files ------------------------------------------------ */

static void serve_asset(lf_api_resp_t *resp, lf_str_t name)
{
    for (size_t i = 0; i < lf_api_asset_count; i++) {
        const lf_api_asset_t *asset = &lf_api_assets[i];
        if (lf_str_eq_c(name, asset->name)) {
            resp->static_body = asset->data;
            resp->static_len = asset->len;
            resp->content_type = lf_api_content_type(asset->name);
            resp->page = true;
            return;
        }
    }
    lf_api_resp_error(resp, 404, "not_found", "no such resource");
}

static void handle_index(lf_api_req_t *req, lf_api_resp_t *resp)
{
    serve_asset(resp, lf_str_c("index.html"));
}

static void handle_asset(lf_api_req_t *req, lf_api_resp_t *resp)
{
    serve_asset(resp, req->path_params[0]);
}

/* ---- The table ------------------------------------------------------------ */

const lf_api_route_t lf_api_routes[] = {
    {"GET", "/api/v1/health", handle_health, "health", NULL,
     "Liveness and component checks: `{\"status\",\"version\",\"uptime_s\",\"checks\"}`; "
     "200 when ok, 503 when degraded."},
    {"GET", "/api/v1/events", handle_events, "events", "limit,cursor,agent,agency,from,to",
     "Stored ECS events, newest first: `{\"events\":[...],\"next_cursor\":...,"
     "\"count\":n}` (next_cursor is null on the last page). `limit` 1..max_page_size (default "
     "100); `cursor` from the previous "
     "page; `agent`/`agency` filter exactly; `from` (inclusive) and `to` (exclusive) take "
     "RFC 3339 or epoch milliseconds."},
    {"GET", "/api/v1/events/{agent_id}/{seq}", handle_event, "event", NULL,
     "One stored ECS document by agent id and sequence number, or 404."},
    {"GET", "/api/v1/alerts", handle_alerts, "alerts", "limit,cursor,agency,rule,min_level",
     "Alerts raised by detection, newest first: `{\"alerts\":[...],\"next_cursor\":...,"
     "\"count\":n}`. `agency` and `rule` (rule or indicator id) filter exactly; `min_level` "
     "is informational, low, medium, high or critical."},
    {"GET", "/api/v1/alerts/{id}", handle_alert, "alert", NULL, "One alert by id, or 404."},
    {"GET", "/api/v1/incidents", handle_incidents, "incidents",
     "limit,cursor,status,level,agency,region,overdue,from,to",
     "Incidents, newest first: `{\"incidents\":[...],\"next_cursor\":...}`, each with "
     "status, level (suggested and current), impact, deadlines and overdue flags computed "
     "now. `status` is open (new, acknowledged, contained) or one status; `level` 1..4; "
     "`overdue=true` keeps overdue ones; `from`/`to` bound the first alert's time."},
    {"GET", "/api/v1/incidents/{id}", handle_incident, "incident", NULL,
     "One incident with its linked alerts and its history (every change: who, when, what)."},
    {"POST", "/api/v1/incidents/{id}/actions", handle_incident_action, "incident_action", NULL,
     "Changes an incident (JSON body, `Content-Type: application/json`): "
     "`{\"action\":\"status\",\"status\":\"acknowledged\",\"by\":\"...\"}`, "
     "`level` (with `reason`), `impact`, `assign`, `note`, `awareness`, `reported`, "
     "`reviewed`, `improvement_submitted` (docs/incidents.md). Answers the updated incident; "
     "400 with the reason when the change is not allowed."},
    {"GET", "/api/v1/incidents/{id}/report", handle_incident_report, "incident_report", "format",
     "The notification draft (通報) of an incident: the form's fields as JSON, or "
     "`format=html` for a printable bilingual page."},
    {"GET", "/api/v1/lights", handle_lights, "lights", NULL,
     "Threat lights (威脅燈號) per agency and per region, computed from open incidents and "
     "agent silence (domain rules in docs/incidents.md)."},
    {"GET", "/api/v1/agents", lf_api_handle_agents, "agents", "agency,status",
     "Known agents by id: `{\"agents\":[...],\"count\":n}`, each with its derived `status` "
     "(healthy, unhealthy, silent, not_enrolled, refused) and `problems`, agency, host, os, "
     "version, `enrolment` (state, reason, refused batches), heartbeat times and the agent's "
     "own `counters`, and what the store holds (watermark, events stored, duplicates, first "
     "and last seen, RFC 3339). `agency` and `status` filter exactly."},
    {"GET", "/api/v1/agents/{id}", lf_api_handle_agent, "agent", NULL,
     "One agent as in the list, or 404."},
    {"GET", "/api/v1/decode-failures", handle_decode_failures, "decode_failures", NULL,
     "The newest records no decoder could take (`ingest.failure_samples` kept): time, agent, "
     "source, decoder, reason and the record's first bytes, with counts per agent and per "
     "decoder over the kept samples. The records themselves are stored as events with "
     "`lianfang.decode_error`."},
    {"GET", "/api/v1/stats", handle_stats, "stats", NULL,
     "Store statistics: events, alerts, agents, map bytes used and map size."},
    {"GET", "/metrics", handle_metrics, "metrics", NULL,
     "Prometheus text: every registered counter of the process plus the API's own "
     "(`lianfang_api_requests_total{code=\"2xx\"}`, "
     "`lianfang_api_route_requests_total{route=\"events\"}`, ...)."},
    {"GET", "/", handle_index, "dashboard", NULL, "The dashboard page (聯防 儀表板)."},
    {"GET", "/{asset}", handle_asset, "dashboard", NULL,
     "The dashboard's embedded files (`app.js`, `style.css`, ...)."},
};

const size_t lf_api_route_count = sizeof lf_api_routes / sizeof lf_api_routes[0];
