/* agent_spool.h - the on-disk spool of records received from the network
 * (private to agent/).
 *
 * A syslog listener has no file the agent could re-read for a re-send, so
 * every record it receives is first appended to its spool: append-only
 * segment files `<16 hex digits>.seg` in state_dir/spool/<listener name>/.
 * From then on the spool is read exactly like a tailed file: batches are
 * journalled as byte ranges of a segment (the segment's dev+inode), produced,
 * and re-built byte for byte from the segment for every re-send. A segment is
 * deleted once the reader has passed it and no journal entry refers to it
 * (every batch in it is acknowledged).
 *
 * Record layout (little-endian):
 *   u8 magic 0xF5, u8 flags (LF_REC_TRUNCATED), u8 sender length, u8 0,
 *   u32 data length, sender bytes, data bytes.
 *
 * Durability (sync policy): `batch` fsyncs a segment before its new bytes
 * become readable, i.e. before they are journalled and produced; `interval`
 * does so on each timer tick; `off` never fsyncs (a machine crash may lose
 * the last records and the journal may refer to bytes that never reached the
 * disk: they are then reported lost). The writer never appends to a segment
 * that existed before the process started; a record cut short by a crash at
 * the end of such a segment is skipped (logged).
 *
 * Bounds: all spools of an agent share one budget (limits.spool_max_bytes):
 * bytes on disk plus bytes buffered. append() refuses a record that does not
 * fit unless forced (TCP data already read from a socket is forced, so the
 * spool may pass its budget by at most what was read before reading
 * stopped). The write buffer of a spool is bounded (LF_AGENT_SPOOL_WBUF).
 *
 * Not thread-safe: the loop thread owns every spool.
 */
#ifndef LF_AGENT_SPOOL_H
#define LF_AGENT_SPOOL_H

#include "agent_batch.h"
#include "lf_buf.h"
#include "lf_error.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_AGENT_SPOOL_MAGIC  0xF5u
#define LF_AGENT_SPOOL_HEADER 8u
#define LF_AGENT_SPOOL_WBUF   (256u * 1024u)

enum { LF_AGENT_SPOOL_SYNC_OFF = 0, LF_AGENT_SPOOL_SYNC_BATCH, LF_AGENT_SPOOL_SYNC_INTERVAL };

/* The budget shared by every spool of one agent. */
typedef struct lf_agent_spool_budget {
    uint64_t used; /* bytes in segments on disk + bytes buffered */
    uint64_t max;
} lf_agent_spool_budget_t;

typedef struct lf_agent_spool_seg {
    struct lf_agent_spool_seg *next; /* ascending number */
    uint64_t number;
    uint64_t dev, ino;
    uint64_t size;     /* bytes written */
    uint64_t readable; /* bytes the reader may read (synced as the policy requires) */
    bool sealed;       /* no more appends: complete once read */
    char *path;
} lf_agent_spool_seg_t;

typedef struct lf_agent_spool lf_agent_spool_t;

typedef struct lf_agent_spool_options {
    const char *dir;                 /* created when missing (its parent must exist) */
    uint64_t segment_bytes;          /* a segment is sealed once it reaches this size */
    int sync;                        /* LF_AGENT_SPOOL_SYNC_* */
    lf_agent_spool_budget_t *budget; /* shared, borrowed */
} lf_agent_spool_options_t;

/* Opens (creating) the spool directory and lists its segments; each one
 * found is sealed, its size counted in the budget. LF_EIO with errstr. */
lf_err_t lf_agent_spool_open(const lf_agent_spool_options_t *opts, lf_agent_spool_t **out,
                             char *errstr, size_t errlen);
/* Closes the spool: buffered records are written first (not synced). */
void lf_agent_spool_close(lf_agent_spool_t *sp);
const char *lf_agent_spool_dir(const lf_agent_spool_t *sp);

/* Buffers one record. LF_EFULL when it does not fit in the budget (and not
 * force), LF_EINVAL when sender is longer than 255 bytes, LF_EIO when the
 * buffer had to be written and that failed. */
lf_err_t lf_agent_spool_append(lf_agent_spool_t *sp, const char *data, uint32_t len, uint8_t flags,
                               lf_str_t sender, bool force);
