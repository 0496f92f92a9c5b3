/* lf_json.h - a streaming JSON writer into an lf_buf.
 *
 * Strings are written with full escaping. Bytes that are not valid UTF-8 are
 * replaced by U+FFFD and reported through lf_json_t.invalid_utf8 so the
 * caller can flag the record and keep the original bytes elsewhere (bad
 * input is kept, never silently rewritten). The writer tracks commas itself;
 * nesting depth is bounded by LF_JSON_MAX_DEPTH. Errors are sticky: after
 * the first failed append every call is a no-op and lf_json_error() reports
 * it.
 */
#ifndef LF_JSON_H
#define LF_JSON_H

#include "lf_buf.h"

#include <stdbool.h>
#include <stdint.h>

#define LF_JSON_MAX_DEPTH 32

typedef struct lf_json {
    lf_buf_t *out;
    int depth;
    bool need_comma[LF_JSON_MAX_DEPTH];
    bool after_key;
    bool invalid_utf8; /* set when a string had invalid UTF-8 */
    lf_err_t err;
} lf_json_t;

void lf_json_init(lf_json_t *js, lf_buf_t *out);
void lf_json_object_begin(lf_json_t *js);
void lf_json_object_end(lf_json_t *js);
void lf_json_array_begin(lf_json_t *js);
void lf_json_array_end(lf_json_t *js);
void lf_json_key(lf_json_t *js, const char *key);
/* A key the caller knows needs no escaping (e.g. an ECS path component). */
void lf_json_key_trusted(lf_json_t *js, const char *key, size_t len);
void lf_json_string(lf_json_t *js, const char *s, size_t len);
void lf_json_cstring(lf_json_t *js, const char *s);
void lf_json_int(lf_json_t *js, int64_t v);
void lf_json_uint(lf_json_t *js, uint64_t v);
void lf_json_double(lf_json_t *js, double v);
void lf_json_bool(lf_json_t *js, bool v);
void lf_json_null(lf_json_t *js);
/* Inserts already-serialised JSON as one value (no validation). */
void lf_json_raw(lf_json_t *js, const char *json, size_t len);
/* Writes an RFC 3339 UTC timestamp string from epoch milliseconds. */
void lf_json_timestamp_ms(lf_json_t *js, int64_t epoch_ms);
static inline lf_err_t lf_json_error(const lf_json_t *js)
{
    return js->err;
}

/* Appends `s` escaped as JSON string content (no quotes) to out.
 * Returns true when s was valid UTF-8. */
bool lf_json_escape(lf_buf_t *out, const char *s, size_t len, lf_err_t *err);
/* Returns true when the bytes are valid UTF-8 (no overlongs, no surrogates). */
bool lf_utf8_valid(const char *s, size_t len);

#endif
