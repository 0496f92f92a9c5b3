/* lf_ingest.h - the ingest stage of lianfangd.
 *
 * Consumes event batches from Kafka on a libuv loop (librdkafka's queue
 * signals a pipe the loop watches; no busy polling), decodes each record
 * into an ECS event, writes every event of a poll into one store
 * transaction, and only after that transaction commits:
 *   1. commits the consumer offsets it covered, and
 *   2. publishes each touched agent's stored watermark on the acks topic.
 * A failed store commit keeps the messages and retries them with backoff;
 * nothing is acknowledged that is not stored. Records that cannot be
 * decoded are stored as generic events; messages that are not valid event
 * batches are stored as `_rejected` pipeline events with the reason and the
 * bytes (base64), counted in lianfang_ingest_rejected_total{reason}.
 *
 * Threads: everything runs on the loop thread given to lf_ingest_start(),
 * except lf_ingest_status(), which any thread may call.
 */
#ifndef LF_INGEST_H
#define LF_INGEST_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"
#include "lf_kafka.h"
#include "lf_metrics.h"
#include "lf_store.h"

#include <stdbool.h>
#include <uv.h>

/* Per-source decoding: records of the batches whose source is `name` are
 * decoded with `format` (a decoder name; empty = automatic) and zone-less
 * timestamps are taken in `timezone` (empty = ingest.timezone). */
typedef struct lf_ingest_source {
    char *name;
    char *format;
    char *timezone;
} lf_ingest_source_t;

typedef struct lf_ingest_config {
    char *group_id;
    int64_t poll_batch;      /* Kafka messages per store transaction */
    int64_t max_event_bytes; /* largest ECS document */
    char *timezone;          /* "+08:00": zone of timestamps that carry none */
    int64_t ack_republish;   /* ms between re-publishing watermarks of active agents */
    int64_t ack_agent_idle;  /* ms after which an agent is no longer re-published */
    int64_t max_tracked_agents;
    int64_t retry_backoff_max; /* ms, store failure retry ceiling */
    char *decoders_dir;        /* rule files (rules/decoders/ installed) */
    lf_ingest_source_t *sources;
    size_t source_count;
    int64_t failure_samples; /* decode failures kept for the operator */
} lf_ingest_config_t;

extern const lf_config_option_t lf_ingest_config_options[];

typedef struct lf_ingest lf_ingest_t;

typedef struct lf_ingest_status {
    bool kafka_up;           /* brokers reachable as far as the clients know */
    bool store_ok;           /* last store commit succeeded */
    int64_t last_commit_ms;  /* wall clock of the last successful commit, 0 = none */
    int assigned_partitions; /* of the events topic */
    char last_error[160];
} lf_ingest_status_t;

/* Starts consuming. `store` and `metrics` are borrowed and must outlive the
 * ingest. Errors (bad Kafka property, bad timezone) fill errstr. */
lf_err_t lf_ingest_start(const lf_ingest_config_t *cfg, const lf_kafka_config_t *kafka,
                         uv_loop_t *loop, lf_store_t *store, lf_metrics_t *metrics,
                         lf_ingest_t **out, char *errstr, size_t errlen);
/* Stops consuming, leaves the group, flushes acks (bounded), frees. Call on
 * the loop thread; run the loop afterwards so closed handles are released. */
void lf_ingest_stop(lf_ingest_t *ing);
/* Called on the loop thread for every event the store reported new, inside
 * the open store batch, so whatever the hook writes (alerts) commits or
 * vanishes together with the event. A non-OK return fails the batch, which
 * is then retried like any store failure. */
typedef lf_err_t (*lf_ingest_event_hook_t)(void *opaque, lf_store_batch_t *batch,
                                           const lf_event_t *ev, const lf_store_event_in_t *in);
void lf_ingest_set_event_hook(lf_ingest_t *ing, lf_ingest_event_hook_t hook, void *opaque);
/* Called on the loop thread at the end of every store batch: with commit =
 * true just before it commits (a non-OK return fails the batch, which is
 * then aborted and retried), with commit = false after an abort or a
 * failed commit (the return is ignored). Lets the event hook's consumers write what they kept
 * for the batch, or drop it. */
typedef lf_err_t (*lf_ingest_batch_hook_t)(void *opaque, lf_store_batch_t *batch, bool commit);
void lf_ingest_set_batch_hook(lf_ingest_t *ing, lf_ingest_batch_hook_t hook, void *opaque);

/* Hands heartbeats and the admission of event batches to the agent
 * registry (lf_agents.h; borrowed, must outlive the ingest). Without one,
 * heartbeats are consumed and skipped and every batch is admitted. Loop
 * thread, before messages arrive. */
typedef struct lf_agents lf_agents_t;
void lf_ingest_set_agents(lf_ingest_t *ing, lf_agents_t *agents);

/* Loads ingest.decoders_dir again and swaps the new decoders in (loop
 * thread, e.g. on SIGHUP). On any error (a bad rule file, a source's format
 * no longer defined) the running decoders stay and errstr says why. */
lf_err_t lf_ingest_reload_decoders(lf_ingest_t *ing, char *errstr, size_t errlen);

/* Thread-safe snapshot for health checks. */
void lf_ingest_status(lf_ingest_t *ing, lf_ingest_status_t *out);

/* One kept decode failure (the newest failure_samples are kept). */
typedef struct lf_ingest_failure {
    int64_t time_ms;
    char agent_id[64];
    char source[64];
    char decoder[48];
    char error[96];
    char record[256]; /* the record's first bytes (may hold NULs), NUL-terminated */
    size_t record_len;
} lf_ingest_failure_t;

/* Copies up to max of the newest decode failures, newest first; returns
 * how many. Thread-safe. */
size_t lf_ingest_failures(lf_ingest_t *ing, lf_ingest_failure_t *out, size_t max);

/* Parses "+08:00", "-05:30", "Z", "UTC" into minutes east of UTC. */
lf_err_t lf_ingest_parse_tz(const char *s, int32_t *minutes);

#endif
