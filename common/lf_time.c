#include "lf_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t lf_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lf_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lf_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t lf_time_format_rfc3339_ms(int64_t epoch_ms, char *out, size_t outlen)
{
    int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
    int ms = (int)(epoch_ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int sod = (int)(secs - days * 86400);
    /* civil_from_days (Howard Hinnant), no libc calls on the hot path */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) {
        int n = snprintf(out, outlen, "%lld", (long long)epoch_ms);
        return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
    }
    char buf[25];
    put2(buf, (int)(y / 100));
    put2(buf + 2, (int)(y % 100));
    buf[4] = '-';
    put2(buf + 5, m);
    buf[7] = '-';
    put2(buf + 8, d);
    buf[10] = 'T';
    put2(buf + 11, sod / 3600);
    buf[13] = ':';
    put2(buf + 14, sod / 60 % 60);
    buf[16] = ':';
    put2(buf + 17, sod % 60);
    buf[19] = '.';
    buf[20] = (char)('0' + ms / 100);
    put2(buf + 21, ms % 100);
    buf[23] = 'Z';
    buf[24] = '\0';
    if (outlen == 0)
        return 0;
    size_t n = outlen - 1 < 24 ? outlen - 1 : 24;
    memcpy(out, buf, n);
    out[n] = '\0';
    return n;
}
