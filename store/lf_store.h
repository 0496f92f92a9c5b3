/* lf_store.h - Lianfang's LMDB store: events, agents and their stored
 * watermarks, consumer bookkeeping.
 *
 * Layout and crash-safety rules: docs/store.md.
 *
 * Threads: exactly one writer thread (the ingest loop) uses the batch
 * functions; any thread may use the read functions concurrently (LMDB MVCC
 * readers, opened with MDB_NOTLS). A committed batch survives kill -9 and,
 * with `sync: true` (the default), power loss.
 *
 * Idempotency: every event is keyed by (agent id, agent sequence number).
 * Putting a key that is already stored is a no-op reported as
 * LF_EDUPLICATE, so at-least-once delivery gives exactly-once storage.
 * Per agent the store keeps the watermark: the highest sequence number W
 * such that every sequence number up to W that the agent's current state
 * epoch can still produce is stored: W starts at epoch_seq - 1 and advances
 * over consecutive stored numbers.
 *
 * Errors: LMDB failures are logged (component "store") with the LMDB message
 * and returned as LF_ESTORE; a full map is LF_EFULL; running out of reader
 * slots is LF_EAGAIN. Strings returned through callbacks point into the
 * memory map and are valid only during the callback.
 */
#ifndef LF_STORE_H
#define LF_STORE_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_metrics.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stdint.h>

#define LF_STORE_MAX_AGENT_ID   128 /* bytes; longer ids are refused with LF_EINVAL */
#define LF_STORE_MAX_DOC        (16u << 20)
#define LF_STORE_CURSOR_MAX     64    /* bytes of an opaque cursor string, with NUL */
#define LF_STORE_MAX_LABEL      1024u /* bytes of agency / host; longer is LF_EINVAL */
#define LF_STORE_MAX_TOPIC      249u  /* bytes of a Kafka topic name */
#define LF_STORE_SCAN_LIMIT_MAX 1000u /* largest lf_store_query_t.limit */
/* At most this many time-index entries are examined by one
 * lf_store_events_scan() call; a scan that hits the bound returns the events
 * found so far (possibly none) and a cursor to continue from. */
#define LF_STORE_SCAN_MAX_EXAMINED 100000u
/* Distinct agents one batch may touch; one more is LF_EAGAIN from put. */
#define LF_STORE_BATCH_MAX_AGENTS 4096u
#define LF_STORE_SCHEMA_VERSION   1u /* on-disk layout this build writes and reads */

typedef struct lf_store lf_store_t;

typedef struct lf_store_config {
    char *path;          /* directory holding data.mdb */
    int64_t map_size;    /* bytes; the largest the database may grow */
    int64_t max_readers; /* concurrent read transactions */
    bool sync;           /* fsync at each commit (power-loss safety) */
} lf_store_config_t;

/* The `store:` section rows (path, map_size, max_readers, sync); ends with
 * LF_CFG_END. Use with lf_config_* on an lf_store_config_t. */
extern const lf_config_option_t lf_store_config_options[];

/* Opens (creating if needed) the store in cfg->path. `metrics` may be NULL;
 * otherwise the store registers its counters there.
 *
 * Borrows cfg (only during the call) and metrics (for the store's lifetime;
 * the metrics live inside the store, so the registry must not be rendered
 * after lf_store_close()). Creates cfg->path like `mkdir -p` with mode 0750.
 * On success *out owns the store, to be released with lf_store_close().
 * Errors, each with a message in errstr: LF_EINVAL (bad configuration
 * values), LF_EIO (directory cannot be created), LF_ESTORE (LMDB refuses the
 * environment, or the store has an unknown newer schema version),
 * LF_ENOMEM. Thread: call from the thread that owns start-up. */
lf_err_t lf_store_open(const lf_store_config_t *cfg, lf_metrics_t *metrics, lf_store_t **out,
                       char *errstr, size_t errlen);
/* Closes the store; an open batch is aborted. No read may be running and no
 * batch may be used afterwards. NULL is ignored. */
