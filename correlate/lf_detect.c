#include "lf_detect.h"
#include "lf_json.h"
#include "lf_log.h"
#include "lf_stix.h"
#include "lf_time.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define COMP "detect"

const lf_config_option_t lf_detect_config_options[] = {
    LF_CFG_OPT_BOOL("enabled", lf_detect_config_t, enabled, "true",
                    "Match every new event against Sigma, YARA and STIX content."),
    LF_CFG_OPT_STRING("rules_dir", lf_detect_config_t, rules_dir, "/usr/share/lianfang/rules",
                      "Directory with sigma/, sigma-mappings/, placeholders.yaml, yara/ and "
                      "intel/ (STIX 2.1 bundles)."),
    LF_CFG_OPT_INT("max_alerts_per_event", lf_detect_config_t, max_alerts_per_event, "16", 1, 1000,
                   "Alerts one event may raise; further hits are counted, not stored."),
    LF_CFG_OPT_SECTION("sigma", lf_detect_config_t, sigma, lf_sigma_config_options,
                       "Sigma engine limits."),
    LF_CFG_OPT_DURATION("correlation_clock", lf_detect_config_t, correlation_clock_ms, "5s", 0,
                        3600000,
                        "When no events arrive for this long, lianfangd still closes the "
                        "correlation windows that are due (conditions decided at a window's "
                        "end, such as lt or eq) in a store batch of their own; 0: only when "
                        "events arrive."),
    LF_CFG_OPT_SECTION("correlation", lf_detect_config_t, correlation, lf_sigcorr_config_options,
                       "Sigma correlation rules: lateness and memory bounds of their windows."),
    LF_CFG_OPT_SECTION("yara", lf_detect_config_t, yara, lf_yara_config_options,
                       "YARA on payload fields."),
    LF_CFG_OPT_SECTION("intel", lf_detect_config_t, intel, lf_ioc_config_options,
                       "STIX 2.1 indicator sets."),
    LF_CFG_END};

enum {
    M_EVENTS,
    M_SIGMA,
    M_YARA,
    M_INTEL,
    M_CORRELATION,
    M_DROPPED,
    M_PROBLEMS,
    M_CORR_LATE,
    M_CORR_MISSING,
    M_CORR_FULL,
    M_CORR_EVICTED,
    M_CORR_GROUPS,
    M_COUNT
};

struct lf_detect {
    const lf_detect_config_t *cfg;
    lf_sigma_matcher_t *sigma;
    lf_sigma_scratch_t *scratch;
    lf_sigcorr_t *corr;
    lf_sigcorr_stats_t corr_seen; /* engine counters already added to the metrics */
    lf_yara_set_t *yara;
    lf_yara_scanner_t *scanner;
    lf_ioc_set_t *intel;
    lf_yara_metrics_t yara_metrics;
    lf_ioc_metrics_t ioc_metrics;
    bool yara_initialized;
    lf_detect_stats_t stats;
    lf_metric_t metrics[M_COUNT];
    /* per-event state */
    lf_detect_hit_cb cb;
    void *opaque;
    size_t hits;
    const lf_event_t *ev;
    size_t rule_index; /* of the Sigma hit being fed to the correlation engine */
    int64_t event_time_ms;
    bool capped;   /* an event's hit cap applies (not during advance) */
    bool corr_fed; /* the event fed the correlation engine */
    char idbuf[512];
    char valbuf[64];
};

/* ---- loading ---------------------------------------------------------------- */

static void on_sigma_diag(const lf_sigma_diag_t *diag, void *ud)
{
    lf_detect_t *d = ud;
    if (diag->severity == LF_SIGMA_ERROR) {
        d->stats.problems++;
        lf_warn(COMP, "sigma: %s:%d:%d: %s (rule skipped)", diag->file ? diag->file : "?",
                diag->line, diag->column, diag->message);
    } else {
        lf_debug(COMP, "sigma: %s:%d: %s", diag->file ? diag->file : "?", diag->line,
                 diag->message);
    }
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

typedef enum path_kind { PATH_SIGMA, PATH_YARA, PATH_INTEL } path_kind_t;

static path_kind_t classify(const char *path)
{
    if (has_suffix(path, ".yar") || has_suffix(path, ".yara"))
        return PATH_YARA;
    if (has_suffix(path, ".json"))
        return PATH_INTEL;
    return PATH_SIGMA;
}

static lf_sigma_matcher_t *load_sigma(lf_detect_t *d, const char *dir)
{
    char path[4096];
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&d->cfg->sigma);
    if (!set)
        return NULL;
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/sigma-mappings", dir);
        if (exists(path))
            lf_sigma_load_mappings(set, path, on_sigma_diag, d);
        snprintf(path, sizeof path, "%s/placeholders.yaml", dir);
        if (exists(path))
            lf_sigma_load_placeholders(set, path, on_sigma_diag, d);
        snprintf(path, sizeof path, "%s/sigma", dir);
        if (exists(path))
            lf_sigma_load_dir(set, path, on_sigma_diag, d);
    } else if (d->cfg->mappings && exists(d->cfg->mappings)) {
        lf_sigma_load_mappings(set, d->cfg->mappings, on_sigma_diag, d);
    }
    for (size_t i = 0; i < d->cfg->path_count; i++) {
        const char *p = d->cfg->paths[i];
        struct stat sb;
        if (classify(p) != PATH_SIGMA)
            continue;
        if (stat(p, &sb) != 0) {
            d->stats.problems++;
            lf_error(COMP, "%s: %s", p, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            lf_sigma_load_dir(set, p, on_sigma_diag, d);
        } else {
            lf_sigma_load_file(set, p, on_sigma_diag, d);
        }
    }
    return lf_sigma_compile(set, on_sigma_diag, d);
}

