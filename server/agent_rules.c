/* agent_rules.c - publishing the agents' YARA rule set on the control topic. */
#include "agent_rules.h"

#include "lf_buf.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire_rules.h"
#include "lf_yara.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP             "agent-rules"
#define POLL_MS          500
#define RETRY_MS         5000
#define FLUSH_MS         5000
#define MAX_FILES_LOGGED 5

const lf_config_option_t lf_agent_rules_config_options[] = {
    LF_CFG_OPT_STRING("yara_rules_dir", lf_agent_rules_config_t, yara_rules_dir, "",
                      "Directory of the YARA rule files (*.yar, *.yara) that agents scan files "
                      "with; published on kafka.topic_control at start and on SIGHUP when it "
                      "changed, and only when it compiles. Empty: <detect.rules_dir>/yara-agent "
                      "(nothing is published when that directory does not exist)."),
    LF_CFG_OPT_SIZE("max_rule_set_bytes", lf_agent_rules_config_t, max_set_bytes, "4MiB", 4096,
                    64 << 20,
                    "Largest agent rule set (all files together); a larger set is refused. "
                    "Keep it below the brokers' message.max.bytes."),
    LF_CFG_END};

struct lf_agent_rules {
    const lf_agent_rules_config_t *cfg;
    char dir[4096];
    bool dir_explicit;
    char topic[256];
    rd_kafka_t *rk;
    uv_timer_t timer;
    lf_buf_t msg;        /* the last set built (published or to publish) */
    uint8_t sha[32];     /* of the last set published or being published */
    uint8_t refused[32]; /* of the last set refused (not logged again) */
    bool have_sha, have_refused;
    bool pending; /* msg waits for a (re-)send */
    int64_t retry_at_ms;
    lf_metric_t metrics[3];
};

enum { M_PUBLISHED, M_REFUSED, M_FILES };

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    lf_agent_rules_t *p = opaque;
    (void)rk;
    if (m->err) {
        lf_warn(COMP, "agent rule set not delivered to %s: %s; retrying in %d s", p->topic,
                rd_kafka_err2str(m->err), RETRY_MS / 1000);
        p->pending = true;
        p->retry_at_ms = lf_time_mono_ms() + RETRY_MS;
        return;
    }
    lf_info(COMP, "agent rule set published on %s partition %d offset %lld", p->topic,
            (int)m->partition, (long long)m->offset);
}

