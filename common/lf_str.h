/* lf_str.h - borrowed (pointer, length) strings, the hot path's currency. */
#ifndef LF_STR_H
#define LF_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct lf_str {
    const char *ptr;
    size_t len;
} lf_str_t;

#define LF_STR_NULL ((lf_str_t){NULL, 0})
static inline lf_str_t lf_str_c(const char *s)
{
    return (lf_str_t){s, s ? strlen(s) : 0};
}
static inline lf_str_t lf_str_n(const char *s, size_t n)
{
    return (lf_str_t){s, n};
}
static inline bool lf_str_eq(lf_str_t a, lf_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool lf_str_eq_c(lf_str_t a, const char *b)
{
    return lf_str_eq(a, lf_str_c(b));
}

/* The value of one hexadecimal digit, -1 when c is none. */
static inline int lf_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
