#include "lf_json.h"
#include "lf_time.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void lf_json_init(lf_json_t *js, lf_buf_t *out)
{
    memset(js, 0, sizeof *js);
    js->out = out;
}

static void put(lf_json_t *js, const char *s, size_t len)
{
    if (js->err == LF_OK)
        js->err = lf_buf_append(js->out, s, len);
}

/* Emits the separator owed before a new value at the current depth. */
static void before_value(lf_json_t *js)
{
    if (js->after_key) {
        js->after_key = false;
        return;
    }
    if (js->need_comma[js->depth])
        put(js, ",", 1);
    js->need_comma[js->depth] = true;
}

static void open_scope(lf_json_t *js, char c)
{
    before_value(js);
    put(js, &c, 1);
    if (js->depth + 1 >= LF_JSON_MAX_DEPTH) {
        if (js->err == LF_OK)
            js->err = LF_EFULL;
        return;
    }
    js->depth++;
    js->need_comma[js->depth] = false;
}

static void close_scope(lf_json_t *js, char c)
{
    if (js->depth > 0)
        js->depth--;
    put(js, &c, 1);
}

void lf_json_object_begin(lf_json_t *js)
{
    open_scope(js, '{');
}
void lf_json_object_end(lf_json_t *js)
{
    close_scope(js, '}');
}
void lf_json_array_begin(lf_json_t *js)
{
    open_scope(js, '[');
}
void lf_json_array_end(lf_json_t *js)
{
    close_scope(js, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

bool lf_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Bytes the escaper must look at: controls, '"', '\\' and non-ASCII. */
static const unsigned char needs_attention[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

bool lf_json_escape(lf_buf_t *out, const char *s, size_t len, lf_err_t *err)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    bool valid = true;
    size_t run = 0; /* start of a run of bytes copied verbatim */
    lf_err_t rc = LF_OK;
    size_t i = 0;
    /* Reserve for the common case (nothing to escape) up front. */
    rc = lf_buf_reserve(out, len);
    if (rc != LF_OK && rc != LF_EFULL) {
        if (err && *err == LF_OK)
            *err = rc;
        return valid;
    }
    rc = LF_OK;
    while (i < len && rc == LF_OK) {
        unsigned char c = p[i];
        if (!needs_attention[c]) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);
            if (n > 0) {
                i += n;
                continue;
            }
        }
        rc = lf_buf_append(out, s + run, i - run);
        if (rc != LF_OK)
            break;
        char esc[8];
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (c < 0x20) {
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            } else { /* invalid UTF-8 byte: U+FFFD */
                memcpy(esc, "\xEF\xBF\xBD", 3);
                elen = 3;
                valid = false;
            }
        }
        rc = lf_buf_append(out, esc, elen);
        i++;
        run = i;
    }
    if (rc == LF_OK)
        rc = lf_buf_append(out, s + run, len - run);
    if (err && *err == LF_OK)
        *err = rc;
    return valid;
}

void lf_json_key(lf_json_t *js, const char *key)
{
    before_value(js);
    put(js, "\"", 1);
    if (js->err == LF_OK)
        lf_json_escape(js->out, key, strlen(key), &js->err);
    put(js, "\":", 2);
    js->after_key = true;
}

void lf_json_key_trusted(lf_json_t *js, const char *key, size_t len)
{
    before_value(js);
    if (js->err == LF_OK && (js->err = lf_buf_reserve(js->out, len + 3)) == LF_OK) {
        char *p = js->out->data + js->out->len;
        p[0] = '"';
        memcpy(p + 1, key, len);
        p[len + 1] = '"';
        p[len + 2] = ':';
        js->out->len += len + 3;
    }
    js->after_key = true;
}

void lf_json_string(lf_json_t *js, const char *s, size_t len)
{
    before_value(js);
    put(js, "\"", 1);
    if (js->err == LF_OK && !lf_json_escape(js->out, s, len, &js->err))
        js->invalid_utf8 = true;
    put(js, "\"", 1);
}

void lf_json_cstring(lf_json_t *js, const char *s)
{
    if (!s) {
        lf_json_null(js);
        return;
    }
    lf_json_string(js, s, strlen(s));
}

/* Writes v in decimal ending at end; returns the first character. */
static char *format_u64(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void lf_json_int(lf_json_t *js, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = format_u64(mag, end);
    if (v < 0)
        *--p = '-';
    before_value(js);
    put(js, p, (size_t)(end - p));
}

void lf_json_uint(lf_json_t *js, uint64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = format_u64(v, end);
    before_value(js);
    put(js, p, (size_t)(end - p));
}

void lf_json_double(lf_json_t *js, double v)
{
    if (!isfinite(v)) {
        lf_json_null(js);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    before_value(js);
    put(js, tmp, (size_t)n);
}

void lf_json_bool(lf_json_t *js, bool v)
{
    before_value(js);
    put(js, v ? "true" : "false", v ? 4 : 5);
}

void lf_json_null(lf_json_t *js)
{
    before_value(js);
    put(js, "null", 4);
}

void lf_json_raw(lf_json_t *js, const char *json, size_t len)
{
    before_value(js);
    put(js, json, len);
}

void lf_json_timestamp_ms(lf_json_t *js, int64_t epoch_ms)
{
    char ts[40];
    size_t n = lf_time_format_rfc3339_ms(epoch_ms, ts, sizeof ts);
    lf_json_string(js, ts, n);
}
