/* lf_agents.h - the agent registry: enrolment and heartbeats.
 *
 * Agents send heartbeats (LFH1, common/lf_wire.h) on the events topic, in
 * order with their event batches. Ingest hands each one to
 * lf_agents_on_heartbeat() inside the open store batch, which verifies the
 * enrolment proof against the agency's token (enrolment.tokens_file) and
 * writes the agent's registry record (LF_TABLE_AGENT_REGISTRY) in the same
 * transaction, so the registry is exactly-once like the events. Before the
 * records of an event batch are stored, lf_agents_admit() says whether the
 * agent may deliver: with enrolment.required, only an enrolled agent whose
 * batch names its enrolled agency is admitted; a refused batch is not
 * stored and therefore not acknowledged, so the agent keeps it in its
 * journal and re-sends it once it is enrolled. Nothing vanishes: every
 * refusal is counted (lianfang_enrolment_*), logged with its reason and
 * kept in the agent's registry record, which the API shows.
 *
 * The read side (lf_agents_get, lf_agents_scan, lf_agents_status) works on
 * the store alone, from any thread: the API derives each agent's status
 * (healthy, unhealthy, silent, not enrolled, refused) when asked.
 *
 * Threads: lf_agents_new/free/reload and the write side belong to the
 * ingest loop thread; the read side is thread-safe. Design and record
 * layout: docs/protocol.md ("Heartbeat and enrolment"), docs/store.md.
 */
#ifndef LF_AGENTS_H
#define LF_AGENTS_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_metrics.h"
#include "lf_store.h"
#include "lf_wire.h"

#include <stdbool.h>
#include <stdint.h>

/* The `enrolment:` section of lianfangd.yaml. */
typedef struct lf_agents_config {
    char *tokens_file;         /* YAML: tokens: {agency: token | "sha256:<hex>"}; "" = none */
    bool required;             /* refuse (hold back) events of agents not enrolled */
    int64_t max_clock_skew_ms; /* a heartbeat dated further ahead fails */
    int64_t max_age_ms;        /* an older heartbeat is stale: counted, ignored */
} lf_agents_config_t;

extern const lf_config_option_t lf_agents_config_options[];

/* The tokens file (enrolment.tokens_file), also loadable on its own. */
typedef struct lf_agents_tokens_file {
    lf_config_kv_t *tokens; /* agency -> token or sha256:<64 hex digits> */
    size_t token_count;
} lf_agents_tokens_file_t;
extern const lf_config_option_t lf_agents_tokens_file_options[];

typedef struct lf_agents lf_agents_t;

/* Loads the tokens file (when set) and registers the enrolment counters.
 * cfg is copied (its strings are borrowed for the lifetime); store and
 * metrics are borrowed. LF_ECONFIG with errstr naming file:line:column
 * and what is wrong; LF_ENOMEM. */
lf_err_t lf_agents_new(const lf_agents_config_t *cfg, lf_metrics_t *metrics, lf_agents_t **out,
                       char *errstr, size_t errlen);
void lf_agents_free(lf_agents_t *ag);
/* Reads the tokens file again (SIGHUP); on error the loaded tokens stay
 * and errstr says why. Loop thread. */
lf_err_t lf_agents_reload(lf_agents_t *ag, char *errstr, size_t errlen);
/* Agencies with a token. */
size_t lf_agents_token_count(const lf_agents_t *ag);

/* ---- Write side: ingest loop thread, inside the open batch ---------------- */

/* Takes one heartbeat message. LF_OK when it was taken (whatever the
 * enrolment verdict); LF_EPARSE when it is malformed (*why says how; the
 * caller keeps it as a rejected message); LF_ESTORE / LF_EFULL / LF_ESTATE
 * when the batch failed. */
lf_err_t lf_agents_on_heartbeat(lf_agents_t *ag, lf_store_wtx_t *w, const void *msg, size_t len,
                                int64_t now_ms, const char **why);
/* Decides whether the records of an event batch may be stored. *admit is
 * false when enrolment is required and the agent is not enrolled for the
 * batch's agency; the refusal is then counted, logged (once a minute per
 * agent) and written into the agent's record. Errors as above. */
lf_err_t lf_agents_admit(lf_agents_t *ag, lf_store_wtx_t *w, const lf_wire_batch_header_t *h,
                         uint32_t records, int64_t now_ms, bool *admit);

/* ---- Read side: any thread ------------------------------------------------ */

typedef enum lf_agents_enrolment {
    LF_ENROL_NONE = 0,     /* no heartbeat yet (events only, or refused before one) */
    LF_ENROL_ENROLLED = 1, /* the latest heartbeat carried a valid proof */
    LF_ENROL_FAILED = 2,   /* the latest heartbeat had no or a wrong proof */
} lf_agents_enrolment_t;

