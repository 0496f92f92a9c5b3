/* lf_decoder.h - private interface between the decoding engine
 * (lf_decode.c) and the decoders in ingest/decode/.
 *
 * A decoder is one struct: its name, where it came from, an optional cheap
 * probe, and a decode function over the framed body. Built-in decoders are
 * rows of lf_builtin_decoders[]; rule files add decoders whose probe and
 * decode come from rules.c. Decoders return OK (took the record), NOMATCH
 * (not mine: the engine restores the event and tries the next) or FAIL
 * (mine but broken: the engine restores the event, keeps in->error and
 * stops).
 */
#ifndef LF_DECODER_H
#define LF_DECODER_H

#include "lf_decode.h"

#include <pcre2.h>

typedef enum lf_dec_rc { LF_DEC_OK, LF_DEC_NOMATCH, LF_DEC_FAIL } lf_dec_rc_t;

typedef struct lf_dec_input {
    const lf_decode_ctx_t *ctx;
    lf_decode_state_t *state;
    lf_arena_t *arena;
    lf_str_t line;     /* the whole record */
    lf_str_t body;     /* what framing left: the syslog message, or the record */
    lf_str_t program;  /* syslog tag / APP-NAME, may be empty */
    const char *error; /* out: why, on FAIL */
    const char *rule;  /* out: the rule that matched, optional */
} lf_dec_input_t;

typedef struct lf_decoder lf_decoder_t;
typedef lf_dec_rc_t (*lf_decoder_fn)(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
typedef bool (*lf_probe_fn)(const lf_decoder_t *dec, const lf_dec_input_t *in);

struct lf_decoder {
    char *name;
    char *origin; /* "built-in" or "file:line" */
    int id;
    bool framing;         /* raw / syslog: names only, never tried for content */
    lf_probe_fn probe;    /* NULL: always tried */
    lf_decoder_fn decode; /* NULL for framing decoders */
    void *data;           /* rules.c: the compiled rule decoder */
};

struct lf_decoders {
    lf_decoder_t *list; /* list[0] unused; ids are indexes */
    int count;          /* highest id */
    int cap;
    int files;
    uint32_t max_ovector; /* largest capture count of any regex, for match data */
};

/* Joined auditd context: fields of the last SYSCALL record, copied. */
#define LF_AUDIT_JOIN_BYTES 2048
typedef struct lf_audit_join {
    char serial[64];
    size_t serial_len;
    char buf[LF_AUDIT_JOIN_BYTES];
    size_t used;
    lf_str_t exe, comm, pid, ppid, uid, auid, euid, success, key;
} lf_audit_join_t;

struct lf_decode_state {
    lf_arena_t arena;
    pcre2_match_data *match;
    lf_audit_join_t audit;
};

/* Built-in content decoders, in the order they are tried. */
typedef struct lf_builtin_decoder {
    const char *name;
    lf_probe_fn probe;
    lf_decoder_fn decode;
} lf_builtin_decoder_t;

lf_dec_rc_t lf_cef_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
bool lf_cef_probe(const lf_decoder_t *dec, const lf_dec_input_t *in);
lf_dec_rc_t lf_leef_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
bool lf_leef_probe(const lf_decoder_t *dec, const lf_dec_input_t *in);
lf_dec_rc_t lf_json_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
bool lf_json_probe(const lf_decoder_t *dec, const lf_dec_input_t *in);
/* Framing of journal entries from the agent's journald sources
 * (decode/journald.c): fills the header fields and returns true with the
 * MESSAGE as body and SYSLOG_IDENTIFIER as program; false (ev possibly
 * partly filled: the caller restores it) when line is not one. arena may be
 * NULL (escaped values are then kept escaped). */
bool lf_journald_frame(lf_str_t line, lf_arena_t *arena, lf_event_t *ev, lf_str_t *body,
                       lf_str_t *program);
lf_dec_rc_t lf_winxml_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
bool lf_winxml_probe(const lf_decoder_t *dec, const lf_dec_input_t *in);
lf_dec_rc_t lf_auditd_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev);
bool lf_auditd_probe(const lf_decoder_t *dec, const lf_dec_input_t *in);

/* Rule files (rules.c). */
lf_err_t lf_rules_load_file(lf_decoders_t *set, const char *path, char *errstr, size_t errlen,
                            size_t *errused);
void lf_rules_free_data(void *data);

/* Adds a decoder to the set; returns it, or NULL without memory. */
lf_decoder_t *lf_decoders_add(lf_decoders_t *set, const char *name, const char *origin);

/* ---- helpers shared by decoders (fields.c) ------------------------------- */

/* Sets field id from text, converting to its kind: INT parsed in decimal,
 * IP validated (a host name given for source.ip/destination.ip goes to
 * source.domain/destination.domain), TS parsed by lf_decode_time. Empty
 * values and "-" are treated as absent. false when not set. */
bool lf_dec_set(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, lf_str_t value);
/* Signed decimal, whole string. */
bool lf_dec_int(lf_str_t s, int64_t *out);
/* Copies s into the arena; LF_STR_NULL when full. */
lf_str_t lf_dec_dup(lf_dec_input_t *in, lf_str_t s);
/* Appends ",kw" to a LIST field (or sets it) using the arena. */
void lf_dec_list_add(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, const char *kw);
/* Finds needle in hay. */
const char *lf_dec_memmem(lf_str_t hay, const char *needle, size_t nlen);

/* Windows events (windows.c): the mapping shared by JSON and XML input. */
typedef struct lf_win_pair {
    lf_str_t name, value;
} lf_win_pair_t;
typedef struct lf_win_event {
    lf_str_t event_id, channel, computer, provider, record_id, time, message, level;
    lf_win_pair_t data[96];
    size_t ndata;
} lf_win_event_t;
/* Fills ev from a collected Windows event; returns the decoder result. */
lf_dec_rc_t lf_win_apply(lf_dec_input_t *in, const lf_win_event_t *we, lf_event_t *ev);

#endif
