/* lf_yara.c - compiled YARA rule sets, swapping and per-thread scanners. */
#include "lf_yara.h"

#include "lf_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yara.h>

#define LOG_COMPONENT  "yara"
#define EXTERNAL_FIELD "lf_field"

/* ---- configuration, metrics -------------------------------------------- */

const lf_config_option_t lf_yara_config_options[] = {
    LF_CFG_OPT_STRLIST("fields", lf_yara_config_t, fields, field_count, 64,
                       "ECS fields whose values are scanned with the YARA rules (empty: "
                       "http.request.body.content process.command_line event.original "
                       "file.content url.full)."),
    LF_CFG_OPT_DURATION("timeout", lf_yara_config_t, timeout_ms, "1s", 1, 60000,
                        "Longest scan of one value; libyara counts whole seconds, so this is "
                        "rounded up to at least 1s. A scan that hits it keeps the matches "
                        "found so far and is counted in lianfang_yara_timeouts_total."),
    LF_CFG_OPT_SIZE("max_scan_bytes", lf_yara_config_t, max_scan_bytes, "1MiB", 64, 64 << 20,
                    "Longest value scanned; longer values are scanned up to this length and "
                    "counted in lianfang_yara_truncated_total."),
    LF_CFG_OPT_INT("max_matches", lf_yara_config_t, max_matches, "32", 1, 10000,
                   "Most rule matches reported per event."),
    LF_CFG_END,
};

void lf_yara_config_defaults(lf_yara_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    lf_config_set_defaults(lf_yara_config_options, cfg, NULL, 0);
}

static const char *const default_fields[] = {"http.request.body.content", "process.command_line",
                                             "event.original", "file.content", "url.full"};

void lf_yara_metrics_init(lf_yara_metrics_t *m)
{
    static const struct {
        const char *name, *help;
        lf_metric_kind_t kind;
    } rows[] = {
#define LF_YARA_METRIC_ROW(id, nm, kd, hp) {nm, hp, LF_METRIC_##kd},
        LF_YARA_METRICS(LF_YARA_METRIC_ROW)
#undef LF_YARA_METRIC_ROW
    };
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < LF_YARA_M_COUNT; i++) {
        m->m[i].name = rows[i].name;
        m->m[i].help = rows[i].help;
        m->m[i].kind = rows[i].kind;
    }
}

static void metric_add(lf_yara_metrics_t *m, int id, int64_t n)
{
    if (m && n)
        lf_metric_add(&m->m[id], n);
}

/* ---- libyara process state --------------------------------------------- */

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_users; /* guarded by global_lock */

lf_err_t lf_yara_global_init(void)
{
    lf_err_t rc = LF_OK;
    pthread_mutex_lock(&global_lock);
    if (global_users == 0 && yr_initialize() != ERROR_SUCCESS)
        rc = LF_ENOMEM;
    if (rc == LF_OK)
        global_users++;
    pthread_mutex_unlock(&global_lock);
    return rc;
}

void lf_yara_global_cleanup(void)
{
    pthread_mutex_lock(&global_lock);
    if (global_users > 0 && --global_users == 0)
        yr_finalize();
    pthread_mutex_unlock(&global_lock);
}

/* ---- compiled set ------------------------------------------------------- */

struct lf_yara_set {
    _Atomic long refs;
    YR_RULES *rules;
    lf_yara_rule_t *info; /* indexed like rules->rules_table */
    size_t rule_count;
    char **owned; /* strings rendered for meta values */
    size_t owned_count;
    lf_field_id_t *fields;
    size_t field_count;
    int timeout_s;
    size_t max_scan_bytes;
    size_t max_matches;
    lf_yara_metrics_t *metrics;
};

static void set_free(lf_yara_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->rule_count && set->info; i++) {
        free((void *)set->info[i].tags);
        free((void *)set->info[i].meta);
    }
    free(set->info);
    for (size_t i = 0; i < set->owned_count; i++)
        free(set->owned[i]);
    free(set->owned);
    free(set->fields);
    if (set->rules)
        yr_rules_destroy(set->rules);
    free(set);
}

