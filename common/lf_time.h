/* lf_time.h - wall-clock and monotonic time helpers, RFC 3339 formatting. */
#ifndef LF_TIME_H
#define LF_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t lf_time_now_ms(void);
/* Milliseconds of CLOCK_MONOTONIC, for timeouts and rates. */
int64_t lf_time_mono_ms(void);
/* Writes "2026-03-10T01:02:00.123Z" (UTC) into out; returns its length. */
size_t lf_time_format_rfc3339_ms(int64_t epoch_ms, char *out, size_t outlen);
/* Days from 1970-01-01 for a proleptic Gregorian civil date (no timezone). */
int64_t lf_time_days_from_civil(int64_t year, unsigned month, unsigned day);

/* Parses an RFC 3339 time with a zone ("2026-03-10T09:40:00+08:00", "...Z",
 * fractions to ms) or a plain number of epoch milliseconds. */
bool lf_time_parse(const char *s, int64_t *epoch_ms);

#endif
