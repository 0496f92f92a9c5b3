/* agent_journald.c - journald sources: sd-journal reading, record format,
 * re-reading a journalled batch. See agent_journald.h. */
#include "agent_journald.h"

#include "lf_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

struct lf_agent_journald {
    const lf_agent_journald_config_t *cfg;
    sd_journal *j;  /* reading */
    sd_journal *rj; /* re-reading journalled batches */
    uint32_t max_record;
    lf_buf_t rec; /* one formatted record */
    char first[LF_AGENT_CURSOR_MAX + 1];
    char last[LF_AGENT_CURSOR_MAX + 1];
};

static const char *const fields[] = {
#define LF_AGENT_JOURNALD_FIELD_NAME(name) name,
    LF_AGENT_JOURNALD_FIELDS(LF_AGENT_JOURNALD_FIELD_NAME)
#undef LF_AGENT_JOURNALD_FIELD_NAME
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* ---- record format ------------------------------------------------------- */

/* Length of the UTF-8 sequence starting at s (at most n bytes), or 1 for a
 * byte that does not start a well-formed sequence (copied alone). */
static size_t utf8_unit(const unsigned char *s, size_t n)
{
    size_t want = s[0] >= 0xF0 && s[0] <= 0xF4   ? 4
                  : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                  : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                                                 : 1;
    if (want > n)
        return 1;
    for (size_t i = 1; i < want; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return want;
}

/* Appends s escaped as the inside of a JSON string while out stays within
 * limit bytes; a unit (an escape, a UTF-8 character) is never split.
 * Returns false when s was cut. */
static bool escape_bounded(lf_buf_t *out, const char *s, size_t n, size_t limit)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        char esc[8];
        size_t elen = 0, used = 1;
        const char *unit = esc;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            elen = 2;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            elen = 6;
        } else {
            used = c < 0x80 ? 1 : utf8_unit(p + i, n - i);
            unit = s + i;
            elen = used;
        }
        if (out->len + elen > limit)
            return false;
        if (lf_buf_append(out, unit, elen) != LF_OK)
            return false;
        i += used;
    }
    return true;
}

static const lf_agent_journald_item_t *find_item(const lf_agent_journald_item_t *items,
                                                 size_t nitems, const char *field)
{
    size_t fl = strlen(field);
    for (size_t i = 0; i < nitems; i++)
        if (items[i].len > fl && items[i].data[fl] == '=' && memcmp(items[i].data, field, fl) == 0)
            return &items[i];
    return NULL;
}

lf_err_t lf_agent_journald_format(uint64_t realtime_us, const lf_agent_journald_item_t *items,
                                  size_t nitems, uint32_t max_record, lf_buf_t *out,
                                  bool *truncated)
{
    lf_buf_reset(out);
    *truncated = false;
    /* Room kept for the closing `"}` of the last value and the object. */
    const size_t limit = max_record >= 2 ? max_record - 2 : 0;
    lf_err_t rc = lf_buf_printf(out, "{\"__REALTIME_TIMESTAMP\":\"%" PRIu64 "\"", realtime_us);
    if (rc != LF_OK || out->len + 1 > max_record)
        return LF_EFULL;
    for (size_t f = 0; f < NFIELDS && !*truncated; f++) {
        const lf_agent_journald_item_t *it = find_item(items, nitems, fields[f]);
        if (!it)
            continue;
        size_t fl = strlen(fields[f]);
        if (out->len + fl + 6 > limit) { /* ,"NAME":" */
            *truncated = true;
            break;
        }
        lf_buf_printf(out, ",\"%s\":\"", fields[f]);
        if (!escape_bounded(out, it->data + fl + 1, it->len - fl - 1, limit))
            *truncated = true;
        lf_buf_append_byte(out, '"');
    }
    return lf_buf_append_byte(out, '}');
}

/* ---- opening ------------------------------------------------------------- */

const char *lf_agent_journald_path(const lf_agent_journald_config_t *cfg)
{
    return cfg->directory && *cfg->directory ? cfg->directory : "journald";
}

static int open_one(const lf_agent_journald_config_t *cfg, uint32_t max_record, sd_journal **out,
                    const char **what)
{
    int r;
    if (cfg->directory && *cfg->directory) {
        *what = "sd_journal_open_directory";
        r = sd_journal_open_directory(out, cfg->directory, 0);
    } else {
        *what = "sd_journal_open";
        r = sd_journal_open(out, SD_JOURNAL_LOCAL_ONLY);
    }
    if (r < 0)
        return r;
    *what = "sd_journal_set_data_threshold";
    r = sd_journal_set_data_threshold(*out, max_record);
    for (size_t i = 0; r >= 0 && i < cfg->match_count; i++) {
        *what = "match";
        r = sd_journal_add_match(*out, cfg->matches[i], 0);
    }
    if (r < 0) {
        sd_journal_close(*out);
        *out = NULL;
    }
    return r;
}