lf_yara_set_t *lf_yara_set_retain(lf_yara_set_t *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void lf_yara_set_release(lf_yara_set_t *set)
{
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        set_free(set);
}

size_t lf_yara_set_rule_count(const lf_yara_set_t *set)
{
    return set ? set->rule_count : 0;
}

const lf_yara_rule_t *lf_yara_set_find(const lf_yara_set_t *set, const char *identifier)
{
    for (size_t i = 0; set && i < set->rule_count; i++)
        if (!strcmp(set->info[i].identifier, identifier))
            return &set->info[i];
    return NULL;
}

/* Compiler messages, collected for errstr. */
typedef struct compile_log {
    char *buf;
    size_t len, cap;
    int errors;
    const char *current; /* name of the source being added */
} compile_log_t;

static void compiler_callback(int level, const char *file, int line, const YR_RULE *rule,
                              const char *message, void *user)
{
    compile_log_t *log = user;
    const char *name = file ? file : log->current ? log->current : "(rules)";
    if (level == YARA_ERROR_LEVEL_WARNING) {
        lf_warn(LOG_COMPONENT, "%s:%d: warning: %s", name, line, message);
        return;
    }
    log->errors++;
    if (!log->buf || log->len + 1 >= log->cap)
        return;
    int n = snprintf(log->buf + log->len, log->cap - log->len, "%s%s:%d: %s", log->len ? "; " : "",
                     name, line, message);
    if (n > 0)
        log->len += (size_t)n < log->cap - log->len ? (size_t)n : log->cap - log->len - 1;
}

/* "dir/webshell.yar" -> "webshell" */
static void default_namespace(const char *name, char *out, size_t outlen)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = strcspn(base, ".");
    if (n == 0)
        n = strlen(base);
    snprintf(out, outlen, "%.*s", (int)n, base);
    if (!out[0])
        snprintf(out, outlen, "default");
}

static char *own(lf_yara_set_t *set, const char *s)
{
    char **n = realloc(set->owned, (set->owned_count + 1) * sizeof *n);
    if (!n)
        return NULL;
    set->owned = n;
    size_t len = strlen(s);
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len + 1);
    set->owned[set->owned_count++] = d;
    return d;
}

/* Builds the rule table (identifier, namespace, tags, meta) once, so a
 * match costs no lookups and no allocation. */
static bool describe_rules(lf_yara_set_t *set)
{
    YR_RULE *rule;
    size_t n = 0;
    yr_rules_foreach(set->rules, rule) n++;
    set->info = calloc(n ? n : 1, sizeof *set->info);
    if (!set->info)
        return false;
    set->rule_count = n;
    size_t i = 0;
    yr_rules_foreach(set->rules, rule)
    {
        lf_yara_rule_t *info = &set->info[i++];
        info->identifier = rule->identifier;
        info->ns = rule->ns->name;
        const char *tag;
        size_t ntags = 0, nmeta = 0;
        yr_rule_tags_foreach(rule, tag) ntags++;
        const YR_META *meta;
        yr_rule_metas_foreach(rule, meta) nmeta++;
        const char **tags = calloc(ntags ? ntags : 1, sizeof *tags);
        lf_yara_meta_t *metas = calloc(nmeta ? nmeta : 1, sizeof *metas);
        info->tags = tags;
        info->meta = metas;
        if (!tags || !metas)
            return false;
        yr_rule_tags_foreach(rule, tag) tags[info->tag_count++] = tag;
        yr_rule_metas_foreach(rule, meta)
        {
            lf_yara_meta_t *m = &metas[info->meta_count++];
            m->key = meta->identifier;
            if (meta->type == META_TYPE_STRING) {
                m->value = meta->string;
            } else {
                char num[32];
                if (meta->type == META_TYPE_BOOLEAN)
                    snprintf(num, sizeof num, "%s", meta->integer ? "true" : "false");
                else
                    snprintf(num, sizeof num, "%" PRId64, meta->integer);
                if (!(m->value = own(set, num)))
                    return false;
            }
        }
    }
    return true;
}

