/* lf_api_agents.c - GET /api/v1/agents, /api/v1/agents/{id} and the
 * lianfang_agents{status} gauges.
 *
 * An agent is known from two places: the store's agents table (what it
 * delivered: watermark, events, duplicates) and the agent registry (its
 * heartbeats and enrolment, ingest/lf_agents.h). Both are keyed by agent
 * id in the same byte order, so the list is one merge of two ordered scans.
 * The status is derived now from the stored facts (lf_agents_status).
 *
 * Threads: API pool threads; only store reads.
 */
#include "lf_api_internal.h"
#include "lf_log.h"
#include "lf_time.h"

#include <stdlib.h>
#include <string.h>

/* A store agent record copied out of its read transaction. */
typedef struct stored_agent {
    char *id, *agency, *host;
    lf_store_agent_info_t info; /* strings point at the copies above */
} stored_agent_t;

typedef struct stored_list {
    stored_agent_t *items;
    size_t count, cap;
    bool oom;
} stored_list_t;

static bool stored_copy(stored_agent_t *a, const lf_store_agent_info_t *info)
{
    a->id = strndup(info->agent_id.ptr, info->agent_id.len);
    a->agency = strndup(info->agency.ptr ? info->agency.ptr : "", info->agency.len);
    a->host = strndup(info->host.ptr ? info->host.ptr : "", info->host.len);
    a->info = *info;
    a->info.agent_id = lf_str_c(a->id);
    a->info.agency = lf_str_c(a->agency);
    a->info.host = lf_str_c(a->host);
    return a->id && a->agency && a->host;
}

static void stored_free(stored_agent_t *a)
{
    free(a->id);
    free(a->agency);
    free(a->host);
}

static bool stored_add(void *opaque, const lf_store_agent_info_t *info)
{
    stored_list_t *l = opaque;
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        stored_agent_t *n = realloc(l->items, ncap * sizeof *n);
        if (!n) {
            l->oom = true;
            return false;
        }
        l->items = n;
        l->cap = ncap;
    }
    stored_agent_t *a = &l->items[l->count];
    memset(a, 0, sizeof *a);
    if (!stored_copy(a, info)) {
        stored_free(a);
        l->oom = true;
        return false;
    }
    l->count++;
    return true;
}

static void stored_list_free(stored_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        stored_free(&l->items[i]);
    free(l->items);
}

