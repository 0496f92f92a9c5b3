/* lf_api.c - the HTTP server: configuration, listening socket,
 * libmicrohttpd daemon, dispatch over the route table, response headers and
 * the API's own counters.
 *
 * Threads: lf_api_start()/lf_api_stop() run on the owning thread; everything
 * reached from access_handler() runs on libmicrohttpd's pool threads and
 * touches only read-only server state, the store's read API and atomics.
 */
#include "lf_api_internal.h"
#include "lf_log.h"
#include "lf_time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_COMPONENT "api"

/* ---- Configuration -------------------------------------------------------- */

const lf_config_option_t lf_api_config_options[] = {
    LF_CFG_OPT_STRING("listen", lf_api_config_t, listen, "127.0.0.1:8080",
                      "Address and port of the HTTP API and dashboard: `a.b.c.d:port` or "
                      "`[IPv6]:port`; port 0 picks a free one. The default is loopback only; "
                      "expose it beyond the host only behind a TLS reverse proxy."),
    LF_CFG_OPT_INT("threads", lf_api_config_t, threads, "2", 1, 64,
                   "Server threads (libmicrohttpd polling threads). They are separate from the "
                   "ingest loop, so slow clients never delay ingestion."),
    LF_CFG_OPT_INT("max_connections", lf_api_config_t, max_connections, "256", 1, 65535,
                   "Concurrent connections from all clients; more are refused at accept."),
    LF_CFG_OPT_DURATION("connection_timeout", lf_api_config_t, connection_timeout_ms, "30s", 1000,
                        3600000, "An idle connection is closed after this long."),
    LF_CFG_OPT_INT("max_page_size", lf_api_config_t, max_page_size, "1000", 1, 1000,
                   "Largest `limit` accepted by /api/v1/events."),
    LF_CFG_OPT_INT("per_ip_connection_limit", lf_api_config_t, per_ip_connection_limit, "64", 1,
                   65535, "Concurrent connections from one client address."),
    LF_CFG_OPT_SIZE("max_response_size", lf_api_config_t, max_response_size, "32MiB", 65536,
                    1073741824,
                    "Largest response body; a page that would be larger is refused with 500 "
                    "response_too_large (ask for a smaller limit)."),
    LF_CFG_OPT_SIZE("max_request_body", lf_api_config_t, max_request_body, "64KiB", 1024,
                    16 * 1024 * 1024,
                    "Largest body of a POST request (an analyst's action on an incident); a "
                    "larger body is refused with 413."),
    LF_CFG_OPT_DURATION("agent_silent_after", lf_api_config_t, agent_silent_after_ms, "0", 0,
                        604800000,
                        "An agent without a heartbeat for this long is shown as silent. 0: "
                        "three times the agent's own heartbeat interval (agent.heartbeat_interval, "
                        "30 s by default, so 90 s)."),
    LF_CFG_OPT_DURATION("agent_problem_window", lf_api_config_t, agent_problem_window_ms, "15m",
                        1000, 604800000,
                        "An agent whose loss counters (names ending in _lost, _dropped, _errors) "
                        "rose, or that logged an error, within this window is shown as "
                        "unhealthy."),
    LF_CFG_OPT_INT("agent_full_percent", lf_api_config_t, agent_full_percent, "90", 1, 100,
                   "An agent whose spool or send window (unacknowledged bytes) is at least this "
                   "full is shown as unhealthy."),
    LF_CFG_END,
};

static lf_err_t check_range(const char *key, int64_t v, int64_t lo, int64_t hi, char *errstr,
                            size_t errlen)
{
    if (v >= lo && v <= hi)
        return LF_OK;
    snprintf(errstr, errlen, "api.%s: %lld is out of range %lld..%lld", key, (long long)v,
             (long long)lo, (long long)hi);
    return LF_ECONFIG;
}

/* Applies the option table's ranges to a struct that may not have come
 * through the configuration loader. */
static lf_err_t check_config(const lf_api_config_t *cfg, char *errstr, size_t errlen)
{
    for (const lf_config_option_t *opt = lf_api_config_options; opt->name; opt++) {
        if (opt->type == LF_CFG_STRING)
            continue;
        int64_t v;
        memcpy(&v, (const char *)cfg + opt->offset, sizeof v);
        lf_err_t rc = check_range(opt->name, v, opt->min, opt->max, errstr, errlen);
        if (rc != LF_OK)
            return rc;
    }
    return LF_OK;
}

/* ---- Request helpers ------------------------------------------------------ */