static bool bind_fields(lf_yara_set_t *set, const lf_yara_config_t *cfg)
{
    const char *const *paths = cfg->field_count ? (const char *const *)cfg->fields : default_fields;
    size_t n = cfg->field_count ? cfg->field_count : sizeof default_fields / sizeof *default_fields;
    set->fields = calloc(n, sizeof *set->fields);
    if (!set->fields)
        return false;
    for (size_t i = 0; i < n; i++) {
        lf_field_id_t id = lf_field_lookup(paths[i], strlen(paths[i]));
        if (id >= LF_F_COUNT) {
            lf_warn(LOG_COMPONENT, "field %s is not in the event field table; it is not scanned",
                    paths[i]);
            continue;
        }
        set->fields[set->field_count++] = id;
    }
    return true;
}

lf_err_t lf_yara_set_compile(const lf_yara_source_t *sources, size_t count,
                             const lf_yara_config_t *cfg, lf_yara_metrics_t *metrics,
                             lf_yara_set_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    if (errstr && errlen)
        errstr[0] = '\0';
    lf_yara_config_t defaults;
    bool own_cfg = cfg == NULL;
    if (own_cfg) {
        lf_yara_config_defaults(&defaults);
        cfg = &defaults;
    }
    lf_err_t rc = LF_OK;
    lf_yara_set_t *set = calloc(1, sizeof *set);
    YR_COMPILER *compiler = NULL;
    char logbuf[2048];
    compile_log_t log = {.buf = logbuf, .cap = sizeof logbuf};
    logbuf[0] = '\0';
    if (!set || yr_compiler_create(&compiler) != ERROR_SUCCESS) {
        rc = LF_ENOMEM;
        goto done;
    }
    atomic_init(&set->refs, 1);
    set->metrics = metrics;
    set->timeout_s = (int)((cfg->timeout_ms + 999) / 1000);
    if (set->timeout_s < 1)
        set->timeout_s = 1;
    set->max_scan_bytes = (size_t)cfg->max_scan_bytes;
    set->max_matches = (size_t)cfg->max_matches;
    yr_compiler_set_callback(compiler, compiler_callback, &log);
    if (yr_compiler_define_string_variable(compiler, EXTERNAL_FIELD, "") != ERROR_SUCCESS) {
        rc = LF_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < count && log.errors == 0; i++) {
        const lf_yara_source_t *src = &sources[i];
        const char *name = src->name ? src->name : "(rules)";
        char ns[128];
        if (src->ns)
            snprintf(ns, sizeof ns, "%s", src->ns);
        else
            default_namespace(name, ns, sizeof ns);
        FILE *f = src->text ? fmemopen((void *)src->text, src->len, "r") : fopen(name, "r");
        if (!f) {
            if (errstr && errlen)
                snprintf(errstr, errlen, "%s: cannot open: %s", name, strerror(errno));
            rc = src->text ? LF_ENOMEM : LF_EIO;
            goto done;
        }
        log.current = name;
        yr_compiler_add_file(compiler, f, ns, name);
        fclose(f);
    }
    if (log.errors > 0) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s%s", logbuf,
                     log.len + 1 >= log.cap ? "; (more errors)" : "");
        lf_error(LOG_COMPONENT, "rule set refused: %s", logbuf);
        metric_add(metrics, LF_YARA_M_COMPILE_FAILURES, 1);
        rc = LF_EPARSE;
        goto done;
    }
    if (yr_compiler_get_rules(compiler, &set->rules) != ERROR_SUCCESS) {
        rc = LF_ENOMEM;
        goto done;
    }
    if (!describe_rules(set) || !bind_fields(set, cfg)) {
        rc = LF_ENOMEM;
        goto done;
    }
    if (metrics)
        lf_metric_set(&metrics->m[LF_YARA_M_RULES], (int64_t)set->rule_count);
