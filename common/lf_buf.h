/* lf_buf.h - a growable byte buffer with a hard maximum.
 *
 * Every growable buffer in Lianfang has a maximum (curl's dynbuf idea): an
 * append that would pass it fails with LF_EFULL and leaves the buffer as it
 * was, so callers can flag truncation instead of growing without bound.
 * The buffer owns its memory; lf_buf_reset() keeps the allocation for reuse
 * on the hot path.
 */
#ifndef LF_BUF_H
#define LF_BUF_H

#include "lf_error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lf_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
} lf_buf_t;

void lf_buf_init(lf_buf_t *buf, size_t max);
void lf_buf_free(lf_buf_t *buf);
/* Empties the buffer, keeping its allocation. */
static inline void lf_buf_reset(lf_buf_t *buf)
{
    buf->len = 0;
}
/* Makes room for `extra` more bytes; LF_EFULL past the maximum, LF_ENOMEM. */
lf_err_t lf_buf_reserve(lf_buf_t *buf, size_t extra);
lf_err_t lf_buf_append(lf_buf_t *buf, const void *data, size_t len);
lf_err_t lf_buf_append_str(lf_buf_t *buf, const char *s);
lf_err_t lf_buf_append_byte(lf_buf_t *buf, char c);
lf_err_t lf_buf_printf(lf_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Little-endian fixed-width appends, for wire formats. */
lf_err_t lf_buf_append_u16le(lf_buf_t *buf, uint16_t v);
lf_err_t lf_buf_append_u32le(lf_buf_t *buf, uint32_t v);
lf_err_t lf_buf_append_u64le(lf_buf_t *buf, uint64_t v);
/* Ensures data[len] == '\0' (not counted in len) and returns data. */
const char *lf_buf_cstr(lf_buf_t *buf);

#endif
