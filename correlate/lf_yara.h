/* lf_yara.h - YARA rules applied to payload fields of events (libyara).
 *
 * Life cycle:
 *
 *   lf_yara_global_init()                        once per process (any thread)
 *   lf_yara_set_compile(sources, ..., &set)      compile all rule files once;
 *                                                any error refuses the set
 *   lf_yara_holder_swap(&holder, set)            publish (previous set stays
 *                                                valid for its users)
 *   per thread: scanner = lf_yara_scanner_new()
 *   per batch:  set = lf_yara_holder_acquire(&holder);
 *               lf_yara_scan_event(scanner, set, ev, cb, ctx, &res) ...;
 *               lf_yara_set_release(set);
 *   lf_yara_global_cleanup()                     after the last set is freed
 *
 * Threads: a compiled set (lf_yara_set_t, holding YR_RULES) is immutable
 * and reference-counted; any number of threads may scan with it at once.
 * A scanner (lf_yara_scanner_t, holding a YR_SCANNER) belongs to one
 * thread: create one per scanning thread. It rebinds itself when it is
 * given a different set. libyara must be initialised once per process
 * (yr_initialize); lf_yara_global_init() does that under a lock and counts
 * its callers, so modules may call it independently.
 *
 * Rules see one field value at a time as their data (`filesize` is the
 * value's length) and the external string variable `lf_field` holds the
 * ECS path of the field being scanned, so a rule can restrict itself:
 *
 *   rule encoded_powershell { strings: ... condition: lf_field ==
 *       "process.command_line" and any of them }
 *
 * Each scan has a timeout (libyara counts whole seconds, so the configured
 * duration is rounded up to at least 1 s) and each value is scanned up to
 * max_scan_bytes.
 */
#ifndef LF_YARA_H
#define LF_YARA_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"
#include "lf_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ---------------------------------------------------- */

typedef struct lf_yara_config {
    char **fields; /* ECS paths scanned; empty = the built-in list below */
    size_t field_count;
    int64_t timeout_ms;     /* per scanned value; rounded up to whole seconds */
    int64_t max_scan_bytes; /* longer values are scanned up to this length */
    int64_t max_matches;    /* matches reported per event */
} lf_yara_config_t;

/* Built-in field list: http.request.body.content, process.command_line,
 * event.original, file.content (file content an agent reports), url.full. */
extern const lf_config_option_t lf_yara_config_options[];
void lf_yara_config_defaults(lf_yara_config_t *cfg);

/* ---- metrics ------------------------------------------------------------ */

#define LF_YARA_METRICS(X)                                                                         \
    X(SCANS, "lianfang_yara_scans_total", COUNTER, "Field values scanned with YARA")               \
    X(BYTES, "lianfang_yara_scanned_bytes_total", COUNTER, "Bytes scanned with YARA")              \
    X(MATCHES, "lianfang_yara_matches_total", COUNTER, "YARA rule matches reported")               \
    X(TIMEOUTS, "lianfang_yara_timeouts_total", COUNTER,                                           \
      "Scans stopped by the timeout (matches found before it are kept)")                           \
    X(ERRORS, "lianfang_yara_scan_errors_total", COUNTER, "Scans that failed in libyara")          \
    X(TRUNCATED, "lianfang_yara_truncated_total", COUNTER,                                         \
      "Values longer than max_scan_bytes, scanned only up to it")                                  \
    X(RULES, "lianfang_yara_rules", GAUGE, "Rules in the current compiled set")                    \
    X(COMPILE_FAILURES, "lianfang_yara_compile_failures_total", COUNTER,                           \
      "Rule sets refused because a rule did not compile")

enum {
#define LF_YARA_METRIC_ENUM(id, name, kind, help) LF_YARA_M_##id,
    LF_YARA_METRICS(LF_YARA_METRIC_ENUM)
#undef LF_YARA_METRIC_ENUM
        LF_YARA_M_COUNT
};

typedef struct lf_yara_metrics {
    lf_metric_t m[LF_YARA_M_COUNT];
} lf_yara_metrics_t;

/* Fills names and help; register with lf_metrics_register(reg, m->m,
 * LF_YARA_M_COUNT). */
void lf_yara_metrics_init(lf_yara_metrics_t *m);

/* ---- process-wide libyara state --------------------------------------- */

/* yr_initialize() on the first call; counted. Thread-safe. LF_ENOMEM. */
lf_err_t lf_yara_global_init(void);
/* yr_finalize() when the count drops to zero. Every set and scanner must
 * have been freed before the last call. Thread-safe. */
void lf_yara_global_cleanup(void);

/* ---- compiled set ------------------------------------------------------- */

/* One rule source: a file (text NULL: `name` is read as a path) or a
 * buffer (text/len; `name` is used in messages, e.g. "api:upload-17").
 * ns: YARA namespace; NULL = the file name without directory and
 * extension ("rules/yara/webshell.yar" -> "webshell"). */
