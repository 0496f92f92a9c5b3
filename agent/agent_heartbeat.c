/* agent_heartbeat.c - enrolment token, OS description, last error and the
 * heartbeat message. See agent_heartbeat.h. */
#include "agent_heartbeat.h"
#include "lf_log.h"
#include "lf_time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TOKEN_ENV      "LIANFANG_ENROLMENT_TOKEN"
#define MAX_TOKEN      1024
#define MAX_ERROR_TEXT 512

struct lf_agent_hb {
    const lf_agent_config_t *cfg;
    bool has_key;
    uint8_t key[LF_WIRE_KEY_BYTES];
    char os[256];
    int64_t started_ms;
    pthread_mutex_t lock; /* guards last_error* (any thread logs) */
    char last_error[MAX_ERROR_TEXT];
    int64_t last_error_ms;
};

/* Strips trailing white space and a line end; returns the new length. */
static size_t trim(char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    s[n] = '\0';
    return n;
}

static lf_err_t read_token_file(const char *path, char *token, size_t cap, size_t *len,
                                char *errstr, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errlen,
                 "agent.enrolment_token_file: cannot open %s: %s (give the agent's user read "
                 "access, or empty the setting)",
                 path, strerror(errno));
        return LF_ECONFIG;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        snprintf(errstr, errlen, "agent.enrolment_token_file: %s is not a regular file", path);
        return LF_ECONFIG;
    }
    if (sb.st_mode & 0007) {
        close(fd);
        snprintf(errstr, errlen,
                 "agent.enrolment_token_file: %s is accessible to other users (mode %04o); "
                 "run chmod 0600 %s",
                 path, (unsigned)(sb.st_mode & 07777), path);
        return LF_ECONFIG;
    }
    ssize_t n = read(fd, token, cap - 1);
    close(fd);
    if (n < 0) {
        snprintf(errstr, errlen, "agent.enrolment_token_file: cannot read %s: %s", path,
                 strerror(errno));
        return LF_ECONFIG;
    }
    token[n] = '\0';
    char *nl = memchr(token, '\n', (size_t)n);
    *len = trim(token, nl ? (size_t)(nl - token) : (size_t)n);
    if (*len == 0) {
        snprintf(errstr, errlen,
                 "agent.enrolment_token_file: %s holds no token (its first line is empty)", path);
        return LF_ECONFIG;
    }
    return LF_OK;
}

/* "Debian GNU/Linux 12 (bookworm); Linux 6.1.0-18-amd64 x86_64" */
static void describe_os(char *out, size_t cap)
{
    char pretty[160] = "";
    FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        f = fopen("/usr/lib/os-release", "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "PRETTY_NAME=", 12) != 0)
                continue;
            char *v = line + 12;
            size_t n = trim(v, strlen(v));
            if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                v[n - 1] = '\0';
                v++;
            }
            snprintf(pretty, sizeof pretty, "%.150s", v);
            break;
        }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    snprintf(out, cap, "%s%s%s %s %s", pretty, *pretty ? "; " : "", u.sysname, u.release,
             u.machine);
}

lf_err_t lf_agent_hb_new(const lf_agent_config_t *cfg, lf_agent_hb_t **out, char *errstr,
                         size_t errlen)
{
    *out = NULL;
    lf_agent_hb_t *hb = calloc(1, sizeof *hb);
    if (!hb)
        return LF_ENOMEM;
    hb->cfg = cfg;
    pthread_mutex_init(&hb->lock, NULL);
    hb->started_ms = lf_time_now_ms();
    describe_os(hb->os, sizeof hb->os);
    char token[MAX_TOKEN + 1];
    size_t len = 0;
    const char *path = cfg->agent.enrolment_token_file;
    const char *env = getenv(TOKEN_ENV);
    lf_err_t rc = LF_OK;
    if (path && *path) {
        rc = read_token_file(path, token, sizeof token, &len, errstr, errlen);
    } else if (env && *env) {
        snprintf(token, sizeof token, "%s", env);
        len = trim(token, strlen(token));
    }
    if (rc != LF_OK) {
        lf_agent_hb_free(hb);
        return rc;
    }
    if (len) {
        lf_wire_enrol_key(lf_str_n(token, len), hb->key);
        hb->has_key = true;
    }
    memset(token, 0, sizeof token);
    *out = hb;
    return LF_OK;
}

void lf_agent_hb_free(lf_agent_hb_t *hb)
{
    if (!hb)
        return;
    lf_log_set_hook(LF_LOG_ERROR, NULL, NULL);
    memset(hb->key, 0, sizeof hb->key);
    pthread_mutex_destroy(&hb->lock);
    free(hb);
}

bool lf_agent_hb_has_token(const lf_agent_hb_t *hb)
{
    return hb && hb->has_key;
}

static void on_error_line(void *opaque, lf_log_level_t level, const char *component,
                          const char *message)
{
    lf_agent_hb_t *hb = opaque;
    pthread_mutex_lock(&hb->lock);
    snprintf(hb->last_error, sizeof hb->last_error, "%s: %s", component, message);
    hb->last_error_ms = lf_time_now_ms();
    pthread_mutex_unlock(&hb->lock);
}

void lf_agent_hb_capture_errors(lf_agent_hb_t *hb)
{
    lf_log_set_hook(LF_LOG_ERROR, on_error_line, hb);
}

lf_err_t lf_agent_hb_encode(lf_agent_hb_t *hb, const lf_wire_counter_t *counters, size_t count,
                            lf_buf_t *out)
{
    const lf_agent_config_t *cfg = hb->cfg;
    char last_error[MAX_ERROR_TEXT];
    pthread_mutex_lock(&hb->lock);
    memcpy(last_error, hb->last_error, sizeof last_error);
    int64_t last_error_ms = hb->last_error_ms;
    pthread_mutex_unlock(&hb->lock);
    lf_wire_heartbeat_t msg = {
        .sent_ms = lf_time_now_ms(),
        .started_ms = hb->started_ms,
        .interval_ms = cfg->agent.heartbeat_interval_ms,
        .last_error_ms = last_error_ms,
        .agent_id = lf_str_c(cfg->agent.id),
        .agency = lf_str_c(cfg->agent.agency),
        .host = lf_str_c(cfg->agent.host),
        .os = lf_str_c(hb->os),
        .version = lf_str_c(LF_VERSION),
        .last_error = lf_str_c(last_error),
    };
    return lf_wire_heartbeat_encode(out, &msg, counters, count, hb->has_key ? hb->key : NULL);
}
