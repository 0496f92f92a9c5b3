/* lf_api_internal.h - private to dashboard-api/ (and its unit tests).
 *
 * The server (lf_api.c) owns the libmicrohttpd daemon, the dispatcher and the
 * response plumbing; the routes (lf_api_routes.c) are one table of handlers;
 * lf_api_params.c parses what clients send (listen addresses, times,
 * numbers); the dashboard's files are compiled in by the build
 * (lf_api_assets.c, generated from www/ by embed_assets.cmake).
 */
#ifndef LF_API_INTERNAL_H
#define LF_API_INTERNAL_H

#include "lf_agents.h"
#include "lf_api.h"
#include "lf_buf.h"
#include "lf_json.h"
#include "lf_str.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define LF_API_MAX_PATH_PARAMS 4
#define LF_API_MAX_ROUTES      32
#define LF_API_STATUS_CLASSES  5 /* 1xx .. 5xx */
#define LF_API_LISTEN_MAX      96

/* ---- One request, one response -------------------------------------------- */

typedef struct lf_api_req {
    lf_api_t *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    lf_str_t path_params[LF_API_MAX_PATH_PARAMS]; /* {name} segments, in order */
    size_t path_param_count;
    const char *body; /* POST body (NUL-terminated), NULL for other methods */
    size_t body_len;
} lf_api_req_t;

typedef struct lf_api_resp {
    unsigned status;
    const char *content_type;
    lf_buf_t body;                    /* owned; handed to libmicrohttpd when sent */
    const unsigned char *static_body; /* when set, sent in place of body (not freed) */
    size_t static_len;
    bool page;      /* a dashboard file: add CSP and framing headers */
    char allow[48]; /* Allow header value for 405, "" when none */
} lf_api_resp_t;

/* Fills resp (status 200, JSON content type unless changed). */
typedef void (*lf_api_handler_fn)(lf_api_req_t *req, lf_api_resp_t *resp);

/* One row of the route table: the dispatcher walks it and the reference
 * documentation is printed from it. */
typedef struct lf_api_route {
    const char *method;  /* "GET"; a GET route also answers HEAD */
    const char *pattern; /* "/api/v1/events/{agent_id}/{seq}": {x} = one segment */
    lf_api_handler_fn handler;
    const char *route_class; /* label of lianfang_api_route_requests_total */
    const char *params;      /* accepted query parameters, comma-separated; NULL = none */
    const char *description; /* one Markdown line for the reference */
} lf_api_route_t;

extern const lf_api_route_t lf_api_routes[];
extern const size_t lf_api_route_count;

/* ---- Embedded dashboard files --------------------------------------------- */

typedef struct lf_api_asset {
    const char *name; /* "index.html" */
    const unsigned char *data;
    size_t len;
} lf_api_asset_t;

extern const lf_api_asset_t lf_api_assets[];
extern const size_t lf_api_asset_count;

/* ---- The server ----------------------------------------------------------- */

typedef struct lf_api_route_metric {
    lf_metric_t metric;
    const char *route_class;
    char labels[64];
} lf_api_route_metric_t;

struct lf_api {
    struct MHD_Daemon *daemon;
    lf_api_deps_t deps;
    char listen[LF_API_LISTEN_MAX];
    int64_t threads;
    int64_t max_connections;
    int64_t connection_timeout_ms;
    int64_t max_page_size;
    int64_t per_ip_connection_limit;
    int64_t max_response_size;
    int64_t max_request_body;
    lf_agents_health_limits_t agent_limits;
    uint16_t port;
    int64_t started_mono_ms;

    /* The API's own counters, rendered at /metrics after deps.metrics. */
    lf_metrics_t own_metrics;
    lf_metric_t status_metrics[LF_API_STATUS_CLASSES];
    lf_api_route_metric_t route_metrics[LF_API_MAX_ROUTES + 1]; /* + "unmatched" */
    size_t route_metric_count;
    size_t route_metric_index[LF_API_MAX_ROUTES]; /* route row -> route_metrics slot */
    size_t unmatched_metric;
    lf_metric_t too_large;
    lf_metric_t connections_active;

    /* Rate limit of libmicrohttpd's log messages (any pool thread). */
    _Atomic int64_t log_window_start;
    _Atomic int64_t log_lines;
    _Atomic int64_t log_suppressed;
};

/* Value of a query parameter (percent-decoded, NUL-terminated) or NULL when
 * absent or empty. Valid until the response is queued. */
const char *lf_api_req_query(const lf_api_req_t *req, const char *name);

/* Replaces the response with {"error":{"code":..,"message":..}}. */
void lf_api_resp_error(lf_api_resp_t *resp, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Checks the writer after a handler built its JSON body: a body past the
 * configured maximum becomes a 500 "response_too_large" error. */
void lf_api_resp_json_finish(lf_api_req_t *req, lf_api_resp_t *resp, const lf_json_t *js);

/* ---- Agents (lf_api_agents.c) ---------------------------------------------- */

/* GET /api/v1/agents and /api/v1/agents/{id}: stored agents joined with the
 * registry (enrolment, heartbeat, counters) and their derived status. */
void lf_api_handle_agents(lf_api_req_t *req, lf_api_resp_t *resp);
void lf_api_handle_agent(lf_api_req_t *req, lf_api_resp_t *resp);
/* Appends lianfang_agents{status="..."} gauges (computed now) to out. */
lf_err_t lf_api_agents_metrics(lf_api_t *api, lf_buf_t *out);

/* ---- Parsing (lf_api_params.c) -------------------------------------------- */

/* "127.0.0.1:8080" or "[::1]:8080" (port 0..65535) into a socket address. */
lf_err_t lf_api_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addr_len,
                             char *errstr, size_t errlen);
/* Epoch milliseconds (digits only) or an RFC 3339 date-time
 * ("2026-03-10T09:02:00.123+08:00", "...Z"); a space where the offset's '+'
 * belongs is accepted (an unencoded '+' in a query string decodes to one).
 * Times before 1970 or after 9999 are refused. */
bool lf_api_parse_time(const char *s, int64_t *epoch_ms);
/* A decimal unsigned integer without sign, spaces or overflow. */
bool lf_api_parse_u64(const char *s, size_t len, uint64_t *out);
/* Content-Type for a file name by its extension. */
const char *lf_api_content_type(const char *name);

#endif
