/* CEF (ArcSight Common Event Format) and LEEF (IBM QRadar, 1.0 and 2.0).
 *
 * CEF: "CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|ext"
 * where the header escapes '|' and '\' with a backslash and the extension
 * is key=value pairs separated by spaces, values escaping '=', '\', \n, \r.
 * A header with fewer than seven '|' or a bad header escape fails the
 * record (kept as a generic event with the reason). Backslashes before
 * other characters in extension values are kept literally: many devices do
 * not escape Windows paths.
 *
 * LEEF: "LEEF:1.0|Vendor|Product|Version|EventID|" then tab-separated
 * key=value; 2.0 adds a delimiter field after EventID ("^", "x09", "0x7c").
 * Keys of both are mapped through a table; unknown keys go to labels.
 */
#include "lf_decoder.h"

#include <string.h>

typedef struct keymap {
    const char *key;
    lf_field_id_t id;
} keymap_t;

static const keymap_t cef_keys[] = {
    {"act", LF_F_EVENT_ACTION},
    {"app", LF_F_NETWORK_PROTOCOL},
    {"cat", LF_F_RULE_CATEGORY},
    {"destinationTranslatedAddress", LF_F_DESTINATION_NAT_IP},
    {"destinationTranslatedPort", LF_F_DESTINATION_NAT_PORT},
    {"deviceProcessName", LF_F_PROCESS_NAME},
    {"dhost", LF_F_DESTINATION_DOMAIN},
    {"dpt", LF_F_DESTINATION_PORT},
    {"dst", LF_F_DESTINATION_IP},
    {"duser", LF_F_DESTINATION_USER_NAME},
    {"dvchost", LF_F_OBSERVER_HOSTNAME},
    {"externalId", LF_F_EVENT_ID},
    {"filePath", LF_F_FILE_PATH},
    {"fname", LF_F_FILE_NAME},
    {"in", LF_F_SOURCE_BYTES},
    {"msg", LF_F_MESSAGE},
    {"out", LF_F_DESTINATION_BYTES},
    {"outcome", LF_F_EVENT_OUTCOME},
    {"proto", LF_F_NETWORK_TRANSPORT},
    {"reason", LF_F_EVENT_REASON},
    {"request", LF_F_URL_ORIGINAL},
    {"requestClientApplication", LF_F_USER_AGENT_ORIGINAL},
    {"requestMethod", LF_F_HTTP_REQUEST_METHOD},
    {"rt", LF_F_TIMESTAMP},
    {"shost", LF_F_SOURCE_DOMAIN},
    {"sourceTranslatedAddress", LF_F_SOURCE_NAT_IP},
    {"sourceTranslatedPort", LF_F_SOURCE_NAT_PORT},
    {"spid", LF_F_PROCESS_PID},
    {"sproc", LF_F_PROCESS_NAME},
    {"spt", LF_F_SOURCE_PORT},
    {"src", LF_F_SOURCE_IP},
    {"suser", LF_F_USER_NAME},
    {NULL, LF_F_COUNT},
};

static const keymap_t leef_keys[] = {
    {"action", LF_F_EVENT_ACTION},
    {"cat", LF_F_RULE_CATEGORY},
    {"devTime", LF_F_TIMESTAMP},
    {"domain", LF_F_USER_DOMAIN},
    {"dst", LF_F_DESTINATION_IP},
    {"dstBytes", LF_F_DESTINATION_BYTES},
    {"dstPackets", LF_F_DESTINATION_PACKETS},
    {"dstPort", LF_F_DESTINATION_PORT},
    {"dstPostNAT", LF_F_DESTINATION_NAT_IP},
    {"dstPostNATPort", LF_F_DESTINATION_NAT_PORT},
    {"identHostName", LF_F_SOURCE_DOMAIN},
    {"msg", LF_F_MESSAGE},
    {"policy", LF_F_RULE_NAME},
    {"proto", LF_F_NETWORK_TRANSPORT},
    {"sev", LF_F_EVENT_SEVERITY},
    {"src", LF_F_SOURCE_IP},
    {"srcBytes", LF_F_SOURCE_BYTES},
    {"srcPackets", LF_F_SOURCE_PACKETS},
    {"srcPort", LF_F_SOURCE_PORT},
    {"srcPostNAT", LF_F_SOURCE_NAT_IP},
    {"srcPostNATPort", LF_F_SOURCE_NAT_PORT},
    {"totalPackets", LF_F_NETWORK_PACKETS},
    {"url", LF_F_URL_ORIGINAL},
    {"usrName", LF_F_USER_NAME},
    {NULL, LF_F_COUNT},
};