/* LMDB's default order: bytes, then the shorter first. */
static int id_cmp(lf_str_t a, lf_str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* ---- one agent as JSON ---------------------------------------------------- */

static void time_or_null(lf_json_t *js, const char *key, int64_t ms)
{
    lf_json_key(js, key);
    if (ms > 0)
        lf_json_timestamp_ms(js, ms);
    else
        lf_json_null(js);
}

static void problem_json(void *opaque, const char *text)
{
    lf_json_cstring(opaque, text);
}

static lf_str_t agent_agency(const lf_agents_record_t *rec, const lf_store_agent_info_t *info)
{
    if (rec && rec->has_heartbeat && rec->hb.agency.len)
        return rec->hb.agency;
    return info ? info->agency : LF_STR_NULL;
}

static const char *const enrolment_names[] = {"none", "enrolled", "failed"};

static void agent_json(lf_json_t *js, const lf_agents_record_t *rec,
                       const lf_store_agent_info_t *info, int64_t now,
                       const lf_agents_health_limits_t *limits)
{
    lf_str_t id = rec ? rec->agent_id : info->agent_id;
    const lf_wire_heartbeat_t *hb = rec && rec->has_heartbeat ? &rec->hb : NULL;
    lf_json_object_begin(js);
    lf_json_key(js, "id");
    lf_json_string(js, id.ptr, id.len);
    lf_json_key(js, "status");
    lf_json_cstring(js, lf_agents_status_name(lf_agents_status(rec, now, limits, NULL, NULL)));
    lf_json_key(js, "problems");
    lf_json_array_begin(js);
    (void)lf_agents_status(rec, now, limits, problem_json, js);
    lf_json_array_end(js);
    lf_str_t agency = agent_agency(rec, info);
    lf_json_key(js, "agency");
    lf_json_string(js, agency.ptr, agency.len);
    lf_str_t host = hb && hb->host.len ? hb->host : info ? info->host : LF_STR_NULL;
    lf_json_key(js, "host");
    lf_json_string(js, host.ptr, host.len);
    lf_json_key(js, "os");
    if (hb)
        lf_json_string(js, hb->os.ptr, hb->os.len);
    else
        lf_json_null(js);
    lf_json_key(js, "version");
    if (hb)
        lf_json_string(js, hb->version.ptr, hb->version.len);
    else
        lf_json_null(js);
    lf_json_key(js, "enrolled");
    lf_json_bool(js, rec && rec->enrolment == LF_ENROL_ENROLLED);

    lf_json_key(js, "enrolment");
    lf_json_object_begin(js);
    lf_json_key(js, "state");
    lf_json_cstring(js, enrolment_names[rec ? rec->enrolment : LF_ENROL_NONE]);
    lf_agents_reason_t reason = rec ? rec->reason : LF_AGENTS_R_NO_HEARTBEAT;
    lf_json_key(js, "reason");
    if (reason == LF_AGENTS_R_NONE)
        lf_json_null(js);
    else
        lf_json_cstring(js, lf_agents_reason_name(reason));
    lf_json_key(js, "reason_text");
    lf_json_cstring(js, lf_agents_reason_text(reason));
    lf_json_key(js, "agency");
    if (rec && rec->enrolled_agency.len)
        lf_json_string(js, rec->enrolled_agency.ptr, rec->enrolled_agency.len);
    else
        lf_json_null(js);
    lf_json_key(js, "accepting");
    lf_json_bool(js, !rec || rec->accepting);
    lf_json_key(js, "failures");
    lf_json_uint(js, rec ? rec->enrol_failures : 0);
    lf_json_key(js, "refused_batches");
    lf_json_uint(js, rec ? rec->refused_batches : 0);
    lf_json_key(js, "refused_records");
    lf_json_uint(js, rec ? rec->refused_records : 0);
    time_or_null(js, "last_refused", rec ? rec->last_refused_ms : 0);
    lf_json_object_end(js);

    /* What the store holds (the fields of the first API version). */
    lf_json_key(js, "watermark");
    lf_json_uint(js, info ? info->watermark : 0);
    lf_json_key(js, "events_stored");
    lf_json_uint(js, info ? info->events_stored : 0);
    lf_json_key(js, "duplicates");
    lf_json_uint(js, info ? info->duplicates : 0);
    int64_t first = info ? info->first_seen_ms : 0;
    if (rec && rec->first_seen_ms && (!first || rec->first_seen_ms < first))
        first = rec->first_seen_ms;
    int64_t last_event = info ? info->last_seen_ms : 0;
    int64_t last_hb = rec ? rec->last_heartbeat_ms : 0;
    time_or_null(js, "first_seen", first);
    time_or_null(js, "last_seen", last_event > last_hb ? last_event : last_hb);
    time_or_null(js, "last_event", last_event);

    time_or_null(js, "last_heartbeat", last_hb);
    lf_json_key(js, "heartbeats");
    lf_json_uint(js, rec ? rec->heartbeats : 0);
    lf_json_key(js, "stale_heartbeats");
    lf_json_uint(js, rec ? rec->stale_heartbeats : 0);
    lf_json_key(js, "heartbeat_interval_ms");
    if (hb)
        lf_json_int(js, hb->interval_ms);
    else
        lf_json_null(js);
    time_or_null(js, "started", hb ? hb->started_ms : 0);
    time_or_null(js, "last_problem", rec ? rec->last_problem_ms : 0);
    lf_json_key(js, "last_error");
    if (hb && hb->last_error.len) {
        lf_json_object_begin(js);
        time_or_null(js, "time", hb->last_error_ms);
        lf_json_key(js, "message");
        lf_json_string(js, hb->last_error.ptr, hb->last_error.len);
        lf_json_object_end(js);
    } else {
        lf_json_null(js);
    }
    lf_json_key(js, "counters");
    if (hb) {
        lf_json_object_begin(js);
        lf_wire_hb_iter_t it = {0};
        lf_wire_counter_t c;
        while (lf_wire_heartbeat_counter(hb, &it, &c) == LF_OK) {
            /* Names are [a-z0-9_] by the wire format's rule. */
            lf_json_key_trusted(js, c.name.ptr, c.name.len);
            lf_json_uint(js, c.value);
        }
        lf_json_object_end(js);
    } else {
        lf_json_null(js);
    }
    lf_json_object_end(js);
}

/* ---- the merged walk ------------------------------------------------------ */

typedef void (*agent_visit_fn)(void *opaque, const lf_agents_record_t *rec,
                               const lf_store_agent_info_t *info);

typedef struct walk {
    stored_list_t stored;
    size_t next; /* next stored agent not yet visited */
    agent_visit_fn fn;
    void *opaque;
} walk_t;

static bool walk_registry(void *opaque, const lf_agents_record_t *rec)
{
    walk_t *w = opaque;
    while (w->next < w->stored.count &&
           id_cmp(w->stored.items[w->next].info.agent_id, rec->agent_id) < 0)
        w->fn(w->opaque, NULL, &w->stored.items[w->next++].info);
    const lf_store_agent_info_t *info = NULL;
    if (w->next < w->stored.count &&
        id_cmp(w->stored.items[w->next].info.agent_id, rec->agent_id) == 0)
        info = &w->stored.items[w->next++].info;
    w->fn(w->opaque, rec, info);
    return true;
}

static lf_err_t walk_agents(lf_store_t *store, agent_visit_fn fn, void *opaque)
{
    walk_t w = {.fn = fn, .opaque = opaque};
    lf_err_t rc = lf_store_agents_list(store, stored_add, &w.stored);
    if (rc == LF_OK && w.stored.oom)
        rc = LF_ENOMEM;
    if (rc == LF_OK)
        rc = lf_agents_scan(store, walk_registry, &w);
    for (; rc == LF_OK && w.next < w.stored.count; w.next++)
        fn(opaque, NULL, &w.stored.items[w.next].info);
    stored_list_free(&w.stored);
    return rc;
}

/* ---- handlers ------------------------------------------------------------- */

typedef struct list_ctx {
    lf_json_t *js;
    const lf_agents_health_limits_t *limits;
    int64_t now;
    const char *agency;
    bool by_status;
    lf_agents_status_t status;
    uint64_t count;
} list_ctx_t;

static void list_one(void *opaque, const lf_agents_record_t *rec, const lf_store_agent_info_t *info)
{
    list_ctx_t *c = opaque;
    if (c->agency && !lf_str_eq_c(agent_agency(rec, info), c->agency))
        return;
    if (c->by_status && lf_agents_status(rec, c->now, c->limits, NULL, NULL) != c->status)
        return;
    agent_json(c->js, rec, info, c->now, c->limits);
    c->count++;
}

static void read_error(lf_api_resp_t *resp, const char *what, lf_err_t rc)
{
    if (rc == LF_EAGAIN) {
        lf_api_resp_error(resp, 503, "unavailable", "the store is busy; retry shortly");
        return;
    }
    lf_log(LF_LOG_ERROR, "api", "%s: %s", what, lf_strerror(rc));
    lf_api_resp_error(resp, 500, "internal", "%s failed: %s", what, lf_strerror(rc));
}

void lf_api_handle_agents(lf_api_req_t *req, lf_api_resp_t *resp)
{
    list_ctx_t c = {.limits = &req->api->agent_limits,
                    .now = lf_time_now_ms(),
                    .agency = lf_api_req_query(req, "agency")};
    const char *status = lf_api_req_query(req, "status");
    if (status) {
        if (lf_agents_status_parse(status, &c.status) != LF_OK) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "status must be healthy, unhealthy, silent, not_enrolled or "
                              "refused");
            return;
        }
        c.by_status = true;
    }
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    c.js = &js;
    lf_json_object_begin(&js);
    lf_json_key(&js, "agents");
    lf_json_array_begin(&js);
    lf_err_t rc = walk_agents(req->api->deps.store, list_one, &c);
    if (rc != LF_OK && lf_json_error(&js) == LF_OK) {
        read_error(resp, "agents list", rc);
        return;
    }
    lf_json_array_end(&js);
    lf_json_key(&js, "count");
    lf_json_uint(&js, c.count);
    lf_json_object_end(&js);
    lf_api_resp_json_finish(req, resp, &js);
}

