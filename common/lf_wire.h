/* lf_wire.h - the binary messages agents and servers exchange through Kafka.
 *
 * See docs/protocol.md for the byte layout. Three message kinds:
 *
 *  - Event batch (topic `events`, key = agency id): records read by one agent
 *    from one source, numbered first_seq .. first_seq+count-1 with the agent's
 *    sequence numbers. Re-sending a batch re-sends the same numbers, so the
 *    store drops duplicates.
 *  - Stored watermark (topic `acks`, key = agent id, partition chosen by
 *    lf_wire_ack_partition()): every record of that agent with a sequence
 *    number <= watermark is committed to storage.
 *  - Heartbeat (topic `events`, key = agency id): who the agent is, its
 *    counters, and its enrolment proof (below).
 *
 * Parsers validate every length before use; all integers are little-endian.
 * Parsed strings borrow from the message buffer and live as long as it does.
 */
#ifndef LF_WIRE_H
#define LF_WIRE_H

#include "lf_buf.h"
#include "lf_error.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stdint.h>

#define LF_WIRE_BATCH_MAGIC "LFE1"
#define LF_WIRE_ACK_MAGIC   "LFA1"
#define LF_WIRE_VERSION     1
#define LF_WIRE_BATCH_FIXED 36u        /* bytes before the strings */
#define LF_WIRE_MAX_STRING  1024u      /* agent id, agency, host, source, path */
#define LF_WIRE_MAX_RECORDS 1000000u   /* records in one batch */
#define LF_WIRE_NO_OFFSET   UINT64_MAX /* record has no file offset */

/* Record flags. */
#define LF_REC_TRUNCATED 0x01u /* the agent cut the record at its max_record_bytes */
/* Placeholder for a record the agent read and numbered but could no longer
 * re-read for a re-send (its file was deleted or rewritten before lianfangd
 * acknowledged it): empty data, offset LF_WIRE_NO_OFFSET. Storing it lets the
 * agent's watermark move past the gap; the loss stays visible. */
#define LF_REC_LOST 0x02u

/* Batch flags (header byte 5). Parsers refuse bits they do not know. */
/* Every record is followed by the address its sender sent it from (a
 * string, e.g. "192.0.2.7:514" or "[2001:db8::7]:6514"): batches of the
 * agent's syslog listeners. */
#define LF_WIRE_F_SENDERS  0x01u
#define LF_WIRE_F_KNOWN    LF_WIRE_F_SENDERS
#define LF_WIRE_MAX_SENDER 255u /* bytes of one sender address */

typedef struct lf_wire_batch_header {
    uint64_t first_seq;
    /* The first sequence number this agent's state ever issued. An agent whose
     * state directory is new starts numbering at the current time in
     * microseconds, so numbers never repeat even when state is lost; the store
     * treats every number below epoch_seq as not expected (see docs/protocol.md). */
    uint64_t epoch_seq;
    int64_t read_time_ms; /* when the agent read the batch (epoch ms) */
    lf_str_t agent_id;
    lf_str_t agency;
    lf_str_t host;
    lf_str_t source; /* configured source name, e.g. "syslog" */
    lf_str_t path;   /* file path, listener address, ... */
    uint8_t flags;   /* LF_WIRE_F_* */
} lf_wire_batch_header_t;

typedef struct lf_wire_batch {
    lf_wire_batch_header_t h;
    uint32_t count;
    const uint8_t *records; /* first record */
    const uint8_t *end;     /* end of message */
} lf_wire_batch_t;

typedef struct lf_wire_record {
    uint64_t seq;
    uint64_t offset; /* byte offset in the source, or LF_WIRE_NO_OFFSET */
    uint8_t flags;
    lf_str_t data;
    lf_str_t sender; /* empty unless the batch has LF_WIRE_F_SENDERS */
} lf_wire_record_t;

typedef struct lf_wire_iter {
    const uint8_t *p;
    uint32_t index;
} lf_wire_iter_t;

/* Starts a batch in buf (which is reset). */
lf_err_t lf_wire_batch_begin(lf_buf_t *buf, const lf_wire_batch_header_t *h);
/* Appends one record (batches without LF_WIRE_F_SENDERS). */
lf_err_t lf_wire_batch_add(lf_buf_t *buf, uint64_t offset, uint8_t flags, const char *data,
                           uint32_t len);
/* Appends one record and its sender address (batches begun with
 * LF_WIRE_F_SENDERS). LF_EINVAL when sender is longer than
 * LF_WIRE_MAX_SENDER; LF_EFULL leaves buf as it was. */
lf_err_t lf_wire_batch_add_from(lf_buf_t *buf, uint64_t offset, uint8_t flags, const char *data,
                                uint32_t len, lf_str_t sender);
/* Writes the final record count into the header. */
void lf_wire_batch_finish(lf_buf_t *buf, uint32_t count);

/* Parses and fully validates a batch (every record's length is checked). */
lf_err_t lf_wire_batch_parse(const void *data, size_t len, lf_wire_batch_t *batch);
/* Iterates records; returns LF_OK with *rec filled, or LF_ENOTFOUND at the end. */
void lf_wire_batch_iter(const lf_wire_batch_t *batch, lf_wire_iter_t *it);
lf_err_t lf_wire_batch_next(const lf_wire_batch_t *batch, lf_wire_iter_t *it,
                            lf_wire_record_t *rec);

