/* agent_multiline.c - multi-line records (agent_multiline.h). */
#include "agent_multiline.h"

#include "lf_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lf_err_t lf_agent_multiline_init(lf_agent_multiline_t *ml, const char *pattern, size_t max_record,
                                 char *errstr, size_t errlen)
{
    memset(ml, 0, sizeof *ml);
    int rc = regcomp(&ml->start, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &ml->start, msg, sizeof msg);
        snprintf(errstr, errlen, "multiline_start \"%s\": %s", pattern, msg);
        return LF_ECONFIG;
    }
    ml->compiled = true;
    ml->max_record = max_record;
    ml->cap = max_record + 1;
    ml->buf = malloc(ml->cap);
    if (!ml->buf) {
        lf_agent_multiline_free(ml);
        return LF_ENOMEM;
    }
    return LF_OK;
}

void lf_agent_multiline_free(lf_agent_multiline_t *ml)
{
    if (ml->compiled)
        regfree(&ml->start);
    ml->compiled = false;
    free(ml->buf);
    ml->buf = NULL;
}

/* regexec needs a NUL-terminated line: match on a bounded copy. */
static bool is_start(lf_agent_multiline_t *ml, const lf_agent_line_t *l)
{
    char tmp[1024];
    size_t n = l->len < sizeof tmp - 1 ? l->len : sizeof tmp - 1;
    memcpy(tmp, l->data, n);
    tmp[n] = '\0';
    return regexec(&ml->start, tmp, 0, NULL, 0) == 0;
}

static void append(lf_agent_multiline_t *ml, lf_agent_line_t *rec, const char *p, size_t n)
{
    size_t room = ml->max_record - rec->len;
    if (n > room) {
        n = room;
        rec->flags |= LF_REC_TRUNCATED;
    }
    memcpy(ml->buf + rec->len, p, n);
    rec->len += n;
}

lf_err_t lf_agent_multiline_next(lf_agent_multiline_t *ml, lf_agent_reader_t *r, uint64_t limit,
                                 bool flush, lf_agent_line_t *out)
{
    lf_agent_line_t l;
    lf_err_t rc = lf_agent_reader_next(r, limit, flush, &l);
    if (rc != LF_OK)
        return rc;
    lf_agent_line_t rec = {.data = ml->buf, .offset = l.offset, .end = l.end, .flags = l.flags};
    append(ml, &rec, l.data, l.len);
    for (;;) {
        rc = lf_agent_reader_next(r, limit, flush, &l);
        if (rc == LF_OK && !is_start(ml, &l)) {
            append(ml, &rec, "\n", 1);
            append(ml, &rec, l.data, l.len);
            rec.flags |= l.flags;
            rec.end = l.end;
            continue;
        }
        if (rc == LF_OK) {
            /* The next record begins: leave its first line unread. */
            lf_agent_reader_rewind(r, l.offset);
            break;
        }
        if (rc == LF_ENOTFOUND && flush)
            break; /* idle or end of the byte range: the record is whole */
        /* More lines may follow: take nothing now. */
        lf_agent_reader_rewind(r, rec.offset);
        return rc == LF_ENOTFOUND ? LF_EAGAIN : rc;
    }
    *out = rec;
    return LF_OK;
}
