/* agent_heartbeat.h - the agent's heartbeats (private to agent/).
 *
 * At start (before any batch is sent or re-sent) and every
 * agent.heartbeat_interval the agent produces a heartbeat (LFH1,
 * common/lf_wire.h) on the events topic, keyed by its agency: its identity,
 * host, OS, version, its counters and, with an enrolment token, an HMAC
 * proof made with the token (the token itself never leaves the host).
 * lianfangd registers the agent from it (ingest/lf_agents.h).
 *
 * Threads: lf_agent_hb_new/free/encode on the agent's loop thread; the log
 * hook (last error) runs on any thread and takes the object's lock.
 */
#ifndef LF_AGENT_HEARTBEAT_H
#define LF_AGENT_HEARTBEAT_H

#include "lf_agent.h"
#include "lf_buf.h"
#include "lf_wire.h"

#include <stdbool.h>

typedef struct lf_agent_hb lf_agent_hb_t;

/* Loads the enrolment token (agent.enrolment_token_file, else the
 * environment variable LIANFANG_ENROLMENT_TOKEN) and the OS description.
 * cfg is borrowed for the object's lifetime. LF_ECONFIG when the token file
 * cannot be read, is readable by other users, or is empty (errstr says
 * which and how to fix it); LF_ENOMEM. */
lf_err_t lf_agent_hb_new(const lf_agent_config_t *cfg, lf_agent_hb_t **out, char *errstr,
                         size_t errlen);
void lf_agent_hb_free(lf_agent_hb_t *hb);
/* True when heartbeats carry an enrolment proof. */
bool lf_agent_hb_has_token(const lf_agent_hb_t *hb);
/* Makes error-level log lines of this process the heartbeat's last error
 * (lf_log_set_hook). Call before threads start. */
void lf_agent_hb_capture_errors(lf_agent_hb_t *hb);
/* Encodes a heartbeat sent now with these counters into out. */
lf_err_t lf_agent_hb_encode(lf_agent_hb_t *hb, const lf_wire_counter_t *counters, size_t count,
                            lf_buf_t *out);

#endif