const char *lf_api_req_query(const lf_api_req_t *req, const char *name)
{
    const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

void lf_api_resp_error(lf_api_resp_t *resp, unsigned status, const char *code, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    resp->status = status;
    resp->content_type = "application/json; charset=utf-8";
    resp->static_body = NULL;
    resp->page = false;
    lf_buf_reset(&resp->body);
    lf_json_t js;
    lf_json_init(&js, &resp->body);
    lf_json_object_begin(&js);
    lf_json_key(&js, "error");
    lf_json_object_begin(&js);
    lf_json_key(&js, "code");
    lf_json_cstring(&js, code);
    lf_json_key(&js, "message");
    lf_json_cstring(&js, message);
    lf_json_object_end(&js);
    lf_json_object_end(&js);
    lf_buf_append_byte(&resp->body, '\n');
}

void lf_api_resp_json_finish(lf_api_req_t *req, lf_api_resp_t *resp, const lf_json_t *js)
{
    lf_err_t rc = lf_json_error(js);
    if (rc == LF_OK)
        rc = lf_buf_append_byte(&resp->body, '\n');
    if (rc == LF_EFULL) {
        lf_metric_add(&req->api->too_large, 1);
        lf_api_resp_error(resp, 500, "response_too_large",
                          "the response would exceed %lld bytes; ask for a smaller page",
                          (long long)req->api->max_response_size);
    } else if (rc != LF_OK) {
        lf_api_resp_error(resp, 500, "internal", "%s", lf_strerror(rc));
    }
}

/* ---- Dispatch ------------------------------------------------------------- */

/* Matches path against pattern segment by segment; {name} takes one
 * non-empty segment and is recorded in req->path_params. */
static bool route_match(const char *pattern, const char *path, lf_api_req_t *req)
{
    size_t nparams = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '{') {
            const char *pend = strchr(p, '}');
            const char *uend = strchr(u, '/');
            if (!uend)
                uend = u + strlen(u);
            if (!pend || uend == u || nparams == LF_API_MAX_PATH_PARAMS)
                return false;
            req->path_params[nparams++] = lf_str_n(u, (size_t)(uend - u));
            p = pend + 1;
            u = uend;
        } else if (*p == *u) {
            p++;
            u++;
        } else {
            return false;
        }
    }
    if (*p || *u)
        return false;
    req->path_param_count = nparams;
    return true;
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    if (strstr(allow, method))
        return;
    size_t len = strlen(allow);
    snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", method);
}

typedef struct unknown_param {
    const char *accepted;
    char name[65];
    bool found;
} unknown_param_t;

static bool param_listed(const char *list, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == klen && memcmp(p, key, n) == 0)
            return true;
        p = end ? end + 1 : p + n;
    }
    return false;
}

static enum MHD_Result find_unknown_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    unknown_param_t *u = cls;
    if (param_listed(u->accepted, key))
        return MHD_YES;
    snprintf(u->name, sizeof u->name, "%s", key);
    u->found = true;
    return MHD_NO;
}

static size_t dispatch(lf_api_req_t *req, lf_api_resp_t *resp)
{
    char allow[sizeof resp->allow] = "";
    size_t matched_metric = req->api->unmatched_metric;
    bool path_matched = false;

    for (size_t i = 0; i < lf_api_route_count; i++) {
        const lf_api_route_t *route = &lf_api_routes[i];
        if (!route_match(route->pattern, req->path, req))
            continue;
        if (!path_matched)
            matched_metric = req->api->route_metric_index[i];
        path_matched = true;
        if (!method_matches(route->method, req->method)) {
            allow_add(allow, sizeof allow, route->method);
            if (strcmp(route->method, "GET") == 0)
                allow_add(allow, sizeof allow, "HEAD");
            continue;
        }
        unknown_param_t unknown = {.accepted = route->params};
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, find_unknown_param, &unknown);
        if (unknown.found) {
            lf_api_resp_error(resp, 400, "bad_request",
                              "unknown query parameter '%s' (accepted: %s)", unknown.name,
                              route->params ? route->params : "none");
        } else {
            route->handler(req, resp);
        }
        return req->api->route_metric_index[i];
    }

    if (path_matched) {
        lf_api_resp_error(resp, 405, "method_not_allowed", "%s is not allowed here; use %s",
                          req->method, allow);
        memcpy(resp->allow, allow, sizeof allow);
    } else {
        lf_api_resp_error(resp, 404, "not_found", "no such resource");
    }
    return matched_metric;
}