void lf_store_close(lf_store_t *st);

/* ---- Write path (writer thread only) ---------------------------------- */

typedef struct lf_store_event_in {
    lf_str_t agent_id;    /* required, 1..LF_STORE_MAX_AGENT_ID bytes */
    lf_str_t agency;      /* organization.id */
    lf_str_t host;        /* host.name */
    uint64_t seq;         /* agent sequence number, >= 1 */
    uint64_t epoch_seq;   /* first number of the agent's state epoch (lf_wire.h): the
                             watermark is raised to at least epoch_seq - 1 */
    int64_t timestamp_ms; /* @timestamp, epoch ms: the time index key */
    const char *doc;      /* ECS JSON document, stored verbatim */
    size_t doc_len;
} lf_store_event_in_t;

typedef struct lf_store_batch lf_store_batch_t;

/* Begins a write transaction. Only one batch may be open at a time.
 * *out is a batch object owned by the store and reused by every batch; it
 * stays valid until commit or abort. Errors: LF_ESTATE (a batch is already
 * open), LF_ESTORE / LF_EFULL (LMDB cannot start the transaction). */
lf_err_t lf_store_batch_begin(lf_store_t *st, lf_store_batch_t **out);
/* Adds one event: LF_OK when new, LF_EDUPLICATE when already stored (no-op),
 * LF_EINVAL for a bad agent id / seq 0 / oversized doc, LF_ESTORE (the batch
 * is then failed: only abort is allowed).
 *
 * Borrows ev and everything it points to only during the call (the document
 * is copied into the transaction). A seq at or below the agent's watermark
 * is a duplicate without any lookup. Further results: LF_EINVAL also for an
 * agency or host longer than LF_STORE_MAX_LABEL; LF_EFULL when the map is
 * full (the batch is failed; raise store.map_size); LF_EAGAIN when the
 * batch already touches LF_STORE_BATCH_MAX_AGENTS agents and this event is
 * from another one (nothing written, the batch stays usable: commit it and
 * put the event into the next batch); LF_ESTATE when the batch has failed
 * or is not open. LF_EINVAL, LF_EDUPLICATE and LF_EAGAIN leave the batch
 * usable. */
lf_err_t lf_store_batch_put(lf_store_batch_t *b, const lf_store_event_in_t *ev);
/* Records the next Kafka offset to consume for (topic, partition), written in
 * the same transaction as the events it covers.
 *
 * topic is borrowed during the call (1..LF_STORE_MAX_TOPIC bytes, NUL
 * terminated); partition >= 0. Errors: LF_EINVAL (bad topic or partition;
 * the batch stays usable), LF_ESTATE, LF_ESTORE / LF_EFULL (batch failed). */
lf_err_t lf_store_batch_set_offset(lf_store_batch_t *b, const char *topic, int32_t partition,
                                   int64_t next_offset);

/* Called after a successful commit, once per agent the batch touched.
 * agent_id is valid only during the call. `added` and `duplicates` count
 * this batch's events; watermark is the agent's watermark after the commit. */
typedef void (*lf_store_agent_cb)(void *opaque, lf_str_t agent_id, uint64_t watermark,
                                  uint64_t added, uint64_t duplicates);
/* Commits. On success calls cb (may be NULL) per touched agent. On failure
 * nothing of the batch is stored. The batch is finished either way.
 *
 * Errors: LF_ESTATE (the batch had failed earlier or is not open; it is
 * aborted), LF_EFULL (map full), LF_ESTORE (LMDB could not commit, e.g. a
 * disk error). The callbacks run on the calling (writer) thread after the
 * data is durable, in no particular agent order. */
lf_err_t lf_store_batch_commit(lf_store_batch_t *b, lf_store_agent_cb cb, void *opaque);
/* Discards everything the batch wrote. Allowed in any state; NULL and a
 * batch that is not open are ignored. */
void lf_store_batch_abort(lf_store_batch_t *b);