/* Correlation documents from the same places as the Sigma rules. */
static lf_sigcorr_t *load_correlations(lf_detect_t *d, const char *dir, lf_sigma_matcher_t *sigma)
{
    char path[4096];
    lf_sigcorr_options_t opts = d->cfg->correlation;
    opts.max_file_bytes = d->cfg->sigma.max_file_bytes;
    opts.track_changes = d->cfg->correlation_persist;
    lf_sigcorr_ruleset_t *set = lf_sigcorr_ruleset_new(&opts);
    if (!set)
        return NULL;
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/sigma", dir);
        if (exists(path))
            lf_sigcorr_load_dir(set, path, on_sigma_diag, d);
    }
    for (size_t i = 0; i < d->cfg->path_count; i++) {
        const char *p = d->cfg->paths[i];
        struct stat sb;
        if (classify(p) != PATH_SIGMA || stat(p, &sb) != 0)
            continue; /* a missing path was reported by load_sigma */
        if (S_ISDIR(sb.st_mode))
            lf_sigcorr_load_dir(set, p, on_sigma_diag, d);
        else
            lf_sigcorr_load_file(set, p, on_sigma_diag, d);
    }
    return lf_sigcorr_new(set, sigma, on_sigma_diag, d);
}

/* Appends the explicit paths of one kind to a file list. */
static size_t add_explicit(lf_detect_t *d, path_kind_t kind, char ***names, size_t n)
{
    for (size_t i = 0; i < d->cfg->path_count; i++) {
        if (classify(d->cfg->paths[i]) != kind)
            continue;
        char **grown = realloc(*names, (n + 1) * sizeof **names);
        if (!grown)
            break;
        *names = grown;
        if (!((*names)[n] = strdup(d->cfg->paths[i])))
            break;
        n++;
    }
    return n;
}

