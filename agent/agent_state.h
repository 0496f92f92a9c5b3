/* agent_state.h - the agent's durable state: an LMDB environment in
 * state_dir (private to agent/). Layout: docs/agent.md "State".
 *
 *  meta     "epoch_seq", "next_seq", "acked" (u64 LE), "agent_id" (bytes),
 *           "counters" (u64 LE array, lf_agent_counters_t order)
 *  batches  first_seq (u64 BE) -> journal entry of one produced batch
 *  files    source path -> {dev, inode, read_offset} of the file read there
 *  meta     "cursor:<key>" -> journald cursor of the last entry a journald
 *           source journalled (its read checkpoint)
 *
 * Every write is one LMDB transaction, so a crash (kill -9, power loss with
 * sync on) leaves the journal, next_seq and the file checkpoints mutually
 * consistent: a batch is journalled together with the sequence numbers and
 * the read offset it consumed, before it is produced.
 *
 * Not thread-safe: one lf_agent_state_t is used by one thread. Pointers in
 * an lf_agent_jbatch_t passed to a callback are valid during the callback.
 */
#ifndef LF_AGENT_STATE_H
#define LF_AGENT_STATE_H

#include "lf_error.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The batch's file is gone: it is re-sent as placeholders (LF_REC_LOST). */
#define LF_AGENT_JBATCH_LOST 0x1u
/* The batch's bytes are a range of a spool segment (records received by a
 * syslog listener), not of a tailed file; its wire batch carries senders. */
#define LF_AGENT_JBATCH_SPOOL 0x2u
/* The batch holds entries of a journald source: its value also carries the
 * cursors of its first and last entry (lf_agent_state_batch_cursors()), and
 * dev, ino, off_start, off_end are 0. */
#define LF_AGENT_JBATCH_JOURNALD 0x4u
/* Longest journald cursor the state keeps (systemd's are about 130 bytes). */
#define LF_AGENT_CURSOR_MAX 512u

typedef struct lf_agent_jbatch {
    uint64_t first_seq;
    uint32_t count;        /* records: first_seq .. first_seq + count - 1 */
    uint32_t flags;        /* LF_AGENT_JBATCH_* */
    uint32_t source_index; /* index in the configuration that read it */
    uint32_t max_record;   /* max_record_bytes in force when it was read */
    uint64_t dev, ino;     /* identity of the file the bytes came from */
    uint64_t off_start;    /* byte range [off_start, off_end) of that file */
    uint64_t off_end;
    uint64_t bytes;       /* size of the wire batch */
    int64_t read_time_ms; /* header field, kept so a re-send is identical */
    lf_str_t source;      /* source name; borrowed */
    lf_str_t path;        /* configured source path; borrowed */
} lf_agent_jbatch_t;

static inline uint64_t lf_agent_jbatch_last(const lf_agent_jbatch_t *b)
{
    return b->first_seq + b->count - 1;
}

typedef struct lf_agent_filepos {
    uint64_t dev, ino, read_offset;
} lf_agent_filepos_t;

typedef struct lf_agent_state_meta {
    uint64_t epoch_seq; /* first number this state issued */
    uint64_t next_seq;  /* next number to issue */
    uint64_t acked;     /* every number <= acked is stored by lianfangd */
} lf_agent_state_meta_t;

/* Counters, persisted so `--status` can show them. One table: name, help. */
#define LF_AGENT_COUNTERS(X)                                                                       \
    X(records_read, "records read from sources")                                                   \
    X(batches_produced, "batches handed to Kafka (first sends)")                                   \
    X(bytes_produced, "wire bytes handed to Kafka (first sends)")                                  \
    X(records_truncated, "records cut at max_record_bytes")                                        \
    X(resends, "batches sent again (start-up, failed delivery, ack timeout, fatal error)")         \
    X(records_lost, "records whose file was gone before they were acknowledged")                   \
    X(acks_received, "acknowledgements received for this agent")                                   \
    X(acked_watermark, "highest sequence number acknowledged as stored")                           \
    X(syslog_received, "records received by the syslog listeners (spooled)")                       \
    X(syslog_truncated, "syslog frames longer than max_frame_bytes, cut and flagged truncated")    \
    X(syslog_malformed, "malformed syslog frames (bad octet count, empty frame, ...)")             \
    X(syslog_connections, "TCP/TLS connections accepted")                                          \
    X(syslog_refused, "TCP/TLS connections refused at max_connections")                            \
    X(syslog_stalled, "connections dropped after stall_timeout inside a frame or handshake")       \
    X(syslog_idle_closed, "connections closed after idle_timeout without data")                    \
    X(syslog_tls_failures, "TLS handshakes that failed (bad or missing client certificate, ...)")  \
    X(syslog_udp_dropped, "UDP datagrams dropped because the spool was full")                      \
    X(syslog_spool_errors, "records dropped because the spool could not be written")               \
    X(spool_paused, "times TCP/TLS reading stopped because the spool was full")

typedef struct lf_agent_counters {
#define LF_AGENT_COUNTER_FIELD(name, help) uint64_t name;
    LF_AGENT_COUNTERS(LF_AGENT_COUNTER_FIELD)
#undef LF_AGENT_COUNTER_FIELD
} lf_agent_counters_t;

#define LF_AGENT_COUNTER_COUNT (sizeof(lf_agent_counters_t) / sizeof(uint64_t))
/* Counter names in field order. */
extern const char *const lf_agent_counter_names[];

