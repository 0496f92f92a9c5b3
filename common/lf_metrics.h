/* lf_metrics.h - counters and gauges, rendered as Prometheus text.
 *
 * A module owns its metrics (usually a static-storage struct of lf_metric_t
 * described by a table) and registers them once with the process registry
 * it was given. Updates are lock-free atomics; registration and rendering
 * take the registry's mutex. Names follow Prometheus conventions
 * (lianfang_<module>_<what>_total for counters).
 */
#ifndef LF_METRICS_H
#define LF_METRICS_H

#include "lf_buf.h"
#include "lf_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum lf_metric_kind { LF_METRIC_COUNTER, LF_METRIC_GAUGE } lf_metric_kind_t;

typedef struct lf_metric {
    const char *name;   /* lianfang_ingest_records_total */
    const char *labels; /* optional, preformatted: reason="bad_envelope" */
    const char *help;
    lf_metric_kind_t kind;
    _Atomic int64_t value;
} lf_metric_t;

#define LF_METRICS_MAX 1024

typedef struct lf_metrics {
    pthread_mutex_t lock;
    lf_metric_t *items[LF_METRICS_MAX];
    size_t count;
} lf_metrics_t;

void lf_metrics_init(lf_metrics_t *reg);
void lf_metrics_destroy(lf_metrics_t *reg);
/* Registers metrics (borrowed: they must outlive the registry).
 * LF_EFULL past LF_METRICS_MAX. */
lf_err_t lf_metrics_register(lf_metrics_t *reg, lf_metric_t *metrics, size_t count);
/* Appends the Prometheus text exposition of every metric. */
lf_err_t lf_metrics_write_prometheus(lf_metrics_t *reg, lf_buf_t *out);
/* Looks a metric up by name and labels (NULL labels = none); NULL if absent. */
lf_metric_t *lf_metrics_find(lf_metrics_t *reg, const char *name, const char *labels);

static inline void lf_metric_add(lf_metric_t *m, int64_t n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}
static inline void lf_metric_set(lf_metric_t *m, int64_t v)
{
    atomic_store_explicit(&m->value, v, memory_order_relaxed);
}
static inline int64_t lf_metric_get(lf_metric_t *m)
{
    return atomic_load_explicit(&m->value, memory_order_relaxed);
}

#endif
