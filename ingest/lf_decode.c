#include "lf_decode.h"
#include "decode/lf_decoder.h"
#include "lf_time.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits at s[*pos]. */
static bool digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
    if (*pos + (size_t)n > len)
        return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + (size_t)i];
        if (!is_digit(c))
            return false;
        v = v * 10 + (c - '0');
    }
    *pos += (size_t)n;
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *pos, char c)
{
    if (*pos < len && s[*pos] == c) {
        (*pos)++;
        return true;
    }
    return false;
}

static int64_t civil_to_ms(int y, int mo, int d, int h, int mi, int sec, int ms)
{
    int64_t days = lf_time_days_from_civil(y, (unsigned)mo, (unsigned)d);
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
}

static bool valid_civil(int mo, int d, int h, int mi, int sec)
{
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60;
}

bool lf_decode_rfc3339(const char *s, size_t len, size_t *pos, int32_t default_tz_min,
                       int64_t *epoch_ms, bool *tz_assumed)
{
    size_t p = *pos;
    int y, mo, d, h, mi, sec, ms = 0;
    if (!digits(s, len, &p, 4, &y) || !expect(s, len, &p, '-') || !digits(s, len, &p, 2, &mo) ||
        !expect(s, len, &p, '-') || !digits(s, len, &p, 2, &d))
        return false;
    if (!(expect(s, len, &p, 'T') || expect(s, len, &p, 't') || expect(s, len, &p, ' ')))
        return false;
    if (!digits(s, len, &p, 2, &h) || !expect(s, len, &p, ':') || !digits(s, len, &p, 2, &mi) ||
        !expect(s, len, &p, ':') || !digits(s, len, &p, 2, &sec))
        return false;
    if (!valid_civil(mo, d, h, mi, sec))
        return false;
    if (expect(s, len, &p, '.') || expect(s, len, &p, ',')) {
        int n = 0;
        while (p < len && is_digit(s[p])) {
            if (n < 3)
                ms = ms * 10 + (s[p] - '0');
            n++;
            p++;
        }
        if (n == 0)
            return false;
        for (; n < 3; n++)
            ms *= 10;
    }
    int32_t tz = default_tz_min;
    bool assumed = true;
    if (expect(s, len, &p, 'Z') || expect(s, len, &p, 'z')) {
        tz = 0;
        assumed = false;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1;
        p++;
        int th, tm;
        if (!digits(s, len, &p, 2, &th))
            return false;
        expect(s, len, &p, ':');
        if (!digits(s, len, &p, 2, &tm) || th > 23 || tm > 59)
            return false;
        tz = sign * (th * 60 + tm);
        assumed = false;
    }
    *epoch_ms = civil_to_ms(y, mo, d, h, mi, sec > 59 ? 59 : sec, ms) - (int64_t)tz * 60000;
    *tz_assumed = assumed;
    *pos = p;
    return true;
}

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "Mmm dd hh:mm:ss" (dd may be space-padded), optional ".fff", optional
 * " YYYY" is not used by syslog and not accepted. */
/* The year that puts month/day closest to the reference in the source's
 * zone: that of the reference, moved back a year when that would put the
 * record more than 7 days in the future, and forward when it would be more
 * than 358 days in the past. Returns local epoch ms. */
static int64_t infer_year(const lf_decode_ctx_t *ctx, int mo, int d, int h, int mi, int sec, int ms)
{
    int64_t ref_local = ctx->reference_ms + (int64_t)ctx->tz_offset_min * 60000;
    int64_t days = ref_local >= 0 ? ref_local / 86400000 : (ref_local - 86399999) / 86400000;
    /* civil_from_days, year only */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t ref_month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (ref_month <= 2);
    int64_t t = civil_to_ms((int)year, mo, d, h, mi, sec > 59 ? 59 : sec, ms);
    if (t > ref_local + 7LL * 86400000)
        t = civil_to_ms((int)year - 1, mo, d, h, mi, sec > 59 ? 59 : sec, ms);
    else if (t < ref_local - 358LL * 86400000)
        t = civil_to_ms((int)year + 1, mo, d, h, mi, sec > 59 ? 59 : sec, ms);
    return t;
}

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i + 1;
    return -1;
}

/* "Mmm dd hh:mm:ss" (dd may be space-padded), optional ".fff", and the
 * Cisco form "Mmm dd yyyy hh:mm:ss". *year_given tells which. Returns
 * local epoch ms in *local_ms. */