lf_err_t lf_agent_journald_open(const lf_agent_journald_config_t *cfg, uint32_t max_record,
                                lf_agent_journald_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    lf_agent_journald_t *jd = calloc(1, sizeof *jd);
    if (!jd)
        return LF_ENOMEM;
    jd->cfg = cfg;
    jd->max_record = max_record;
    lf_buf_init(&jd->rec, max_record + 64u);
    const char *what = "";
    int r = open_one(cfg, max_record, &jd->j, &what);
    if (r >= 0)
        r = open_one(cfg, max_record, &jd->rj, &what);
    if (r < 0) {
        bool match = strcmp(what, "match") == 0;
        if (match)
            snprintf(errstr, errlen,
                     "journald source %s: a match is not FIELD=value (e.g. "
                     "_SYSTEMD_UNIT=sshd.service): %s",
                     cfg->name, strerror(-r));
        else
            snprintf(errstr, errlen,
                     "journald source %s: %s: %s: %s (is the agent's user in the group "
                     "systemd-journal?)",
                     cfg->name, lf_agent_journald_path(cfg), what, strerror(-r));
        lf_agent_journald_close(jd);
        return match ? LF_ECONFIG : LF_EIO;
    }
    *out = jd;
    return LF_OK;
}

void lf_agent_journald_close(lf_agent_journald_t *jd)
{
    if (!jd)
        return;
    if (jd->j)
        sd_journal_close(jd->j);
    if (jd->rj)
        sd_journal_close(jd->rj);
    lf_buf_free(&jd->rec);
    free(jd);
}

int lf_agent_journald_fd(lf_agent_journald_t *jd, int *events)
{
    int fd = sd_journal_get_fd(jd->j);
    if (fd < 0)
        return -1;
    int ev = sd_journal_get_events(jd->j);
    *events = ev > 0 ? ev : POLLIN;
    return fd;
}

void lf_agent_journald_process(lf_agent_journald_t *jd)
{
    (void)sd_journal_process(jd->j);
}

/* ---- reading ------------------------------------------------------------- */

/* Copies the cursor of the entry j is on into buf. */
static int copy_cursor(sd_journal *j, char *buf)
{
    char *c = NULL;
    int r = sd_journal_get_cursor(j, &c);
    if (r < 0)
        return r;
    size_t n = strlen(c);
    if (n == 0 || n > LF_AGENT_CURSOR_MAX) {
        free(c);
        return -ENAMETOOLONG;
    }
    memcpy(buf, c, n + 1);
    free(c);
    return 0;
}

/* Formats the entry j is on into jd->rec. */
static int format_entry(lf_agent_journald_t *jd, sd_journal *j, uint32_t max_record,
                        bool *truncated)
{
    lf_agent_journald_item_t items[NFIELDS];
    size_t n = 0;
    for (size_t f = 0; f < NFIELDS; f++) {
        const void *d;
        size_t l;
        if (sd_journal_get_data(j, fields[f], &d, &l) >= 0)
            items[n++] = (lf_agent_journald_item_t){d, l};
    }
    uint64_t rt = 0;
    int r = sd_journal_get_realtime_usec(j, &rt);
    if (r < 0)
        return r;
    return lf_agent_journald_format(rt, items, n, max_record, &jd->rec, truncated) == LF_OK
               ? 0
               : -EFBIG;
}

