/* JSON lines: generic JSON and Windows events forwarded as JSON.
 *
 * A small validating parser (RFC 8259) with a nesting limit
 * (LF_JSON_MAX_NESTING); strings are unescaped into the decode arena only
 * when they contain escapes. Generic mapping: a member whose dotted path is
 * an ECS field Lianfang knows (nested {"source":{"ip":..}} or dotted
 * "source.ip") fills that field; a few common aliases at the top level
 * (timestamp, msg, level, host, user, src_ip, ...) are recognised; every
 * other member is kept under json.<dotted path>. Windows events: a record
 * with winlog.event_id (Winlogbeat) or a top-level EventID (NXLog) is
 * handed to the Windows mapping shared with the XML decoder.
 */
#include "lf_decoder.h"
#include "lf_json.h"

#include <string.h>

#define LF_JSON_MAX_NESTING 64
#define PATH_MAX_LEN        256

enum jtype { J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL, J_OBJ, J_ARR };

typedef struct jparser jparser_t;
/* Called for each member; returns true to descend into an object value. */
typedef bool (*jdescend_fn)(jparser_t *jp, const char *path, size_t plen, int depth);
/* Called for each leaf (scalar, array, or object not descended into). */
typedef void (*jleaf_fn)(jparser_t *jp, const char *path, size_t plen, int depth, enum jtype t,
                         lf_str_t raw, lf_str_t str);

struct jparser {
    const char *p, *end;
    lf_dec_input_t *in;
    lf_event_t *ev;
    const char *err;
    jdescend_fn descend;
    jleaf_fn leaf;
    char path[PATH_MAX_LEN];
    lf_win_event_t *win;
    bool windows;
};

static void ws(jparser_t *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static bool hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int x = lf_hex_value(s[i]);
        if (x < 0)
            return false;
        v = v * 16 + (unsigned)x;
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at jp->p (the opening quote); *str gets its text. */
static bool jstring(jparser_t *jp, lf_str_t *str)
{
    const char *s = ++jp->p;
    bool escapes = false;
    while (jp->p < jp->end && *jp->p != '"') {
        unsigned char c = (unsigned char)*jp->p;
        if (c < 0x20) {
            jp->err = "control character in JSON string";
            return false;
        }
        if (c == '\\') {
            escapes = true;
            if (jp->p + 1 >= jp->end) {
                jp->p = jp->end;
                break;
            }
            char e = jp->p[1];
            if (e == 'u') {
                unsigned v;
                if (jp->end - jp->p < 6 || !hex4(jp->p + 2, &v)) {
                    jp->err = "bad \\u escape in JSON string";
                    return false;
                }
                jp->p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e)) {
                jp->err = "bad escape in JSON string";
                return false;
            }
            jp->p += 2;
            continue;
        }
        jp->p++;
    }
    if (jp->p >= jp->end) {
        jp->err = "truncated JSON string";
        return false;
    }
    size_t n = (size_t)(jp->p - s);
    jp->p++;
    if (!escapes) {
        *str = lf_str_n(s, n);
        return true;
    }
    char *o = lf_arena_alloc(jp->in->arena, n);
    if (!o) {
        jp->err = "decode arena full";
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            hex4(s + i + 1, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n + 0 && s[i + 1] == '\\' &&
                s[i + 2] == 'u') {
                unsigned lo;
                if (hex4(s + i + 3, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            /* A \uXXXX escape is 6 bytes, its UTF-8 at most 4 (a pair 12 -> 4). */
            k += put_utf8(o + k, cp);
            break;
        }
        default:
            o[k++] = e;
            break;
        }
    }
    *str = lf_str_n(o, k);
    return true;
}

static bool jnumber(jparser_t *jp)
{
    const char *p = jp->p;
    if (p < jp->end && *p == '-')
        p++;
    if (p >= jp->end || *p < '0' || *p > '9') {
        jp->err = "invalid JSON value";
        return false;
    }
    if (*p == '0')
        p++;
    else
        while (p < jp->end && *p >= '0' && *p <= '9')
            p++;
    if (p < jp->end && *p == '.') {
        p++;
        if (p >= jp->end || *p < '0' || *p > '9') {
            jp->err = "invalid JSON number";
            return false;
        }
        while (p < jp->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < jp->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < jp->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= jp->end || *p < '0' || *p > '9') {
            jp->err = "invalid JSON number";
            return false;
        }
        while (p < jp->end && *p >= '0' && *p <= '9')
            p++;
    }
    jp->p = p;
    return true;
}

static bool jvalue(jparser_t *jp, size_t plen, int depth, bool report);

static bool jobject(jparser_t *jp, size_t plen, int depth, bool report)
{
    jp->p++; /* { */
    ws(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return true;
    }
    for (;;) {
        ws(jp);
        if (jp->p >= jp->end || *jp->p != '"') {
            jp->err = jp->p >= jp->end ? "truncated JSON" : "expected a JSON member name";
            return false;
        }
        lf_str_t key;
        if (!jstring(jp, &key))
            return false;
        ws(jp);
        if (jp->p >= jp->end || *jp->p != ':') {
            jp->err = jp->p >= jp->end ? "truncated JSON" : "expected ':' in JSON object";
            return false;
        }
        jp->p++;
        size_t np = plen;
        bool fits = plen + (plen ? 1 : 0) + key.len < PATH_MAX_LEN;
        if (report && fits) {
            if (plen)
                jp->path[np++] = '.';
            memcpy(jp->path + np, key.ptr, key.len);
            np += key.len;
        }
        if (!jvalue(jp, np, depth + 1, report && fits))
            return false;
        ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            return true;
        }
        jp->err = jp->p >= jp->end ? "truncated JSON" : "expected ',' or '}' in JSON object";
        return false;
    }
}