static bool parse_bsd_time(const lf_decode_ctx_t *ctx, const char *s, size_t len, size_t *pos,
                           int64_t *local_ms, bool *year_given)
{
    size_t p = *pos;
    if (p + 15 > len)
        return false;
    int mo = month_of(s + p);
    if (mo < 0 || s[p + 3] != ' ')
        return false;
    p += 4;
    int d;
    if (s[p] == ' ') {
        p++;
        if (!digits(s, len, &p, 1, &d))
            return false;
    } else if (!digits(s, len, &p, 2, &d)) {
        if (!digits(s, len, &p, 1, &d))
            return false;
    }
    int year = -1;
    if (!expect(s, len, &p, ' '))
        return false;
    if (p + 5 <= len && is_digit(s[p]) && is_digit(s[p + 1]) && is_digit(s[p + 2]) &&
        is_digit(s[p + 3]) && s[p + 4] == ' ') {
        digits(s, len, &p, 4, &year);
        p++;
    }
    int h, mi, sec, ms = 0;
    if (!digits(s, len, &p, 2, &h) || !expect(s, len, &p, ':') || !digits(s, len, &p, 2, &mi) ||
        !expect(s, len, &p, ':') || !digits(s, len, &p, 2, &sec))
        return false;
    if (!valid_civil(mo, d, h, mi, sec))
        return false;
    if (p < len && s[p] == '.') {
        size_t q = p + 1;
        int n = 0;
        while (q < len && is_digit(s[q])) {
            if (n < 3)
                ms = ms * 10 + (s[q] - '0');
            n++;
            q++;
        }
        if (n > 0) {
            for (; n < 3; n++)
                ms *= 10;
            p = q;
        }
    }
    if (year >= 0)
        *local_ms = civil_to_ms(year, mo, d, h, mi, sec > 59 ? 59 : sec, ms);
    else
        *local_ms = infer_year(ctx, mo, d, h, mi, sec, ms);
    *year_given = year >= 0;
    *pos = p;
    return true;
}

/* Next space-delimited token; returns false at end of input. */
static bool token(const char *s, size_t len, size_t *pos, lf_str_t *out)
{
    size_t p = *pos;
    if (p >= len)
        return false;
    size_t start = p;
    while (p < len && s[p] != ' ')
        p++;
    if (p == start)
        return false;
    *out = lf_str_n(s + start, p - start);
    if (p < len)
        p++; /* the separating space */
    *pos = p;
    return true;
}

static bool parse_pri(const char *s, size_t len, size_t *pos, int *pri)
{
    size_t p = *pos;
    if (p >= len || s[p] != '<')
        return false;
    p++;
    int v = 0, n = 0;
    while (p < len && is_digit(s[p]) && n < 3) {
        v = v * 10 + (s[p] - '0');
        p++;
        n++;
    }
    if (n == 0 || p >= len || s[p] != '>' || v > 191)
        return false;
    *pri = v;
    *pos = p + 1;
    return true;
}

static void set_pri(lf_event_t *ev, int pri)
{
    lf_event_set_num(ev, LF_F_LOG_SYSLOG_PRIORITY, pri);
    lf_event_set_num(ev, LF_F_LOG_SYSLOG_FACILITY_CODE, pri / 8);
    lf_event_set_num(ev, LF_F_LOG_SYSLOG_SEVERITY_CODE, pri % 8);
}

static bool is_nil(lf_str_t t)
{
    return t.len == 1 && t.ptr[0] == '-';
}

static int64_t parse_pid(lf_str_t t)
{
    if (t.len == 0 || t.len > 10)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (!is_digit(t.ptr[i]))
            return -1;
        v = v * 10 + (t.ptr[i] - '0');
    }
    return v;
}

/* Skips RFC 5424 structured data: "-" or one or more [id k="v" ...]. */
static bool skip_sd(const char *s, size_t len, size_t *pos)
{
    size_t p = *pos;
    if (p < len && s[p] == '-') {
        p++;
    } else {
        if (p >= len || s[p] != '[')
            return false;
        while (p < len && s[p] == '[') {
            bool in_quote = false;
            p++;
            while (p < len) {
                char c = s[p];
                if (in_quote && c == '\\' && p + 1 < len) {
                    p += 2;
                    continue;
                }
                if (c == '"')
                    in_quote = !in_quote;
                else if (c == ']' && !in_quote)
                    break;
                p++;
            }
            if (p >= len)
                return false;
            p++; /* ']' */
        }
    }
    if (p < len && s[p] == ' ')
        p++;
    *pos = p;
    return true;
}

