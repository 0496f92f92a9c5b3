#include "agent_frame.h"
#include "lf_wire.h"

#include <stdlib.h>
#include <string.h>

enum { ST_START = 0, ST_COUNT, ST_OCTETS, ST_LINE };

#define MAX_DIGITS 10u

void lf_agent_framer_init(lf_agent_framer_t *fr, size_t max_frame, lf_agent_frame_cb on_frame,
                          lf_agent_frame_error_cb on_error, void *opaque)
{
    memset(fr, 0, sizeof *fr);
    fr->max_frame = max_frame;
    fr->on_frame = on_frame;
    fr->on_error = on_error;
    fr->opaque = opaque;
}

void lf_agent_framer_free(lf_agent_framer_t *fr)
{
    free(fr->buf);
    fr->buf = NULL;
}

static lf_err_t fail(lf_agent_framer_t *fr, const char *reason)
{
    fr->failed = true;
    fr->on_error(fr->opaque, reason, true);
    return LF_EPARSE;
}

/* Keeps up to `keep` bytes of the current frame; more sets truncated. */
static lf_err_t collect(lf_agent_framer_t *fr, const char *p, size_t n, size_t keep)
{
    if (!fr->buf) {
        fr->buf = malloc(fr->max_frame + 16);
        if (!fr->buf)
            return LF_ENOMEM;
    }
    size_t room = fr->len < keep ? keep - fr->len : 0;
    size_t take = n < room ? n : room;
    memcpy(fr->buf + fr->len, p, take);
    fr->len += take;
    if (take < n)
        fr->truncated = true;
    return LF_OK;
}

static void deliver(lf_agent_framer_t *fr, const char *p, size_t n, bool truncated)
{
    uint8_t flags = truncated ? LF_REC_TRUNCATED : 0;
    if (n > fr->max_frame) {
        n = fr->max_frame;
        flags = LF_REC_TRUNCATED;
    }
    fr->on_frame(fr->opaque, p, n, flags);
}

/* End of a newline frame of n bytes at p ('\n' not included). */
static void line_done(lf_agent_framer_t *fr, const char *p, size_t n, bool truncated)
{
    if (!truncated && n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0 && !truncated)
        fr->on_error(fr->opaque, "empty frame", false);
    else
        deliver(fr, p, n, truncated);
}

lf_err_t lf_agent_framer_feed(lf_agent_framer_t *fr, const char *data, size_t len)
{
    if (fr->failed)
        return LF_EPARSE;
    const char *p = data, *end = data + len;
    while (p < end) {
        switch (fr->state) {
        case ST_START:
            fr->len = 0;
            fr->truncated = false;
            if (fr->framing == LF_AGENT_FRAMING_OCTET) {
                if (*p == '\n' || *p == '\r') {
                    p++;
                    continue;
                }
                if (*p < '1' || *p > '9')
                    return fail(fr, "octet-counted frame does not start with a length");
            }
            if (fr->framing != LF_AGENT_FRAMING_NEWLINE && *p >= '1' && *p <= '9') {
                fr->octets = 0;
                fr->digits = 0;
                fr->state = ST_COUNT;
            } else {
                fr->framing = LF_AGENT_FRAMING_NEWLINE;
                fr->state = ST_LINE;
            }
            continue;
        case ST_COUNT: {
            char c = *p;
            bool octet = fr->framing == LF_AGENT_FRAMING_OCTET;
            if (c >= '0' && c <= '9' && fr->digits < MAX_DIGITS) {
                if (!octet) {
                    lf_err_t rc = collect(fr, p, 1, fr->max_frame + 1);
                    if (rc != LF_OK)
                        return rc;
                }
                fr->octets = fr->octets * 10 + (uint64_t)(c - '0');
                fr->digits++;
                p++;
                continue;
            }
            if (c == ' ') {
                p++;
                fr->framing = LF_AGENT_FRAMING_OCTET;
                if (fr->octets > LF_AGENT_FRAME_MAX_OCTETS)
                    return fail(fr, "octet count larger than 256 MiB");
                fr->len = 0;
                fr->truncated = false;
                fr->state = ST_OCTETS;
                continue;
            }
            if (octet)
                return fail(fr, c >= '0' && c <= '9' ? "octet count longer than 10 digits"
                                                     : "octet count not followed by a space");
            /* The first frame was a line that starts with digits. */
            fr->framing = LF_AGENT_FRAMING_NEWLINE;
            fr->state = ST_LINE;
            continue;
        }
        case ST_OCTETS: {
            size_t avail = (size_t)(end - p);
            size_t take = avail < fr->octets ? avail : (size_t)fr->octets;
            if (fr->len == 0 && !fr->truncated && take == fr->octets) {
                deliver(fr, p, take, false); /* whole frame in this chunk */
            } else {
                lf_err_t rc = collect(fr, p, take, fr->max_frame);
                if (rc != LF_OK)
                    return rc;
            }
            p += take;
            fr->octets -= take;
            if (fr->octets == 0) {
                if (fr->len > 0 || fr->truncated)
                    deliver(fr, fr->buf, fr->len, fr->truncated);
                fr->state = ST_START;
            }
            continue;
        }
        case ST_LINE: {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl : end) - p);
            if (nl && fr->len == 0 && !fr->truncated) {
                line_done(fr, p, n, false); /* whole line in this chunk */
            } else {
                /* One byte beyond max_frame is kept: it may be a '\r'. */
                lf_err_t rc = collect(fr, p, n, fr->max_frame + 1);
                if (rc != LF_OK)
                    return rc;
                if (nl)
                    line_done(fr, fr->buf, fr->len, fr->truncated);
            }
            p += n;
            if (nl) {
                p++;
                fr->state = ST_START;
            }
            continue;
        }
        default:
            return fail(fr, "internal framing state");
        }
    }
    return LF_OK;
}

bool lf_agent_framer_pending(const lf_agent_framer_t *fr)
{
    return !fr->failed && fr->state != ST_START;
}

bool lf_agent_framer_finish(lf_agent_framer_t *fr, bool cut)
{
    bool delivered = false;
    if (fr->failed) {
        /* nothing: the framing was lost, the reason already reported */
    } else if (fr->state == ST_LINE ||
               (fr->state == ST_COUNT && fr->framing != LF_AGENT_FRAMING_OCTET)) {
        if (fr->len > 0 || fr->truncated) {
            size_t n = fr->len;
            if (!fr->truncated && n > 0 && fr->buf[n - 1] == '\r')
                n--;
            deliver(fr, fr->buf, n, fr->truncated || cut);
            delivered = true;
        }
    } else if (fr->state == ST_OCTETS && (fr->len > 0 || fr->truncated)) {
        deliver(fr, fr->buf, fr->len, true);
        delivered = true;
    } else if (fr->state != ST_START) {
        fr->on_error(fr->opaque, "stream ended inside an octet-counted frame header", false);
    }
    fr->state = ST_START;
    fr->len = 0;
    fr->truncated = false;
    return delivered;
}

size_t lf_agent_frame_datagram(const char *data, size_t len, size_t max_frame, uint8_t *flags)
{
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == '\0'))
        len--;
    *flags = 0;
    if (len > max_frame) {
        len = max_frame;
        *flags = LF_REC_TRUNCATED;
    }
    return len;
}