typedef struct one_ctx {
    stored_agent_t stored;
    bool have_stored, oom, written;
    lf_json_t *js;
    const lf_agents_health_limits_t *limits;
    int64_t now;
} one_ctx_t;

static bool one_stored(void *opaque, const lf_store_agent_info_t *info)
{
    one_ctx_t *c = opaque;
    c->have_stored = true;
    c->oom = !stored_copy(&c->stored, info);
    return false;
}

static bool one_registry(void *opaque, const lf_agents_record_t *rec)
{
    one_ctx_t *c = opaque;
    agent_json(c->js, rec, c->have_stored ? &c->stored.info : NULL, c->now, c->limits);
    c->written = true;
    return false;
}

void lf_api_handle_agent(lf_api_req_t *req, lf_api_resp_t *resp)
{
    lf_str_t id = req->path_params[0];
    if (!id.len || id.len > LF_STORE_MAX_AGENT_ID) {
        lf_api_resp_error(resp, 404, "not_found", "no such agent");
        return;
    }
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    one_ctx_t c = {.js = &js, .limits = &req->api->agent_limits, .now = lf_time_now_ms()};
    lf_err_t rc = lf_store_agent_get(req->api->deps.store, id, one_stored, &c);
    if (rc == LF_OK || rc == LF_ENOTFOUND)
        rc = c.oom ? LF_ENOMEM : lf_agents_get(req->api->deps.store, id, one_registry, &c);
    if (rc == LF_ENOTFOUND && c.have_stored) {
        agent_json(&js, NULL, &c.stored.info, c.now, c.limits);
        c.written = true;
        rc = LF_OK;
    }
    stored_free(&c.stored);
    if (rc == LF_ENOTFOUND) {
        lf_api_resp_error(resp, 404, "not_found", "no such agent");
        return;
    }
    if (rc != LF_OK && lf_json_error(&js) == LF_OK) {
        read_error(resp, "agent", rc);
        return;
    }
    lf_api_resp_json_finish(req, resp, &js);
}