/* ---- Read path (any thread) -------------------------------------------- */

typedef struct lf_store_event_out {
    lf_str_t agent_id;
    lf_str_t agency;
    uint64_t seq;
    int64_t timestamp_ms;
    int64_t stored_ms; /* when the store committed it */
    const char *doc;   /* valid only during the callback */
    size_t doc_len;
} lf_store_event_out_t;

typedef struct lf_store_query {
    const char *cursor; /* NULL/"" = start at the newest event */
    size_t limit;       /* 1..1000 */
    int64_t from_ms;    /* inclusive lower bound on @timestamp, 0 = none */
    int64_t to_ms;      /* exclusive upper bound, 0 = none */
    lf_str_t agent_id;  /* filters; empty = any */
    lf_str_t agency;
} lf_store_query_t;

/* Return false to stop the scan early. Every pointer in ev (agent_id,
 * agency, doc) is valid only during the callback. */
typedef bool (*lf_store_event_cb)(void *opaque, const lf_store_event_out_t *ev);

/* Calls cb for matching events, newest @timestamp first. Writes into
 * next_cursor (LF_STORE_CURSOR_MAX bytes) the cursor of the next page, or ""
 * when there is none. LF_EINVAL for a malformed cursor or limit.
 *
 * Events with equal @timestamp come in descending (agent, seq) order. The
 * cursor is the hex form of the time-index key of the next matching event,
 * so pages stay stable while new events arrive. Work is bounded: at most
 * LF_STORE_SCAN_MAX_EXAMINED index entries are examined per call; a
 * selective filter over a long time range can therefore return fewer than
 * `limit` events (even none) together with a non-empty next_cursor, and the
 * caller continues with that cursor. A non-empty next_cursor thus means
 * "more may follow", "" means "the end". If cb returns false the scan stops
 * and next_cursor points just past the last event delivered. next_cursor
 * may be NULL when the caller does not page, and may be the very buffer
 * q->cursor points to. Errors: LF_EINVAL,
 * LF_EAGAIN (no free reader slot), LF_ESTORE. */
lf_err_t lf_store_events_scan(lf_store_t *st, const lf_store_query_t *q, lf_store_event_cb cb,
                              void *opaque, char *next_cursor);
/* Fetches one event by (agent id, seq): LF_OK and cb called, or LF_ENOTFOUND.
 * cb's return value is ignored. Errors also LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_event_get(lf_store_t *st, lf_str_t agent_id, uint64_t seq, lf_store_event_cb cb,
                            void *opaque);

typedef struct lf_store_agent_info {
    lf_str_t agent_id;
    lf_str_t agency; /* latest non-empty agency seen from the agent */
    lf_str_t host;   /* latest non-empty host seen from the agent */
    uint64_t watermark;
    uint64_t events_stored;
    uint64_t duplicates;
    int64_t first_seen_ms; /* store time (epoch ms) of the agent's first batch */
    int64_t last_seen_ms;  /* store time of its latest batch */
} lf_store_agent_info_t;

/* Return false to stop listing. Pointers in agent are valid only during the
 * callback. */
typedef bool (*lf_store_agent_info_cb)(void *opaque, const lf_store_agent_info_t *agent);
/* Lists known agents ordered by agent id (byte order).
 * Errors: LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_agents_list(lf_store_t *st, lf_store_agent_info_cb cb, void *opaque);
/* One agent by id: LF_OK (cb called once; its return is ignored),
 * LF_ENOTFOUND, LF_EINVAL (empty or oversized id), LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_agent_get(lf_store_t *st, lf_str_t agent_id, lf_store_agent_info_cb cb,
                            void *opaque);
/* The watermark of one agent (0 when unknown). Errors: LF_EINVAL (empty or
 * oversized id), LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_agent_watermark(lf_store_t *st, lf_str_t agent_id, uint64_t *watermark);

/* The next Kafka offset recorded for (topic, partition) by
 * lf_store_batch_set_offset(): LF_OK with *next_offset, LF_ENOTFOUND when
 * none was ever recorded, LF_EINVAL, LF_EAGAIN, LF_ESTORE. Any thread. */
