#include "lf_log.h"
#include "lf_time.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_threshold = LF_LOG_INFO;
/* Set once by main() before threads start (lf_log_set_hook). */
static lf_log_hook_fn log_hook;
static void *log_hook_opaque;
static lf_log_level_t log_hook_level = LF_LOG_ERROR;

void lf_log_set_hook(lf_log_level_t min_level, lf_log_hook_fn fn, void *opaque)
{
    log_hook_level = min_level;
    log_hook_opaque = opaque;
    log_hook = fn;
}

void lf_log_set_level(lf_log_level_t level)
{
    atomic_store(&log_threshold, (int)level);
}

int lf_log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int lf_log_enabled(lf_log_level_t level)
{
    return (int)level >= atomic_load(&log_threshold);
}

void lf_log(lf_log_level_t level, const char *component, const char *fmt, ...)
{
    static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (!lf_log_enabled(level))
        return;
    char line[2048];
    char ts[40];
    lf_time_format_rfc3339_ms(lf_time_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s %s: ", ts, tags[level], component);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    if (log_hook && level >= log_hook_level) {
        line[len - 1] = '\0';
        log_hook(log_hook_opaque, level, component, line + n);
    }
}