done:
    if (compiler)
        yr_compiler_destroy(compiler);
    if (own_cfg)
        lf_config_free(lf_yara_config_options, &defaults);
    if (rc != LF_OK) {
        if (rc == LF_ENOMEM && errstr && errlen && !errstr[0])
            snprintf(errstr, errlen, "out of memory while compiling YARA rules");
        set_free(set);
        return rc;
    }
    *out = set;
    return LF_OK;
}

lf_err_t lf_yara_set_compile_files(const char *const *paths, size_t count,
                                   const lf_yara_config_t *cfg, lf_yara_metrics_t *metrics,
                                   lf_yara_set_t **out, char *errstr, size_t errlen)
{
    lf_yara_source_t *src = calloc(count ? count : 1, sizeof *src);
    if (!src)
        return LF_ENOMEM;
    for (size_t i = 0; i < count; i++)
        src[i].name = paths[i];
    lf_err_t rc = lf_yara_set_compile(src, count, cfg, metrics, out, errstr, errlen);
    free(src);
    return rc;
}

/* ---- holder ------------------------------------------------------------- */

void lf_yara_holder_init(lf_yara_holder_t *h)
{
    pthread_mutex_init(&h->lock, NULL);
    h->set = NULL;
    atomic_init(&h->generation, 0);
}

void lf_yara_holder_destroy(lf_yara_holder_t *h)
{
    lf_yara_set_release(h->set);
    h->set = NULL;
    pthread_mutex_destroy(&h->lock);
}

void lf_yara_holder_swap(lf_yara_holder_t *h, lf_yara_set_t *set)
{
    pthread_mutex_lock(&h->lock);
    lf_yara_set_t *old = h->set;
    h->set = set;
    atomic_fetch_add(&h->generation, 1);
    pthread_mutex_unlock(&h->lock);
    lf_yara_set_release(old);
}

lf_yara_set_t *lf_yara_holder_acquire(lf_yara_holder_t *h)
{
    pthread_mutex_lock(&h->lock);
    lf_yara_set_t *set = lf_yara_set_retain(h->set);
    pthread_mutex_unlock(&h->lock);
    return set;
}

/* ---- scanning ----------------------------------------------------------- */

struct lf_yara_scanner {
    lf_yara_set_t *set; /* the set `yr` was created for (one reference) */
    YR_SCANNER *yr;
    /* per-scan state read by the libyara callback */
    lf_field_id_t field;
    lf_yara_match_cb cb;
    void *ctx;
    size_t event_matches;
    bool stop;
    lf_yara_scan_result_t *res;
};

lf_yara_scanner_t *lf_yara_scanner_new(void)
{
    return calloc(1, sizeof(lf_yara_scanner_t));
}

static void unbind(lf_yara_scanner_t *sc)
{
    if (sc->yr)
        yr_scanner_destroy(sc->yr);
    sc->yr = NULL;
    lf_yara_set_release(sc->set);
    sc->set = NULL;
}

void lf_yara_scanner_free(lf_yara_scanner_t *sc)
{
    if (!sc)
        return;
    unbind(sc);
    free(sc);
}

static int scan_callback(YR_SCAN_CONTEXT *context, int message, void *message_data, void *user)
{
    lf_yara_scanner_t *sc = user;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    YR_RULE *rule = message_data;
    size_t idx = (size_t)(rule - sc->set->rules->rules_table);
    if (idx >= sc->set->rule_count || sc->event_matches >= sc->set->max_matches)
        return CALLBACK_ABORT;
    sc->event_matches++;
    sc->res->matches++;
    metric_add(sc->set->metrics, LF_YARA_M_MATCHES, 1);
    lf_yara_match_t m = {.rule = &sc->set->info[idx], .field = sc->field};
    if (!sc->cb(&m, sc->ctx)) {
        sc->stop = true;
        return CALLBACK_ABORT;
    }
    return CALLBACK_CONTINUE;
}