lf_err_t lf_store_offset_get(lf_store_t *st, const char *topic, int32_t partition,
                             int64_t *next_offset);

/* ---- Alerts --------------------------------------------------------------
 *
 * Alerts are written in the same transaction as the event that raised them,
 * so they are stored exactly once together with it: the detection stage
 * runs only on events lf_store_batch_put() reported new. Alert ids are
 * assigned by the store, increasing, starting at 1.
 */
typedef struct lf_store_alert_in {
    int64_t timestamp_ms; /* the event's @timestamp */
    lf_str_t agency;      /* organization.id of the event, may be empty */
    lf_str_t rule_id;     /* detection rule / indicator id */
    int level;            /* 0 informational, 1 low, 2 medium, 3 high, 4 critical */
    const char *doc;      /* alert JSON, stored verbatim */
    size_t doc_len;
} lf_store_alert_in_t;

/* The id the next lf_store_batch_put_alert() of this batch will get, so the
 * caller can write it into the document. */
uint64_t lf_store_batch_next_alert_id(const lf_store_batch_t *b);
/* Stores one alert under lf_store_batch_next_alert_id(b) and advances it.
 * Errors: LF_EINVAL (bad level, oversized doc or labels), LF_ESTORE / LF_EFULL
 * (the batch is failed), LF_ESTATE. */
lf_err_t lf_store_batch_put_alert(lf_store_batch_t *b, const lf_store_alert_in_t *alert);

typedef struct lf_store_alert_out {
    uint64_t id;
    int64_t timestamp_ms;
    int level;
    lf_str_t agency;
    lf_str_t rule_id;
    const char *doc; /* valid only during the callback */
    size_t doc_len;
} lf_store_alert_out_t;

typedef struct lf_store_alert_query {
    const char *cursor; /* NULL/"" = newest; else from lf_store_alerts_scan's next_cursor */
    size_t limit;       /* 1..LF_STORE_SCAN_LIMIT_MAX */
    lf_str_t agency;    /* filters; empty = any */
    lf_str_t rule_id;
    int min_level; /* 0 = any */
} lf_store_alert_query_t;

typedef bool (*lf_store_alert_cb)(void *opaque, const lf_store_alert_out_t *alert);
/* Newest (highest id) first; bounded like lf_store_events_scan. */
lf_err_t lf_store_alerts_scan(lf_store_t *st, const lf_store_alert_query_t *q, lf_store_alert_cb cb,
                              void *opaque, char *next_cursor);
/* One alert by id: LF_OK (cb called) or LF_ENOTFOUND. */
lf_err_t lf_store_alert_get(lf_store_t *st, uint64_t id, lf_store_alert_cb cb, void *opaque);

/* ---- Keyed tables ----------------------------------------------------------
 *
 * Besides events and alerts the store keeps keyed tables for the stateful
 * parts of correlate/: correlation windows, incidents and cross-agency
 * sightings. Keys and values belong to the module that writes them (their
 * layouts are in docs/store.md); the store gives them transactions and
 * durability. Written in a batch's transaction they commit or vanish with
 * the batch's events, which is what makes correlation exactly-once.
 */
typedef enum lf_store_table {
    LF_TABLE_STATE,          /* correlation state: rule id + group -> window */
    LF_TABLE_INCIDENTS,      /* incident id (u64 BE) -> incident document */
    LF_TABLE_INCIDENT_KEYS,  /* grouping key -> incident id */
    LF_TABLE_INCIDENT_LINKS, /* incident id + kind + id -> linked record */
    LF_TABLE_JOINT,          /* region + entity -> cross-agency sightings */
    LF_TABLE_AGENT_REGISTRY, /* agent id -> enrolment and last heartbeat (ingest/lf_agents.h) */
    LF_TABLE_COUNT
} lf_store_table_t;

