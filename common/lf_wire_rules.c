/* lf_wire_rules.c - the agent rule set message (LFY1).
 *
 * Layout: magic (4), version (1), flags (1, none defined), file count
 * (u16), created_ms (i64), sha256 (32), then per file: name (u16 length +
 * bytes), text (u32 length + bytes).
 */
#include "lf_wire_rules.h"

#include "lf_bytes.h"

#include <stdio.h>
#include <string.h>

#define OFF_VERSION 4u
#define OFF_FLAGS   5u
#define OFF_COUNT   6u
#define OFF_CREATED 8u
#define OFF_SHA     16u

_Static_assert(OFF_SHA + 32u == LF_WIRE_RULES_FIXED, "the digest ends the fixed part");

bool lf_wire_rules_name_ok(lf_str_t name)
{
    if (name.len == 0 || name.len > LF_WIRE_RULES_MAX_NAME || name.ptr[0] == '.')
        return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void lf_wire_rules_version(const uint8_t sha256[32], char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[sha256[i] >> 4];
        out[2 * i + 1] = hex[sha256[i] & 15];
    }
    out[16] = '\0';
}

lf_err_t lf_wire_rules_begin(lf_buf_t *buf, int64_t created_ms)
{
    lf_buf_reset(buf);
    uint8_t fixed[LF_WIRE_RULES_FIXED] = {0};
    memcpy(fixed, LF_WIRE_RULES_MAGIC, 4);
    fixed[OFF_VERSION] = LF_WIRE_RULES_VERSION;
    uint64_t t = (uint64_t)created_ms;
    for (int i = 0; i < 8; i++)
        fixed[OFF_CREATED + i] = (uint8_t)(t >> (8 * i));
    return lf_buf_append(buf, fixed, sizeof fixed);
}

lf_err_t lf_wire_rules_add(lf_buf_t *buf, lf_str_t name, const void *text, size_t len)
{
    if (!lf_wire_rules_name_ok(name) || len > UINT32_MAX)
        return LF_EINVAL;
    size_t before = buf->len;
    lf_err_t rc = lf_buf_reserve(buf, 2 + name.len + 4 + len);
    if (rc == LF_OK)
        rc = lf_buf_append_u16le(buf, (uint16_t)name.len);
    if (rc == LF_OK)
        rc = lf_buf_append(buf, name.ptr, name.len);
    if (rc == LF_OK)
        rc = lf_buf_append_u32le(buf, (uint32_t)len);
    if (rc == LF_OK && len)
        rc = lf_buf_append(buf, text, len);
    if (rc != LF_OK)
        buf->len = before;
    return rc;
}

void lf_wire_rules_finish(lf_buf_t *buf, uint32_t count, const uint8_t sha256[32])
{
    if (buf->len < LF_WIRE_RULES_FIXED)
        return;
    uint8_t *p = (uint8_t *)buf->data;
    p[OFF_COUNT] = (uint8_t)(count & 0xff);
    p[OFF_COUNT + 1] = (uint8_t)((count >> 8) & 0xff);
    memcpy(p + OFF_SHA, sha256, 32);
}

/* Reads one file at *p; advances *p. */
static lf_err_t get_file(const uint8_t **p, const uint8_t *end, lf_wire_rule_file_t *f)
{
    if (end - *p < 2)
        return LF_EPARSE;
    uint16_t n = lf_get_le16(*p);
    *p += 2;
    if ((size_t)(end - *p) < (size_t)n + 4)
        return LF_EPARSE;
    f->name = lf_str_n((const char *)*p, n);
    *p += n;
    uint32_t len = lf_get_le32(*p);
    *p += 4;
    if ((size_t)(end - *p) < len)
        return LF_EPARSE;
    f->text = lf_str_n((const char *)*p, len);
    *p += len;
    return lf_wire_rules_name_ok(f->name) ? LF_OK : LF_EPARSE;
}

lf_err_t lf_wire_rules_parse(const void *data, size_t len, lf_wire_rules_t *rules)
{
    const uint8_t *p = data;
    if (!data || len < LF_WIRE_RULES_FIXED || memcmp(p, LF_WIRE_RULES_MAGIC, 4) != 0 ||
        p[OFF_VERSION] != LF_WIRE_RULES_VERSION || p[OFF_FLAGS] != 0)
        return LF_EPARSE;
    memset(rules, 0, sizeof *rules);
    rules->count = lf_get_le16(p + OFF_COUNT);
    rules->created_ms = (int64_t)lf_get_le64(p + OFF_CREATED);
    memcpy(rules->sha256, p + OFF_SHA, 32);
    rules->files = p + LF_WIRE_RULES_FIXED;
    rules->end = p + len;
    if (rules->count > LF_WIRE_RULES_MAX_FILES)
        return LF_EPARSE;
    const uint8_t *q = rules->files;
    for (uint32_t i = 0; i < rules->count; i++) {
        lf_wire_rule_file_t f;
        if (get_file(&q, rules->end, &f) != LF_OK)
            return LF_EPARSE;
        /* No name twice: a receiver writes each file under its name. */
        const uint8_t *r = rules->files;
        for (uint32_t j = 0; j < i; j++) {
            lf_wire_rule_file_t g;
            get_file(&r, rules->end, &g);
            if (lf_str_eq(f.name, g.name))
                return LF_EPARSE;
        }
    }
    return q == rules->end ? LF_OK : LF_EPARSE;
}

void lf_wire_rules_iter(const lf_wire_rules_t *rules, lf_wire_rules_iter_t *it)
{
    it->p = rules->files;
    it->index = 0;
}

lf_err_t lf_wire_rules_next(const lf_wire_rules_t *rules, lf_wire_rules_iter_t *it,
                            lf_wire_rule_file_t *file)
{
    if (it->index >= rules->count)
        return LF_ENOTFOUND;
    if (get_file(&it->p, rules->end, file) != LF_OK)
        return LF_EPARSE;
    it->index++;
    return LF_OK;
}