static bool add_header(struct MHD_Response *r, const char *name, const char *value)
{
    return MHD_add_response_header(r, name, value) == MHD_YES;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, lf_api_resp_t *resp)
{
    struct MHD_Response *r;
    if (resp->static_body) {
        r = MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_body,
                                            MHD_RESPMEM_PERSISTENT);
    } else if (resp->body.len == 0) {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        /* libmicrohttpd frees the buffer with free() once sent. */
        r = MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->body = (lf_buf_t){.max = resp->body.max};
    }
    if (!r)
        return MHD_NO;

    bool ok = add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) &&
              add_header(r, "X-Content-Type-Options", "nosniff") &&
              add_header(r, "Referrer-Policy", "no-referrer");
    if (resp->page) {
        ok = ok && add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") &&
             add_header(r, "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'") &&
             add_header(r, "X-Frame-Options", "DENY");
    } else {
        ok = ok && add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    if (resp->allow[0])
        ok = ok && add_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);

    enum MHD_Result rc = ok ? MHD_queue_response(conn, resp->status, r) : MHD_NO;
    MHD_destroy_response(r);
    return rc;
}

/* *con_cls of a request that has been answered. */
static int answered;

/* What a request collects between libmicrohttpd's calls: the POST body. */
typedef struct upload {
    lf_buf_t body;
    bool too_large;
} upload_t;

static bool is_post(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
}

/* Called by libmicrohttpd (pool thread) when a request's headers are in, for
 * every chunk of an upload, and once more when the upload is complete. Only
 * POST requests have their body collected (at most api.max_request_body
 * bytes); a body sent with another method is discarded. */
static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    lf_api_t *api = cls;
    if (*con_cls == &answered) {
        *upload_data_size = 0; /* discard an unexpected body */
        return MHD_YES;
    }
    if (!*con_cls && is_post(method)) {
        upload_t *up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        lf_buf_init(&up->body, (size_t)api->max_request_body + 1);
        *con_cls = up;
        return MHD_YES;
    }
    upload_t *up = *con_cls == &answered ? NULL : *con_cls;
    if (up && *upload_data_size) {
        if (!up->too_large && (up->body.len + *upload_data_size > (size_t)api->max_request_body ||
                               lf_buf_append(&up->body, upload_data, *upload_data_size) != LF_OK))
            up->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    *con_cls = &answered;

    lf_api_req_t req = {.api = api, .conn = conn, .method = method, .path = url};
    lf_api_resp_t resp = {.status = 200, .content_type = "application/json; charset=utf-8"};
    lf_buf_init(&resp.body, (size_t)api->max_response_size);

    size_t metric;
    if (up && up->too_large) {
        lf_api_resp_error(&resp, 413, "body_too_large",
                          "the request body is larger than api.max_request_body (%lld bytes)",
                          (long long)api->max_request_body);
        metric = api->unmatched_metric;
    } else {
        if (up) {
            lf_buf_append_byte(&up->body, '\0'); /* room was reserved: max + 1 */
            req.body = up->body.data ? up->body.data : "";
            req.body_len = up->body.len ? up->body.len - 1 : 0;
        }
        metric = dispatch(&req, &resp);
    }
    if (up) {
        lf_buf_free(&up->body);
        free(up);
    }

    lf_metric_add(&api->route_metrics[metric].metric, 1);
    unsigned cls_index = resp.status / 100;
    if (cls_index >= 1 && cls_index <= LF_API_STATUS_CLASSES)
        lf_metric_add(&api->status_metrics[cls_index - 1], 1);
    if (resp.status >= 500)
        lf_warn(LOG_COMPONENT, "%s on route class %s answered %u", method,
                api->route_metrics[metric].route_class, resp.status);

    enum MHD_Result rc = send_response(conn, &resp);
    lf_buf_free(&resp.body);
    return rc;
}

/* Frees an upload whose request ended before it was answered. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    upload_t *up = con_cls && *con_cls != &answered ? *con_cls : NULL;
    if (up) {
        lf_buf_free(&up->body);
        free(up);
        *con_cls = NULL;
    }
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    lf_api_t *api = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        lf_metric_add(&api->connections_active, 1);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        lf_metric_add(&api->connections_active, -1);
}

/* libmicrohttpd's messages (refused connections, socket errors) go to the
 * log, at most LF_API_LOG_BURST lines per LF_API_LOG_WINDOW_MS so a flood
 * of clients cannot flood the log; the rest are counted and reported. */
