#include "lf_metrics.h"

#include <inttypes.h>
#include <string.h>

void lf_metrics_init(lf_metrics_t *reg)
{
    memset(reg, 0, sizeof *reg);
    pthread_mutex_init(&reg->lock, NULL);
}

void lf_metrics_destroy(lf_metrics_t *reg)
{
    pthread_mutex_destroy(&reg->lock);
}

lf_err_t lf_metrics_register(lf_metrics_t *reg, lf_metric_t *metrics, size_t count)
{
    pthread_mutex_lock(&reg->lock);
    lf_err_t rc = LF_OK;
    if (reg->count + count > LF_METRICS_MAX) {
        rc = LF_EFULL;
    } else {
        for (size_t i = 0; i < count; i++)
            reg->items[reg->count++] = &metrics[i];
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

lf_metric_t *lf_metrics_find(lf_metrics_t *reg, const char *name, const char *labels)
{
    lf_metric_t *found = NULL;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count && !found; i++) {
        lf_metric_t *m = reg->items[i];
        const char *ml = m->labels ? m->labels : "";
        if (strcmp(m->name, name) == 0 && strcmp(ml, labels ? labels : "") == 0)
            found = m;
    }
    pthread_mutex_unlock(&reg->lock);
    return found;
}

lf_err_t lf_metrics_write_prometheus(lf_metrics_t *reg, lf_buf_t *out)
{
    lf_err_t rc = LF_OK;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count && rc == LF_OK; i++) {
        lf_metric_t *m = reg->items[i];
        /* HELP/TYPE once per metric family (first occurrence). */
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(reg->items[j]->name, m->name) == 0) {
                first = false;
                break;
            }
        if (first)
            rc = lf_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                               m->kind == LF_METRIC_COUNTER ? "counter" : "gauge");
        if (rc == LF_OK) {
            if (m->labels && *m->labels)
                rc = lf_buf_printf(out, "%s{%s} %" PRId64 "\n", m->name, m->labels,
                                   lf_metric_get(m));
            else
                rc = lf_buf_printf(out, "%s %" PRId64 "\n", m->name, lf_metric_get(m));
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