static lf_field_id_t map_key(const keymap_t *map, lf_str_t k)
{
    for (const keymap_t *m = map; m->key; m++)
        if (lf_str_eq_c(k, m->key))
            return m->id;
    return LF_F_COUNT;
}

static lf_str_t lower(lf_dec_input_t *in, lf_str_t v)
{
    bool upper = false;
    for (size_t i = 0; i < v.len; i++)
        upper |= v.ptr[i] >= 'A' && v.ptr[i] <= 'Z';
    if (!upper)
        return v;
    char *p = lf_arena_alloc(in->arena, v.len);
    if (!p)
        return v;
    for (size_t i = 0; i < v.len; i++)
        p[i] = v.ptr[i] >= 'A' && v.ptr[i] <= 'Z' ? (char)(v.ptr[i] + 32) : v.ptr[i];
    return lf_str_n(p, v.len);
}

static void set_mapped(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, lf_str_t k, lf_str_t v)
{
    if (id == LF_F_COUNT) {
        if (v.len)
            lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_STR, k, v, 0);
        return;
    }
    if (id == LF_F_NETWORK_TRANSPORT || id == LF_F_NETWORK_PROTOCOL)
        v = lower(in, v);
    if (id == LF_F_EVENT_OUTCOME) {
        lf_str_t l = lower(in, v);
        if (lf_str_eq_c(l, "success") || lf_str_eq_c(l, "succeeded") || lf_str_eq_c(l, "allow"))
            v = lf_str_c("success");
        else if (lf_str_eq_c(l, "failure") || lf_str_eq_c(l, "failed") || lf_str_eq_c(l, "fail"))
            v = lf_str_c("failure");
        else
            v = lf_str_c("unknown");
    }
    lf_dec_set(in, ev, id, v);
    if (id == LF_F_USER_NAME)
        lf_dec_set(in, ev, LF_F_SOURCE_USER_NAME, v);
}

static void set_severity(lf_event_t *ev, lf_str_t sev)
{
    int64_t n;
    if (lf_dec_int(sev, &n)) {
        lf_event_set_num(ev, LF_F_EVENT_SEVERITY, n);
        return;
    }
    static const struct {
        const char *word;
        int n;
    } words[] = {{"Low", 3}, {"Medium", 6}, {"High", 8}, {"Very-High", 10}, {"Unknown", 0}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (lf_str_eq_c(sev, words[i].word))
            lf_event_set_num(ev, LF_F_EVENT_SEVERITY, words[i].n);
}

/* ---- CEF -------------------------------------------------------------------- */

bool lf_cef_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    return in->body.len >= 4 && memcmp(in->body.ptr, "CEF:", 4) == 0;
}

/* Splits the next header field ending at an unescaped '|', unescaping. */
static bool cef_header_field(lf_dec_input_t *in, const char **pp, const char *end, lf_str_t *out)
{
    const char *p = *pp, *start = p;
    bool escaped = false;
    while (p < end && *p != '|') {
        if (*p == '\\') {
            if (p + 1 >= end || (p[1] != '|' && p[1] != '\\')) {
                in->error = "invalid escape in CEF header (only \\| and \\\\ are allowed)";
                return false;
            }
            escaped = true;
            p += 2;
            continue;
        }
        p++;
    }
    if (p >= end) {
        in->error = "CEF header has fewer than 8 '|'-separated fields";
        return false;
    }
    if (!escaped) {
        *out = lf_str_n(start, (size_t)(p - start));
    } else {
        char *o = lf_arena_alloc(in->arena, (size_t)(p - start));
        if (!o) {
            in->error = "decode arena full";
            return false;
        }
        size_t n = 0;
        for (const char *q = start; q < p; q++) {
            if (*q == '\\')
                q++;
            o[n++] = *q;
        }
        *out = lf_str_n(o, n);
    }
    *pp = p + 1;
    return true;
}

