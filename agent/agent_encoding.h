/* agent_encoding.h - converts records of a legacy-encoded file to UTF-8
 * (private to agent/).
 *
 * Taiwanese systems of an older generation write Big5 (or its Microsoft
 * form CP950, or Big5-HKSCS). A source with `encoding:` set has each record
 * converted to UTF-8 with iconv as it is read, both on the first send and
 * on a re-send, so both carry the same bytes. A record with a byte
 * sequence invalid in its encoding is sent unchanged: lianfangd then flags
 * it invalid_utf8 and keeps the exact original (lianfang.original_base64).
 * A converted record longer than max_record is cut at a UTF-8 character
 * boundary and flagged truncated. ASCII-only records are not touched.
 * Not thread-safe; one converter per source, owned by the loop thread.
 */
#ifndef LF_AGENT_ENCODING_H
#define LF_AGENT_ENCODING_H

#include "agent_reader.h"
#include "lf_error.h"

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The `encoding:` choices of a file source, in the config's order. */
enum { LF_AGENT_ENC_UTF8 = 0, LF_AGENT_ENC_BIG5, LF_AGENT_ENC_CP950, LF_AGENT_ENC_BIG5HKSCS };
extern const char *const lf_agent_encoding_choices[];

typedef struct lf_agent_encoding {
    iconv_t cd;
    char *buf;
    size_t cap;
    size_t max_record;
    uint64_t failures; /* records left unconverted (invalid in their encoding) */
} lf_agent_encoding_t;

/* Opens a converter for one of lf_agent_encoding_choices (not UTF-8).
 * LF_EINVAL when the C library has no such converter, LF_ENOMEM. */
lf_err_t lf_agent_encoding_init(lf_agent_encoding_t *e, int encoding, size_t max_record);
void lf_agent_encoding_free(lf_agent_encoding_t *e);
/* Converts *line in place (its data then points into e's buffer). Returns
 * false when the record is invalid in the encoding (line unchanged). */
bool lf_agent_encoding_apply(lf_agent_encoding_t *e, lf_agent_line_t *line);

#endif