#define LF_STORE_MAX_KEY 511u /* bytes of a table key (LMDB's limit) */

/* A write transaction on the tables: the open batch's, or a standalone one. */
typedef struct lf_store_wtx lf_store_wtx_t;

/* The batch's own transaction (writer thread, while the batch is open).
 * Owned by the batch; a table write that fails with LF_ESTORE/LF_EFULL
 * fails the batch. */
lf_store_wtx_t *lf_store_batch_wtx(lf_store_batch_t *b);

/* A standalone write transaction, for changes that do not come with events
 * (an analyst's action). Any thread; waits while another write transaction
 * (e.g. a batch) is open, so keep it short. Finish with commit or abort.
 * Errors: LF_ENOMEM, LF_ESTORE, LF_EFULL. */
lf_err_t lf_store_update_begin(lf_store_t *st, lf_store_wtx_t **out);
/* Commits and frees w. Errors: LF_ESTORE, LF_EFULL (nothing is stored). */
lf_err_t lf_store_update_commit(lf_store_wtx_t *w);
/* Discards and frees w. NULL is ignored. */
void lf_store_update_abort(lf_store_wtx_t *w);

/* Reads a key: LF_OK with *val pointing into the map (valid until the next
 * write through w or its end), LF_ENOTFOUND, LF_EINVAL (key length),
 * LF_ESTORE. */
lf_err_t lf_store_wtx_get(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen,
                          lf_str_t *val);
/* Writes a key (replacing). LF_EINVAL (key or value size), LF_EFULL,
 * LF_ESTORE, LF_ESTATE (failed batch). */
lf_err_t lf_store_wtx_put(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen,
                          const void *val, size_t vlen);
/* Deletes a key; LF_OK also when it was absent. */
lf_err_t lf_store_wtx_del(lf_store_wtx_t *w, lf_store_table_t t, const void *key, size_t klen);
/* Next value of a named counter (starting at 1), kept in the meta table. */
lf_err_t lf_store_wtx_next_id(lf_store_wtx_t *w, const char *counter, uint64_t *id);

/* Called per entry of a scan; key and val are valid only during the call.
 * Return false to stop. */
typedef bool (*lf_store_kv_cb)(void *opaque, lf_str_t key, lf_str_t val);

typedef struct lf_store_scan {
    const void *prefix; /* only keys starting with these bytes; NULL = all */
    size_t prefix_len;
    const void *start; /* first key (forward) or last key (reverse) to visit;
                          NULL = the prefix's first or last key */
    size_t start_len;
    bool reverse;        /* descending key order */
    size_t max_examined; /* bound on entries visited, 0 = unbounded */
} lf_store_scan_t;

/* Scans a table inside w (forward or reverse, prefix-bounded). */
lf_err_t lf_store_wtx_scan(lf_store_wtx_t *w, lf_store_table_t t, const lf_store_scan_t *q,
                           lf_store_kv_cb cb, void *opaque);
/* Reads one key in a read transaction (any thread): LF_OK (cb called),
 * LF_ENOTFOUND, LF_EINVAL, LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_table_get(lf_store_t *st, lf_store_table_t t, const void *key, size_t klen,
                            lf_store_kv_cb cb, void *opaque);
/* Scans a table in a read transaction (any thread). *examined (may be NULL)
 * gets the number of entries visited. */
lf_err_t lf_store_table_scan(lf_store_t *st, lf_store_table_t t, const lf_store_scan_t *q,
                             lf_store_kv_cb cb, void *opaque, size_t *examined);

typedef struct lf_store_stats {
    uint64_t events; /* events stored */
    uint64_t alerts; /* alerts stored */
    uint64_t agents;
    uint64_t map_used; /* bytes of the map in use */
    uint64_t map_size;
} lf_store_stats_t;
/* Fills *out from the last committed state. Errors: LF_EAGAIN, LF_ESTORE. */
lf_err_t lf_store_stats(lf_store_t *st, lf_store_stats_t *out);

#endif