#define LF_API_LOG_BURST     20
#define LF_API_LOG_WINDOW_MS 10000

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    lf_api_t *api = cls;
    int64_t now = lf_time_mono_ms();
    int64_t start = atomic_load(&api->log_window_start);
    if (now - start >= LF_API_LOG_WINDOW_MS &&
        atomic_compare_exchange_strong(&api->log_window_start, &start, now)) {
        int64_t dropped = atomic_exchange(&api->log_suppressed, 0);
        atomic_store(&api->log_lines, 0);
        if (dropped)
            lf_warn(LOG_COMPONENT, "libmicrohttpd: %lld more messages suppressed",
                    (long long)dropped);
    }
    if (atomic_fetch_add(&api->log_lines, 1) >= LF_API_LOG_BURST) {
        atomic_fetch_add(&api->log_suppressed, 1);
        return;
    }
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    lf_warn(LOG_COMPONENT, "libmicrohttpd: %s", line);
}

/* ---- Metrics -------------------------------------------------------------- */

static lf_err_t metrics_init(lf_api_t *api)
{
    static const char *const status_labels[LF_API_STATUS_CLASSES] = {
        "code=\"1xx\"", "code=\"2xx\"", "code=\"3xx\"", "code=\"4xx\"", "code=\"5xx\""};

    lf_metrics_init(&api->own_metrics);
    for (size_t i = 0; i < LF_API_STATUS_CLASSES; i++)
        api->status_metrics[i] = (lf_metric_t){
            .name = "lianfang_api_requests_total",
            .labels = status_labels[i],
            .help = "HTTP requests answered, by status class.",
            .kind = LF_METRIC_COUNTER,
        };

    /* One counter per distinct route class, plus "unmatched" for 404s. */
    for (size_t i = 0; i <= lf_api_route_count; i++) {
        const char *cls = i < lf_api_route_count ? lf_api_routes[i].route_class : "unmatched";
        size_t slot = 0;
        while (slot < api->route_metric_count &&
               strcmp(api->route_metrics[slot].route_class, cls) != 0)
            slot++;
        if (slot == api->route_metric_count) {
            lf_api_route_metric_t *rm = &api->route_metrics[api->route_metric_count++];
            rm->route_class = cls;
            snprintf(rm->labels, sizeof rm->labels, "route=\"%s\"", cls);
            rm->metric = (lf_metric_t){
                .name = "lianfang_api_route_requests_total",
                .labels = rm->labels,
                .help = "HTTP requests answered, by route class.",
                .kind = LF_METRIC_COUNTER,
            };
        }
        if (i < lf_api_route_count)
            api->route_metric_index[i] = slot;
        else
            api->unmatched_metric = slot;
    }
    api->too_large = (lf_metric_t){
        .name = "lianfang_api_responses_too_large_total",
        .help = "Responses refused because the body would pass api.max_response_size.",
        .kind = LF_METRIC_COUNTER,
    };
    api->connections_active = (lf_metric_t){
        .name = "lianfang_api_connections_active",
        .help = "Open HTTP connections.",
        .kind = LF_METRIC_GAUGE,
    };

    lf_err_t rc =
        lf_metrics_register(&api->own_metrics, api->status_metrics, LF_API_STATUS_CLASSES);
    for (size_t i = 0; i < api->route_metric_count && rc == LF_OK; i++)
        rc = lf_metrics_register(&api->own_metrics, &api->route_metrics[i].metric, 1);
    if (rc == LF_OK)
        rc = lf_metrics_register(&api->own_metrics, &api->too_large, 1);
    if (rc == LF_OK)
        rc = lf_metrics_register(&api->own_metrics, &api->connections_active, 1);
    return rc;
}

/* ---- Start / stop --------------------------------------------------------- */

static lf_err_t open_listener(lf_api_t *api, bool *v6, int *out_fd, char *errstr, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    lf_err_t rc = lf_api_parse_listen(api->listen, &addr, &addr_len, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    *v6 = addr.ss_family == AF_INET6;

    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errlen, "api.listen: socket for %s: %s", api->listen, strerror(errno));
        return LF_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (*v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, 128) != 0) {
        snprintf(errstr, errlen, "api.listen: cannot listen on %s: %s", api->listen,
                 strerror(errno));
        close(fd);
        return LF_EIO;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        snprintf(errstr, errlen, "api.listen: getsockname: %s", strerror(errno));
        close(fd);
        return LF_EIO;
    }
    api->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    *out_fd = fd;
    return LF_OK;
}