/* ---- /metrics --------------------------------------------------------------- */

typedef struct count_ctx {
    const lf_agents_health_limits_t *limits;
    int64_t now;
    uint64_t counts[LF_AGENT_STATUS_COUNT];
} count_ctx_t;

static void count_one(void *opaque, const lf_agents_record_t *rec,
                      const lf_store_agent_info_t *info)
{
    count_ctx_t *c = opaque;
    c->counts[lf_agents_status(rec, c->now, c->limits, NULL, NULL)]++;
}

lf_err_t lf_api_agents_metrics(lf_api_t *api, lf_buf_t *out)
{
    count_ctx_t c = {.limits = &api->agent_limits, .now = lf_time_now_ms()};
    lf_err_t rc = walk_agents(api->deps.store, count_one, &c);
    if (rc != LF_OK) {
        /* The other metrics are still worth serving. */
        lf_log(LF_LOG_WARN, "api", "agents by status not rendered: %s", lf_strerror(rc));
        return LF_OK;
    }
    rc = lf_buf_append_str(out, "# HELP lianfang_agents Known agents by derived status "
                                "(computed when /metrics is read)\n"
                                "# TYPE lianfang_agents gauge\n");
    for (int s = 0; s < LF_AGENT_STATUS_COUNT && rc == LF_OK; s++)
        rc = lf_buf_printf(out, "lianfang_agents{status=\"%s\"} %llu\n",
                           lf_agents_status_name((lf_agents_status_t)s),
                           (unsigned long long)c.counts[s]);
    return rc;
}
