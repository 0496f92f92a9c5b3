/* agent_syslog.h - syslog listeners for network devices: UDP (RFC 5426),
 * TCP (RFC 6587, octet counting or newline framing detected per connection)
 * and TLS (RFC 5425, OpenSSL through memory BIOs); private to agent/.
 *
 * A listener runs on the agent's libuv loop and serves any number of
 * senders at once (up to max_connections for TCP/TLS). Every frame it
 * receives is appended to the listener's spool together with the sender's
 * address ("192.0.2.7:514", "[2001:db8::7]:6514"); the agent reads the
 * spool like a file (agent_spool.h).
 *
 * Bounds and policies (each counted in lf_agent_counters_t and logged at
 * most once per 10 s per kind, with the count of suppressed lines):
 *  - a frame longer than max_frame_bytes is cut, flagged truncated;
 *  - a malformed frame (empty, bad octet count) is reported with its
 *    reason; a stream whose framing is lost is closed;
 *  - a connection beyond max_connections is accepted and closed at once;
 *  - a connection inside a frame or a TLS handshake that makes no progress
 *    for stall_timeout is dropped (the partial frame is kept, flagged
 *    truncated); a connection without data for idle_timeout is closed;
 *  - a failed TLS handshake (bad or missing client certificate, wrong
 *    protocol) closes the connection;
 *  - spool full: TCP/TLS reading stops (lf_agent_syslog_pause) until there is
 *    room again; UDP datagrams are dropped.
 * Other senders are served throughout.
 *
 * Threads: the loop thread only.
 */
#ifndef LF_AGENT_SYSLOG_H
#define LF_AGENT_SYSLOG_H

#include "agent_spool.h"
#include "agent_state.h"
#include "lf_agent.h"

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct lf_agent_syslog lf_agent_syslog_t;

typedef struct lf_agent_syslog_env {
    uv_loop_t *loop;
    lf_agent_counters_t *ctr; /* counters to add to */
    lf_agent_spool_t *spool;  /* where records go */
    const lf_agent_spool_budget_t *budget;
    /* Records were spooled (flush at the end of this loop iteration). */
    void (*spooled)(void *opaque);
    /* The spool budget is exhausted: pause every stream listener. */
    void (*full)(void *opaque);
    void *opaque;
} lf_agent_syslog_env_t;

/* Parses "host:port", "[v6]:port" or ":port" (any address). LF_EINVAL. */
lf_err_t lf_agent_syslog_parse_address(const char *text, struct sockaddr_storage *out);

/* Creates the listener, loads TLS material and binds (so a port in use or a
 * bad certificate fails at start). Borrows cfg and env->*. LF_ECONFIG /
 * LF_EIO with errstr. */
lf_err_t lf_agent_syslog_new(const lf_agent_listener_config_t *cfg,
                             const lf_agent_syslog_env_t *env, lf_agent_syslog_t **out,
                             char *errstr, size_t errlen);
/* Starts accepting / receiving. */
lf_err_t lf_agent_syslog_start(lf_agent_syslog_t *ls, char *errstr, size_t errlen);
/* Stops (pause) or resumes reading every TCP/TLS connection. */
void lf_agent_syslog_pause(lf_agent_syslog_t *ls, bool pause);
/* "udp://0.0.0.0:514": the listener as stamped in batches (path field). */
const char *lf_agent_syslog_url(const lf_agent_syslog_t *ls);
/* The port actually bound (useful with port 0 in tests). */
int lf_agent_syslog_port(const lf_agent_syslog_t *ls);
/* Closes every handle (asynchronously: run the loop, then free). */
void lf_agent_syslog_close(lf_agent_syslog_t *ls);
/* Frees a closed listener after its handles closed. */
void lf_agent_syslog_free(lf_agent_syslog_t *ls);

#endif