static const char *decode_5424(const lf_decode_ctx_t *ctx, const char *s, size_t len, size_t p,
                               lf_event_t *ev)
{
    lf_str_t ts_tok, host, app, procid, msgid;
    size_t ts_pos = p;
    int64_t ts;
    bool tz_assumed = false;
    if (!token(s, len, &p, &ts_tok))
        return NULL;
    if (!is_nil(ts_tok)) {
        size_t q = ts_pos;
        if (!lf_decode_rfc3339(s, ts_pos + ts_tok.len, &q, ctx->tz_offset_min, &ts, &tz_assumed) ||
            q != ts_pos + ts_tok.len)
            return NULL;
        lf_event_set_num(ev, LF_F_TIMESTAMP, ts);
        if (tz_assumed)
            ev->flags |= LF_EVFLAG(TZ_ASSUMED);
    }
    if (!token(s, len, &p, &host) || !token(s, len, &p, &app) || !token(s, len, &p, &procid) ||
        !token(s, len, &p, &msgid))
        return NULL;
    if (!skip_sd(s, len, &p))
        return NULL;
    lf_event_set_str(ev, LF_F_LOG_SYSLOG_VERSION, lf_str_n("1", 1));
    if (!is_nil(host)) {
        lf_event_set_str(ev, LF_F_LOG_SYSLOG_HOSTNAME, host);
        lf_event_set_str(ev, LF_F_HOST_NAME, host);
    }
    if (!is_nil(app)) {
        lf_event_set_str(ev, LF_F_LOG_SYSLOG_APPNAME, app);
        lf_event_set_str(ev, LF_F_PROCESS_NAME, app);
    }
    if (!is_nil(procid)) {
        lf_event_set_str(ev, LF_F_LOG_SYSLOG_PROCID, procid);
        int64_t pid = parse_pid(procid);
        if (pid >= 0)
            lf_event_set_num(ev, LF_F_PROCESS_PID, pid);
    }
    if (!is_nil(msgid))
        lf_event_set_str(ev, LF_F_LOG_SYSLOG_MSGID, msgid);
    /* A UTF-8 BOM may start MSG. */
    if (len - p >= 3 && memcmp(s + p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    lf_event_set_str(ev, LF_F_MESSAGE, lf_str_n(s + p, len - p));
    return "syslog-5424";
}

static const char *decode_3164(const lf_decode_ctx_t *ctx, const char *s, size_t len, size_t p,
                               lf_event_t *ev)
{
    int64_t ts;
    bool tz_assumed = false, year_given = false;
    if (parse_bsd_time(ctx, s, len, &p, &ts, &year_given)) {
        ts -= (int64_t)ctx->tz_offset_min * 60000;
        ev->flags |= LF_EVFLAG(TZ_ASSUMED);
        if (!year_given)
            ev->flags |= LF_EVFLAG(YEAR_INFERRED);
        expect(s, len, &p, ':'); /* Cisco: "Mar 10 2026 09:02:00: %ASA-..." */
    } else if (!lf_decode_rfc3339(s, len, &p, ctx->tz_offset_min, &ts, &tz_assumed)) {
        return NULL;
    } else if (tz_assumed) {
        ev->flags |= LF_EVFLAG(TZ_ASSUMED);
    }
    lf_event_set_num(ev, LF_F_TIMESTAMP, ts);
    if (!expect(s, len, &p, ' '))
        return NULL;
    if (p < len && s[p] != '%') { /* Cisco without device-id: no host */
        lf_str_t host;
        if (!token(s, len, &p, &host))
            return NULL;
        lf_event_set_str(ev, LF_F_LOG_SYSLOG_HOSTNAME, host);
        lf_event_set_str(ev, LF_F_HOST_NAME, host);
        if (len - p >= 2 && s[p] == ':' && s[p + 1] == ' ')
            p += 2; /* "asa01 : %ASA-..." */
    }
    /* TAG: up to 48 chars of [A-Za-z0-9._/-], optional [pid], then ':' */
    size_t q = p;
    while (q < len && q - p < 48 && s[q] != '[' && s[q] != ':' && s[q] != ' ')
        q++;
    lf_str_t tag = lf_str_n(s + p, q - p);
    bool format_marker = lf_str_eq_c(tag, "CEF") || lf_str_eq_c(tag, "LEEF");
    if (q > p && q < len && (s[q] == '[' || s[q] == ':') && !format_marker) {
        size_t r = q;
        lf_str_t pid = LF_STR_NULL;
        if (s[r] == '[') {
            size_t start = r + 1;
            while (r < len && s[r] != ']')
                r++;
            if (r < len) {
                pid = lf_str_n(s + start, r - start);
                r++;
            }
        }
        if (r < len && s[r] == ':') {
            r++;
            if (r < len && s[r] == ' ')
                r++;
            lf_event_set_str(ev, LF_F_LOG_SYSLOG_APPNAME, tag);
            lf_event_set_str(ev, LF_F_PROCESS_NAME, tag);
            if (pid.len) {
                lf_event_set_str(ev, LF_F_LOG_SYSLOG_PROCID, pid);
                int64_t v = parse_pid(pid);
                if (v >= 0)
                    lf_event_set_num(ev, LF_F_PROCESS_PID, v);
            }
            p = r;
        }
    }
    lf_event_set_str(ev, LF_F_MESSAGE, lf_str_n(s + p, len - p));
    return "syslog-3164";
}

/* ---- arena ---------------------------------------------------------------- */

lf_err_t lf_arena_init(lf_arena_t *arena, size_t cap)
{
    arena->data = malloc(cap ? cap : 1);
    arena->used = 0;
    arena->cap = arena->data ? cap : 0;
    return arena->data ? LF_OK : LF_ENOMEM;
}

void lf_arena_free(lf_arena_t *arena)
{
    free(arena->data);
    arena->data = NULL;
    arena->cap = arena->used = 0;
}

char *lf_arena_alloc(lf_arena_t *arena, size_t n)
{
    size_t aligned = (arena->used + 7) & ~(size_t)7;
    if (aligned > arena->cap || n > arena->cap - aligned)
        return NULL;
    arena->used = aligned + n;
    return arena->data + aligned;
}

/* ---- timestamps ----------------------------------------------------------- */

static bool all_digits(lf_str_t t)
{
    if (!t.len)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if (!is_digit(t.ptr[i]))
            return false;
    return true;
}

/* "+0800", "+08:00", "-05", "Z", "UTC" at s[*pos]; minutes east. */
static bool parse_zone(const char *s, size_t len, size_t *pos, int32_t *tz)
{
    size_t p = *pos;
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        *tz = 0;
        *pos = p + 1;
        return true;
    }
    if (len - p >= 3 && memcmp(s + p, "UTC", 3) == 0) {
        *tz = 0;
        *pos = p + 3;
        return true;
    }
    if (p >= len || (s[p] != '+' && s[p] != '-'))
        return false;
    int sign = s[p] == '-' ? -1 : 1, h, m = 0;
    p++;
    if (!digits(s, len, &p, 2, &h))
        return false;
    expect(s, len, &p, ':');
    if (p < len && is_digit(s[p]) && !digits(s, len, &p, 2, &m))
        return false;
    if (h > 14 || m > 59)
        return false;
    *tz = sign * (h * 60 + m);
    *pos = p;
    return true;
}

bool lf_decode_time(const lf_decode_ctx_t *ctx, lf_str_t text, int64_t *epoch_ms, uint32_t *flags)
{
    const char *s = text.ptr;
    size_t len = text.len, p = 0;
    while (len && (s[len - 1] == ' '))
        len--;
    if (len == 0)
        return false;
    bool tz_assumed = false;
    /* epoch seconds / ms / us / ns, optional fraction */
    size_t intlen = 0;
    while (intlen < len && is_digit(s[intlen]))
        intlen++;
    if (intlen >= 9 && (intlen == len || s[intlen] == '.')) {
        /* At most 19 digits (epoch nanoseconds reach 2286 with 19). */
        if (intlen > 19)
            return false;
        uint64_t u = 0;
        for (size_t i = 0; i < intlen; i++)
            u = u * 10 + (uint64_t)(s[i] - '0');
        if (u > (uint64_t)INT64_MAX)
            return false;
        int64_t v = (int64_t)u;
        int frac_ms = 0;
        if (intlen < len) {
            size_t q = intlen + 1;
            int n = 0;
            while (q < len && is_digit(s[q])) {
                if (n < 3)
                    frac_ms = frac_ms * 10 + (s[q] - '0');
                n++;
                q++;
            }
            if (q != len || n == 0)
                return false;
            for (; n < 3; n++)
                frac_ms *= 10;
        }
        if (intlen <= 11)
            *epoch_ms = v * 1000 + frac_ms;
        else if (intlen <= 14)
            *epoch_ms = v;
        else if (intlen <= 17)
            *epoch_ms = v / 1000;
        else
            *epoch_ms = v / 1000000;
        return true;
    }
    if (lf_decode_rfc3339(s, len, &p, ctx->tz_offset_min, epoch_ms, &tz_assumed)) {
        if (p != len)
            return false;
        if (tz_assumed)
            *flags |= LF_EVFLAG(TZ_ASSUMED);
        return true;
    }
    int y, mo, d, h, mi, sec, ms = 0;
    p = 0;
    /* 2026/03/10 09:02:00 */
    if (digits(s, len, &p, 4, &y) && expect(s, len, &p, '/') && digits(s, len, &p, 2, &mo) &&
        expect(s, len, &p, '/') && digits(s, len, &p, 2, &d) &&
        (expect(s, len, &p, ' ') || expect(s, len, &p, 'T') || expect(s, len, &p, '-')) &&
        digits(s, len, &p, 2, &h) && expect(s, len, &p, ':') && digits(s, len, &p, 2, &mi) &&
        expect(s, len, &p, ':') && digits(s, len, &p, 2, &sec) && valid_civil(mo, d, h, mi, sec)) {
        int32_t tz = ctx->tz_offset_min;
        expect(s, len, &p, ' ');
        if (!parse_zone(s, len, &p, &tz))
            *flags |= LF_EVFLAG(TZ_ASSUMED);
        if (p != len)
            return false;
        *epoch_ms = civil_to_ms(y, mo, d, h, mi, sec > 59 ? 59 : sec, ms) - (int64_t)tz * 60000;
        return true;
    }
    p = 0;
    /* 10/Mar/2026:09:02:00 +0800 */
    if (digits(s, len, &p, 2, &d) && expect(s, len, &p, '/') && len - p >= 4 &&
        (mo = month_of(s + p)) > 0 && (p += 3, expect(s, len, &p, '/')) &&
        digits(s, len, &p, 4, &y) && expect(s, len, &p, ':') && digits(s, len, &p, 2, &h) &&
        expect(s, len, &p, ':') && digits(s, len, &p, 2, &mi) && expect(s, len, &p, ':') &&
        digits(s, len, &p, 2, &sec) && valid_civil(mo, d, h, mi, sec)) {
        int32_t tz = ctx->tz_offset_min;
        expect(s, len, &p, ' ');
        if (!parse_zone(s, len, &p, &tz))
            *flags |= LF_EVFLAG(TZ_ASSUMED);
        if (p != len)
            return false;
        *epoch_ms = civil_to_ms(y, mo, d, h, mi, sec > 59 ? 59 : sec, 0) - (int64_t)tz * 60000;
        return true;
    }
    p = 0;
    /* Mar 10 2026 09:02:00 / Mar 10 09:02:00, optional zone */
    int64_t local;
    bool year_given;
    if (parse_bsd_time(ctx, s, len, &p, &local, &year_given)) {
        int32_t tz = ctx->tz_offset_min;
        expect(s, len, &p, ' ');
        if (!parse_zone(s, len, &p, &tz))
            *flags |= LF_EVFLAG(TZ_ASSUMED);
        if (p != len)
            return false;
        if (!year_given)
            *flags |= LF_EVFLAG(YEAR_INFERRED);
        *epoch_ms = local - (int64_t)tz * 60000;
        return true;
    }
    (void)all_digits;
    return false;
}

/* ---- decoder sets --------------------------------------------------------- */

static const lf_builtin_decoder_t builtins[] = {
    {"cef", lf_cef_probe, lf_cef_decode},
    {"leef", lf_leef_probe, lf_leef_decode},
    {"windows-xml", lf_winxml_probe, lf_winxml_decode},
    {"json", lf_json_probe, lf_json_decode},
    {"auditd", lf_auditd_probe, lf_auditd_decode},
};

static const char *const framing_names[] = {"raw", "syslog-5424", "syslog-3164", "journald"};
enum { ID_RAW = 1, ID_5424 = 2, ID_3164 = 3, ID_JOURNALD = 4 };

lf_decoder_t *lf_decoders_add(lf_decoders_t *set, const char *name, const char *origin)
{
    if (set->count + 1 >= set->cap) {
        int cap = set->cap ? set->cap * 2 : 32;
        lf_decoder_t *list = realloc(set->list, (size_t)cap * sizeof *list);
        if (!list)
            return NULL;
        memset(list + set->cap, 0, (size_t)(cap - set->cap) * sizeof *list);
        set->list = list;
        set->cap = cap;
    }
    lf_decoder_t *dec = &set->list[++set->count];
    memset(dec, 0, sizeof *dec);
    dec->id = set->count;
    dec->name = strdup(name);
    dec->origin = strdup(origin);
    if (!dec->name || !dec->origin) {
        free(dec->name);
        free(dec->origin);
        set->count--;
        return NULL;
    }
    return dec;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

lf_err_t lf_decoders_load(const char *dir, lf_decoders_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    if (errlen)
        errstr[0] = '\0';
    lf_decoders_t *set = calloc(1, sizeof *set);
    if (!set)
        return LF_ENOMEM;
    for (size_t i = 0; i < sizeof framing_names / sizeof *framing_names; i++) {
        lf_decoder_t *dec = lf_decoders_add(set, framing_names[i], "built-in");
        if (!dec) {
            lf_decoders_free(set);
            return LF_ENOMEM;
        }
        dec->framing = true;
    }
    lf_err_t rc = LF_OK;
    if (dir) {
        DIR *dh = opendir(dir);
        if (!dh) {
            snprintf(errstr, errlen, "%s: cannot open the decoders directory", dir);
            lf_decoders_free(set);
            return LF_ENOTFOUND;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l < 6 || de->d_name[0] == '.' || strcmp(de->d_name + l - 5, ".yaml") != 0)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn)
                    break;
                names = nn;
            }
            names[n] = strdup(de->d_name);
            if (names[n])
                n++;
        }
        closedir(dh);
        if (n)
            qsort(names, n, sizeof *names, cmp_names);
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            lf_err_t frc = lf_rules_load_file(set, path, errstr, errlen, &used);
            if (frc != LF_OK && rc == LF_OK)
                rc = frc;
            set->files++;
            free(names[i]);
        }
        free(names);
    }
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
        if (lf_decoders_find(set, builtins[i].name))
            continue; /* a rule file may not shadow a built-in; reported by rules.c */
        lf_decoder_t *dec = lf_decoders_add(set, builtins[i].name, "built-in");
        if (!dec) {
            rc = LF_ENOMEM;
            break;
        }
        dec->probe = builtins[i].probe;
        dec->decode = builtins[i].decode;
    }
    if (rc != LF_OK) {
        lf_decoders_free(set);
        return rc;
    }
    *out = set;
    return LF_OK;
}

