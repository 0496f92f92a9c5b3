#include "lf_event.h"
#include "lf_json.h"
#include "lf_time.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

static const struct {
    const char *path;
    lf_field_kind_t kind;
} field_table[LF_F_COUNT] = {
#define LF_FIELD_ROW(id, p, k) [LF_F_##id] = {p, LF_KIND_##k},
    LF_ECS_FIELDS(LF_FIELD_ROW)
#undef LF_FIELD_ROW
};

static const char *const flag_names[] = {
#define LF_EVFLAG_NAME(id, name) name,
    LF_EVENT_FLAGS(LF_EVFLAG_NAME)
#undef LF_EVFLAG_NAME
};

const char *lf_field_path(lf_field_id_t id)
{
    return id < LF_F_COUNT ? field_table[id].path : "";
}

lf_field_kind_t lf_field_kind(lf_field_id_t id)
{
    return field_table[id].kind;
}

lf_field_id_t lf_field_lookup(const char *path, size_t len)
{
    int lo = 0, hi = LF_F_COUNT - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *p = field_table[mid].path;
        size_t plen = strlen(p);
        int c = memcmp(p, path, plen < len ? plen : len);
        if (c == 0)
            c = plen < len ? -1 : plen > len ? 1 : 0;
        if (c == 0)
            return field_table[mid].kind == LF_KIND_EXTRA ? LF_F_COUNT : (lf_field_id_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return LF_F_COUNT;
}

bool lf_event_set_ip(lf_event_t *ev, lf_field_id_t id, lf_str_t v)
{
    char tmp[64];
    unsigned char bin[16];
    if (v.len >= 2 && v.ptr[0] == '[' && v.ptr[v.len - 1] == ']')
        v = lf_str_n(v.ptr + 1, v.len - 2);
    if (v.len == 0 || v.len >= sizeof tmp)
        return false;
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    int af = memchr(v.ptr, ':', v.len) ? AF_INET6 : AF_INET;
    if (inet_pton(af, tmp, bin) != 1)
        return false;
    lf_event_set_str(ev, id, v);
    return true;
}

bool lf_event_add_extra(lf_event_t *ev, lf_field_id_t parent, lf_extra_type_t type, lf_str_t key,
                        lf_str_t str, int64_t num)
{
    if (ev->extra_count >= LF_EVENT_MAX_EXTRA) {
        ev->flags |= LF_EVFLAG(FIELDS_DROPPED);
        return false;
    }
    lf_event_extra_t *x = &ev->extra[ev->extra_count++];
    x->parent = parent;
    x->type = type;
    x->key = key;
    x->str = str;
    x->num = num;
    ev->present[parent / 64] |= 1ull << (parent % 64);
    return true;
}

bool lf_event_value_text(const lf_event_t *ev, lf_field_id_t id, char *buf, size_t buflen,
                         lf_str_t *out)
{
    if (id >= LF_F_COUNT || !lf_event_has(ev, id))
        return false;
    switch (field_table[id].kind) {
    case LF_KIND_STR:
    case LF_KIND_IP:
    case LF_KIND_LIST:
        *out = ev->str[id];
        return true;
    case LF_KIND_EXTRA:
        return false;
    case LF_KIND_INT: {
        int n = snprintf(buf, buflen, "%lld", (long long)ev->num[id]);
        *out = lf_str_n(buf, n < 0 ? 0 : (size_t)n < buflen ? (size_t)n : buflen - 1);
        return true;
    }
    case LF_KIND_TS:
        *out = lf_str_n(buf, lf_time_format_rfc3339_ms(ev->num[id], buf, buflen));
        return true;
    }
    return false;
}

static void base64(lf_buf_t *out, const unsigned char *s, size_t n, lf_err_t *err)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    lf_buf_reset(out);
    if ((*err = lf_buf_reserve(out, (n + 2) / 3 * 4)) != LF_OK)
        return;
    char *o = out->data;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
}