static bool jarray(jparser_t *jp, int depth)
{
    jp->p++;
    ws(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return true;
    }
    for (;;) {
        if (!jvalue(jp, 0, depth + 1, false))
            return false;
        ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return true;
        }
        jp->err = jp->p >= jp->end ? "truncated JSON" : "expected ',' or ']' in JSON array";
        return false;
    }
}

static bool jvalue(jparser_t *jp, size_t plen, int depth, bool report)
{
    if (depth > LF_JSON_MAX_NESTING) {
        jp->err = "JSON nested deeper than 64 levels";
        return false;
    }
    ws(jp);
    if (jp->p >= jp->end) {
        jp->err = "truncated JSON";
        return false;
    }
    const char *start = jp->p;
    lf_str_t str = LF_STR_NULL;
    enum jtype t;
    switch (*jp->p) {
    case '{':
        if (report && jp->descend(jp, jp->path, plen, depth))
            return jobject(jp, plen, depth, true);
        if (!jobject(jp, plen, depth, false))
            return false;
        t = J_OBJ;
        break;
    case '[':
        if (!jarray(jp, depth))
            return false;
        t = J_ARR;
        break;
    case '"':
        if (!jstring(jp, &str))
            return false;
        t = J_STR;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const lits[] = {"true", "false", "null"};
        int i = *jp->p == 't' ? 0 : *jp->p == 'f' ? 1 : 2;
        size_t l = strlen(lits[i]);
        if ((size_t)(jp->end - jp->p) < l || memcmp(jp->p, lits[i], l) != 0) {
            jp->err = "invalid JSON literal";
            return false;
        }
        jp->p += l;
        t = i == 0 ? J_TRUE : i == 1 ? J_FALSE : J_NULL;
        break;
    }
    default:
        if (!jnumber(jp))
            return false;
        t = J_NUM;
        break;
    }
    if (report)
        jp->leaf(jp, jp->path, plen, depth, t, lf_str_n(start, (size_t)(jp->p - start)),
                 t == J_STR ? str : lf_str_n(start, (size_t)(jp->p - start)));
    return true;
}

static bool jparse(jparser_t *jp)
{
    ws(jp);
    if (jp->p >= jp->end || *jp->p != '{') {
        jp->err = "JSON record is not an object";
        return false;
    }
    if (!jvalue(jp, 0, 0, true))
        return false;
    ws(jp);
    if (jp->p != jp->end) {
        jp->err = "trailing data after the JSON object";
        return false;
    }
    return true;
}

/* ---- generic mapping ------------------------------------------------------- */

/* true when some ECS field Lianfang knows lies below path. */
static bool ecs_prefix(const char *path, size_t plen)
{
    int lo = 0, hi = LF_F_COUNT - 1;
    while (lo < hi) { /* first id with path >= prefix */
        int mid = (lo + hi) / 2;
        const char *p = lf_field_path((lf_field_id_t)mid);
        size_t l = strlen(p);
        int c = memcmp(p, path, l < plen ? l : plen);
        if (c < 0 || (c == 0 && l < plen))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < LF_F_COUNT && i <= lo + 1; i++) {
        const char *p = lf_field_path((lf_field_id_t)i);
        if (strlen(p) > plen && memcmp(p, path, plen) == 0 && p[plen] == '.')
            return true;
    }
    return false;
}

