/* agent_frame.h - splits a syslog byte stream into messages (RFC 6587);
 * private to agent/.
 *
 * Framing is detected once per connection, from its first frame:
 *  - octet counting: "MSG-LEN SP MSG", MSG-LEN = 1 to 10 digits without a
 *    leading zero (RFC 6587 3.4.1, RFC 5425 4.3);
 *  - newline ("non-transparent") framing: the message ends at '\n'; one '\r'
 *    before it is removed (RFC 6587 3.4.2).
 * A first frame that starts with digits not followed by a space (a legacy
 * sender's "2026-03-10 ..." line) is newline framed.
 *
 * Bounds: a frame longer than max_frame bytes is delivered cut to max_frame
 * and flagged LF_REC_TRUNCATED; the rest of it is skipped without buffering.
 * A declared length above LF_AGENT_FRAME_MAX_OCTETS, a missing length in an
 * octet-counted stream, or a length not followed by a space loses the
 * framing: the reason goes to the error callback and feed() returns
 * LF_EPARSE (the caller closes the connection). An empty newline frame is
 * reported to the error callback (not fatal) and skipped. '\r' and '\n'
 * between octet-counted frames (senders that end every frame with a
 * newline) are skipped.
 *
 * Memory: at most max_frame + 16 bytes per framer, allocated when a frame
 * first spans two feeds. Frames that lie whole inside one fed chunk are
 * delivered pointing into that chunk (no copy). Not thread-safe.
 */
#ifndef LF_AGENT_FRAME_H
#define LF_AGENT_FRAME_H

#include "lf_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_AGENT_FRAME_MAX_OCTETS (256u << 20)

enum { LF_AGENT_FRAMING_UNKNOWN = 0, LF_AGENT_FRAMING_OCTET, LF_AGENT_FRAMING_NEWLINE };

/* A complete frame: data is valid during the call only. flags:
 * LF_REC_TRUNCATED when cut at max_frame (or incomplete at finish()). */
typedef void (*lf_agent_frame_cb)(void *opaque, const char *data, size_t len, uint8_t flags);
/* A malformed frame; reason is a static string. fatal: the framing is lost. */
typedef void (*lf_agent_frame_error_cb)(void *opaque, const char *reason, bool fatal);

typedef struct lf_agent_framer {
    size_t max_frame;
    int framing; /* LF_AGENT_FRAMING_* */
    int state;   /* private */
    char *buf;   /* the frame collected so far (at most max_frame bytes) */
    size_t len;
    uint64_t octets; /* octet counting: the declared length being parsed, then what remains */
    unsigned digits; /* digits of the length seen */
    bool truncated;  /* the current frame passed max_frame */
    bool failed;     /* the framing was lost; further input is ignored */
    lf_agent_frame_cb on_frame;
    lf_agent_frame_error_cb on_error;
    void *opaque;
} lf_agent_framer_t;

void lf_agent_framer_init(lf_agent_framer_t *fr, size_t max_frame, lf_agent_frame_cb on_frame,
                          lf_agent_frame_error_cb on_error, void *opaque);
void lf_agent_framer_free(lf_agent_framer_t *fr);
/* Feeds bytes (borrowed for the call). LF_OK; LF_EPARSE when the framing
 * is lost (also for every later call); LF_ENOMEM. */
lf_err_t lf_agent_framer_feed(lf_agent_framer_t *fr, const char *data, size_t len);
/* True while a frame has begun but is not complete. */
bool lf_agent_framer_pending(const lf_agent_framer_t *fr);
/* The stream ended: a begun frame is delivered as it is. It is flagged
 * LF_REC_TRUNCATED when it is surely incomplete: an octet-counted frame
 * short of its length, or any frame when `cut` (the connection was dropped
 * rather than closed by its sender; a newline-framed last line without its
 * '\n' is otherwise complete). Returns whether there was one. */
bool lf_agent_framer_finish(lf_agent_framer_t *fr, bool cut);

/* One UDP datagram (RFC 5426: one message each): trailing '\n', '\r' and
 * NUL bytes are removed; *flags gets LF_REC_TRUNCATED when it is cut to
 * max_frame. Returns the message length; 0 means an empty datagram
 * (malformed). */
size_t lf_agent_frame_datagram(const char *data, size_t len, size_t max_frame, uint8_t *flags);

#endif