static bool cef_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '[' || c == ']';
}

/* Start of the next " key=" after p (the space's position), or end. */
static const char *cef_next_key(const char *p, const char *end)
{
    for (const char *q = p; q < end; q++) {
        if (*q == '\\') {
            q++;
            continue;
        }
        if (*q != '=')
            continue;
        const char *k = q;
        while (k > p && cef_key_char(k[-1]))
            k--;
        if (k < q && k > p && k[-1] == ' ')
            return k - 1;
    }
    return end;
}

static lf_str_t cef_unescape(lf_dec_input_t *in, lf_str_t v)
{
    if (!memchr(v.ptr, '\\', v.len))
        return v;
    char *o = lf_arena_alloc(in->arena, v.len);
    if (!o)
        return v;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (c == '\\' && i + 1 < v.len) {
            char d = v.ptr[i + 1];
            if (d == '=' || d == '\\') {
                o[n++] = d;
                i++;
                continue;
            }
            if (d == 'n' || d == 'r') {
                o[n++] = d == 'n' ? '\n' : '\r';
                i++;
                continue;
            }
        }
        o[n++] = c;
    }
    return lf_str_n(o, n);
}

#define CEF_CUSTOM_MAX 16

lf_dec_rc_t lf_cef_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    if (!lf_cef_probe(dec, in))
        return LF_DEC_NOMATCH;
    const char *p = in->body.ptr + 4, *end = in->body.ptr + in->body.len;
    lf_str_t h[7];
    for (int i = 0; i < 7; i++)
        if (!cef_header_field(in, &p, end, &h[i]))
            return LF_DEC_FAIL;
    int64_t version;
    if (!lf_dec_int(h[0], &version) || version < 0 || version > 1) {
        in->error = "CEF version is not 0 or 1";
        return LF_DEC_FAIL;
    }
    lf_dec_set(in, ev, LF_F_OBSERVER_VENDOR, h[1]);
    lf_dec_set(in, ev, LF_F_OBSERVER_PRODUCT, h[2]);
    lf_dec_set(in, ev, LF_F_OBSERVER_VERSION, h[3]);
    lf_dec_set(in, ev, LF_F_EVENT_CODE, h[4]);
    lf_dec_set(in, ev, LF_F_RULE_NAME, h[5]);
    lf_dec_set(in, ev, LF_F_MESSAGE, h[5]);
    set_severity(ev, h[6]);
    lf_event_set_str(ev, LF_F_EVENT_MODULE, lf_str_c("cef"));
    /* Custom strings/numbers: csN + csNLabel become labels.<label>. */
    struct cef_custom {
        lf_str_t name, value, label;
    } custom[CEF_CUSTOM_MAX];
    size_t ncustom = 0;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *k = p;
        while (p < end && cef_key_char(*p))
            p++;
        if (p >= end || *p != '=' || p == k)
            break; /* trailing text that is not key=value: kept in event.original */
        lf_str_t key = lf_str_n(k, (size_t)(p - k));
        p++;
        const char *vend = cef_next_key(p, end);
        lf_str_t val = cef_unescape(in, lf_str_n(p, (size_t)(vend - p)));
        while (val.len && val.ptr[val.len - 1] == ' ')
            val.len--;
        p = vend;
        bool is_custom = key.len >= 3 && key.ptr[0] == 'c' &&
                         (key.ptr[1] == 's' || key.ptr[1] == 'n') && key.ptr[2] >= '1' &&
                         key.ptr[2] <= '9';
        if (is_custom) {
            bool label = key.len >= 8 && memcmp(key.ptr + key.len - 5, "Label", 5) == 0;
            lf_str_t base = lf_str_n(key.ptr, label ? key.len - 5 : key.len);
            size_t i = 0;
            while (i < ncustom && !lf_str_eq(custom[i].name, base))
                i++;
            if (i == ncustom && ncustom < CEF_CUSTOM_MAX)
                custom[ncustom++] = (struct cef_custom){base, LF_STR_NULL, LF_STR_NULL};
            if (i < ncustom) {
                if (label)
                    custom[i].label = val;
                else
                    custom[i].value = val;
            }
            continue;
        }
        if (lf_str_eq_c(key, "deviceDirection")) {
            lf_event_set_str(ev, LF_F_NETWORK_DIRECTION,
                             lf_str_c(lf_str_eq_c(val, "0") ? "inbound" : "outbound"));
            continue;
        }
        set_mapped(in, ev, map_key(cef_keys, key), key, val);
    }
    for (size_t i = 0; i < ncustom; i++)
        if (custom[i].value.len)
            lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_STR,
                               custom[i].label.len ? custom[i].label : custom[i].name,
                               custom[i].value, 0);
    return LF_DEC_OK;
}