/* Writes the buffer to the current segment (sealing it and starting the
 * next when it is full) and advances what is readable as the sync policy
 * allows; `tick` is the interval policy's timer. LF_EIO (errno kept): the
 * buffer is kept and the segment cut back to its last good size. */
lf_err_t lf_agent_spool_flush(lf_agent_spool_t *sp, bool tick);
/* Writes the buffer to the current segment like lf_agent_spool_flush()
 * without syncing: what is readable advances only with sync: off. Appends
 * that fill the buffer write it this way. */
lf_err_t lf_agent_spool_write(lf_agent_spool_t *sp);
/* Syncing off the writer's thread: returns a duplicate of the current
 * segment's descriptor (close it when done) to fdatasync() elsewhere, with
 * the segment's number and the size written so far, or -1 when nothing
 * waits for a sync (or sync: off). After a successful fdatasync,
 * lf_agent_spool_sync_done() makes the segment readable up to that size
 * (nothing when the segment is gone meanwhile). */
int lf_agent_spool_sync_take(lf_agent_spool_t *sp, uint64_t *number, uint64_t *upto);
void lf_agent_spool_sync_done(lf_agent_spool_t *sp, uint64_t number, uint64_t upto);
/* True when records are buffered or written but not yet readable. */
bool lf_agent_spool_dirty(const lf_agent_spool_t *sp);
/* Seals the segment being written (the next record starts a new one). */
void lf_agent_spool_seal(lf_agent_spool_t *sp);

/* Segments in ascending order; NULL when none. */
lf_agent_spool_seg_t *lf_agent_spool_first(lf_agent_spool_t *sp);
lf_agent_spool_seg_t *lf_agent_spool_find(lf_agent_spool_t *sp, uint64_t dev, uint64_t ino);
/* The agent no longer needs seg (the reader passed it and every batch in it
 * is acknowledged): a sealed segment is deleted and leaves the budget. */
void lf_agent_spool_release(lf_agent_spool_t *sp, lf_agent_spool_seg_t *seg);

/* Reading records back: one reader rule for fresh reading and re-sends. */
typedef struct lf_agent_spool_reader {
    int fd;
    size_t max_record;
    char *data;
    size_t cap, len, start;
    uint64_t base; /* segment offset of data[0] */
} lf_agent_spool_reader_t;

typedef struct lf_agent_spool_record {
    const char *data; /* borrowed from the reader until its next call */
    uint32_t len;
    uint8_t flags;
    lf_str_t sender;
    uint64_t offset, end; /* byte range of the record in its segment */
} lf_agent_spool_record_t;

lf_err_t lf_agent_spool_reader_init(lf_agent_spool_reader_t *r, size_t max_record);
void lf_agent_spool_reader_free(lf_agent_spool_reader_t *r);
void lf_agent_spool_reader_reset(lf_agent_spool_reader_t *r, int fd, uint64_t offset);
/* The next record that ends at or before limit. LF_ENOTFOUND: no whole
 * record before limit; LF_EPARSE: the bytes are not a record (bad magic,
 * longer than max_record); LF_EIO. */
lf_err_t lf_agent_spool_reader_next(lf_agent_spool_reader_t *r, uint64_t limit,
                                    lf_agent_spool_record_t *rec);
uint64_t lf_agent_spool_reader_pos(const lf_agent_spool_reader_t *r);

/* Appends records up to `limit` to the batch begun in wire (with
 * LF_WIRE_F_SENDERS) until a batch limit closes it. Returns LF_OK when a
 * limit closed it, else the reader's code. */
lf_err_t lf_agent_spool_fill(lf_agent_spool_reader_t *r, const lf_agent_batch_limits_t *limits,
                             uint64_t limit, lf_buf_t *wire, uint32_t *count, uint32_t *truncated);
/* Re-builds the wire batch of journal entry b (LF_AGENT_JBATCH_SPOOL) from
 * fd. LF_EPARSE when the bytes no longer hold b->count records. */
lf_err_t lf_agent_spool_rebuild(int fd, const lf_agent_batch_ids_t *ids, const lf_agent_jbatch_t *b,
                                lf_buf_t *wire);

/* Bytes and segments in state_dir/spool (for --status). */
void lf_agent_spool_usage(const char *state_dir, uint64_t *bytes, uint64_t *segments);

#endif
