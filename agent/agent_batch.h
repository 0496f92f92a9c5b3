/* agent_batch.h - turning a journal entry back into its wire batch, and
 * finding the file it came from (private to agent/).
 *
 * A journal entry records the exact byte range of a file; re-reading that
 * range with the same reader rules and the same header yields the same wire
 * batch, byte for byte, with the same sequence numbers.
 */
#ifndef LF_AGENT_BATCH_H
#define LF_AGENT_BATCH_H

#include "agent_encoding.h"
#include "agent_multiline.h"
#include "agent_reader.h"
#include "agent_state.h"
#include "lf_buf.h"
#include "lf_wire.h"

#include <stdint.h>

/* Header identity of a batch: the strings that are not in the journal. */
typedef struct lf_agent_batch_ids {
    lf_str_t agent_id;
    lf_str_t agency;
    lf_str_t host;
    uint64_t epoch_seq;
} lf_agent_batch_ids_t;

/* Fills a wire header for journal entry b. */
void lf_agent_batch_header(const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                           lf_wire_batch_header_t *h);

/* How a source's lines become records: joined (multi-line) and converted
 * (encoding); NULL members (or a NULL pointer) = one line, one record, as
 * written. */
typedef struct lf_agent_recfmt {
    lf_agent_multiline_t *ml;
    lf_agent_encoding_t *enc;
} lf_agent_recfmt_t;

typedef struct lf_agent_batch_limits {
    uint32_t max_records; /* batch_max_records */
    uint64_t max_bytes;   /* batch_max_bytes */
    uint32_t max_record;  /* max_record_bytes, as the reader was made with */
} lf_agent_batch_limits_t;

/* Appends records from r (fresh reading) to the batch begun in wire until a
 * limit closes it or the file has nothing more. A batch is closed when one
 * more record of max_record bytes might not fit in max_bytes (a batch always
 * takes at least one record). Adds to *count and *truncated. Returns LF_OK
 * when a limit closed the batch, else the reader's code (LF_EAGAIN,
 * LF_ENOTFOUND, LF_EIO) or LF_EFULL from the wire buffer. */
lf_err_t lf_agent_batch_fill(lf_agent_reader_t *r, const lf_agent_batch_limits_t *limits,
                             bool flush_partial, const lf_agent_recfmt_t *fmt, lf_buf_t *wire,
                             uint32_t *count, uint32_t *truncated);

/* Re-reads [b->off_start, b->off_end) of fd (borrowed) and writes the wire
 * batch into wire. LF_EPARSE when the bytes no longer split into b->count
 * records (the file was truncated or rewritten), LF_EIO, LF_ENOMEM, LF_EFULL
 * (wire too small). */
lf_err_t lf_agent_batch_rebuild(int fd, const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                                const lf_agent_recfmt_t *fmt, lf_buf_t *wire);

/* Writes the placeholder batch of a lost journal entry: b->count empty
 * records flagged LF_REC_LOST without offsets, so lianfangd can store the
 * gap and its watermark can move past it. */
lf_err_t lf_agent_batch_lost(const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                             lf_buf_t *wire);

/* Opens the file with identity (dev, ino) for reading: first `path`, then
 * every entry of path's directory (a rotated name). Returns the fd (O_CLOEXEC)
 * or -1 when it is gone; *found_path (may be NULL) receives a malloc'ed path
 * of the file opened. */
int lf_agent_file_open_by_id(const char *path, uint64_t dev, uint64_t ino, char **found_path);

#endif
