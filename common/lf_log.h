/* lf_log.h - leveled, line-oriented logging to stderr (journald picks it up).
 *
 * Format: `2026-03-10T09:02:00.123Z LEVEL component: message`.
 * The level threshold is set once by main() before threads start; logging
 * itself is thread-safe (one write(2) per line).
 */
#ifndef LF_LOG_H
#define LF_LOG_H

typedef enum lf_log_level {
    LF_LOG_DEBUG = 0,
    LF_LOG_INFO = 1,
    LF_LOG_WARN = 2,
    LF_LOG_ERROR = 3,
} lf_log_level_t;

/* Sets the lowest level that is printed. Call before starting threads. */
void lf_log_set_level(lf_log_level_t level);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int lf_log_level_parse(const char *name);
int lf_log_enabled(lf_log_level_t level);
void lf_log(lf_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Also hands every line at or above min_level (its message, without time
 * and level) to fn, e.g. so an agent can report its last error. fn runs on
 * whichever thread logs and must be thread-safe; message is valid during
 * the call. Set once before threads start; fn NULL removes the hook. */
typedef void (*lf_log_hook_fn)(void *opaque, lf_log_level_t level, const char *component,
                               const char *message);
void lf_log_set_hook(lf_log_level_t min_level, lf_log_hook_fn fn, void *opaque);

#define lf_debug(comp, ...)                                                                        \
    do {                                                                                           \
        if (lf_log_enabled(LF_LOG_DEBUG))                                                          \
            lf_log(LF_LOG_DEBUG, comp, __VA_ARGS__);                                               \
    } while (0)
#define lf_info(comp, ...)  lf_log(LF_LOG_INFO, comp, __VA_ARGS__)
#define lf_warn(comp, ...)  lf_log(LF_LOG_WARN, comp, __VA_ARGS__)
#define lf_error(comp, ...) lf_log(LF_LOG_ERROR, comp, __VA_ARGS__)

#endif