void lf_decoders_free(lf_decoders_t *set)
{
    if (!set)
        return;
    for (int i = 1; i <= set->count; i++) {
        free(set->list[i].name);
        free(set->list[i].origin);
        if (set->list[i].data)
            lf_rules_free_data(set->list[i].data);
    }
    free(set->list);
    free(set);
}

int lf_decoders_count(const lf_decoders_t *set)
{
    return set ? set->count : 0;
}

const char *lf_decoders_name(const lf_decoders_t *set, int id)
{
    return set && id >= 1 && id <= set->count ? set->list[id].name : "";
}

const char *lf_decoders_origin(const lf_decoders_t *set, int id)
{
    return set && id >= 1 && id <= set->count ? set->list[id].origin : "";
}

int lf_decoders_find(const lf_decoders_t *set, const char *name)
{
    for (int i = 1; set && i <= set->count; i++)
        if (strcmp(set->list[i].name, name) == 0)
            return i;
    return 0;
}

int lf_decoders_file_count(const lf_decoders_t *set)
{
    return set ? set->files : 0;
}

lf_err_t lf_decode_state_new(const lf_decoders_t *set, size_t arena_bytes, lf_decode_state_t **out)
{
    lf_decode_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return LF_ENOMEM;
    uint32_t ov = set && set->max_ovector > 1 ? set->max_ovector : 1;
    st->match = pcre2_match_data_create(ov + 1, NULL);
    if (!st->match || lf_arena_init(&st->arena, arena_bytes) != LF_OK) {
        lf_decode_state_free(st);
        return LF_ENOMEM;
    }
    *out = st;
    return LF_OK;
}

