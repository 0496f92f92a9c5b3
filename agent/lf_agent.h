/* lf_agent.h - lianfang-agent: tails files and delivers their lines to Kafka
 * at least once, moving its checkpoints only past what lianfangd reports as
 * stored. How it works: docs/agent.md.
 *
 * Threads: an lf_agent_t belongs to the thread that calls lf_agent_run()
 * (it runs one libuv loop there). Only lf_agent_stop() and
 * lf_agent_acked_watermark() may be called from other threads.
 */
#ifndef LF_AGENT_H
#define LF_AGENT_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_agent_yara.h"
#include "lf_kafka.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LF_AGENT_DEFAULT_CONFIG "/etc/lianfang/lianfang-agent.yaml"
#define LF_AGENT_MAX_SOURCES    256
#define LF_AGENT_MAX_LISTENERS  32
#define LF_AGENT_MAX_JOURNALD   16

typedef struct lf_agent_identity_config {
    char *id;        /* default: host name */
    char *agency;    /* "unassigned" */
    char *host;      /* default: host name */
    char *state_dir; /* /var/lib/lianfang-agent */
    int log_level;   /* index into lf_agent_log_levels */
    int64_t status_interval_ms;
    int64_t heartbeat_interval_ms; /* heartbeats to lianfangd (agent_heartbeat.h) */
    char *enrolment_token_file;    /* "" = LIANFANG_ENROLMENT_TOKEN or none */
} lf_agent_identity_config_t;

enum { LF_AGENT_START_END = 0, LF_AGENT_START_BEGINNING = 1 };

typedef struct lf_agent_source_config {
    char *name;
    char *path;
    int start_at;          /* LF_AGENT_START_* */
    int encoding;          /* index into lf_agent_encoding_choices (agent_encoding.h); 0 = UTF-8 */
    char *multiline_start; /* POSIX ERE of a record's first line; "" = one line, one record */
} lf_agent_source_config_t;

enum { LF_AGENT_SYSLOG_UDP = 0, LF_AGENT_SYSLOG_TCP = 1, LF_AGENT_SYSLOG_TLS = 2 };
enum {
    LF_AGENT_TLS_CLIENT_NONE = 0,
    LF_AGENT_TLS_CLIENT_OPTIONAL = 1,
    LF_AGENT_TLS_CLIENT_REQUIRED = 2
};

/* A syslog listener for network devices (agent_syslog.h). */
typedef struct lf_agent_listener_config {
    char *name;
    int protocol; /* LF_AGENT_SYSLOG_* */
    char *listen; /* host:port */
    int64_t max_connections;
    int64_t max_frame_bytes;
    int64_t idle_timeout_ms; /* 0: never */
    int64_t stall_timeout_ms;
    int64_t receive_buffer; /* UDP SO_RCVBUF; 0: system default */
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
    int tls_client_auth; /* LF_AGENT_TLS_CLIENT_* */
} lf_agent_listener_config_t;

/* A journald source (agent_journald.h). */
typedef struct lf_agent_journald_config {
    char *name;
    char **matches; /* "FIELD=value": same field OR, different fields AND */
    size_t match_count;
    int start_at;    /* LF_AGENT_START_* */
    char *directory; /* "" (default): the local system's journal */
} lf_agent_journald_config_t;

enum {
    LF_AGENT_SPOOL_SYNC_CFG_OFF = 0,
    LF_AGENT_SPOOL_SYNC_CFG_BATCH,
    LF_AGENT_SPOOL_SYNC_CFG_INTERVAL
};

typedef struct lf_agent_limits_config {
    int64_t max_record_bytes;
    int64_t batch_max_records;
    int64_t batch_max_bytes;
    int64_t max_unacked_bytes;
    int64_t max_unacked_batches;
    int64_t ack_timeout_ms;
    int64_t partial_line_timeout_ms;
    int64_t poll_interval_ms;
    int64_t read_linger_ms;   /* delay from a file event to reading the file */
    int64_t glob_interval_ms; /* how often glob patterns of sources are expanded again */
    int64_t state_map_size;
    bool state_sync;
    int64_t spool_max_bytes;
    int64_t spool_segment_bytes;
    int spool_sync; /* LF_AGENT_SPOOL_SYNC_CFG_* */
    int64_t spool_sync_interval_ms;
} lf_agent_limits_config_t;

typedef struct lf_agent_config {
    lf_agent_identity_config_t agent;
    lf_kafka_config_t kafka;
    lf_agent_source_config_t *sources;
    size_t source_count;
    lf_agent_listener_config_t *listeners;
    size_t listener_count;
    lf_agent_journald_config_t *journald;
    size_t journald_count;
    lf_agent_limits_config_t limits;
    lf_agent_yara_scan_config_t *yara_scans; /* YARA file scans (agent_yara.h) */
    size_t yara_scan_count;
    lf_agent_yara_config_t yara;
} lf_agent_config_t;

extern const char *const lf_agent_log_levels[];
/* The option table: the YAML schema, defaults and `--config-reference`. */
extern const lf_config_option_t lf_agent_config_options[];

/* Loads path into cfg (zeroed by the caller), fills host-name defaults and
 * validates. A missing file is all defaults when missing_ok. On error errstr
 * says "file:line:col: key: what" and cfg must still be freed. */
lf_err_t lf_agent_config_load(const char *path, bool missing_ok, lf_agent_config_t *cfg,
                              char *errstr, size_t errlen);
/* Same from memory (tests); name stands for the file in messages. */
lf_err_t lf_agent_config_load_string(const char *text, const char *name, lf_agent_config_t *cfg,
                                     char *errstr, size_t errlen);
void lf_agent_config_free(lf_agent_config_t *cfg);
/* Writes the Markdown configuration reference. */
void lf_agent_config_reference(FILE *out);

typedef struct lf_agent lf_agent_t;

/* Opens the state directory and loads the journal; borrows cfg for the
 * agent's lifetime. Nothing is read or sent before lf_agent_run(). */
lf_err_t lf_agent_new(const lf_agent_config_t *cfg, lf_agent_t **out, char *errstr, size_t errlen);
/* Runs until SIGTERM/SIGINT (when handle_signals) or lf_agent_stop(), then
 * flushes the producer for up to 10 s and persists counters. */
lf_err_t lf_agent_run(lf_agent_t *agent, bool handle_signals);
/* Asks a running agent to stop; any thread. */
void lf_agent_stop(lf_agent_t *agent);
/* The acknowledged watermark; any thread. */
uint64_t lf_agent_acked_watermark(const lf_agent_t *agent);
/* Closes everything. */
void lf_agent_free(lf_agent_t *agent);

/* Prints the state of state_dir as JSON (opened read-only). */
lf_err_t lf_agent_status_write(FILE *out, const char *state_dir, char *errstr, size_t errlen);

#endif