static const struct alias {
    const char *key;
    lf_field_id_t id;
} aliases[] = {
    {"EventTime", LF_F_TIMESTAMP},
    {"Message", LF_F_MESSAGE},
    {"client_ip", LF_F_SOURCE_IP},
    {"dst_ip", LF_F_DESTINATION_IP},
    {"dst_port", LF_F_DESTINATION_PORT},
    {"host", LF_F_HOST_NAME},
    {"hostname", LF_F_HOST_NAME},
    {"level", LF_F_LOG_LEVEL},
    {"msg", LF_F_MESSAGE},
    {"remote_addr", LF_F_SOURCE_IP},
    {"severity", LF_F_LOG_LEVEL},
    {"src_ip", LF_F_SOURCE_IP},
    {"src_port", LF_F_SOURCE_PORT},
    {"time", LF_F_TIMESTAMP},
    {"timestamp", LF_F_TIMESTAMP},
    {"ts", LF_F_TIMESTAMP},
    {"user", LF_F_USER_NAME},
    {"username", LF_F_USER_NAME},
};

static bool reserved(lf_field_id_t id)
{
    return id == LF_F_EVENT_ORIGINAL || id == LF_F_LIANFANG_DECODER ||
           id == LF_F_LIANFANG_DECODE_ERROR || id == LF_F_AGENT_ID || id == LF_F_EVENT_SEQUENCE ||
           id == LF_F_EVENT_INGESTED || id == LF_F_LIANFANG_ORIGINAL_B64 || id == LF_F_EVENT_KIND ||
           id == LF_F_LIANFANG_READ_TIME;
}

static bool generic_descend(jparser_t *jp, const char *path, size_t plen, int depth)
{
    return depth == 0 || ecs_prefix(path, plen);
}

static void keep_extra(jparser_t *jp, const char *path, size_t plen, enum jtype t, lf_str_t raw,
                       lf_str_t str)
{
    lf_str_t key = lf_dec_dup(jp->in, lf_str_n(path, plen));
    if (!key.ptr)
        return;
    if (t == J_STR)
        lf_event_add_extra(jp->ev, LF_F_JSON_EXTRA, LF_EXTRA_STR, key, str, 0);
    else if (lf_utf8_valid(raw.ptr, raw.len))
        lf_event_add_extra(jp->ev, LF_F_JSON_EXTRA, LF_EXTRA_RAW, key, raw, 0);
    else
        lf_event_add_extra(jp->ev, LF_F_JSON_EXTRA, LF_EXTRA_STR, key, raw, 0);
}

static void generic_leaf(jparser_t *jp, const char *path, size_t plen, int depth, enum jtype t,
                         lf_str_t raw, lf_str_t str)
{
    if (t == J_NULL)
        return;
    lf_field_id_t id = t == J_OBJ || t == J_ARR ? LF_F_COUNT : lf_field_lookup(path, plen);
    if (id == LF_F_COUNT && depth == 1 && t != J_OBJ && t != J_ARR) {
        for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
            if (strlen(aliases[i].key) == plen && memcmp(aliases[i].key, path, plen) == 0 &&
                !lf_event_has(jp->ev, aliases[i].id)) {
                id = aliases[i].id;
                break;
            }
    }
    if (id != LF_F_COUNT && !reserved(id)) {
        if (t == J_TRUE || t == J_FALSE)
            str = lf_str_c(t == J_TRUE ? "true" : "false");
        if (lf_dec_set(jp->in, jp->ev, id, str))
            return;
    }
    keep_extra(jp, path, plen, t, raw, str);
}

/* ---- Windows (Winlogbeat / NXLog) ------------------------------------------- */

static bool win_descend(jparser_t *jp, const char *path, size_t plen, int depth)
{
    return depth == 0 || (plen == 6 && memcmp(path, "winlog", 6) == 0) ||
           (plen == 17 && memcmp(path, "winlog.event_data", 17) == 0) ||
           (plen == 17 && memcmp(path, "winlog.user_data", 16) == 0) ||
           (plen == 4 && memcmp(path, "host", 4) == 0);
}

static bool path_is(const char *path, size_t plen, const char *want)
{
    return strlen(want) == plen && memcmp(path, want, plen) == 0;
}

