#include "lf_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_buf_init(lf_buf_t *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
}

void lf_buf_free(lf_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

lf_err_t lf_buf_reserve(lf_buf_t *buf, size_t extra)
{
    if (extra > buf->max || buf->len > buf->max - extra)
        return LF_EFULL;
    size_t need = buf->len + extra + 1; /* room for a NUL */
    if (need <= buf->cap)
        return LF_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > buf->max + 1)
        cap = buf->max + 1;
    char *p = realloc(buf->data, cap);
    if (!p)
        return LF_ENOMEM;
    buf->data = p;
    buf->cap = cap;
    return LF_OK;
}

lf_err_t lf_buf_append(lf_buf_t *buf, const void *data, size_t len)
{
    lf_err_t rc = lf_buf_reserve(buf, len);
    if (rc != LF_OK)
        return rc;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return LF_OK;
}

lf_err_t lf_buf_append_str(lf_buf_t *buf, const char *s)
{
    return lf_buf_append(buf, s, strlen(s));
}

lf_err_t lf_buf_append_byte(lf_buf_t *buf, char c)
{
    return lf_buf_append(buf, &c, 1);
}

lf_err_t lf_buf_printf(lf_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return LF_EINVAL;
    lf_err_t rc = lf_buf_reserve(buf, (size_t)n);
    if (rc != LF_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return LF_OK;
}

lf_err_t lf_buf_append_u16le(lf_buf_t *buf, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return lf_buf_append(buf, b, 2);
}

lf_err_t lf_buf_append_u32le(lf_buf_t *buf, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return lf_buf_append(buf, b, 4);
}

lf_err_t lf_buf_append_u64le(lf_buf_t *buf, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return lf_buf_append(buf, b, 8);
}

const char *lf_buf_cstr(lf_buf_t *buf)
{
    if (!buf->data) {
        if (lf_buf_reserve(buf, 0) != LF_OK)
            return "";
    }
    buf->data[buf->len] = '\0';
    return buf->data;
}