typedef struct lf_wire_ack {
    uint64_t watermark;
    int64_t stored_time_ms;
    lf_str_t agent_id;
} lf_wire_ack_t;

lf_err_t lf_wire_ack_encode(lf_buf_t *buf, const lf_wire_ack_t *ack);
lf_err_t lf_wire_ack_parse(const void *data, size_t len, lf_wire_ack_t *ack);
/* The `acks` partition an agent's watermarks go to: FNV-1a of the agent id. */
int32_t lf_wire_ack_partition(lf_str_t agent_id, int32_t partition_cnt);

/* ---- Heartbeat — topic `events`, key = agency id --------------------------
 *
 * An agent announces itself and its own counters: at start (before it sends
 * or re-sends any batch) and every agent.heartbeat_interval. It travels on
 * the events topic with the agency as key, so the consumer that stores the
 * agent's batches sees its heartbeats in order with them. With an enrolment
 * token the message ends in a proof: HMAC-SHA256 keyed with SHA-256(token)
 * over every byte before the proof (so identity, time and counters are all
 * covered); the token itself never travels. Layout: docs/protocol.md. */
#define LF_WIRE_HEARTBEAT_MAGIC "LFH1"
#define LF_WIRE_HB_FIXED        40u   /* bytes before the strings */
#define LF_WIRE_HB_F_PROOF      0x01u /* the message ends in a 32-byte proof */
#define LF_WIRE_HB_F_KNOWN      LF_WIRE_HB_F_PROOF
#define LF_WIRE_HB_MAX_COUNTERS 256u /* name/value pairs in one heartbeat */
#define LF_WIRE_HB_MAX_NAME     64u  /* bytes of a counter name: [a-z0-9_] */
#define LF_WIRE_PROOF_BYTES     32u  /* HMAC-SHA256 */
#define LF_WIRE_KEY_BYTES       32u  /* SHA-256 of the enrolment token */

typedef struct lf_wire_counter {
    lf_str_t name; /* 1..LF_WIRE_HB_MAX_NAME bytes of a-z, 0-9, _ */
    uint64_t value;
} lf_wire_counter_t;

typedef struct lf_wire_heartbeat {
    int64_t sent_ms;       /* agent clock when the heartbeat was built (epoch ms) */
    int64_t started_ms;    /* when the agent process started */
    int64_t interval_ms;   /* the agent's heartbeat interval */
    int64_t last_error_ms; /* time of last_error, 0 = none */
    lf_str_t agent_id;     /* required */
    lf_str_t agency;
    lf_str_t host;
    lf_str_t os;      /* os-release PRETTY_NAME and kernel, e.g. "Debian 12 (Linux 6.1.0)" */
    lf_str_t version; /* agent version */
    lf_str_t last_error;
    /* Filled by the parser: */
    uint8_t flags;           /* LF_WIRE_HB_F_* */
    uint16_t counter_count;  /* pairs at `counters` */
    const uint8_t *counters; /* first pair (iterate with lf_wire_heartbeat_counter) */
    const uint8_t *proof;    /* LF_WIRE_PROOF_BYTES, or NULL */
    size_t signed_len;       /* bytes of the message the proof covers */
} lf_wire_heartbeat_t;

/* SHA-256 of an enrolment token: the key of the heartbeat proof. A server
 * may keep this (as `sha256:<hex>`) instead of the token. */
void lf_wire_enrol_key(lf_str_t token, uint8_t key[LF_WIRE_KEY_BYTES]);
/* Encodes a heartbeat into buf (reset first) with `count` counters; with a
 * key the proof is appended. LF_EINVAL for a missing agent id, an overlong
 * string (> LF_WIRE_MAX_STRING), a bad counter name or more than
 * LF_WIRE_HB_MAX_COUNTERS counters; LF_EFULL past buf's maximum. */
lf_err_t lf_wire_heartbeat_encode(lf_buf_t *buf, const lf_wire_heartbeat_t *hb,
                                  const lf_wire_counter_t *counters, size_t count,
                                  const uint8_t *key);
/* Parses and fully validates a heartbeat; strings borrow from data.
 * LF_EPARSE for anything malformed (unknown version or flags, lengths past
 * the end, bad counter names, trailing bytes). The proof is not checked. */
lf_err_t lf_wire_heartbeat_parse(const void *data, size_t len, lf_wire_heartbeat_t *hb);
/* Walks the counters of a parsed heartbeat: start with a zeroed iterator;
 * LF_OK with *out filled (name borrowed from the message), LF_ENOTFOUND
 * after the last. */
typedef struct lf_wire_hb_iter {
    const uint8_t *p;
    uint16_t index;
} lf_wire_hb_iter_t;
lf_err_t lf_wire_heartbeat_counter(const lf_wire_heartbeat_t *hb, lf_wire_hb_iter_t *it,
                                   lf_wire_counter_t *out);
/* True when the parsed heartbeat (data as given to the parser) carries a
 * proof made with key. Constant-time comparison. */
bool lf_wire_heartbeat_verify(const void *data, const lf_wire_heartbeat_t *hb,
                              const uint8_t key[LF_WIRE_KEY_BYTES]);

#endif
