/* lf_decode.h - turn one raw record into a normalised ECS event.
 *
 * Decoding has two steps (docs/decoding.md):
 *   1. Framing. Syslog as it reaches files and sockets is taken apart:
 *      - RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG
 *      - RFC 3164 and the traditional file format, with or without <PRI>:
 *        "Mmm dd hh:mm:ss host tag[pid]: msg", and the RFC 3339 timestamps
 *        of Debian's rsyslog default ("2026-11-23T08:09:01.123+08:00 host").
 *      - a bare <PRI> before a device's own format (FortiGate key=value).
 *      The message part (or the whole record) is the body.
 *   2. Content. The decoders of a set (lf_decoders_t) are tried in order:
 *      those of the rule files in rules/decoders/ (declarative: patterns,
 *      key=value and CSV maps, loaded at start), then the built-in C
 *      decoders (CEF, LEEF, JSON lines incl. Winlogbeat/NXLog, Windows XML,
 *      auditd). A decoder takes a record only when its cheap `when` test
 *      (program name, prefix, literals) passes.
 * A record nothing understands is still an event: message = the whole
 * record, decoder "raw", lianfang.decode_error says why. A decoder that
 * claimed a record but failed on it (broken CEF header, JSON too deep)
 * leaves the framed (syslog or raw) event plus lianfang.decode_error; the
 * caller counts it against that decoder.
 *
 * Timestamp rules: a timestamp without a zone is taken in the source's
 * configured zone (default UTC+8, flag timezone_assumed); a timestamp
 * without a year gets the year that puts it closest to the reference (the
 * agent's read time), never more than 7 days in the future (flag
 * year_inferred). Nothing silently moves an event to another day.
 *
 * Memory: string fields borrow from the record, from the decoder set (rule
 * constants) or from the state's arena (unescaped text), which is reset at
 * every lf_decode() call; the event is valid until the next call with the
 * same state. Nothing is allocated per record.
 *
 * Threads: a decoder set is immutable after loading and may be shared; a
 * lf_decode_state_t belongs to one thread.
 */
#ifndef LF_DECODE_H
#define LF_DECODE_H

#include "lf_error.h"
#include "lf_event.h"

#include <stddef.h>

/* A bump allocator with a fixed capacity, reset per record. */
typedef struct lf_arena {
    char *data;
    size_t used, cap;
} lf_arena_t;

lf_err_t lf_arena_init(lf_arena_t *arena, size_t cap);
void lf_arena_free(lf_arena_t *arena);
static inline void lf_arena_reset(lf_arena_t *arena)
{
    arena->used = 0;
}
/* n bytes, or NULL when the arena is full (the decoder then fails the
 * record with a reason rather than growing). */
char *lf_arena_alloc(lf_arena_t *arena, size_t n);

/* The decoders known to a process: built-ins plus rule files. Opaque. */
typedef struct lf_decoders lf_decoders_t;

/* Loads every *.yaml file of dir (in name order) on top of the built-in
 * decoders; dir NULL loads the built-ins only. Every bad entry is reported
 * in errstr as "file:line:column: path: what" (one per line, as many as
 * fit) and the call fails with LF_ECONFIG; LF_ENOTFOUND when dir cannot be
 * opened. */
lf_err_t lf_decoders_load(const char *dir, lf_decoders_t **out, char *errstr, size_t errlen);
void lf_decoders_free(lf_decoders_t *decoders);
/* Decoder ids run from 1 to lf_decoders_count(); 0 means none. */
int lf_decoders_count(const lf_decoders_t *decoders);
const char *lf_decoders_name(const lf_decoders_t *decoders, int id);
/* Where the decoder comes from: "built-in" or "file.yaml:line". */
const char *lf_decoders_origin(const lf_decoders_t *decoders, int id);
/* The id of the decoder with that name, 0 when there is none. */
int lf_decoders_find(const lf_decoders_t *decoders, const char *name);
/* Number of rule files read. */
int lf_decoders_file_count(const lf_decoders_t *decoders);

/* Per-thread working memory: the arena, regex match data, auditd join. */
typedef struct lf_decode_state lf_decode_state_t;

/* arena_bytes bounds unescaped text per record (1 MiB is plenty). */
lf_err_t lf_decode_state_new(const lf_decoders_t *decoders, size_t arena_bytes,
                             lf_decode_state_t **out);
void lf_decode_state_free(lf_decode_state_t *state);

typedef struct lf_decode_ctx {
    int32_t tz_offset_min;         /* zone assumed for zone-less timestamps, minutes east */
    int64_t reference_ms;          /* the agent's read time, for year inference */
    const lf_decoders_t *decoders; /* NULL: framing only (syslog or raw) */
    lf_decode_state_t *state;      /* required when decoders is set */
    int format;                    /* 0: automatic; else the id of a decoder to force */
} lf_decode_ctx_t;

typedef struct lf_decode_result {
    const char *decoder; /* name of what took the record: "sshd", "syslog-3164", "raw" */
    int decoder_id;      /* its id in the set, 0 without a set */
    const char *error;   /* NULL, or why a decoder failed on the record */
    int failed_id;       /* the decoder that failed, 0 when none */
} lf_decode_result_t;

/* Fills ev (which the caller reset) from line. Sets lianfang.decoder_rule
 * when a rule matched and lianfang.decode_error when res->error is set.
 * Never fails. */
void lf_decode(const lf_decode_ctx_t *ctx, lf_str_t line, lf_event_t *ev, lf_decode_result_t *res);

/* Where a record came from: the wire batch header and the record. */
typedef struct lf_record_meta {
    lf_str_t agent_id, agency, host, source, path;
    int64_t read_time_ms; /* the agent's read time, 0 = unknown */
    int64_t ingest_ms;    /* now */
    uint64_t seq;
    uint64_t offset; /* byte offset in the file, UINT64_MAX = none */
    bool truncated;  /* cut by the agent */
} lf_record_meta_t;

/* What lianfangd stores for a record: lf_decode() plus the pipeline fields
 * (agent, organisation, host, dataset, file, sequence, ingest and read
 * times, event.kind, event.original, lianfang.decoder). When the record
 * has no timestamp of its own, @timestamp is the read time (flag
 * timestamp_from_ingest). lianfangd and lianfang-logtest both call this,
 * so the tool shows exactly what the server stores. ctx->reference_ms is
 * taken from meta. */
void lf_decode_event(const lf_decode_ctx_t *ctx, const lf_record_meta_t *meta, lf_str_t line,
                     lf_event_t *ev, lf_decode_result_t *res);

/* lf_decode() returning only the decoder's name. */
const char *lf_decode_record(const lf_decode_ctx_t *ctx, lf_str_t line, lf_event_t *ev);

/* Parses an RFC 3339 timestamp ("2026-03-10T09:02:00.123+08:00"; a missing
 * zone uses default_tz_min and sets *tz_assumed). Advances *pos past it.
 * Returns false when the text is not such a timestamp. */
bool lf_decode_rfc3339(const char *s, size_t len, size_t *pos, int32_t default_tz_min,
                       int64_t *epoch_ms, bool *tz_assumed);

/* Parses the timestamp forms devices write (RFC 3339, "2026/03/10 09:02:00",
 * "10/Mar/2026:09:02:00 +0800", "Mar 10 2026 09:02:00", "Mar 10 09:02:00",
 * epoch seconds/milliseconds/nanoseconds with optional fraction). Adds
 * YEAR_INFERRED / TZ_ASSUMED to *flags as applicable. */
bool lf_decode_time(const lf_decode_ctx_t *ctx, lf_str_t text, int64_t *epoch_ms, uint32_t *flags);

#endif
