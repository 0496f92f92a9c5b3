/* lf_api.h - Lianfang's HTTP API and web dashboard (libmicrohttpd).
 *
 * The server answers JSON under /api/v1, Prometheus text at /metrics and
 * the embedded dashboard page at /. It runs in its own threads (one
 * libmicrohttpd polling thread per pool member), so the ingest loop is never
 * blocked by a slow or hostile client; connections, per-IP connections and
 * idle time are bounded by configuration, and every response body is built
 * in an lf_buf with a hard maximum.
 *
 * Routes are one table (lf_api_write_reference() prints it as Markdown;
 * docs/api.md includes that output). Reference: docs/api.md.
 *
 * Threads: lf_api_start() and lf_api_stop() are called by the owning thread
 * (normally main). Request handlers run on the server's threads and use only
 * the store's read functions (safe from any thread), the lock-free metric
 * counters, and the health callback, which must therefore be thread-safe.
 */
#ifndef LF_API_H
#define LF_API_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_metrics.h"
#include "lf_store.h"

#include "lf_buf.h"
#include "lf_incidents.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lf_api lf_api_t;

/* The `api:` configuration section. Strings are owned by the struct and freed
 * with lf_config_free(lf_api_config_options, cfg). */
typedef struct lf_api_config {
    char *listen;                  /* "host:port", IPv4 or [IPv6]; port 0 = ephemeral */
    int64_t threads;               /* polling threads in the pool */
    int64_t max_connections;       /* concurrent connections, all clients */
    int64_t connection_timeout_ms; /* idle connections are closed after this */
    int64_t max_page_size;         /* largest `limit` of /api/v1/events */
    int64_t per_ip_connection_limit;
    int64_t max_response_size;       /* bytes; a larger response body is refused (500) */
    int64_t max_request_body;        /* bytes of a POST body; larger is refused (413) */
    int64_t agent_silent_after_ms;   /* no heartbeat this long: silent (0 = 3 x interval) */
    int64_t agent_problem_window_ms; /* recent losses or errors: unhealthy */
    int64_t agent_full_percent;      /* spool or send window this full: unhealthy */
} lf_api_config_t;

/* The `api:` section rows (defaults: loopback only, 2 threads, 256
 * connections, 30 s timeout, pages of at most 1000, 64 connections per IP,
 * 32 MiB responses). */
extern const lf_config_option_t lf_api_config_options[];

/* ---- Health --------------------------------------------------------------- */

#define LF_API_HEALTH_MAX_CHECKS 8
#define LF_API_HEALTH_NAME_MAX   32
#define LF_API_HEALTH_DETAIL_MAX 128

typedef struct lf_api_health_check {
    char name[LF_API_HEALTH_NAME_MAX]; /* "kafka", "store", "embedded_broker" */
    bool ok;
    char detail[LF_API_HEALTH_DETAIL_MAX]; /* human text, "" when nothing to say */
} lf_api_health_check_t;

typedef struct lf_api_health {
    char status[16]; /* "ok" or "degraded"; prefilled with "ok" */
    lf_api_health_check_t checks[LF_API_HEALTH_MAX_CHECKS];
    size_t count; /* checks filled, <= LF_API_HEALTH_MAX_CHECKS */
} lf_api_health_t;

/* Fills `out` (zeroed, status "ok", count 0 on entry). Called on a server
 * thread for each GET /api/v1/health, possibly concurrently: must be
 * thread-safe and must not block for long. The overall status reported is
 * "degraded" when `status` says so or any check has ok == false. */
typedef void (*lf_api_health_fn)(void *opaque, lf_api_health_t *out);

/* Borrowed dependencies; each must outlive the server (until lf_api_stop()
 * returns). */
typedef struct lf_api_deps {
    lf_store_t *store;       /* required: events, agents and stats are read here */
    lf_metrics_t *metrics;   /* optional: the process registry shown at /metrics */
    lf_api_health_fn health; /* optional: NULL reports only "ok" */
    void *health_opaque;
    lf_incidents_t *incidents; /* optional: incidents, lights and reports (404 when NULL) */
    /* optional: writes the kept decode failures as a JSON object into out
     * (GET /api/v1/decode-failures); thread-safe. */
    lf_err_t (*decode_failures)(void *opaque, lf_buf_t *out);
    void *decode_failures_opaque;
} lf_api_deps_t;

/* ---- Server --------------------------------------------------------------- */

/* Validates cfg, binds the listening socket and starts the server threads.
 * cfg is copied (it may be freed afterwards); deps are borrowed. On success
 * *out owns the running server; free it with lf_api_stop().
 * Errors: LF_EINVAL (NULL argument, no store), LF_ECONFIG (malformed listen
 * address or out-of-range value, with the key in errstr), LF_EIO (socket,
 * bind or listen failed - errstr names the address and errno text - or
 * libmicrohttpd refused to start), LF_ENOMEM. errstr may be NULL. */
lf_err_t lf_api_start(const lf_api_config_t *cfg, const lf_api_deps_t *deps, lf_api_t **out,
                      char *errstr, size_t errlen);

/* Stops accepting, waits for the server threads to finish the requests they
 * are serving and frees everything. NULL is a no-op. After it returns no
 * callback runs and the deps may be freed. */
void lf_api_stop(lf_api_t *api);

/* The bound TCP port (the chosen one when listen asked for port 0). */
uint16_t lf_api_port(const lf_api_t *api);

/* Writes the Markdown table of every route (method, path, query parameters,
 * description): the API reference in docs/api.md. Thread-safe. */
void lf_api_write_reference(FILE *out);

#endif
