/* journald.c - framing of systemd journal entries sent by lianfang-agent's
 * journald sources.
 *
 * The agent sends each journal entry as one flat JSON object whose first
 * member is __REALTIME_TIMESTAMP and whose members are journal fields with
 * string values (agent/agent_journald.h):
 *
 *   {"__REALTIME_TIMESTAMP":"1773104520000000","_HOSTNAME":"web01",
 *    "SYSLOG_IDENTIFIER":"sshd","_PID":"812","PRIORITY":"6",...,"MESSAGE":"..."}
 *
 * Like syslog framing, this fills the header fields (@timestamp, host,
 * process, severity, facility, systemd unit) and leaves MESSAGE as the body
 * and SYSLOG_IDENTIFIER as the program, so the content decoders (sshd,
 * sudo, pam, ...) decode journal messages exactly as they decode syslog
 * lines. A record that starts like one but is not a flat object of strings
 * is not taken (the generic JSON decoder may still take it).
 */
#include "lf_decoder.h"

#include <string.h>

#define JOURNALD_PREFIX "{\"__REALTIME_TIMESTAMP\":\""

typedef struct jfield_map {
    const char *name;
    lf_field_id_t id; /* LF_F_COUNT: handled in code */
} jfield_map_t;

/* Journal fields and the ECS fields they fill; the first of several for one
 * ECS field wins (SYSLOG_IDENTIFIER before _COMM). */
static const jfield_map_t field_map[] = {
    {"MESSAGE", LF_F_MESSAGE},
    {"_HOSTNAME", LF_F_LOG_SYSLOG_HOSTNAME},
    {"SYSLOG_IDENTIFIER", LF_F_LOG_SYSLOG_APPNAME},
    {"_COMM", LF_F_PROCESS_NAME},
    {"_PID", LF_F_PROCESS_PID},
    {"_UID", LF_F_USER_ID},
    {"PRIORITY", LF_F_LOG_SYSLOG_SEVERITY_CODE},
    {"SYSLOG_FACILITY", LF_F_LOG_SYSLOG_FACILITY_CODE},
    {"_SYSTEMD_UNIT", LF_F_SYSTEMD_UNIT},
    {"_EXE", LF_F_PROCESS_EXECUTABLE},
    {"_CMDLINE", LF_F_PROCESS_COMMAND_LINE},
};

static const char *const severity_names[] = {"emerg",   "alert",  "crit", "err",
                                             "warning", "notice", "info", "debug"};

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
        (*p)++;
}

/* Parses a JSON string at *p (its opening quote). Unescapes into arena
 * when it holds escapes (without an arena the escaped text is kept). */
static bool jstr(const char **p, const char *end, lf_arena_t *arena, lf_str_t *out)
{
    const char *s = ++*p;
    bool escapes = false;
    while (*p < end && **p != '"') {
        unsigned char c = (unsigned char)**p;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (end - *p < 2)
                return false;
            char e = (*p)[1];
            if (e == 'u') {
                if (end - *p < 6)
                    return false;
                for (int i = 2; i < 6; i++)
                    if (lf_hex_value((*p)[i]) < 0)
                        return false;
                *p += 6;
            } else if (strchr("\"\\/bfnrt", e) && e != '\0') {
                *p += 2;
            } else {
                return false;
            }
            escapes = true;
            continue;
        }
        (*p)++;
    }
    if (*p >= end)
        return false;
    size_t n = (size_t)(*p - s);
    (*p)++;
    char *o = escapes && arena ? lf_arena_alloc(arena, n) : NULL;
    if (!o) {
        *out = lf_str_n(s, n);
        return true;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        if (e == 'u') {
            unsigned cp = 0;
            for (int d = 1; d <= 4; d++)
                cp = cp * 16 + (unsigned)lf_hex_value(s[i + (size_t)d]);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* the agent never writes surrogates */
            if (cp < 0x80) {
                o[k++] = (char)cp;
            } else if (cp < 0x800) {
                o[k++] = (char)(0xC0 | (cp >> 6));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[k++] = (char)(0xE0 | (cp >> 12));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            }
            continue;
        }
        o[k++] = e == 'b'   ? '\b'
                 : e == 'f' ? '\f'
                 : e == 'n' ? '\n'
                 : e == 'r' ? '\r'
                 : e == 't' ? '\t'
                            : e;
    }
    *out = lf_str_n(o, k);
    return true;
}

