/* lf_wire_rules.h - the agent rule set message (`LFY1`, topic `control`).
 *
 * lianfangd publishes the YARA rule set that agents scan files with as one
 * message: the rule files (name and text) of the set, when it was
 * published, and the SHA-256 of the files section, which is the set's
 * identity (its "version"). Agents take the newest message of the topic's
 * partition 0, verify the digest, compile the rules and keep the previous
 * set when they do not compile. Byte layout: docs/protocol.md.
 *
 * Parsers validate every length and name before use; all integers are
 * little-endian. Parsed strings borrow from the message buffer.
 */
#ifndef LF_WIRE_RULES_H
#define LF_WIRE_RULES_H

#include "lf_buf.h"
#include "lf_error.h"
#include "lf_str.h"

#include <stdint.h>

#define LF_WIRE_RULES_MAGIC     "LFY1"
#define LF_WIRE_RULES_VERSION   1
#define LF_WIRE_RULES_FIXED     48u /* bytes before the files section */
#define LF_WIRE_RULES_MAX_FILES 1024u
#define LF_WIRE_RULES_MAX_NAME  255u
#define LF_WIRE_RULES_KEY       "yara-agent" /* the Kafka key (compacted topic) */

typedef struct lf_wire_rules {
    uint8_t sha256[32]; /* of the files section: bytes [LF_WIRE_RULES_FIXED, end) */
    int64_t created_ms; /* when lianfangd built the set */
    uint32_t count;     /* rule files */
    const uint8_t *files;
    const uint8_t *end;
} lf_wire_rules_t;

typedef struct lf_wire_rule_file {
    lf_str_t name; /* a plain file name: [A-Za-z0-9._-], not starting with '.' */
    lf_str_t text; /* the YARA source */
} lf_wire_rule_file_t;

typedef struct lf_wire_rules_iter {
    const uint8_t *p;
    uint32_t index;
} lf_wire_rules_iter_t;

/* Starts a rule set message in buf (which is reset). */
lf_err_t lf_wire_rules_begin(lf_buf_t *buf, int64_t created_ms);
/* Appends one rule file. LF_EINVAL when the name is not a plain file name
 * or the text is longer than 4 GiB; LF_EFULL when buf's maximum is passed. */
lf_err_t lf_wire_rules_add(lf_buf_t *buf, lf_str_t name, const void *text, size_t len);
/* Writes the file count and the digest of the files section (the caller
 * computes it over buf->data + LF_WIRE_RULES_FIXED, buf->len -
 * LF_WIRE_RULES_FIXED). */
void lf_wire_rules_finish(lf_buf_t *buf, uint32_t count, const uint8_t sha256[32]);

/* Parses and fully validates a message: magic, version, no unknown flags,
 * every file's name and length, count <= LF_WIRE_RULES_MAX_FILES, no name
 * twice, nothing after the last file. The digest is not checked here
 * (common/ links no hash library): the receiver verifies it. LF_EPARSE. */
lf_err_t lf_wire_rules_parse(const void *data, size_t len, lf_wire_rules_t *rules);
void lf_wire_rules_iter(const lf_wire_rules_t *rules, lf_wire_rules_iter_t *it);
/* LF_OK with *file filled, or LF_ENOTFOUND after the last file. */
lf_err_t lf_wire_rules_next(const lf_wire_rules_t *rules, lf_wire_rules_iter_t *it,
                            lf_wire_rule_file_t *file);
/* True when name is a plain file name a receiver may write in its state
 * directory: 1..LF_WIRE_RULES_MAX_NAME bytes of [A-Za-z0-9._-], not
 * starting with '.'. */
bool lf_wire_rules_name_ok(lf_str_t name);
/* The set's version as text: the first 16 hex digits of the digest. */
void lf_wire_rules_version(const uint8_t sha256[32], char out[17]);

#endif