/* Lists the files of dir ending in one of the suffixes, sorted. */
static size_t list_files(const char *dir, const char *const *suffixes, char ***out)
{
    *out = NULL;
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    size_t n = 0, cap = 0;
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        bool ok = false;
        for (size_t i = 0; suffixes[i] && !ok; i++) {
            size_t sl = strlen(suffixes[i]);
            ok = len > sl && strcmp(de->d_name + len - sl, suffixes[i]) == 0;
        }
        if (!ok || de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        size_t plen = strlen(dir) + len + 2;
        names[n] = malloc(plen);
        if (!names[n])
            break;
        snprintf(names[n], plen, "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(dp);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    *out = names;
    return n;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static lf_yara_set_t *load_yara(lf_detect_t *d, const char *dir)
{
    static const char *const suffixes[] = {".yar", ".yara", NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/yara", dir ? dir : "");
    char **files = NULL;
    size_t n = dir && *dir ? list_files(path, suffixes, &files) : 0;
    n = add_explicit(d, PATH_YARA, &files, n);
    if (n == 0) {
        free(files);
        return NULL;
    }
    lf_yara_set_t *set = NULL;
    char err[1024] = "";
    if (lf_yara_set_compile_files((const char *const *)files, n, &d->cfg->yara, &d->yara_metrics,
                                  &set, err, sizeof err) != LF_OK) {
        d->stats.problems++;
        lf_error(COMP, "yara: %s (YARA rules not loaded)", err);
        set = NULL;
    }
    free_list(files, n);
    return set;
}

static lf_ioc_set_t *load_intel(lf_detect_t *d, const char *dir)
{
    static const char *const suffixes[] = {".json", NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/intel", dir ? dir : "");
    char **files = NULL;
    size_t n = dir && *dir ? list_files(path, suffixes, &files) : 0;
    n = add_explicit(d, PATH_INTEL, &files, n);
    if (n == 0) {
        free(files);
        return NULL;
    }
    lf_ioc_builder_t *b = lf_ioc_builder_new(&d->cfg->intel);
    if (!b) {
        free_list(files, n);
        return NULL;
    }
    lf_ioc_report_t report;
    lf_ioc_report_init(&report);
    char err[1024] = "";
    for (size_t i = 0; i < n; i++) {
        if (lf_stix_import_file(b, files[i], &report, err, sizeof err) != LF_OK) {
            lf_error(COMP, "intel: %s: %s (bundle skipped)", files[i], err);
        }
    }
    lf_ioc_set_t *set = NULL;
    if (lf_ioc_set_build(b, &d->ioc_metrics, &set, &report, err, sizeof err) != LF_OK) {
        lf_error(COMP, "intel: %s", err);
        set = NULL;
    }
    /* Unsupported patterns are valid STIX outside the subset: reported, not failures. */
    d->stats.problems += report.invalid + report.bundles_refused;
    d->stats.unsupported += report.unsupported;
    for (size_t i = 0; i < report.problem_count; i++) {
        const lf_ioc_problem_t *p = &report.problems[i];
        lf_warn(COMP, "intel: %s: %s %s: %s", p->source, lf_ioc_problem_kind_name(p->kind),
                p->object_id, p->reason);
    }
    if (report.problems_omitted)
        lf_warn(COMP, "intel: %zu more problems not listed", report.problems_omitted);
    lf_ioc_report_free(&report);
    lf_ioc_builder_free(b);
    free_list(files, n);
    return set;
}

static void register_metrics(lf_detect_t *d, lf_metrics_t *reg)
{
    static const struct {
        const char *name, *labels, *help;
    } defs[M_COUNT] = {
        [M_EVENTS] = {"lianfang_detect_events_total", NULL, "Events matched by detection"},
        [M_SIGMA] = {"lianfang_detect_alerts_total", "type=\"sigma\"", "Alerts raised, by type"},
        [M_YARA] = {"lianfang_detect_alerts_total", "type=\"yara\"", "Alerts raised, by type"},
        [M_INTEL] = {"lianfang_detect_alerts_total", "type=\"intel\"", "Alerts raised, by type"},
        [M_CORRELATION] = {"lianfang_detect_alerts_total", "type=\"correlation\"",
                           "Alerts raised, by type"},
        [M_CORR_LATE] = {"lianfang_detect_correlation_hits_late_total", NULL,
                         "Sigma hits older than detect.correlation.lateness allows (not counted)"},
        [M_CORR_MISSING] = {"lianfang_detect_correlation_hits_incomplete_total", NULL,
                            "Sigma hits lacking a group-by or value field of a correlation rule "
                            "(not counted by that rule)"},
        [M_CORR_FULL] = {"lianfang_detect_correlation_groups_full_total", NULL,
                         "Hits not counted because their rule had detect.correlation.max_groups "
                         "open groups"},
        [M_CORR_EVICTED] = {"lianfang_detect_correlation_values_evicted_total", NULL,
                            "Oldest hits evicted from a group at detect.correlation.max_values"},
        [M_CORR_GROUPS] = {"lianfang_detect_correlation_groups", NULL,
                           "Open correlation groups (windows in progress)"},
        [M_DROPPED] = {"lianfang_detect_alerts_dropped_total", NULL,
                       "Hits beyond detect.max_alerts_per_event (not stored)"},
        [M_PROBLEMS] = {"lianfang_detect_content_problems", NULL,
                        "Rules, bundles or indicators skipped at the last load"},
    };
    for (int i = 0; i < M_COUNT; i++) {
        d->metrics[i].name = defs[i].name;
        d->metrics[i].labels = defs[i].labels;
        d->metrics[i].help = defs[i].help;
        d->metrics[i].kind =
            i == M_PROBLEMS || i == M_CORR_GROUPS ? LF_METRIC_GAUGE : LF_METRIC_COUNTER;
    }
    lf_yara_metrics_init(&d->yara_metrics);
    lf_ioc_metrics_init(&d->ioc_metrics);
    if (reg) {
        lf_metrics_register(reg, d->metrics, M_COUNT);
        lf_metrics_register(reg, d->yara_metrics.m, LF_YARA_M_COUNT);
        lf_metrics_register(reg, d->ioc_metrics.m, LF_IOC_M_COUNT);
    }
}

static lf_err_t load_all(lf_detect_t *d, lf_sigma_matcher_t **sigma, lf_sigcorr_t **corr,
                         lf_yara_set_t **yara, lf_ioc_set_t **intel)
{
    const char *dir = d->cfg->rules_dir;
    d->stats.problems = 0;
    d->stats.unsupported = 0;
    *sigma = load_sigma(d, dir);
    *corr = *sigma ? load_correlations(d, dir, *sigma) : NULL;
    *yara = load_yara(d, dir);
    *intel = load_intel(d, dir);
    if (!*sigma || !*corr) {
        lf_sigcorr_free(*corr);
        *corr = NULL;
        lf_sigma_matcher_unref(*sigma);
        *sigma = NULL;
        return LF_ENOMEM;
    }
    return LF_OK;
}

/* Adds what the correlation engine counted since the last call to the
 * metrics. */
static void corr_metrics(lf_detect_t *d)
{
    if (!d->corr)
        return;
    lf_sigcorr_stats_t st;
    lf_sigcorr_stats(d->corr, &st);
    lf_metric_add(&d->metrics[M_CORR_LATE], (int64_t)(st.hits_late - d->corr_seen.hits_late));
    lf_metric_add(&d->metrics[M_CORR_MISSING],
                  (int64_t)(st.hits_missing_group + st.hits_missing_value -
                            d->corr_seen.hits_missing_group - d->corr_seen.hits_missing_value));
    lf_metric_add(&d->metrics[M_CORR_FULL], (int64_t)(st.groups_full - d->corr_seen.groups_full));
    lf_metric_add(&d->metrics[M_CORR_EVICTED],
                  (int64_t)(st.values_evicted - d->corr_seen.values_evicted));
    lf_metric_set(&d->metrics[M_CORR_GROUPS], (int64_t)st.groups);
    d->corr_seen = st;
}

static void install(lf_detect_t *d, lf_sigma_matcher_t *sigma, lf_sigcorr_t *corr,
                    lf_yara_set_t *yara, lf_ioc_set_t *intel)
{
    corr_metrics(d);
    lf_sigma_matcher_unref(d->sigma);
    lf_sigcorr_free(d->corr);
    lf_yara_set_release(d->yara);
    lf_ioc_set_release(d->intel);
    d->sigma = sigma;
    d->corr = corr;
    if (corr)
        lf_sigcorr_stats(corr, &d->corr_seen);
    d->yara = yara;
    d->intel = intel;
    d->stats.sigma_rules = sigma ? lf_sigma_matcher_rule_count(sigma) : 0;
    d->stats.correlation_rules = corr ? lf_sigcorr_rule_count(corr) : 0;
    d->stats.yara_rules = yara ? lf_yara_set_rule_count(yara) : 0;
    d->stats.indicators = intel ? lf_ioc_set_indicator_count(intel) : 0;
    lf_metric_set(&d->metrics[M_PROBLEMS], (int64_t)d->stats.problems);
    lf_info(COMP,
            "detection content from %s: %zu Sigma rules, %zu correlation rules, %zu YARA rules, "
            "%zu indicators, %zu problems (see warnings above)",
            d->cfg->rules_dir, d->stats.sigma_rules, d->stats.correlation_rules,
            d->stats.yara_rules, d->stats.indicators, d->stats.problems);
}

lf_err_t lf_detect_new(const lf_detect_config_t *cfg, lf_metrics_t *metrics, lf_detect_t **out,
                       char *errstr, size_t errlen)
{
    *out = NULL;
    struct stat sb;
    bool dir_given = cfg->rules_dir && *cfg->rules_dir;
    if ((dir_given || cfg->path_count == 0) &&
        (!dir_given || stat(cfg->rules_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        snprintf(errstr, errlen,
                 "detect.rules_dir %s: %s; point it at the rules directory (the source tree's "
                 "rules/ or /usr/share/lianfang/rules) or set detect.enabled: false",
                 dir_given ? cfg->rules_dir : "(empty)",
                 dir_given && errno ? strerror(errno) : "not a directory");
        return LF_ECONFIG;
    }
    lf_detect_t *d = calloc(1, sizeof *d);
    if (!d)
        return LF_ENOMEM;
    d->cfg = cfg;
    register_metrics(d, metrics);
    if (lf_yara_global_init() != LF_OK) {
        free(d);
        return LF_ENOMEM;
    }
    d->yara_initialized = true;
    d->scratch = lf_sigma_scratch_new();
    d->scanner = lf_yara_scanner_new();
    lf_sigma_matcher_t *sigma;
    lf_sigcorr_t *corr;
    lf_yara_set_t *yara;
    lf_ioc_set_t *intel;
    lf_err_t rc = load_all(d, &sigma, &corr, &yara, &intel);
    if (rc != LF_OK || !d->scratch || !d->scanner) {
        lf_sigma_matcher_unref(sigma);
        lf_sigcorr_free(corr);
        lf_yara_set_release(yara);
        lf_ioc_set_release(intel);
        lf_detect_free(d);
        snprintf(errstr, errlen, "detection: out of memory loading %s", cfg->rules_dir);
        return LF_ENOMEM;
    }
    install(d, sigma, corr, yara, intel);
    *out = d;
    return LF_OK;
}

lf_err_t lf_detect_reload(lf_detect_t *d, char *errstr, size_t errlen)
{
    lf_sigma_matcher_t *sigma;
    lf_sigcorr_t *corr;
    lf_yara_set_t *yara;
    lf_ioc_set_t *intel;
    lf_err_t rc = load_all(d, &sigma, &corr, &yara, &intel);
    if (rc == LF_OK && d->corr)
        rc = lf_sigcorr_transfer(corr, d->corr);
    if (rc != LF_OK) {
        lf_sigma_matcher_unref(sigma);
        lf_sigcorr_free(corr);
        lf_yara_set_release(yara);
        lf_ioc_set_release(intel);
        snprintf(errstr, errlen, "reload of %s failed: %s; the previous content stays",
                 d->cfg->rules_dir, lf_strerror(rc));
        return rc;
    }
    /* A YARA set that failed to compile keeps the previous one. */
    if (!yara && d->yara)
        yara = lf_yara_set_retain(d->yara);
    install(d, sigma, corr, yara, intel);
    return LF_OK;
}

void lf_detect_free(lf_detect_t *d)
{
    if (!d)
        return;
    lf_sigma_matcher_unref(d->sigma);
    lf_sigcorr_free(d->corr);
    lf_sigma_scratch_free(d->scratch);
    lf_yara_scanner_free(d->scanner);
    lf_yara_set_release(d->yara);
    lf_ioc_set_release(d->intel);
    if (d->yara_initialized)
        lf_yara_global_cleanup();
    free(d);
}

void lf_detect_stats(const lf_detect_t *d, lf_detect_stats_t *out)
{
    *out = d->stats;
}

/* ---- matching ------------------------------------------------------------------ */

static bool emit(lf_detect_t *d, lf_detect_hit_t *hit)
{
    if (d->capped && (int64_t)d->hits >= d->cfg->max_alerts_per_event) {
        lf_metric_add(&d->metrics[M_DROPPED], 1);
        return false;
    }
    d->hits++;
    static const int kinds[] = {[LF_DETECT_SIGMA] = M_SIGMA,
                                [LF_DETECT_YARA] = M_YARA,
                                [LF_DETECT_INTEL] = M_INTEL,
                                [LF_DETECT_CORRELATION] = M_CORRELATION};
    lf_metric_add(&d->metrics[kinds[hit->kind]], 1);
    if (d->cb)
        d->cb(d->opaque, hit);
    return true;
}

/* Sigma informational..critical become 0..4; a rule without a level
 * counts as medium. */
static int sigma_level(const lf_sigma_rule_meta_t *rule)
{
    int level = rule->level == LF_SIGMA_LEVEL_NONE ? 2 : (int)rule->level - 1;
    return level < 0 ? 0 : level > 4 ? 4 : level;
}

static void on_correlation(void *ud, const lf_sigcorr_alert_t *alert)
{
    lf_detect_t *d = ud;
    if (!alert->rule->report)
        return; /* a correlation that references it asked for no own alerts */
    lf_detect_hit_t hit = {.kind = LF_DETECT_CORRELATION,
                           .rule_id = alert->rule->key,
                           .level = sigma_level(&alert->rule->meta),
                           .sigma = &alert->rule->meta,
                           .correlation = alert};
    emit(d, &hit);
}

/* Field values of the event for the correlation engine: the name written in
 * the correlation rule is resolved as the Sigma rule that hit resolves its
 * own fields (logsource mapping, then ECS names). */
static lf_str_t corr_get(void *opaque, const char *field)
{
    lf_detect_t *d = opaque;
    lf_field_id_t ids[8];
    size_t n = lf_sigma_matcher_resolve_field(d->sigma, d->rule_index, field, ids, 8);
    lf_str_t v;
    for (size_t i = 0; i < n; i++)
        if (lf_event_value_text(d->ev, ids[i], d->valbuf, sizeof d->valbuf, &v))
            return v;
    /* The agency that group_by_agency adds: an event of no agency is a
     * group of its own, not a hit without its group-by value. */
    if (strcmp(field, LF_SIGCORR_AGENCY_FIELD) == 0)
        return lf_str_c("");
    return LF_STR_NULL;
}

static bool on_sigma(const lf_sigma_rule_meta_t *rule, void *ud)
{
    lf_detect_t *d = ud;
    bool more = true;
    if (lf_sigcorr_keep_base_alert(d->corr, rule->id, rule->name)) {
        lf_detect_hit_t hit = {.kind = LF_DETECT_SIGMA,
                               .rule_id = rule->id[0] ? rule->id : rule->title,
                               .level = sigma_level(rule),
                               .sigma = rule};
        more = emit(d, &hit);
    }
    if (d->corr && lf_sigcorr_uses(d->corr, rule->id, rule->name)) {
        d->rule_index = rule->index;
        d->corr_fed = true;
        lf_sigcorr_hit_t ch = {.rule_id = rule->id,
                               .rule_name = rule->name,
                               .time_ms = d->event_time_ms,
                               .get = corr_get,
                               .opaque = d};
        if (lf_sigcorr_feed(d->corr, &ch, on_correlation, d) < 0)
            lf_warn(COMP, "correlation: out of memory; a hit of %s was not counted",
                    rule->id[0] ? rule->id : rule->title);
        more = true; /* the correlation engine sees every Sigma hit */
    }
    return more || (d->corr && lf_sigcorr_rule_count(d->corr) > 0);
}

/* YARA rule severity from its meta (severity/level: low..critical or 0..4). */
static int yara_level(const lf_yara_rule_t *r)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    for (size_t i = 0; i < r->meta_count; i++) {
        if (strcmp(r->meta[i].key, "severity") && strcmp(r->meta[i].key, "level"))
            continue;
        for (int l = 0; l < 5; l++)
            if (!strcasecmp(r->meta[i].value, names[l]))
                return l;
        char *end;
        long v = strtol(r->meta[i].value, &end, 10);
        if (!*end && v >= 0 && v <= 4)
            return (int)v;
    }
    return 3; /* a YARA hit on a payload is high unless the rule says otherwise */
}

static bool on_yara(const lf_yara_match_t *m, void *ctx)
{
    lf_detect_t *d = ctx;
    snprintf(d->idbuf, sizeof d->idbuf, "yara:%s:%s", m->rule->ns, m->rule->identifier);
    lf_detect_hit_t hit = {
        .kind = LF_DETECT_YARA, .rule_id = d->idbuf, .level = yara_level(m->rule), .yara = m};
    return emit(d, &hit);
}

static bool on_intel(const lf_ioc_match_t *m, void *ctx)
{
    lf_detect_t *d = ctx;
    int conf = m->indicator->confidence;
    lf_detect_hit_t hit = {.kind = LF_DETECT_INTEL,
                           .rule_id = m->indicator->id,
                           .level = conf >= 80               ? 3
                                    : conf >= 0 && conf < 30 ? 1
                                                             : 2,
                           .intel = m};
    return emit(d, &hit);
}

/* A match of an agent's YARA file scan (docs/agent.md, "YARA scans"): the
 * record of the agent's reserved source with event.dataset yara.scan is an
 * alert of its own, with the rule, tags, file path and hash it carries. */
static void on_agent_yara(lf_detect_t *d, const lf_event_t *ev)
{
    if (!lf_event_has(ev, LF_F_EVENT_DATASET) || !lf_event_has(ev, LF_F_RULE_NAME) ||
        !lf_event_has(ev, LF_F_LIANFANG_SOURCE) ||
        !lf_str_eq_c(ev->str[LF_F_EVENT_DATASET], "yara.scan") ||
        !lf_str_eq_c(ev->str[LF_F_LIANFANG_SOURCE], "yara-scan"))
        return;
    char name[256], ns[256], tagbuf[1024];
    const char *tags[32];
    lf_str_t n = ev->str[LF_F_RULE_NAME];
    lf_str_t c = lf_event_has(ev, LF_F_RULE_CATEGORY) ? ev->str[LF_F_RULE_CATEGORY] : lf_str_c("");
    snprintf(name, sizeof name, "%.*s", (int)(n.len < 255 ? n.len : 255), n.ptr);
    snprintf(ns, sizeof ns, "%.*s", (int)(c.len < 255 ? c.len : 255), c.ptr);
    lf_yara_rule_t rule = {.identifier = name, .ns = ns[0] ? ns : "agent", .tags = tags};
    if (lf_event_has(ev, LF_F_TAGS)) {
        lf_str_t t = ev->str[LF_F_TAGS];
        snprintf(tagbuf, sizeof tagbuf, "%.*s", (int)(t.len < 1023 ? t.len : 1023), t.ptr);
        for (char *s = tagbuf, *next; s && *s && rule.tag_count < 32; s = next) {
            next = strchr(s, ',');
            if (next)
                *next++ = '\0';
            if (*s)
                tags[rule.tag_count++] = s;
        }
    }
    int64_t sev = lf_event_has(ev, LF_F_EVENT_SEVERITY) ? ev->num[LF_F_EVENT_SEVERITY] : 3;
    lf_yara_match_t m = {.rule = &rule, .field = LF_F_FILE_PATH};
    snprintf(d->idbuf, sizeof d->idbuf, "yara:%s:%s", rule.ns, name);
    lf_detect_hit_t hit = {.kind = LF_DETECT_YARA,
                           .rule_id = d->idbuf,
                           .level = sev >= 0 && sev <= 4 ? (int)sev : 3,
                           .yara = &m};
    emit(d, &hit);
}

size_t lf_detect_event(lf_detect_t *d, const lf_event_t *ev, int64_t event_time_ms,
                       lf_detect_hit_cb cb, void *opaque)
{
    d->cb = cb;
    d->opaque = opaque;
    d->hits = 0;
    d->ev = ev;
    d->event_time_ms = event_time_ms;
    d->capped = true;
    d->corr_fed = false;
    lf_metric_add(&d->metrics[M_EVENTS], 1);
    if (d->sigma) {
        lf_sigma_match(d->sigma, ev, d->scratch, on_sigma, d);
        if (d->corr_fed)
            corr_metrics(d);
    }
    if (d->intel)
        lf_ioc_match(d->intel, ev, event_time_ms, on_intel, d);
    if (d->yara) {
        lf_yara_scan_result_t res;
        lf_yara_scan_event(d->scanner, d->yara, ev, on_yara, d, &res);
    }
    on_agent_yara(d, ev);
    d->ev = NULL;
    return d->hits;
}

size_t lf_detect_advance(lf_detect_t *d, int64_t now_ms, lf_detect_hit_cb cb, void *opaque)
{
    if (!d->corr)
        return 0;
    d->cb = cb;
    d->opaque = opaque;
    d->hits = 0;
    d->ev = NULL;
    d->capped = false;
    if (lf_sigcorr_advance(d->corr, now_ms, on_correlation, d) < 0)
        lf_warn(COMP, "correlation: out of memory while closing windows");
    corr_metrics(d);
    return d->hits;
}

void lf_detect_take_changes(lf_detect_t *d, lf_sigcorr_put_fn *put, void *opaque)
{
    if (d->corr)
        lf_sigcorr_take_changes(d->corr, put, opaque);
}

lf_err_t lf_detect_discard_changes(lf_detect_t *d)
{
    if (!d->corr)
        return LF_OK;
    return lf_sigcorr_discard_changes(d->corr);
}

lf_err_t lf_detect_restore(lf_detect_t *d, const void *key, size_t klen, const void *val,
                           size_t vlen)
{
    if (!d->corr)
        return LF_ENOTFOUND;
    lf_err_t rc = lf_sigcorr_restore(d->corr, key, klen, val, vlen);
    if (rc != LF_OK) {
        lf_str_t rk = {"?", 1};
        lf_sigcorr_key_rule(key, klen, &rk);
        lf_warn(COMP,
                "correlation state of rule %.*s not restored: %s (deleted at the next commit)",
                (int)(rk.len > 200 ? 200 : rk.len), rk.ptr,
                rc == LF_ENOTFOUND ? "the rule is no longer loaded or has changed"
                : rc == LF_EINVAL  ? "the stored entry is damaged"
                                   : lf_strerror(rc));
    }
    corr_metrics(d);
    return rc;
}

void lf_detect_correlation_stats(const lf_detect_t *d, lf_sigcorr_stats_t *out)
{
    if (d->corr)
        lf_sigcorr_stats(d->corr, out);
    else
        memset(out, 0, sizeof *out);
}

/* ---- alert documents ------------------------------------------------------------- */

static void strlist(lf_json_t *js, const char *key, const lf_sigma_strlist_t *l)
{
    if (!l->count)
        return;
    lf_json_key(js, key);
    lf_json_array_begin(js);
    for (size_t i = 0; i < l->count; i++)
        lf_json_cstring(js, l->items[i]);
    lf_json_array_end(js);
}

/* Copies one event field into the alert under the same dotted path. */
static void copy_field(lf_json_t *js, const lf_event_t *ev, const char *path, const char *leaf)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    char buf[64];
    lf_str_t v;
    if (id == LF_F_COUNT || !lf_event_value_text(ev, id, buf, sizeof buf, &v))
        return;
    lf_json_key(js, leaf);
    lf_json_string(js, v.ptr, v.len);
}

static void entity(lf_json_t *js, const lf_event_t *ev, const char *object,
                   const char *const *leaves)
{
    char path[64];
    bool any = false;
    char buf[64];
    lf_str_t v;
    for (size_t i = 0; leaves[i]; i++) {
        snprintf(path, sizeof path, "%s.%s", object, leaves[i]);
        lf_field_id_t id = lf_field_lookup(path, strlen(path));
        if (id != LF_F_COUNT && lf_event_value_text(ev, id, buf, sizeof buf, &v))
            any = true;
    }
    if (!any)
        return;
    lf_json_key(js, object);
    lf_json_object_begin(js);
    for (size_t i = 0; leaves[i]; i++) {
        snprintf(path, sizeof path, "%s.%s", object, leaves[i]);
        copy_field(js, ev, path, leaves[i]);
    }
    lf_json_object_end(js);
}

static const char *const level_names[] = {"informational", "low", "medium", "high", "critical"};

/* The event's file (ECS file.*), e.g. what an agent's YARA scan matched. */
static void alert_file(lf_json_t *js, const lf_event_t *ev)
{
    if (!lf_event_has(ev, LF_F_FILE_PATH) && !lf_event_has(ev, LF_F_FILE_HASH_SHA256))
        return;
    lf_json_key(js, "file");
    lf_json_object_begin(js);
    copy_field(js, ev, "file.path", "path");
    copy_field(js, ev, "file.name", "name");
    if (lf_event_has(ev, LF_F_FILE_SIZE)) {
        lf_json_key(js, "size");
        lf_json_int(js, ev->num[LF_F_FILE_SIZE]);
    }
    if (lf_event_has(ev, LF_F_FILE_MTIME)) {
        lf_json_key(js, "mtime");
        lf_json_timestamp_ms(js, ev->num[LF_F_FILE_MTIME]);
    }
    if (lf_event_has(ev, LF_F_FILE_HASH_SHA256)) {
        lf_json_key(js, "hash");
        lf_json_object_begin(js);
        copy_field(js, ev, "file.hash.sha256", "sha256");
        lf_json_object_end(js);
    }
    lf_json_object_end(js);
}

lf_err_t lf_detect_alert_json(const lf_detect_hit_t *hit, const lf_event_t *ev, uint64_t alert_id,
                              int64_t event_time_ms, lf_buf_t *out)
{
    static const char *const types[] = {"sigma", "yara", "intel", "correlation"};
    const lf_sigcorr_alert_t *corr = hit->correlation;
    lf_buf_reset(out);
    lf_json_t js;
    lf_json_init(&js, out);
    lf_json_object_begin(&js);
    lf_json_key(&js, "@timestamp");
    lf_json_timestamp_ms(&js, corr ? corr->last_ms : event_time_ms);
    lf_json_key(&js, "alert");
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_uint(&js, alert_id);
    lf_json_key(&js, "type");
    lf_json_cstring(&js, types[hit->kind]);
    lf_json_key(&js, "created");
    lf_json_timestamp_ms(&js, lf_time_now_ms());
    lf_json_key(&js, "level");
    lf_json_cstring(&js, level_names[hit->level]);
    lf_json_object_end(&js);

    lf_json_key(&js, "rule");
    lf_json_object_begin(&js);
    lf_json_key(&js, "id");
    lf_json_cstring(&js, hit->rule_id);
    if (hit->sigma) {
        const lf_sigma_rule_meta_t *r = hit->sigma;
        lf_json_key(&js, "name");
        lf_json_cstring(&js, r->title);
        lf_json_key(&js, "description");
        lf_json_cstring(&js, r->description);
        lf_json_key(&js, "author");
        lf_json_cstring(&js, r->author);
        lf_json_key(&js, "status");
        lf_json_cstring(&js, r->status);
        lf_json_key(&js, "ruleset");
        lf_json_cstring(&js, "sigma");
        if (corr) {
            lf_json_key(&js, "category");
            lf_json_cstring(&js, "correlation");
        }
        lf_json_key(&js, "file");
        lf_json_cstring(&js, r->file);
        strlist(&js, "tags", &r->tags);
        strlist(&js, "references", &r->references);
        strlist(&js, "falsepositives", &r->falsepositives);
    } else if (hit->yara) {
        const lf_yara_rule_t *r = hit->yara->rule;
        lf_json_key(&js, "name");
        lf_json_cstring(&js, r->identifier);
        lf_json_key(&js, "ruleset");
        lf_json_cstring(&js, "yara");
        lf_json_key(&js, "category");
        lf_json_cstring(&js, r->ns);
        if (r->tag_count) {
            lf_json_key(&js, "tags");
            lf_json_array_begin(&js);
            for (size_t i = 0; i < r->tag_count; i++)
                lf_json_cstring(&js, r->tags[i]);
            lf_json_array_end(&js);
        }
    } else if (hit->intel) {
        lf_json_key(&js, "name");
        lf_json_cstring(&js, hit->intel->indicator->name);
        lf_json_key(&js, "ruleset");
        lf_json_cstring(&js, "stix");
    }
    lf_json_object_end(&js);

    if (hit->sigma && (hit->sigma->attack_techniques.count || hit->sigma->attack_tactics.count)) {
        lf_json_key(&js, "threat");
        lf_json_object_begin(&js);
        lf_json_key(&js, "framework");
        lf_json_cstring(&js, "MITRE ATT&CK");
        if (hit->sigma->attack_tactics.count) {
            lf_json_key(&js, "tactic");
            lf_json_object_begin(&js);
            strlist(&js, "id", &hit->sigma->attack_tactics);
            lf_json_object_end(&js);
        }
        if (hit->sigma->attack_techniques.count) {
            lf_json_key(&js, "technique");
            lf_json_object_begin(&js);
            strlist(&js, "id", &hit->sigma->attack_techniques);
            lf_json_object_end(&js);
        }
        lf_json_object_end(&js);
    }
    if (hit->yara) {
        const lf_yara_rule_t *r = hit->yara->rule;
        lf_json_key(&js, "yara");
        lf_json_object_begin(&js);
        lf_json_key(&js, "namespace");
        lf_json_cstring(&js, r->ns);
        lf_json_key(&js, "field");
        lf_json_cstring(&js, lf_field_path(hit->yara->field));
        if (ev && hit->yara->field == LF_F_FILE_PATH) { /* an agent's file scan */
            lf_json_key(&js, "scanned_by");
            lf_json_cstring(&js, "agent");
            copy_field(&js, ev, "rule.version", "rule_set");
        }
        if (r->meta_count) {
            lf_json_key(&js, "meta");
            lf_json_object_begin(&js);
            for (size_t i = 0; i < r->meta_count; i++) {
                lf_json_key(&js, r->meta[i].key);
                lf_json_cstring(&js, r->meta[i].value);
            }
            lf_json_object_end(&js);
        }
        lf_json_object_end(&js);
    }
    if (corr) {
        const lf_sigcorr_rule_t *r = corr->rule;
        lf_json_key(&js, "correlation");
        lf_json_object_begin(&js);
        lf_json_key(&js, "type");
        lf_json_cstring(&js, lf_sigcorr_type_name(r->type));
        lf_json_key(&js, "timespan_s");
        lf_json_int(&js, r->timespan_ms / 1000);
        if (r->group_count) {
            lf_json_key(&js, "group_by");
            lf_json_object_begin(&js);
            for (size_t i = 0; i < r->group_count; i++) {
                lf_json_key(&js, r->group_by[i]);
                lf_json_string(&js, corr->group_values[i].ptr, corr->group_values[i].len);
            }
            lf_json_object_end(&js);
        }
        if (r->field[0]) {
            lf_json_key(&js, "field");
            lf_json_cstring(&js, r->field);
        }
        lf_json_key(&js, "value");
        if (corr->value == (double)(int64_t)corr->value && fabs(corr->value) < 9e15) {
            lf_json_int(&js, (int64_t)corr->value);
        } else {
            lf_json_double(&js, corr->value);
        }
        lf_json_key(&js, "hits");
        lf_json_uint(&js, corr->hits);
        lf_json_key(&js, "window");
        lf_json_object_begin(&js);
        lf_json_key(&js, "start");
        lf_json_timestamp_ms(&js, corr->window_start_ms);
        lf_json_key(&js, "end");
        lf_json_timestamp_ms(&js, corr->window_end_ms);
        lf_json_object_end(&js);
        lf_json_key(&js, "first_hit");
        lf_json_timestamp_ms(&js, corr->first_ms);
        lf_json_key(&js, "last_hit");
        lf_json_timestamp_ms(&js, corr->last_ms);
        lf_json_key(&js, "decided_at_window_end");
        lf_json_bool(&js, r->at_window_end);
        lf_json_object_end(&js);
    }
    if (hit->intel) {
        const lf_ioc_indicator_t *ind = hit->intel->indicator;
        /* ECS threat.indicator.* plus the STIX object's own terms. */
        lf_json_key(&js, "indicator");
        lf_json_object_begin(&js);
        lf_json_key(&js, "id");
        lf_json_cstring(&js, ind->id);
        lf_json_key(&js, "name");
        lf_json_cstring(&js, ind->name);
        lf_json_key(&js, "pattern");
        lf_json_cstring(&js, ind->pattern);
        lf_json_key(&js, "type");
        lf_json_cstring(&js, lf_ioc_kind_name(hit->intel->kind));
        lf_json_key(&js, "matched_field");
        lf_json_cstring(&js, lf_field_path(hit->intel->field));
        lf_json_key(&js, "matched_value");
        lf_json_string(&js, hit->intel->value.ptr, hit->intel->value.len);
        if (ind->confidence >= 0) {
            lf_json_key(&js, "confidence");
            lf_json_int(&js, ind->confidence);
        }
        lf_json_key(&js, "tlp");
        lf_json_cstring(&js, lf_tlp_name(ind->tlp));
        if (ind->label_count) {
            lf_json_key(&js, "labels");
            lf_json_array_begin(&js);
            for (size_t i = 0; i < ind->label_count; i++)
                lf_json_cstring(&js, ind->labels[i]);
            lf_json_array_end(&js);
        }
        lf_json_key(&js, "source");
        lf_json_cstring(&js, ind->source);
        lf_json_object_end(&js);
    }

    /* Where it happened and what it is about. */
    static const char *const agent_leaves[] = {"id", NULL};
    static const char *const org_leaves[] = {"id", NULL};
    static const char *const host_leaves[] = {"name", NULL};
    static const char *const ip_leaves[] = {"ip", "port", NULL};
    static const char *const user_leaves[] = {"name", NULL};
    static const char *const process_leaves[] = {"name", "pid", "command_line", NULL};
    static const char *const url_leaves[] = {"original", "domain", NULL};
    if (ev) {
        entity(&js, ev, "agent", agent_leaves);
        entity(&js, ev, "organization", org_leaves);
        entity(&js, ev, "host", host_leaves);
        entity(&js, ev, "source", ip_leaves);
        entity(&js, ev, "destination", ip_leaves);
        entity(&js, ev, "user", user_leaves);
        entity(&js, ev, "process", process_leaves);
        entity(&js, ev, "url", url_leaves);
        alert_file(&js, ev);
    }
    lf_json_key(&js, "event");
    lf_json_object_begin(&js);
    lf_json_key(&js, "kind");
    lf_json_cstring(&js, "alert");
    lf_json_key(&js, "severity");
    lf_json_int(&js, hit->level);
    if (ev) {
        copy_field(&js, ev, "event.sequence", "sequence");
        copy_field(&js, ev, "event.dataset", "dataset");
        copy_field(&js, ev, "event.original", "original");
    }
    lf_json_object_end(&js);
    if (ev)
        copy_field(&js, ev, "message", "message");
    lf_json_object_end(&js);
    return lf_json_error(&js);
}