/* A decimal of at most 18 digits, or -1. */
static int64_t parse_uint(lf_str_t t)
{
    if (t.len == 0 || t.len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (t.ptr[i] < '0' || t.ptr[i] > '9')
            return -1;
        v = v * 10 + (t.ptr[i] - '0');
    }
    return v;
}

static void set_field(lf_event_t *ev, lf_field_id_t id, lf_str_t v)
{
    if (lf_event_has(ev, id))
        return;
    switch (id) {
    case LF_F_PROCESS_PID:
    case LF_F_LOG_SYSLOG_SEVERITY_CODE:
    case LF_F_LOG_SYSLOG_FACILITY_CODE: {
        int64_t n = parse_uint(v);
        int64_t max = id == LF_F_PROCESS_PID                ? INT32_MAX
                      : id == LF_F_LOG_SYSLOG_SEVERITY_CODE ? 7
                                                            : 23;
        if (n >= 0 && n <= max)
            lf_event_set_num(ev, id, n);
        break;
    }
    case LF_F_LOG_SYSLOG_APPNAME:
        lf_event_set_str(ev, id, v);
        lf_event_set_str(ev, LF_F_PROCESS_NAME, v);
        break;
    case LF_F_LOG_SYSLOG_HOSTNAME:
        lf_event_set_str(ev, id, v);
        lf_event_set_str(ev, LF_F_HOST_NAME, v);
        break;
    default:
        lf_event_set_str(ev, id, v);
        break;
    }
}

bool lf_journald_frame(lf_str_t line, lf_arena_t *arena, lf_event_t *ev, lf_str_t *body,
                       lf_str_t *program)
{
    const size_t plen = sizeof JOURNALD_PREFIX - 1;
    if (line.len < plen || memcmp(line.ptr, JOURNALD_PREFIX, plen) != 0)
        return false;
    const char *p = line.ptr + 1, *end = line.ptr + line.len;
    bool first = true;
    for (;;) {
        skip_ws(&p, end);
        if (!first) {
            if (p < end && *p == '}')
                break;
            if (p >= end || *p != ',')
                return false;
            p++;
            skip_ws(&p, end);
        }
        first = false;
        lf_str_t key, val;
        if (p >= end || *p != '"' || !jstr(&p, end, NULL, &key))
            return false;
        skip_ws(&p, end);
        if (p >= end || *p != ':')
            return false;
        p++;
        skip_ws(&p, end);
        if (p >= end || *p != '"' || !jstr(&p, end, arena, &val))
            return false;
        if (lf_str_eq_c(key, "__REALTIME_TIMESTAMP")) {
            int64_t us = parse_uint(val);
            if (us < 0)
                return false;
            lf_event_set_num(ev, LF_F_TIMESTAMP, us / 1000);
            continue;
        }
        for (size_t i = 0; i < sizeof field_map / sizeof field_map[0]; i++) {
            if (lf_str_eq_c(key, field_map[i].name)) {
                set_field(ev, field_map[i].id, val);
                break;
            }
        }
    }
    p++; /* } */
    skip_ws(&p, end);
    if (p != end)
        return false;
    if (lf_event_has(ev, LF_F_LOG_SYSLOG_SEVERITY_CODE)) {
        int64_t sev = ev->num[LF_F_LOG_SYSLOG_SEVERITY_CODE];
        lf_event_set_str(ev, LF_F_LOG_LEVEL, lf_str_c(severity_names[sev]));
        if (lf_event_has(ev, LF_F_LOG_SYSLOG_FACILITY_CODE))
            lf_event_set_num(ev, LF_F_LOG_SYSLOG_PRIORITY,
                             ev->num[LF_F_LOG_SYSLOG_FACILITY_CODE] * 8 + sev);
    }
    if (!lf_event_has(ev, LF_F_MESSAGE))
        lf_event_set_str(ev, LF_F_MESSAGE, lf_str_c(""));
    *body = ev->str[LF_F_MESSAGE];
    *program = lf_event_has(ev, LF_F_LOG_SYSLOG_APPNAME) ? ev->str[LF_F_LOG_SYSLOG_APPNAME]
               : lf_event_has(ev, LF_F_PROCESS_NAME)     ? ev->str[LF_F_PROCESS_NAME]
                                                         : LF_STR_NULL;
    return true;
}
