/* Helpers shared by the decoders: typed field setting, arena copies. */
#include "lf_decoder.h"

#include <string.h>

bool lf_dec_int(lf_str_t s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len || s.len - i > 18)
        return false;
    int64_t v = 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (s.ptr[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

lf_str_t lf_dec_dup(lf_dec_input_t *in, lf_str_t s)
{
    char *p = lf_arena_alloc(in->arena, s.len ? s.len : 1);
    if (!p)
        return LF_STR_NULL;
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return lf_str_n(p, s.len);
}

void lf_dec_list_add(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, const char *kw)
{
    size_t kl = strlen(kw);
    if (!lf_event_has(ev, id)) {
        lf_event_set_str(ev, id, lf_str_n(kw, kl));
        return;
    }
    lf_str_t cur = ev->str[id];
    char *p = lf_arena_alloc(in->arena, cur.len + 1 + kl);
    if (!p)
        return;
    memcpy(p, cur.ptr, cur.len);
    p[cur.len] = ',';
    memcpy(p + cur.len + 1, kw, kl);
    lf_event_set_str(ev, id, lf_str_n(p, cur.len + 1 + kl));
}

const char *lf_dec_memmem(lf_str_t hay, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return hay.ptr;
    if (hay.len < nlen)
        return NULL;
    return memmem(hay.ptr, hay.len, needle, nlen);
}

bool lf_dec_set(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, lf_str_t v)
{
    if (id >= LF_F_COUNT || v.len == 0 || (v.len == 1 && v.ptr[0] == '-'))
        return false;
    if (id == LF_F_NETWORK_TRANSPORT || id == LF_F_NETWORK_PROTOCOL) {
        /* ECS keeps these lowercase ("tcp", "dns"). */
        bool upper = false;
        for (size_t i = 0; i < v.len; i++)
            upper |= v.ptr[i] >= 'A' && v.ptr[i] <= 'Z';
        char *p = upper ? lf_arena_alloc(in->arena, v.len) : NULL;
        if (p) {
            for (size_t i = 0; i < v.len; i++)
                p[i] = v.ptr[i] >= 'A' && v.ptr[i] <= 'Z' ? (char)(v.ptr[i] + 32) : v.ptr[i];
            v = lf_str_n(p, v.len);
        }
    }
    switch (lf_field_kind(id)) {
    case LF_KIND_STR:
    case LF_KIND_LIST:
        lf_event_set_str(ev, id, v);
        return true;
    case LF_KIND_INT: {
        int64_t n;
        if (!lf_dec_int(v, &n))
            return false;
        lf_event_set_num(ev, id, n);
        return true;
    }
    case LF_KIND_IP:
        if (lf_event_set_ip(ev, id, v))
            return true;
        if (id == LF_F_SOURCE_IP && v.len < 256)
            lf_event_set_str(ev, LF_F_SOURCE_DOMAIN, v);
        else if (id == LF_F_DESTINATION_IP && v.len < 256)
            lf_event_set_str(ev, LF_F_DESTINATION_DOMAIN, v);
        return false;
    case LF_KIND_TS: {
        int64_t ms;
        uint32_t flags = 0;
        if (!lf_decode_time(in->ctx, v, &ms, &flags))
            return false;
        lf_event_set_num(ev, id, ms);
        if (id == LF_F_TIMESTAMP) {
            /* The content's own time replaces what framing guessed. */
            ev->flags &= ~(LF_EVFLAG(TZ_ASSUMED) | LF_EVFLAG(YEAR_INFERRED));
            ev->flags |= flags;
        }
        return true;
    }
    case LF_KIND_EXTRA:
        return false;
    }
    return false;
}