lf_err_t lf_api_start(const lf_api_config_t *cfg, const lf_api_deps_t *deps, lf_api_t **out,
                      char *errstr, size_t errlen)
{
    char scratch[8];
    if (!errstr) {
        errstr = scratch;
        errlen = sizeof scratch;
    }
    if (errlen)
        errstr[0] = '\0';
    if (!cfg || !deps || !out || !deps->store) {
        snprintf(errstr, errlen, "lf_api_start: cfg, deps, deps->store and out are required");
        return LF_EINVAL;
    }
    *out = NULL;
    lf_err_t rc = check_config(cfg, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    if (!cfg->listen || strlen(cfg->listen) >= LF_API_LISTEN_MAX) {
        snprintf(errstr, errlen, "api.listen: missing or longer than %d bytes",
                 LF_API_LISTEN_MAX - 1);
        return LF_ECONFIG;
    }
    if (lf_api_route_count > LF_API_MAX_ROUTES) {
        snprintf(errstr, errlen, "lf_api_start: route table exceeds %d rows", LF_API_MAX_ROUTES);
        return LF_EINVAL;
    }

    lf_api_t *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(errstr, errlen, "lf_api_start: out of memory");
        return LF_ENOMEM;
    }
    api->deps = *deps;
    snprintf(api->listen, sizeof api->listen, "%s", cfg->listen);
    api->threads = cfg->threads;
    api->max_connections = cfg->max_connections;
    api->connection_timeout_ms = cfg->connection_timeout_ms;
    api->max_page_size = cfg->max_page_size;
    api->per_ip_connection_limit = cfg->per_ip_connection_limit;
    api->max_response_size = cfg->max_response_size;
    api->max_request_body = cfg->max_request_body;
    api->agent_limits =
        (lf_agents_health_limits_t){.silent_after_ms = cfg->agent_silent_after_ms,
                                    .problem_window_ms = cfg->agent_problem_window_ms,
                                    .spool_full_percent = (int)cfg->agent_full_percent};
    api->started_mono_ms = lf_time_mono_ms();
    atomic_init(&api->log_window_start, api->started_mono_ms);

    rc = metrics_init(api);
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "lf_api_start: metrics: %s", lf_strerror(rc));
        lf_metrics_destroy(&api->own_metrics);
        free(api);
        return rc;
    }

    int fd = -1;
    bool v6 = false;
    rc = open_listener(api, &v6, &fd, errstr, errlen);
    if (rc != LF_OK) {
        lf_metrics_destroy(&api->own_metrics);
        free(api);
        return rc;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL; /* else select(), the portable fallback */
    if (v6)
        flags |= MHD_USE_IPv6;

    unsigned timeout_s = (unsigned)((api->connection_timeout_ms + 999) / 1000);
    struct MHD_OptionItem options[8];
    size_t n = 0;
    options[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)api->max_connections, NULL};
    options[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout_s, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                           (intptr_t)api->per_ip_connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL};
    if (api->threads > 1)
        options[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)api->threads, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    api->daemon = MHD_start_daemon(
        flags, api->port, NULL, NULL, access_handler, api, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
        api, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, api, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, api, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!api->daemon) {
        snprintf(errstr, errlen,
                 "api: libmicrohttpd did not start on %s (see the log for its reason)",
                 api->listen);
        /* libmicrohttpd may or may not have closed the socket on failure. */
        if (fcntl(fd, F_GETFD) != -1)
            close(fd);
        lf_metrics_destroy(&api->own_metrics);
        free(api);
        return LF_EIO;
    }

    lf_info(LOG_COMPONENT,
            "listening on %s (port %u, %lld threads, %s, max %lld connections, %lld per IP)",
            api->listen, (unsigned)api->port, (long long)api->threads,
            (flags & MHD_USE_EPOLL)  ? "epoll"
            : (flags & MHD_USE_POLL) ? "poll"
                                     : "select",
            (long long)api->max_connections, (long long)api->per_ip_connection_limit);
    *out = api;
    return LF_OK;
}

void lf_api_stop(lf_api_t *api)
{
    if (!api)
        return;
    /* Joins the pool threads and closes the listening socket. */
    MHD_stop_daemon(api->daemon);
    lf_metrics_destroy(&api->own_metrics);
    free(api);
}

uint16_t lf_api_port(const lf_api_t *api)
{
    return api ? api->port : 0;
}

/* ---- Reference ------------------------------------------------------------ */

void lf_api_write_reference(FILE *out)
{
    fprintf(out, "| Method | Path | Query parameters | Description |\n");
    fprintf(out, "|---|---|---|---|\n");
    for (size_t i = 0; i < lf_api_route_count; i++) {
        const lf_api_route_t *route = &lf_api_routes[i];
        fprintf(out, "| %s | `%s` | ", route->method, route->pattern);
        if (route->params) {
            const char *p = route->params;
            while (*p) {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                fprintf(out, "%s`%.*s`", p == route->params ? "" : ", ", (int)len, p);
                p = end ? end + 1 : p + len;
            }
        } else {
            fprintf(out, "-");
        }
        fprintf(out, " | %s |\n", route->description);
    }
}