void lf_decode_state_free(lf_decode_state_t *st)
{
    if (!st)
        return;
    if (st->match)
        pcre2_match_data_free(st->match);
    lf_arena_free(&st->arena);
    free(st);
}

/* ---- the engine ----------------------------------------------------------- */

typedef struct saved_event {
    uint64_t present[LF_EVENT_PRESENT_WORDS];
    uint32_t flags, extra_count;
} saved_event_t;

static void save_event(const lf_event_t *ev, saved_event_t *sv)
{
    memcpy(sv->present, ev->present, sizeof sv->present);
    sv->flags = ev->flags;
    sv->extra_count = ev->extra_count;
}

static void restore_event(lf_event_t *ev, const saved_event_t *sv)
{
    memcpy(ev->present, sv->present, sizeof sv->present);
    ev->flags = sv->flags;
    ev->extra_count = sv->extra_count;
}

/* Framing: fills the syslog fields and returns the framing decoder id and
 * the body. */
static int frame(const lf_decode_ctx_t *ctx, lf_str_t line, lf_event_t *ev, lf_str_t *body,
                 lf_str_t *program)
{
    const char *s = line.ptr;
    size_t len = line.len;
    size_t p = 0;
    int pri = -1;
    const char *name = NULL;
    saved_event_t sv;
    save_event(ev, &sv);
    if (len > 0 && s[0] == '{') {
        if (lf_journald_frame(line, ctx->state ? &ctx->state->arena : NULL, ev, body, program))
            return ID_JOURNALD;
        restore_event(ev, &sv);
    }
    bool has_pri = parse_pri(s, len, &p, &pri);
    if (has_pri && len - p >= 2 && s[p] == '1' && s[p + 1] == ' ')
        name = decode_5424(ctx, s, len, p + 2, ev);
    if (!name) {
        restore_event(ev, &sv);
        name = decode_3164(ctx, s, len, p, ev);
    }
    *program = LF_STR_NULL;
    if (!name) {
        restore_event(ev, &sv);
        lf_event_set_str(ev, LF_F_MESSAGE, line);
        *body = has_pri ? lf_str_n(s + p, len - p) : line;
        if (has_pri)
            set_pri(ev, pri);
        return ID_RAW;
    }
    if (has_pri)
        set_pri(ev, pri);
    *body = ev->str[LF_F_MESSAGE];
    if (lf_event_has(ev, LF_F_LOG_SYSLOG_APPNAME))
        *program = ev->str[LF_F_LOG_SYSLOG_APPNAME];
    return name[7] == '5' ? ID_5424 : ID_3164;
}