typedef struct lf_yara_source {
    const char *name;
    const char *text;
    size_t len;
    const char *ns;
} lf_yara_source_t;

typedef struct lf_yara_meta {
    const char *key;
    const char *value; /* integers and booleans rendered as text */
} lf_yara_meta_t;

/* A rule of a compiled set; owned by the set. */
typedef struct lf_yara_rule {
    const char *identifier;
    const char *ns;
    const char *const *tags;
    size_t tag_count;
    const lf_yara_meta_t *meta;
    size_t meta_count;
} lf_yara_rule_t;

typedef struct lf_yara_match {
    const lf_yara_rule_t *rule; /* valid while the set is held */
    lf_field_id_t field;        /* the field whose value matched */
} lf_yara_match_t;

typedef struct lf_yara_set lf_yara_set_t;

/* Compiles every source into one set (one reference). Any compile error
 * refuses the whole set: LF_EPARSE with errstr holding
 * "file:line: message" for the first errors ("; "-separated); LF_EIO when
 * a file cannot be read; LF_ENOMEM. Warnings are logged. cfg is copied
 * (NULL: defaults); metrics (may be NULL) is borrowed and must outlive
 * the set. lf_yara_global_init() must have been called. */
lf_err_t lf_yara_set_compile(const lf_yara_source_t *sources, size_t count,
                             const lf_yara_config_t *cfg, lf_yara_metrics_t *metrics,
                             lf_yara_set_t **out, char *errstr, size_t errlen);
/* Convenience: every path as a file source with the default namespace. */
lf_err_t lf_yara_set_compile_files(const char *const *paths, size_t count,
                                   const lf_yara_config_t *cfg, lf_yara_metrics_t *metrics,
                                   lf_yara_set_t **out, char *errstr, size_t errlen);
lf_yara_set_t *lf_yara_set_retain(lf_yara_set_t *set);
void lf_yara_set_release(lf_yara_set_t *set);
size_t lf_yara_set_rule_count(const lf_yara_set_t *set);
/* The rule with that identifier (any namespace), or NULL. */
const lf_yara_rule_t *lf_yara_set_find(const lf_yara_set_t *set, const char *identifier);

/* ---- holder: the current set, swapped atomically on reload ---------------- */

typedef struct lf_yara_holder {
    pthread_mutex_t lock; /* guards set; held only to swap or take a reference */
    lf_yara_set_t *set;
    _Atomic uint64_t generation;
} lf_yara_holder_t;

void lf_yara_holder_init(lf_yara_holder_t *h);
void lf_yara_holder_destroy(lf_yara_holder_t *h);
/* Publishes set (taking over the caller's reference) and releases the old. */
void lf_yara_holder_swap(lf_yara_holder_t *h, lf_yara_set_t *set);
/* A new reference to the current set, or NULL. Thread-safe. */
lf_yara_set_t *lf_yara_holder_acquire(lf_yara_holder_t *h);

/* ---- scanning (one scanner per thread) ---------------------------------- */

typedef struct lf_yara_scanner lf_yara_scanner_t;

typedef struct lf_yara_scan_result {
    size_t values;    /* field values scanned */
    size_t matches;   /* matches reported */
    size_t timeouts;  /* values whose scan hit the timeout */
    size_t errors;    /* values libyara failed to scan */
    size_t truncated; /* values cut to max_scan_bytes */
} lf_yara_scan_result_t;

/* Called once per matching rule and field; return false to stop. */
typedef bool (*lf_yara_match_cb)(const lf_yara_match_t *match, void *ctx);

lf_yara_scanner_t *lf_yara_scanner_new(void);
/* Frees the scanner and drops its reference to the last set it used. */
void lf_yara_scanner_free(lf_yara_scanner_t *sc);
/* Scans every configured field present in ev. Timeouts and libyara errors
 * are counted (res, metrics) and scanning goes on with the next field.
 * LF_ENOMEM when the scanner cannot be bound to set; LF_OK otherwise
 * (also when set is NULL: nothing to do). res may be NULL. */
lf_err_t lf_yara_scan_event(lf_yara_scanner_t *sc, lf_yara_set_t *set, const lf_event_t *ev,
                            lf_yara_match_cb cb, void *ctx, lf_yara_scan_result_t *res);
/* Scans one buffer as if it were the value of `field` (LF_F_COUNT: no
 * field; lf_field is then ""). Same rules as lf_yara_scan_event. */
lf_err_t lf_yara_scan_buffer(lf_yara_scanner_t *sc, lf_yara_set_t *set, const void *data,
                             size_t len, lf_field_id_t field, lf_yara_match_cb cb, void *ctx,
                             lf_yara_scan_result_t *res);

#endif