/* ---- LEEF ------------------------------------------------------------------- */

bool lf_leef_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    return in->body.len >= 5 && memcmp(in->body.ptr, "LEEF:", 5) == 0;
}

lf_dec_rc_t lf_leef_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    if (!lf_leef_probe(dec, in))
        return LF_DEC_NOMATCH;
    const char *p = in->body.ptr + 5, *end = in->body.ptr + in->body.len;
    lf_str_t h[6];
    int nh = 0;
    /* version|vendor|product|version|eventid| [delim|] */
    while (nh < 5) {
        const char *q = memchr(p, '|', (size_t)(end - p));
        if (!q) {
            in->error = "LEEF header has fewer than 5 '|'-separated fields";
            return LF_DEC_FAIL;
        }
        h[nh++] = lf_str_n(p, (size_t)(q - p));
        p = q + 1;
    }
    bool v2 = lf_str_eq_c(h[0], "2.0");
    if (!v2 && !lf_str_eq_c(h[0], "1.0")) {
        in->error = "LEEF version is not 1.0 or 2.0";
        return LF_DEC_FAIL;
    }
    char delim = '\t';
    if (v2) {
        const char *q = memchr(p, '|', (size_t)(end - p));
        if (q && q - p <= 6) {
            lf_str_t d = lf_str_n(p, (size_t)(q - p));
            if (d.len == 1) {
                delim = d.ptr[0];
            } else if (d.len >= 3 && (d.ptr[0] == 'x' || d.ptr[0] == 'X' ||
                                      (d.ptr[0] == '0' && (d.ptr[1] == 'x' || d.ptr[1] == 'X')))) {
                size_t o = d.ptr[0] == '0' ? 2 : 1;
                int v = 0;
                for (size_t i = o; i < d.len; i++) {
                    int x = lf_hex_value(d.ptr[i]);
                    if (x < 0) {
                        in->error = "LEEF 2.0 delimiter is not a character or hex code";
                        return LF_DEC_FAIL;
                    }
                    v = v * 16 + x;
                }
                if (v <= 0 || v > 127) {
                    in->error = "LEEF 2.0 delimiter out of range";
                    return LF_DEC_FAIL;
                }
                delim = (char)v;
            } else if (d.len != 0) {
                in->error = "LEEF 2.0 delimiter is not a character or hex code";
                return LF_DEC_FAIL;
            }
            p = q + 1;
        }
    }
    lf_dec_set(in, ev, LF_F_OBSERVER_VENDOR, h[1]);
    lf_dec_set(in, ev, LF_F_OBSERVER_PRODUCT, h[2]);
    lf_dec_set(in, ev, LF_F_OBSERVER_VERSION, h[3]);
    lf_dec_set(in, ev, LF_F_EVENT_CODE, h[4]);
    lf_event_set_str(ev, LF_F_EVENT_MODULE, lf_str_c("leef"));
    while (p < end) {
        const char *q = memchr(p, delim, (size_t)(end - p));
        if (!q)
            q = end;
        const char *eq = memchr(p, '=', (size_t)(q - p));
        if (eq && eq > p) {
            lf_str_t key = lf_str_n(p, (size_t)(eq - p));
            lf_str_t val = lf_str_n(eq + 1, (size_t)(q - eq - 1));
            if (!lf_str_eq_c(key, "devTimeFormat"))
                set_mapped(in, ev, map_key(leef_keys, key), key, val);
        }
        p = q + 1;
    }
    return LF_DEC_OK;
}