void lf_decode(const lf_decode_ctx_t *ctx, lf_str_t line, lf_event_t *ev, lf_decode_result_t *res)
{
    const lf_decoders_t *set = ctx->decoders;
    lf_str_t body, program;
    /* The arena holds framing's unescaped values too. */
    if (ctx->state)
        lf_arena_reset(&ctx->state->arena);
    int framed = frame(ctx, line, ev, &body, &program);
    res->decoder = framing_names[framed - 1];
    res->decoder_id = set ? framed : 0;
    res->error = NULL;
    res->failed_id = 0;
    if (!set || !ctx->state) {
        if (framed == ID_RAW) {
            res->error = "no decoder recognised the record";
            lf_event_set_str(ev, LF_F_LIANFANG_DECODE_ERROR, lf_str_c(res->error));
        }
        return;
    }
    lf_dec_input_t in = {.ctx = ctx,
                         .state = ctx->state,
                         .arena = &ctx->state->arena,
                         .line = line,
                         .body = body,
                         .program = program};
    saved_event_t sv;
    save_event(ev, &sv);
    if (ctx->format > 0 && ctx->format <= set->count) {
        const lf_decoder_t *dec = &set->list[ctx->format];
        if (dec->framing) {
            if (ctx->format != framed) {
                res->error = "the record is not in the forced format";
                res->failed_id = ctx->format;
            }
        } else {
            /* A forced format still needs the record to look like it: the
             * decoders rely on their probe having checked the header. */
            lf_dec_rc_t rc =
                dec->probe && !dec->probe(dec, &in) ? LF_DEC_NOMATCH : dec->decode(dec, &in, ev);
            if (rc == LF_DEC_OK) {
                res->decoder = dec->name;
                res->decoder_id = dec->id;
            } else {
                restore_event(ev, &sv);
                res->error = rc == LF_DEC_FAIL && in.error
                                 ? in.error
                                 : "the record is not in the forced format";
                res->failed_id = dec->id;
            }
        }
    } else {
        for (int i = 1; i <= set->count; i++) {
            const lf_decoder_t *dec = &set->list[i];
            if (dec->framing || (dec->probe && !dec->probe(dec, &in)))
                continue;
            in.error = NULL;
            in.rule = NULL;
            lf_dec_rc_t rc = dec->decode(dec, &in, ev);
            if (rc == LF_DEC_OK) {
                res->decoder = dec->name;
                res->decoder_id = dec->id;
                break;
            }
            restore_event(ev, &sv);
            if (rc == LF_DEC_FAIL) {
                res->error = in.error ? in.error : "malformed record";
                res->failed_id = dec->id;
                break;
            }
        }
        if (!res->error && framed == ID_RAW && res->decoder_id == ID_RAW)
            res->error = "no decoder recognised the record";
    }
    if (in.rule && !res->error)
        lf_event_set_str(ev, LF_F_LIANFANG_DECODER_RULE, lf_str_c(in.rule));
    if (res->error)
        lf_event_set_str(ev, LF_F_LIANFANG_DECODE_ERROR, lf_str_c(res->error));
}