/* Why an agent is not enrolled or a batch was refused. */
#define LF_AGENTS_REASONS(X)                                                                       \
    X(NONE, "none", "")                                                                            \
    X(NO_HEARTBEAT, "no_heartbeat", "no heartbeat received from this agent yet")                   \
    X(NO_PROOF, "no_proof",                                                                        \
      "the agent sent no enrolment proof (set agent.enrolment_token_file on the agent)")           \
    X(UNKNOWN_AGENCY, "unknown_agency",                                                            \
      "no enrolment token for the agent's agency in enrolment.tokens_file")                        \
    X(BAD_PROOF, "bad_proof",                                                                      \
      "the enrolment proof does not match the agency's token (wrong token, or the token of "       \
      "another agency)")                                                                           \
    X(CLOCK_SKEW, "clock_skew",                                                                    \
      "the heartbeat is dated ahead of the server by more than enrolment.max_clock_skew (fix "     \
      "the agent's clock)")                                                                        \
    X(AGENCY_MISMATCH, "agency_mismatch",                                                          \
      "the batch names another agency than the one the agent enrolled for")

typedef enum lf_agents_reason {
#define LF_AGENTS_REASON_ENUM(id, name, text) LF_AGENTS_R_##id,
    LF_AGENTS_REASONS(LF_AGENTS_REASON_ENUM)
#undef LF_AGENTS_REASON_ENUM
        LF_AGENTS_R_COUNT
} lf_agents_reason_t;

const char *lf_agents_reason_name(lf_agents_reason_t r);
const char *lf_agents_reason_text(lf_agents_reason_t r);

/* One agent's registry record; strings and hb borrow from the store's
 * memory map and are valid only during the callback. */
typedef struct lf_agents_record {
    lf_str_t agent_id;
    lf_agents_enrolment_t enrolment;
    lf_agents_reason_t reason; /* of the failed enrolment or the latest refusal */
    bool accepting;            /* false: its batches are refused (held at the agent) */
    int64_t first_seen_ms;     /* server time of the first heartbeat or refusal */
    int64_t last_heartbeat_ms; /* server time of the latest heartbeat taken, 0 = none */
    int64_t last_sent_ms;      /* agent time of that heartbeat */
    int64_t last_problem_ms;   /* server time a loss counter last rose, 0 = never */
    int64_t last_refused_ms;   /* server time a batch was last refused, 0 = never */
    uint64_t heartbeats;       /* heartbeats taken */
    uint64_t enrol_failures;   /* heartbeats whose proof failed */
    uint64_t stale_heartbeats; /* heartbeats ignored as too old or replayed */
    uint64_t refused_batches;
    uint64_t refused_records;
    lf_str_t enrolled_agency; /* agency the latest valid proof was made for */
    lf_str_t problem;         /* e.g. "records_lost +3", the latest loss seen */
    bool has_heartbeat;       /* hb is the latest heartbeat taken */
    lf_wire_heartbeat_t hb;
} lf_agents_record_t;

typedef bool (*lf_agents_record_cb)(void *opaque, const lf_agents_record_t *rec);
/* One agent's record: LF_OK (cb called), LF_ENOTFOUND, LF_EINVAL, LF_EAGAIN,
 * LF_ESTORE. */
lf_err_t lf_agents_get(lf_store_t *st, lf_str_t agent_id, lf_agents_record_cb cb, void *opaque);
/* Every record in agent id order (cb returns false to stop). */
lf_err_t lf_agents_scan(lf_store_t *st, lf_agents_record_cb cb, void *opaque);

typedef enum lf_agents_status {
    LF_AGENT_HEALTHY = 0,
    LF_AGENT_UNHEALTHY,
    LF_AGENT_SILENT,
    LF_AGENT_NOT_ENROLLED,
    LF_AGENT_REFUSED,
    LF_AGENT_STATUS_COUNT
} lf_agents_status_t;

/* "healthy", "unhealthy", "silent", "not_enrolled", "refused". */
const char *lf_agents_status_name(lf_agents_status_t s);
/* LF_OK and *out for a known name, LF_EINVAL otherwise. */
lf_err_t lf_agents_status_parse(const char *name, lf_agents_status_t *out);

typedef struct lf_agents_health_limits {
    int64_t silent_after_ms;   /* 0: 3 x the agent's own heartbeat interval */
    int64_t problem_window_ms; /* losses and errors this recent make it unhealthy */
    int spool_full_percent;    /* spool or send window this full is unhealthy */
} lf_agents_health_limits_t;

/* Derives the status from the registry record (NULL: the agent is known
 * only from its stored events) at now_ms. Appends the reasons it is
 * unhealthy, one per call of `problem` (may be NULL). Precedence: refused,
 * silent, not_enrolled, unhealthy, healthy. */
lf_agents_status_t lf_agents_status(const lf_agents_record_t *rec, int64_t now_ms,
                                    const lf_agents_health_limits_t *limits,
                                    void (*problem)(void *opaque, const char *text), void *opaque);
/* The value of a named counter of the record's heartbeat (false: absent). */
bool lf_agents_counter(const lf_agents_record_t *rec, const char *name, uint64_t *value);

#endif
