/* agent_journald.h - reading the systemd journal (sd-journal) into wire
 * batches (private to agent/).
 *
 * A journald source is one sd_journal handle (the local system journal, or
 * the journal files of one directory) with optional field matches. Each
 * entry becomes one record: a JSON object of a fixed list of journal fields
 * in a fixed order (LF_AGENT_JOURNALD_FIELDS), so formatting the same entry
 * twice gives the same bytes. A journal batch remembers the cursors of its
 * first and last entry; a re-send seeks to the first cursor with a second
 * handle of the same journal and matches, re-reads `count` entries and
 * checks that the last one is the journalled last cursor: the same records
 * under the same sequence numbers. An entry that is gone (vacuumed, its file
 * rotated away and deleted) makes the batch lost.
 *
 * Record: {"__REALTIME_TIMESTAMP":"<us>","_HOSTNAME":"web01",...,"MESSAGE":"..."}
 * Fields the entry lacks are left out; values are JSON strings (control
 * characters escaped as \u00XX, bytes >= 0x80 copied as they are, so a
 * message that is not UTF-8 reaches lianfangd unchanged). A record longer
 * than max_record is shortened by cutting MESSAGE (at a character boundary)
 * and flagged LF_REC_TRUNCATED; it stays valid JSON.
 *
 * Not thread-safe: the agent's loop thread owns every source.
 */
#ifndef LF_AGENT_JOURNALD_H
#define LF_AGENT_JOURNALD_H

#include "agent_batch.h"
#include "agent_state.h"
#include "lf_agent.h"
#include "lf_buf.h"
#include "lf_error.h"

#include <stdbool.h>
#include <stdint.h>

/* The journal fields of a record, in record order; MESSAGE comes last. */
#define LF_AGENT_JOURNALD_FIELDS(X)                                                                \
    X("_HOSTNAME")                                                                                 \
    X("SYSLOG_IDENTIFIER")                                                                         \
    X("_COMM")                                                                                     \
    X("_PID")                                                                                      \
    X("_UID")                                                                                      \
    X("PRIORITY")                                                                                  \
    X("SYSLOG_FACILITY")                                                                           \
    X("_SYSTEMD_UNIT")                                                                             \
    X("_SYSTEMD_USER_UNIT")                                                                        \
    X("_TRANSPORT")                                                                                \
    X("_EXE")                                                                                      \
    X("_CMDLINE")                                                                                  \
    X("MESSAGE")

typedef struct lf_agent_journald lf_agent_journald_t;

/* Opens the journal of cfg (borrowed for the source's lifetime) twice, one
 * handle to read and one to re-read, and adds the matches. max_record
 * bounds the data read of one field. LF_ECONFIG (bad match), LF_EIO (the
 * journal cannot be opened: errstr names the directory and the reason). */
lf_err_t lf_agent_journald_open(const lf_agent_journald_config_t *cfg, uint32_t max_record,
                                lf_agent_journald_t **out, char *errstr, size_t errlen);
void lf_agent_journald_close(lf_agent_journald_t *jd);

/* The fd that becomes readable when the journal changes (sd_journal_get_fd)
 * and the poll events to wait for; -1 when the journal offers none (the
 * agent's poll timer then is the only wake-up). */
int lf_agent_journald_fd(lf_agent_journald_t *jd, int *events);
/* Consumes the change notifications (sd_journal_process). */
void lf_agent_journald_process(lf_agent_journald_t *jd);

/* Positions the reader. With a cursor: after the entry it names; when that
 * entry is gone (vacuumed), at the first entry after where it was, and
 * *found = false. Without: at the beginning, or at the end (after the
 * entry that is last now) when at_end. checkpoint (may be NULL; at least
 * LF_AGENT_CURSOR_MAX + 1 bytes) receives the cursor the position is after,
 * "" when it is the beginning. LF_EIO. */
lf_err_t lf_agent_journald_seek(lf_agent_journald_t *jd, const char *cursor, bool at_end,
                                char *checkpoint, bool *found);

/* Appends the next entries to the batch begun in wire until a batch limit
 * closes it (LF_OK) or the journal has nothing more (LF_ENOTFOUND). The
 * limit rule is lf_agent_batch_fill()'s. With *count > 0, *first and *last
 * are the cursors of the first and last entry added (valid until the next
 * call). LF_EIO (a journal read error; errno set), LF_EFULL (wire). */
lf_err_t lf_agent_journald_fill(lf_agent_journald_t *jd, const lf_agent_batch_limits_t *limits,
                                lf_buf_t *wire, uint32_t *count, uint32_t *truncated,
                                lf_str_t *first, lf_str_t *last);

/* Re-builds the wire batch of journal entry b (LF_AGENT_JBATCH_JOURNALD)
 * whose first and last entries have the cursors first and last. LF_EPARSE
 * when the entries are no longer there as journalled (the first or the
 * last is gone, or fewer follow), LF_EIO, LF_EFULL. */
lf_err_t lf_agent_journald_rebuild(lf_agent_journald_t *jd, const lf_agent_batch_ids_t *ids,
                                   const lf_agent_jbatch_t *b, const char *first, const char *last,
                                   lf_buf_t *wire);

/* The wire batch path of a journald source: its directory, or "journald". */
const char *lf_agent_journald_path(const lf_agent_journald_config_t *cfg);

/* Formats one entry, given as its "FIELD=value" data items, into out
 * (reset first) as the record described above. realtime_us is the entry's
 * __REALTIME_TIMESTAMP. *truncated tells whether MESSAGE was cut to fit
 * max_record. Exposed for tests; the reader formats through it. LF_EFULL
 * when even the record without MESSAGE exceeds max_record. */
typedef struct lf_agent_journald_item {
    const char *data; /* "FIELD=value" */
    size_t len;
} lf_agent_journald_item_t;
lf_err_t lf_agent_journald_format(uint64_t realtime_us, const lf_agent_journald_item_t *items,
                                  size_t nitems, uint32_t max_record, lf_buf_t *out,
                                  bool *truncated);

#endif