lf_err_t lf_agent_journald_seek(lf_agent_journald_t *jd, const char *cursor, bool at_end,
                                char *checkpoint, bool *found)
{
    sd_journal *j = jd->j;
    if (found)
        *found = true;
    if (checkpoint)
        checkpoint[0] = '\0';
    int r;
    if (cursor && *cursor) {
        r = sd_journal_seek_cursor(j, cursor);
        if (r >= 0)
            r = sd_journal_next(j);
        if (r > 0 && sd_journal_test_cursor(j, cursor) <= 0) {
            /* The entry is gone: j is on the first unread one; step back so
             * the next read returns it. */
            if (found)
                *found = false;
            r = sd_journal_previous(j);
            if (r == 0) /* nothing before it: start from the beginning */
                r = sd_journal_seek_head(j);
        } else if (r == 0 && found) {
            /* Nothing at or after the cursor: it is the last entry, or gone
             * with everything after it. */
            *found = sd_journal_previous(j) > 0 && sd_journal_test_cursor(j, cursor) > 0;
        }
        if (r >= 0 && checkpoint)
            snprintf(checkpoint, LF_AGENT_CURSOR_MAX + 1, "%s", cursor);
        return r < 0 ? LF_EIO : LF_OK;
    }
    if (at_end) {
        r = sd_journal_seek_tail(j);
        if (r >= 0)
            r = sd_journal_previous(j);
        if (r > 0 && checkpoint)
            r = copy_cursor(j, checkpoint) < 0 ? -EIO : 1;
        if (r == 0)
            r = sd_journal_seek_head(j); /* empty: the beginning is the end */
        return r < 0 ? LF_EIO : LF_OK;
    }
    r = sd_journal_seek_head(j);
    return r < 0 ? LF_EIO : LF_OK;
}

lf_err_t lf_agent_journald_fill(lf_agent_journald_t *jd, const lf_agent_batch_limits_t *limits,
                                lf_buf_t *wire, uint32_t *count, uint32_t *truncated,
                                lf_str_t *first, lf_str_t *last)
{
    sd_journal *j = jd->j;
    uint32_t added = 0;
    lf_err_t rc = LF_OK;
    for (;;) {
        if (*count >= limits->max_records ||
            (*count > 0 && wire->len + 13 + (uint64_t)limits->max_record > limits->max_bytes))
            break;
        int r = sd_journal_next(j);
        if (r == 0) {
            rc = LF_ENOTFOUND;
            break;
        }
        bool cut = false;
        if (r > 0)
            r = format_entry(jd, j, limits->max_record, &cut);
        if (r >= 0 && added == 0)
            r = copy_cursor(j, jd->first);
        if (r < 0) {
            /* Leave the entry unread: the next attempt starts at it. */
            sd_journal_previous(j);
            errno = -r;
            rc = LF_EIO;
            break;
        }
        rc = lf_wire_batch_add(wire, LF_WIRE_NO_OFFSET, cut ? LF_REC_TRUNCATED : 0, jd->rec.data,
                               (uint32_t)jd->rec.len);
        if (rc != LF_OK) {
            sd_journal_previous(j);
            break;
        }
        added++;
        (*count)++;
        if (cut)
            (*truncated)++;
    }
    if (added > 0) {
        if (copy_cursor(j, jd->last) < 0) {
            /* Cannot happen for an entry just read; keep the batch sound by
             * refusing it (the caller rewinds to its checkpoint). */
            errno = EIO;
            return LF_EIO;
        }
        *first = lf_str_c(jd->first);
        *last = lf_str_c(jd->last);
    }
    return rc;
}

lf_err_t lf_agent_journald_rebuild(lf_agent_journald_t *jd, const lf_agent_batch_ids_t *ids,
                                   const lf_agent_jbatch_t *b, const char *first, const char *last,
                                   lf_buf_t *wire)
{
    sd_journal *j = jd->rj;
    lf_wire_batch_header_t h;
    lf_agent_batch_header(ids, b, &h);
    lf_err_t rc = lf_wire_batch_begin(wire, &h);
    if (rc != LF_OK)
        return rc;
    /* Files added or removed since the last re-read. */
    (void)sd_journal_process(j);
    int r = sd_journal_seek_cursor(j, first);
    if (r < 0)
        return LF_EPARSE; /* not a cursor of this journal */
    r = sd_journal_next(j);
    if (r < 0)
        return LF_EIO;
    if (r == 0 || sd_journal_test_cursor(j, first) <= 0)
        return LF_EPARSE;
    for (uint32_t i = 0; i < b->count; i++) {
        if (i > 0) {
            r = sd_journal_next(j);
            if (r < 0)
                return LF_EIO;
            if (r == 0)
                return LF_EPARSE;
        }
        bool cut = false;
        r = format_entry(jd, j, b->max_record, &cut);
        if (r < 0)
            return r == -EFBIG ? LF_EPARSE : LF_EIO;
        rc = lf_wire_batch_add(wire, LF_WIRE_NO_OFFSET, cut ? LF_REC_TRUNCATED : 0, jd->rec.data,
                               (uint32_t)jd->rec.len);
        if (rc != LF_OK)
            return rc;
    }
    if (sd_journal_test_cursor(j, last) <= 0)
        return LF_EPARSE;
    lf_wire_batch_finish(wire, b->count);
    return LF_OK;
}
