/* Fuzz target: the agent's syslog stream framer (RFC 6587 octet counting and
 * newline framing, detected per connection) and the datagram rule. The
 * first input byte chooses how the rest is split into reads and the frame
 * limit, so frames that span reads and oversized frames are exercised. */
#include "agent_frame.h"
#include "lf_wire.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    size_t max_frame;
    uint64_t frames, errors;
} sink_t;

static void on_frame(void *opaque, const char *data, size_t len, uint8_t flags)
{
    sink_t *s = opaque;
    if (len > s->max_frame || (flags & ~LF_REC_TRUNCATED))
        abort();
    volatile char sum = 0;
    for (size_t i = 0; i < len; i++)
        sum ^= data[i]; /* every byte must be readable */
    (void)sum;
    s->frames++;
}

static void on_error(void *opaque, const char *reason, bool fatal)
{
    sink_t *s = opaque;
    if (!reason || !*reason)
        abort();
    s->errors++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    size_t step = 1 + (mode & 0x0f) * 7;         /* 1 .. 106 bytes per read */
    size_t max_frame = (mode & 0x10) ? 16 : 256; /* small limits reach the cut paths */
    sink_t s = {.max_frame = max_frame};
    lf_agent_framer_t fr;
    lf_agent_framer_init(&fr, max_frame, on_frame, on_error, &s);
    for (size_t i = 0; i < size; i += step) {
        size_t n = size - i < step ? size - i : step;
        /* a heap copy of exactly n bytes, so ASan sees any over-read */
        char *chunk = malloc(n);
        if (!chunk)
            break;
        memcpy(chunk, data + i, n);
        lf_err_t rc = lf_agent_framer_feed(&fr, chunk, n);
        free(chunk);
        if (rc == LF_EPARSE)
            break;
    }
    lf_agent_framer_finish(&fr, (mode & 0x20) != 0);
    lf_agent_framer_free(&fr);

    uint8_t flags;
    char *copy = malloc(size ? size : 1);
    if (copy) {
        memcpy(copy, data, size);
        size_t n = lf_agent_frame_datagram(copy, size, max_frame, &flags);
        if (n > size || n > max_frame)
            abort();
        free(copy);
    }
    return 0;
}