static void send_pending(lf_agent_rules_t *p)
{
    if (!p->pending || lf_time_mono_ms() < p->retry_at_ms)
        return;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(LF_WIRE_RULES_KEY, strlen(LF_WIRE_RULES_KEY)),
        RD_KAFKA_V_VALUE(p->msg.data, p->msg.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (err) {
        lf_warn(COMP, "agent rule set not queued for %s: %s; retrying in %d s", p->topic,
                rd_kafka_err2str(err), RETRY_MS / 1000);
        p->retry_at_ms = lf_time_mono_ms() + RETRY_MS;
        return;
    }
    p->pending = false;
}

static void on_timer(uv_timer_t *t)
{
    lf_agent_rules_t *p = t->data;
    rd_kafka_poll(p->rk, 0);
    send_pending(p);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The rule file names of dir, sorted. LF_EIO when it cannot be read. */
static lf_err_t list_rule_files(const char *dir, char ***out, size_t *count, char *errstr,
                                size_t errlen)
{
    *out = NULL;
    *count = 0;
    DIR *dp = opendir(dir);
    if (!dp) {
        snprintf(errstr, errlen, "%s: cannot open: %s", dir, strerror(errno));
        return LF_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    lf_err_t rc = LF_OK;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.' ||
            !(has_suffix(de->d_name, ".yar") || has_suffix(de->d_name, ".yara")))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) {
                rc = LF_ENOMEM;
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = LF_ENOMEM;
            break;
        }
        n++;
    }
    closedir(dp);
    if (rc != LF_OK) {
        free_names(names, n);
        snprintf(errstr, errlen, "%s: out of memory listing rule files", dir);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *count = n;
    return LF_OK;
}

/* Reads path into buf (appending), at most max bytes in all. */
static lf_err_t read_file(const char *path, lf_buf_t *buf, char *errstr, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errlen, "%s: cannot open: %s", path, strerror(errno));
        return LF_EIO;
    }
    lf_err_t rc = LF_OK;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(errstr, errlen, "%s: cannot read: %s", path, strerror(errno));
            rc = LF_EIO;
            break;
        }
        if (r == 0)
            break;
        if (lf_buf_append(buf, chunk, (size_t)r) != LF_OK) {
            snprintf(errstr, errlen, "%s: the rule set is larger than agents.max_rule_set_bytes",
                     path);
            rc = LF_EFULL;
            break;
        }
    }
    close(fd);
    return rc;
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* Builds the set of the directory into msg; files/texts for compiling. */
static lf_err_t build_set(lf_agent_rules_t *p, lf_buf_t *msg, size_t *nfiles, char *errstr,
                          size_t errlen)
{
    char **names;
    size_t n;
    lf_err_t rc = list_rule_files(p->dir, &names, &n, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    lf_buf_t text;
    lf_buf_init(&text, (size_t)p->cfg->max_set_bytes);
    rc = lf_wire_rules_begin(msg, lf_time_now_ms());
    if (n > LF_WIRE_RULES_MAX_FILES) {
        snprintf(errstr, errlen, "%s: %zu rule files; at most %u", p->dir, n,
                 LF_WIRE_RULES_MAX_FILES);
        rc = LF_EFULL;
    }
    for (size_t i = 0; i < n && rc == LF_OK; i++) {
        if (!lf_wire_rules_name_ok(lf_str_c(names[i]))) {
            snprintf(errstr, errlen,
                     "%s/%s: rule file names may hold only letters, digits, '.', '_' and '-' "
                     "(at most %u bytes); rename it",
                     p->dir, names[i], LF_WIRE_RULES_MAX_NAME);
            rc = LF_EINVAL;
            break;
        }
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", p->dir, names[i]);
        lf_buf_reset(&text);
        rc = read_file(path, &text, errstr, errlen);
        if (rc == LF_OK && msg->len + text.len > (size_t)p->cfg->max_set_bytes) {
            snprintf(errstr, errlen, "%s: the rule set is larger than agents.max_rule_set_bytes",
                     path);
            rc = LF_EFULL;
        }
        if (rc == LF_OK)
            rc = lf_wire_rules_add(msg, lf_str_c(names[i]), text.data, text.len);
    }
    lf_buf_free(&text);
    free_names(names, n);
    if (rc == LF_OK) {
        uint8_t digest[32];
        sha256(msg->data + LF_WIRE_RULES_FIXED, msg->len - LF_WIRE_RULES_FIXED, digest);
        lf_wire_rules_finish(msg, (uint32_t)n, digest);
        *nfiles = n;
    } else if (rc == LF_ENOMEM && !errstr[0]) {
        snprintf(errstr, errlen, "out of memory building the agent rule set");
    }
    return rc;
}

/* Compiles the set as agents will (lf_yara: the same external variables). */
static lf_err_t compile_set(const lf_buf_t *msg, char *errstr, size_t errlen)
{
    lf_wire_rules_t rules;
    if (lf_wire_rules_parse(msg->data, msg->len, &rules) != LF_OK) {
        snprintf(errstr, errlen, "internal error: the built set does not parse");
        return LF_EPARSE;
    }
    lf_yara_source_t *src = calloc(rules.count ? rules.count : 1, sizeof *src);
    char **names = calloc(rules.count ? rules.count : 1, sizeof *names);
    lf_err_t rc = src && names ? LF_OK : LF_ENOMEM;
    lf_wire_rules_iter_t it;
    lf_wire_rules_iter(&rules, &it);
    lf_wire_rule_file_t f;
    for (uint32_t i = 0; rc == LF_OK && lf_wire_rules_next(&rules, &it, &f) == LF_OK; i++) {
        names[i] = strndup(f.name.ptr, f.name.len);
        if (!names[i]) {
            rc = LF_ENOMEM;
            break;
        }
        src[i] = (lf_yara_source_t){.name = names[i], .text = f.text.ptr, .len = f.text.len};
    }
    lf_yara_set_t *set = NULL;
    if (rc == LF_OK && rules.count)
        rc = lf_yara_set_compile(src, rules.count, NULL, NULL, &set, errstr, errlen);
    lf_yara_set_release(set);
    for (uint32_t i = 0; names && i < rules.count; i++)
        free(names[i]);
    free(names);
    free(src);
    return rc;
}

lf_err_t lf_agent_rules_publish(lf_agent_rules_t *p, char *errstr, size_t errlen)
{
    errstr[0] = '\0';
    struct stat st;
    if (!p->dir_explicit && stat(p->dir, &st) != 0) {
        lf_info(COMP, "no agent YARA rule set: %s does not exist", p->dir);
        return LF_OK;
    }
    lf_buf_t msg;
    lf_buf_init(&msg, (size_t)p->cfg->max_set_bytes + 64 * 1024);
    size_t nfiles = 0;
    lf_err_t rc = build_set(p, &msg, &nfiles, errstr, errlen);
    if (rc != LF_OK) {
        lf_buf_free(&msg);
        lf_metric_add(&p->metrics[M_REFUSED], 1);
        return rc;
    }
    lf_wire_rules_t rules;
    lf_wire_rules_parse(msg.data, msg.len, &rules);
    char version[17];
    lf_wire_rules_version(rules.sha256, version);
    if (p->have_sha && !memcmp(p->sha, rules.sha256, 32)) {
        lf_info(COMP, "agent YARA rule set %s unchanged (%zu files in %s)", version, nfiles,
                p->dir);
        lf_buf_free(&msg);
        return LF_OK;
    }
    rc = compile_set(&msg, errstr, errlen);
    if (rc != LF_OK) {
        lf_metric_add(&p->metrics[M_REFUSED], 1);
        memcpy(p->refused, rules.sha256, 32);
        p->have_refused = true;
        lf_buf_free(&msg);
        return rc;
    }
    lf_buf_free(&p->msg);
    p->msg = msg;
    memcpy(p->sha, rules.sha256, 32);
    p->have_sha = true;
    p->pending = true;
    p->retry_at_ms = 0;
    lf_metric_add(&p->metrics[M_PUBLISHED], 1);
    lf_metric_set(&p->metrics[M_FILES], (int64_t)nfiles);
    lf_info(COMP, "agent YARA rule set %s (%zu files, %zu bytes from %s) compiles: publishing",
            version, nfiles, p->msg.len, p->dir);
    send_pending(p);
    return LF_OK;
}

lf_err_t lf_agent_rules_new(const lf_agent_rules_config_t *cfg, const char *rules_dir,
                            const lf_kafka_config_t *kafka, uv_loop_t *loop, lf_metrics_t *metrics,
                            lf_agent_rules_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    lf_agent_rules_t *p = calloc(1, sizeof *p);
    if (!p)
        return LF_ENOMEM;
    p->cfg = cfg;
    p->dir_explicit = cfg->yara_rules_dir && cfg->yara_rules_dir[0];
    if (p->dir_explicit)
        snprintf(p->dir, sizeof p->dir, "%s", cfg->yara_rules_dir);
    else
        snprintf(p->dir, sizeof p->dir, "%s/yara-agent", rules_dir ? rules_dir : ".");
    snprintf(p->topic, sizeof p->topic, "%s", kafka->topic_control);
    lf_buf_init(&p->msg, 1);
    static const struct {
        const char *name, *help;
        lf_metric_kind_t kind;
    } rows[] = {
        {"lianfang_agent_rules_published_total", "Agent YARA rule sets published",
         LF_METRIC_COUNTER},
        {"lianfang_agent_rules_refused_total",
         "Agent YARA rule sets refused (unreadable, too large or not compiling)",
         LF_METRIC_COUNTER},
        {"lianfang_agent_rules_files", "Rule files in the agent YARA rule set last published",
         LF_METRIC_GAUGE},
    };
    for (size_t i = 0; i < 3; i++) {
        p->metrics[i].name = rows[i].name;
        p->metrics[i].help = rows[i].help;
        p->metrics[i].kind = rows[i].kind;
    }
    if (metrics)
        lf_metrics_register(metrics, p->metrics, 3);
    rd_kafka_conf_t *conf = lf_kafka_conf_new(kafka, true, errstr, errlen);
    if (!conf) {
        free(p);
        return LF_ECONFIG;
    }
    char big[32];
    snprintf(big, sizeof big, "%lld", (long long)cfg->max_set_bytes + 1024 * 1024);
    if (lf_kafka_conf_set(conf, "message.max.bytes", big, errstr, errlen) != LF_OK) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return LF_ECONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return LF_EKAFKA;
    }
    if (lf_yara_global_init() != LF_OK) {
        rd_kafka_destroy(p->rk);
        free(p);
        snprintf(errstr, errlen, "cannot initialise libyara");
        return LF_ENOMEM;
    }
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_timer, POLL_MS, POLL_MS);
    *out = p;
    char err[1024];
    if (lf_agent_rules_publish(p, err, sizeof err) != LF_OK)
        lf_error(COMP, "agent YARA rule set of %s refused, agents keep the set they run: %s",
                 p->dir, err);
    return LF_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void lf_agent_rules_free(lf_agent_rules_t *p)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        lf_warn(COMP, "the agent rule set was not delivered before stopping");
    rd_kafka_destroy(p->rk);
    lf_buf_free(&p->msg);
    lf_yara_global_cleanup();
    if (p->timer.loop && !uv_is_closing((uv_handle_t *)&p->timer)) {
        uv_close((uv_handle_t *)&p->timer, on_timer_closed);
        return;
    }
    free(p);
}
