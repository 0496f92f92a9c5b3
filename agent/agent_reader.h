/* agent_reader.h - splits a file into records (private to agent/).
 *
 * The one line splitter of the agent. Fresh reading and the re-send of a
 * journal batch both run it over the same bytes, so a re-sent batch is
 * byte-identical to the first send: same records, same flags, same offsets.
 *
 * Rules:
 *  - A record is the bytes up to '\n'; one trailing '\r' is stripped.
 *  - A record longer than max_record bytes (after stripping) is cut to
 *    max_record bytes and flagged LF_REC_TRUNCATED; the rest of the line is
 *    skipped. The record's offsets still cover the whole line.
 *  - The bytes after the last '\n' (a partial line) are only returned when
 *    the caller asks to flush them (the file was idle long enough, or a
 *    journal byte range ends there).
 *
 * Memory is bounded: max_record + 2 + a fixed read chunk, whatever the
 * length of a line. Reads use pread(), so the fd's file position is unused.
 * Not thread-safe; one reader per file, owned by the loop thread.
 */
#ifndef LF_AGENT_READER_H
#define LF_AGENT_READER_H

#include "lf_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_AGENT_READ_CHUNK (64u * 1024u)
/* Bytes before the position kept across refills, for lf_agent_reader_tail(). */
#define LF_AGENT_READER_KEEP 64u

typedef struct lf_agent_reader {
    int fd;
    size_t max_record;
    char *data;
    size_t cap;
    size_t len;          /* bytes in data */
    size_t start;        /* first unconsumed byte in data (normal mode) */
    uint64_t base;       /* file offset of data[0] (normal mode) */
    bool skipping;       /* inside an over-long line: data[0..max_record) is its head */
    uint64_t line_off;   /* skipping: file offset where the long line starts */
    uint64_t scan_off;   /* skipping: next file offset to scan for '\n' */
    uint64_t valid_from; /* data maps the file faithfully from this offset on */
} lf_agent_reader_t;

typedef struct lf_agent_line {
    const char *data; /* borrowed from the reader: valid until its next call */
    size_t len;
    uint64_t offset; /* file offset of the line's first byte */
    uint64_t end;    /* file offset after the line (after its '\n') */
    uint8_t flags;   /* LF_REC_TRUNCATED */
} lf_agent_line_t;

/* Allocates the buffer; LF_ENOMEM. The reader starts detached (fd -1). */
lf_err_t lf_agent_reader_init(lf_agent_reader_t *r, size_t max_record);
void lf_agent_reader_free(lf_agent_reader_t *r);
/* Points the reader at fd (borrowed) from file offset `offset`, dropping
 * anything buffered. */
void lf_agent_reader_reset(lf_agent_reader_t *r, int fd, uint64_t offset);
/* Returns the next record that ends at or before `limit` (UINT64_MAX: end of
 * file). LF_OK with *line filled; LF_EAGAIN when a partial line is pending
 * and `flush_partial` is false; LF_ENOTFOUND when nothing is left; LF_EIO
 * on a read error (errno kept). */
lf_err_t lf_agent_reader_next(lf_agent_reader_t *r, uint64_t limit, bool flush_partial,
                              lf_agent_line_t *line);
/* Goes back to file offset `offset` (a line start returned before): from
 * the buffer when it still holds those bytes, else by re-reading. */
void lf_agent_reader_rewind(lf_agent_reader_t *r, uint64_t offset);
/* File offset after the last returned record: where reading resumes. */
uint64_t lf_agent_reader_pos(const lf_agent_reader_t *r);
/* Copies into out up to n (at most LF_AGENT_READER_KEEP) of the bytes just
 * before lf_agent_reader_pos() as the reader read them from the file;
 * returns how many. Fewer when it was reset (or finished an over-long
 * line) closer to the position than that, 0 inside an over-long line. Lets
 * the caller recognise a copy of the file after it was truncated. */
size_t lf_agent_reader_tail(const lf_agent_reader_t *r, char *out, size_t n);

#endif
