/* agent_multiline.h - joins the lines of one multi-line record (private to
 * agent/).
 *
 * A source with `multiline_start` set (a POSIX extended regular
 * expression) treats a line that matches it as the first line of a record
 * and every following line that does not as its continuation: Java stack
 * traces (start: a timestamp), indented continuation lines (start:
 * `^[^[:space:]]`). The lines are joined with '\n'; a record longer than
 * max_record is cut there and flagged truncated (its further lines are
 * still consumed). A record is complete when the next start line is read,
 * or, when the caller flushes (the file was idle for partial_line_timeout,
 * or a journal byte range ends), at the end of what is there. Until then
 * its lines are left unread, so the reader position, the journal's byte
 * ranges and a re-send all see whole records: a re-send joins the same
 * lines into the same records. Lines before the first start line are
 * records of their own.
 * Not thread-safe; one per source, owned by the loop thread.
 */
#ifndef LF_AGENT_MULTILINE_H
#define LF_AGENT_MULTILINE_H

#include "agent_reader.h"
#include "lf_error.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct lf_agent_multiline {
    regex_t start;
    bool compiled;
    char *buf; /* the record being joined */
    size_t cap, max_record;
} lf_agent_multiline_t;

/* Compiles the start pattern. LF_ECONFIG with the regex error in errstr,
 * LF_ENOMEM. */
lf_err_t lf_agent_multiline_init(lf_agent_multiline_t *ml, const char *pattern, size_t max_record,
                                 char *errstr, size_t errlen);
void lf_agent_multiline_free(lf_agent_multiline_t *ml);
/* The next whole record from r (same contract as lf_agent_reader_next;
 * *out's data points into ml). */
lf_err_t lf_agent_multiline_next(lf_agent_multiline_t *ml, lf_agent_reader_t *r, uint64_t limit,
                                 bool flush, lf_agent_line_t *out);

#endif