typedef struct lf_agent_state_options {
    uint64_t map_size;    /* bytes */
    bool sync;            /* fsync each commit */
    bool readonly;        /* --status: no writes, the directory must exist */
    const char *agent_id; /* stored on first open; a different id is refused */
} lf_agent_state_options_t;

typedef struct lf_agent_state lf_agent_state_t;

/* Opens (creating unless readonly) the state in dir. A new state starts
 * epoch_seq = next_seq = now in microseconds, acked = epoch_seq - 1.
 * LF_ESTORE / LF_ECONFIG with errstr saying why. */
lf_err_t lf_agent_state_open(const char *dir, const lf_agent_state_options_t *opts,
                             lf_agent_state_t **out, char *errstr, size_t errlen);
void lf_agent_state_close(lf_agent_state_t *st);
/* The committed meta values (cached; exact after every successful call). */
void lf_agent_state_get_meta(const lf_agent_state_t *st, lf_agent_state_meta_t *meta);
/* The agent id stored in the state ("" when none). Valid until close. */
const char *lf_agent_state_agent_id(const lf_agent_state_t *st);

/* One transaction: journals b (whose first_seq must equal next_seq), moves
 * next_seq past it and stores the file checkpoint of `path`. LF_EINVAL on a
 * sequence mismatch, LF_EFULL when the map is full, LF_ESTORE. */
lf_err_t lf_agent_state_commit_batch(lf_agent_state_t *st, const lf_agent_jbatch_t *b,
                                     const char *path, const lf_agent_filepos_t *pos);
/* Group commit. Between begin and end every write call above and below
 * goes into one LMDB transaction, committed (and synced, with opts.sync)
 * once by end: n batches cost one fsync pair instead of n. Each call
 * stays all-or-nothing on its own (a child transaction): a refused batch
 * leaves the others of the group. Reads see the state before the group.
 * When end fails, nothing since begin was written and the cached meta
 * values are those at begin; the caller undoes its own effects. begin:
 * LF_EINVAL when a group is open already. */
lf_err_t lf_agent_state_group_begin(lf_agent_state_t *st);
lf_err_t lf_agent_state_group_end(lf_agent_state_t *st);
bool lf_agent_state_in_group(const lf_agent_state_t *st);
lf_err_t lf_agent_state_put_file(lf_agent_state_t *st, const char *path,
                                 const lf_agent_filepos_t *pos);
/* journald sources: one transaction journals b (flags must include
 * LF_AGENT_JBATCH_JOURNALD) with the cursors of its first and last entry,
 * moves next_seq past it and stores `last` as the read checkpoint of `key`.
 * Errors as lf_agent_state_commit_batch(); LF_EINVAL for an empty cursor or
 * one longer than LF_AGENT_CURSOR_MAX. */
lf_err_t lf_agent_state_commit_batch_cursor(lf_agent_state_t *st, const lf_agent_jbatch_t *b,
                                            const char *key, lf_str_t first, lf_str_t last);
/* Copies the cursors of journal batch first_seq (NUL-terminated) into first
 * and last (each LF_AGENT_CURSOR_MAX + 1 bytes). LF_ENOTFOUND when there is
 * no such batch or it is not a journald batch. */
lf_err_t lf_agent_state_batch_cursors(lf_agent_state_t *st, uint64_t first_seq, char *first,
                                      char *last);
/* The read checkpoint (a journald cursor) of key; cursor gets
 * LF_AGENT_CURSOR_MAX + 1 bytes, NUL-terminated. LF_ENOTFOUND when none. */
lf_err_t lf_agent_state_put_cursor(lf_agent_state_t *st, const char *key, lf_str_t cursor);
lf_err_t lf_agent_state_get_cursor(lf_agent_state_t *st, const char *key, char *cursor);
/* Calls cb for every stored cursor checkpoint (key without its prefix). */
typedef bool (*lf_agent_cursor_cb)(void *opaque, lf_str_t key, lf_str_t cursor);
lf_err_t lf_agent_state_foreach_cursor(lf_agent_state_t *st, lf_agent_cursor_cb cb, void *opaque);

/* LF_ENOTFOUND when the path has no checkpoint. */
lf_err_t lf_agent_state_get_file(lf_agent_state_t *st, const char *path, lf_agent_filepos_t *pos);
/* One transaction: deletes every batch whose last sequence is <= w and
 * stores acked = w. w below the stored watermark is a no-op; w >= next_seq is
 * refused with LF_EINVAL. *deleted (may be NULL) gets the batch count. */
lf_err_t lf_agent_state_ack(lf_agent_state_t *st, uint64_t w, size_t *deleted);
/* Marks a journal batch LF_AGENT_JBATCH_LOST. LF_ENOTFOUND if absent. */
lf_err_t lf_agent_state_mark_lost(lf_agent_state_t *st, uint64_t first_seq);

/* Calls cb for every journal batch in sequence order; stops when cb returns
 * false. */
typedef bool (*lf_agent_jbatch_cb)(void *opaque, const lf_agent_jbatch_t *b);
lf_err_t lf_agent_state_foreach_batch(lf_agent_state_t *st, lf_agent_jbatch_cb cb, void *opaque);
typedef bool (*lf_agent_file_cb)(void *opaque, lf_str_t path, const lf_agent_filepos_t *pos);
lf_err_t lf_agent_state_foreach_file(lf_agent_state_t *st, lf_agent_file_cb cb, void *opaque);

lf_err_t lf_agent_state_put_counters(lf_agent_state_t *st, const lf_agent_counters_t *c);
/* Zeroes *c when none are stored. */
lf_err_t lf_agent_state_get_counters(lf_agent_state_t *st, lf_agent_counters_t *c);

#endif