const char *lf_decode_record(const lf_decode_ctx_t *ctx, lf_str_t line, lf_event_t *ev)
{
    lf_decode_result_t res;
    lf_decode(ctx, line, ev, &res);
    return res.decoder;
}

void lf_decode_event(const lf_decode_ctx_t *ctx_in, const lf_record_meta_t *meta, lf_str_t line,
                     lf_event_t *ev, lf_decode_result_t *res)
{
    lf_decode_ctx_t ctx = *ctx_in;
    ctx.reference_ms = meta->read_time_ms ? meta->read_time_ms : meta->ingest_ms;
    lf_event_reset(ev);
    lf_decode(&ctx, line, ev, res);
    if (!lf_event_has(ev, LF_F_TIMESTAMP)) {
        lf_event_set_num(ev, LF_F_TIMESTAMP, ctx.reference_ms);
        ev->flags |= LF_EVFLAG(TIME_FROM_INGEST);
    }
    lf_event_set_str(ev, LF_F_AGENT_ID, meta->agent_id);
    lf_event_set_str(ev, LF_F_AGENT_TYPE, lf_str_c("lianfang-agent"));
    if (meta->agency.len)
        lf_event_set_str(ev, LF_F_ORGANIZATION_ID, meta->agency);
    if (meta->host.len)
        lf_event_set_str(ev, LF_F_HOST_NAME, meta->host);
    if (meta->source.len) {
        lf_event_set_str(ev, LF_F_LIANFANG_SOURCE, meta->source);
        if (!lf_event_has(ev, LF_F_EVENT_DATASET))
            lf_event_set_str(ev, LF_F_EVENT_DATASET, meta->source);
    }
    if (meta->path.len)
        lf_event_set_str(ev, LF_F_LOG_FILE_PATH, meta->path);
    if (meta->offset != UINT64_MAX)
        lf_event_set_num(ev, LF_F_LOG_OFFSET, (int64_t)meta->offset);
    lf_event_set_str(ev, LF_F_EVENT_KIND, lf_str_c("event"));
    lf_event_set_str(ev, LF_F_EVENT_ORIGINAL, line);
    lf_event_set_num(ev, LF_F_EVENT_SEQUENCE, (int64_t)meta->seq);
    lf_event_set_num(ev, LF_F_EVENT_INGESTED, meta->ingest_ms);
    lf_event_set_num(ev, LF_F_LIANFANG_READ_TIME, meta->read_time_ms);
    lf_event_set_str(ev, LF_F_LIANFANG_DECODER, lf_str_c(res->decoder));
    if (meta->truncated)
        ev->flags |= LF_EVFLAG(TRUNCATED);
}