/* Splits a dotted path into component boundaries; returns the count. */
static int split_path(const char *path, const char *parts[8], size_t lens[8])
{
    int n = 0;
    const char *start = path;
    for (const char *p = path;; p++) {
        if (*p == '.' || *p == '\0') {
            if (n < 8) {
                parts[n] = start;
                lens[n] = (size_t)(p - start);
                n++;
            }
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    return n;
}

/* lianfang.flags is written as the last member of the top-level "lianfang"
 * object, just before that object closes. Returns true when written. */
static bool maybe_write_flags(lf_json_t *js, const lf_event_t *ev, const char *const *open_parts,
                              const size_t *open_lens, int open_n, bool already)
{
    if (already || open_n != 1 || open_lens[0] != 8 || memcmp(open_parts[0], "lianfang", 8) != 0 ||
        !ev->flags)
        return false;
    lf_json_key(js, "flags");
    lf_json_array_begin(js);
    for (unsigned b = 0; b < sizeof flag_names / sizeof *flag_names; b++)
        if (ev->flags & (1u << b))
            lf_json_cstring(js, flag_names[b]);
    lf_json_array_end(js);
    return true;
}

/* Writes the extra fields under parent as members of the open object. */
static void write_extras(lf_json_t *js, const lf_event_t *ev, lf_field_id_t parent)
{
    for (uint32_t i = 0; i < ev->extra_count; i++) {
        const lf_event_extra_t *x = &ev->extra[i];
        if (x->parent != parent)
            continue;
        char key[128];
        size_t kl = x->key.len < sizeof key - 1 ? x->key.len : sizeof key - 1;
        memcpy(key, x->key.ptr, kl);
        key[kl] = '\0';
        lf_json_key(js, key);
        switch (x->type) {
        case LF_EXTRA_STR:
            lf_json_string(js, x->str.ptr, x->str.len);
            break;
        case LF_EXTRA_INT:
            lf_json_int(js, x->num);
            break;
        case LF_EXTRA_RAW:
            lf_json_raw(js, x->str.ptr, x->str.len);
            break;
        }
    }
}

/* Path components of every field, split once. */
typedef struct field_parts {
    int n;
    const char *parts[8];
    size_t lens[8];
} field_parts_t;

static field_parts_t field_parts[LF_F_COUNT];
static pthread_once_t field_parts_once = PTHREAD_ONCE_INIT;

static void field_parts_init(void)
{
    for (int id = 0; id < LF_F_COUNT; id++)
        field_parts[id].n =
            split_path(field_table[id].path, field_parts[id].parts, field_parts[id].lens);
}

lf_err_t lf_event_to_json(lf_event_t *ev, lf_buf_t *out, lf_buf_t *scratch)
{
    lf_err_t err = LF_OK;
    if (lf_event_has(ev, LF_F_EVENT_ORIGINAL)) {
        lf_str_t orig = ev->str[LF_F_EVENT_ORIGINAL];
        if (!lf_utf8_valid(orig.ptr, orig.len)) {
            ev->flags |= LF_EVFLAG(INVALID_UTF8);
            base64(scratch, (const unsigned char *)orig.ptr, orig.len, &err);
            if (err != LF_OK)
                return err;
            lf_event_set_str(ev, LF_F_LIANFANG_ORIGINAL_B64, lf_str_n(scratch->data, scratch->len));
        }
    }
    pthread_once(&field_parts_once, field_parts_init);
    lf_buf_reset(out);
    lf_json_t js;
    lf_json_init(&js, out);
    lf_json_object_begin(&js);
    const char *open_parts[8];
    size_t open_lens[8];
    int open_n = 0;
    bool flags_written = false;
    for (int id = 0; id < LF_F_COUNT; id++) {
        if (!lf_event_has(ev, (lf_field_id_t)id))
            continue;
        const char *const *parts = field_parts[id].parts;
        const size_t *lens = field_parts[id].lens;
        int n = field_parts[id].n;
        /* Emit lianfang.flags right before leaving/after entering "lianfang". */
        int common = 0;
        while (common < open_n && common < n - 1 && open_lens[common] == lens[common] &&
               memcmp(open_parts[common], parts[common], lens[common]) == 0)
            common++;
        while (open_n > common) {
            flags_written |=
                maybe_write_flags(&js, ev, open_parts, open_lens, open_n, flags_written);
            lf_json_object_end(&js);
            open_n--;
        }
        for (int i = open_n; i < n - 1; i++) {
            lf_json_key_trusted(&js, parts[i], lens[i]);
            lf_json_object_begin(&js);
            open_parts[open_n] = parts[i];
            open_lens[open_n] = lens[i];
            open_n++;
        }
        if (field_table[id].kind == LF_KIND_EXTRA) {
            write_extras(&js, ev, (lf_field_id_t)id);
            continue;
        }
        lf_json_key_trusted(&js, parts[n - 1], lens[n - 1]);
        switch (field_table[id].kind) {
        case LF_KIND_STR:
        case LF_KIND_IP:
        case LF_KIND_EXTRA:
            lf_json_string(&js, ev->str[id].ptr, ev->str[id].len);
            break;
        case LF_KIND_LIST: {
            lf_json_array_begin(&js);
            const char *p = ev->str[id].ptr, *end = p + ev->str[id].len;
            while (p < end) {
                const char *q = memchr(p, ',', (size_t)(end - p));
                if (!q)
                    q = end;
                if (q > p)
                    lf_json_string(&js, p, (size_t)(q - p));
                p = q + 1;
            }
            lf_json_array_end(&js);
            break;
        }
        case LF_KIND_INT:
            lf_json_int(&js, ev->num[id]);
            break;
        case LF_KIND_TS:
            lf_json_timestamp_ms(&js, ev->num[id]);
            break;
        }
    }
    while (open_n > 0) {
        flags_written |= maybe_write_flags(&js, ev, open_parts, open_lens, open_n, flags_written);
        lf_json_object_end(&js);
        open_n--;
    }
    lf_json_object_end(&js);
    return lf_json_error(&js);
}