static lf_err_t bind(lf_yara_scanner_t *sc, lf_yara_set_t *set)
{
    if (sc->set == set && sc->yr)
        return LF_OK;
    unbind(sc);
    if (yr_scanner_create(set->rules, &sc->yr) != ERROR_SUCCESS) {
        sc->yr = NULL;
        return LF_ENOMEM;
    }
    sc->set = lf_yara_set_retain(set);
    yr_scanner_set_callback(sc->yr, scan_callback, sc);
    yr_scanner_set_timeout(sc->yr, set->timeout_s);
    yr_scanner_set_flags(sc->yr, SCAN_FLAGS_FAST_MODE);
    return LF_OK;
}

static void scan_one(lf_yara_scanner_t *sc, const void *data, size_t len, lf_field_id_t field)
{
    lf_yara_set_t *set = sc->set;
    if (len > set->max_scan_bytes) {
        len = set->max_scan_bytes;
        sc->res->truncated++;
        metric_add(set->metrics, LF_YARA_M_TRUNCATED, 1);
    }
    sc->field = field;
    yr_scanner_define_string_variable(sc->yr, EXTERNAL_FIELD,
                                      field < LF_F_COUNT ? lf_field_path(field) : "");
    int yrc = yr_scanner_scan_mem(sc->yr, data, len);
    sc->res->values++;
    metric_add(set->metrics, LF_YARA_M_SCANS, 1);
    metric_add(set->metrics, LF_YARA_M_BYTES, (int64_t)len);
    if (yrc == ERROR_SCAN_TIMEOUT) {
        sc->res->timeouts++;
        metric_add(set->metrics, LF_YARA_M_TIMEOUTS, 1);
    } else if (yrc != ERROR_SUCCESS && yrc != ERROR_CALLBACK_ERROR) {
        sc->res->errors++;
        metric_add(set->metrics, LF_YARA_M_ERRORS, 1);
    }
}

lf_err_t lf_yara_scan_buffer(lf_yara_scanner_t *sc, lf_yara_set_t *set, const void *data,
                             size_t len, lf_field_id_t field, lf_yara_match_cb cb, void *ctx,
                             lf_yara_scan_result_t *res)
{
    lf_yara_scan_result_t local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (!set)
        return LF_OK;
    lf_err_t rc = bind(sc, set);
    if (rc != LF_OK)
        return rc;
    sc->cb = cb;
    sc->ctx = ctx;
    sc->res = res;
    sc->event_matches = 0;
    sc->stop = false;
    scan_one(sc, data, len, field);
    sc->res = NULL;
    return LF_OK;
}

lf_err_t lf_yara_scan_event(lf_yara_scanner_t *sc, lf_yara_set_t *set, const lf_event_t *ev,
                            lf_yara_match_cb cb, void *ctx, lf_yara_scan_result_t *res)
{
    lf_yara_scan_result_t local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (!set || set->rule_count == 0)
        return LF_OK;
    lf_err_t rc = bind(sc, set);
    if (rc != LF_OK)
        return rc;
    sc->cb = cb;
    sc->ctx = ctx;
    sc->res = res;
    sc->event_matches = 0;
    sc->stop = false;
    for (size_t i = 0; i < set->field_count && !sc->stop; i++) {
        if (sc->event_matches >= set->max_matches)
            break;
        char numbuf[64];
        lf_str_t v;
        if (!lf_event_has(ev, set->fields[i]) ||
            !lf_event_value_text(ev, set->fields[i], numbuf, sizeof numbuf, &v) || !v.ptr ||
            v.len == 0)
            continue;
        scan_one(sc, v.ptr, v.len, set->fields[i]);
    }
    sc->res = NULL;
    return LF_OK;
}