static void win_leaf(jparser_t *jp, const char *path, size_t plen, int depth, enum jtype t,
                     lf_str_t raw, lf_str_t str)
{
    lf_win_event_t *we = jp->win;
    if (t == J_NULL || t == J_OBJ || t == J_ARR)
        return;
    if (path_is(path, plen, "winlog.event_id") || path_is(path, plen, "EventID"))
        we->event_id = str;
    else if (path_is(path, plen, "winlog.channel") || path_is(path, plen, "Channel"))
        we->channel = str;
    else if (path_is(path, plen, "winlog.computer_name") || path_is(path, plen, "Hostname"))
        we->computer = str;
    else if (path_is(path, plen, "winlog.provider_name") || path_is(path, plen, "SourceName") ||
             path_is(path, plen, "ProviderName"))
        we->provider = str;
    else if (path_is(path, plen, "winlog.record_id") || path_is(path, plen, "RecordNumber"))
        we->record_id = str;
    else if (path_is(path, plen, "@timestamp") || path_is(path, plen, "EventTime") ||
             path_is(path, plen, "TimeCreated"))
        we->time = str;
    else if (path_is(path, plen, "message") || path_is(path, plen, "Message"))
        we->message = str;
    else if (path_is(path, plen, "Severity") || path_is(path, plen, "log.level"))
        we->level = str;
    else if (plen > 18 && memcmp(path, "winlog.event_data.", 18) == 0 && we->ndata < 96)
        we->data[we->ndata++] =
            (lf_win_pair_t){lf_dec_dup(jp->in, lf_str_n(path + 18, plen - 18)), str};
    else if (plen > 17 && memcmp(path, "winlog.user_data.", 17) == 0 && we->ndata < 96)
        we->data[we->ndata++] =
            (lf_win_pair_t){lf_dec_dup(jp->in, lf_str_n(path + 17, plen - 17)), str};
    else if (depth == 1 && !memchr(path, '.', plen) && we->ndata < 96) {
        /* NXLog puts EventData members at the top level, beside its own. */
        static const char *const meta[] = {"EventReceivedTime",
                                           "SourceModuleName",
                                           "SourceModuleType",
                                           "Keywords",
                                           "EventType",
                                           "SeverityValue",
                                           "Opcode",
                                           "OpcodeValue",
                                           "Task",
                                           "ThreadID",
                                           "ExecutionProcessID",
                                           "Version",
                                           "Category",
                                           "ProviderGuid",
                                           "ActivityID",
                                           "AccountType",
                                           "UserID",
                                           "Domain",
                                           "AccountName",
                                           "ERROR_EVT_UNRESOLVED"};
        for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
            if (path_is(path, plen, meta[i]))
                return;
        lf_str_t key = lf_dec_dup(jp->in, lf_str_n(path, plen));
        if (key.ptr)
            we->data[we->ndata++] = (lf_win_pair_t){key, str};
    }
    (void)raw;
}

bool lf_json_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    const char *p = in->body.ptr, *end = p + in->body.len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end && *p == '{';
}

lf_dec_rc_t lf_json_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    jparser_t jp = {.p = in->body.ptr, .end = in->body.ptr + in->body.len, .in = in, .ev = ev};
    bool windows =
        lf_dec_memmem(in->body, "\"winlog\"", 8) || lf_dec_memmem(in->body, "\"EventID\"", 9);
    if (windows) {
        lf_win_event_t *we = (lf_win_event_t *)lf_arena_alloc(in->arena, sizeof *we);
        if (!we) {
            in->error = "decode arena full";
            return LF_DEC_FAIL;
        }
        memset(we, 0, sizeof *we);
        jp.win = we;
        jp.descend = win_descend;
        jp.leaf = win_leaf;
        if (!jparse(&jp)) {
            in->error = jp.err;
            return LF_DEC_FAIL;
        }
        if (we->event_id.len) {
            lf_dec_rc_t rc = lf_win_apply(in, we, ev);
            if (rc == LF_DEC_OK)
                in->rule = "winlogbeat/nxlog";
            return rc;
        }
        jp.p = in->body.ptr;
    }
    /* message comes from the JSON, not the whole line (event.original has it). */
    lf_event_unset(ev, LF_F_MESSAGE);
    jp.descend = generic_descend;
    jp.leaf = generic_leaf;
    if (!jparse(&jp)) {
        in->error = jp.err;
        return LF_DEC_FAIL;
    }
    return LF_DEC_OK;
}
