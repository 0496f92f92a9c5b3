/* lf_agents.c - the agent registry: enrolment proofs, heartbeats, the
 * admission of event batches, and the derived agent status. See
 * lf_agents.h; record layout in docs/store.md. */
#include "lf_agents.h"
#include "lf_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMP             "enrolment"
#define REC_FORMAT       1u
#define REC_FIXED        96u
#define REC_F_ACCEPTING  0x01u
#define REFUSAL_LOG_MS   60000 /* one refusal line per agent per minute */
#define MIN_TOKEN_BYTES  16u
#define MAX_PROBLEM_TEXT 200u

const lf_config_option_t lf_agents_config_options[] = {
    LF_CFG_OPT_STRING("tokens_file", lf_agents_config_t, tokens_file, "",
                      "YAML file of enrolment tokens, one per agency: `tokens: {CH-07: "
                      "\"<token>\"}` or `\"sha256:<64 hex digits>\"` (the SHA-256 of the "
                      "token, so the file need not hold it). Keep it mode 0640, owned by "
                      "the lianfangd user. Empty: no tokens, no agent is enrolled. Re-read "
                      "on SIGHUP. Sample: packaging/enrolment-tokens.yaml."),
    LF_CFG_OPT_BOOL("required", lf_agents_config_t, required, "false",
                    "true: the events of an agent that is not enrolled for its batch's "
                    "agency are not stored and not acknowledged; the agent keeps them in its "
                    "journal and re-sends them once enrolled. Each refusal is counted "
                    "(lianfang_enrolment_refused_batches_total), logged and shown by "
                    "/api/v1/agents. false: such agents are accepted and shown as not "
                    "enrolled."),
    LF_CFG_OPT_DURATION("max_clock_skew", lf_agents_config_t, max_clock_skew_ms, "5m", 1000,
                        86400000,
                        "A heartbeat dated further ahead of the server's clock fails "
                        "enrolment (reason clock_skew)."),
    LF_CFG_OPT_DURATION("max_age", lf_agents_config_t, max_age_ms, "1h", 10000, 2592000000LL,
                        "A heartbeat older than this when consumed, or not newer than the "
                        "last verified one of the agent (a replay), is counted as stale and "
                        "otherwise ignored."),
    LF_CFG_END};

const lf_config_option_t lf_agents_tokens_file_options[] = {
    LF_CFG_OPT_MAP("tokens", lf_agents_tokens_file_t, tokens, token_count, 100000,
                   "Agency id -> enrolment token (at least 16 characters; e.g. `openssl "
                   "rand -hex 32`) or `sha256:` and the 64 hex digits of the token's "
                   "SHA-256."),
    LF_CFG_END};

static const char *const reason_names[] = {
#define REASON_NAME(id, name, text) name,
    LF_AGENTS_REASONS(REASON_NAME)
#undef REASON_NAME
};
static const char *const reason_texts[] = {
#define REASON_TEXT(id, name, text) text,
    LF_AGENTS_REASONS(REASON_TEXT)
#undef REASON_TEXT
};

const char *lf_agents_reason_name(lf_agents_reason_t r)
{
    return (unsigned)r < LF_AGENTS_R_COUNT ? reason_names[r] : "unknown";
}

const char *lf_agents_reason_text(lf_agents_reason_t r)
{
    return (unsigned)r < LF_AGENTS_R_COUNT ? reason_texts[r] : "unknown";
}

static const char *const status_names[LF_AGENT_STATUS_COUNT] = {"healthy", "unhealthy", "silent",
                                                                "not_enrolled", "refused"};

const char *lf_agents_status_name(lf_agents_status_t s)
{
    return (unsigned)s < LF_AGENT_STATUS_COUNT ? status_names[s] : "unknown";
}

lf_err_t lf_agents_status_parse(const char *name, lf_agents_status_t *out)
{
    for (int i = 0; i < LF_AGENT_STATUS_COUNT; i++) {
        if (name && strcmp(name, status_names[i]) == 0) {
            *out = (lf_agents_status_t)i;
            return LF_OK;
        }
    }
    return LF_EINVAL;
}

/* ---- metrics -------------------------------------------------------------- */

enum { HB_ENROLLED, HB_NOT_ENROLLED, HB_STALE, HB_MALFORMED, HB_RESULT_COUNT };

typedef struct token {
    char *agency;
    uint8_t key[LF_WIRE_KEY_BYTES];
} token_t;

struct lf_agents {
    lf_agents_config_t cfg;
    token_t *tokens;
    size_t token_count;
    lf_buf_t rec; /* the record being written */
    lf_metric_t hb[HB_RESULT_COUNT];
    lf_metric_t failures[LF_AGENTS_R_COUNT]; /* heartbeats failing enrolment, by reason */
    lf_metric_t refused[LF_AGENTS_R_COUNT];  /* batches refused, by reason */
    lf_metric_t refused_records;
    lf_metric_t tokens_loaded;
    char labels[2][LF_AGENTS_R_COUNT][48];
};

static void register_metrics(lf_agents_t *ag, lf_metrics_t *reg)
{
    static const char *const hb_labels[HB_RESULT_COUNT] = {
        "result=\"enrolled\"", "result=\"not_enrolled\"", "result=\"stale\"",
        "result=\"malformed\""};
    for (int i = 0; i < HB_RESULT_COUNT; i++)
        ag->hb[i] = (lf_metric_t){.name = "lianfang_enrolment_heartbeats_total",
                                  .labels = hb_labels[i],
                                  .help = "Agent heartbeats consumed, by enrolment result",
                                  .kind = LF_METRIC_COUNTER};
    for (int r = 1; r < LF_AGENTS_R_COUNT; r++) {
        snprintf(ag->labels[0][r], sizeof ag->labels[0][r], "reason=\"%s\"", reason_names[r]);
        ag->failures[r] = (lf_metric_t){.name = "lianfang_enrolment_failures_total",
                                        .labels = ag->labels[0][r],
                                        .help = "Heartbeats that did not enrol their agent, by "
                                                "reason",
                                        .kind = LF_METRIC_COUNTER};
        ag->refused[r] = (lf_metric_t){.name = "lianfang_enrolment_refused_batches_total",
                                       .labels = ag->labels[0][r],
                                       .help = "Event batches not stored (held at the agent) "
                                               "because their agent is not enrolled, by reason",
                                       .kind = LF_METRIC_COUNTER};
    }
    ag->refused_records = (lf_metric_t){.name = "lianfang_enrolment_refused_records_total",
                                        .help = "Records of refused batches (re-sent by their "
                                                "agents once enrolled)",
                                        .kind = LF_METRIC_COUNTER};
    ag->tokens_loaded = (lf_metric_t){.name = "lianfang_enrolment_tokens",
                                      .help = "Agencies with an enrolment token",
                                      .kind = LF_METRIC_GAUGE};
    if (!reg)
        return;
    lf_metrics_register(reg, ag->hb, HB_RESULT_COUNT);
    lf_metrics_register(reg, ag->failures + 1, LF_AGENTS_R_COUNT - 1);
    lf_metrics_register(reg, ag->refused + 1, LF_AGENTS_R_COUNT - 1);
    lf_metrics_register(reg, &ag->refused_records, 1);
    lf_metrics_register(reg, &ag->tokens_loaded, 1);
}

/* ---- tokens --------------------------------------------------------------- */

static void tokens_free(token_t *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].agency);
        memset(t[i].key, 0, sizeof t[i].key);
    }
    free(t);
}

static lf_err_t load_tokens(const char *path, token_t **out, size_t *count, char *errstr,
                            size_t errlen)
{
    *out = NULL;
    *count = 0;
    if (!path || !*path)
        return LF_OK;
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 0007))
        lf_warn(COMP,
                "%s is readable by every user; restrict it (chmod 0640, owner the lianfangd "
                "user)",
                path);
    lf_agents_tokens_file_t file = {0};
    char why[768];
    lf_err_t rc = lf_config_load_file(path, lf_agents_tokens_file_options, &file, why, sizeof why);
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "enrolment.tokens_file: %s", why);
        lf_config_free(lf_agents_tokens_file_options, &file);
        return LF_ECONFIG;
    }
    token_t *t = calloc(file.token_count ? file.token_count : 1, sizeof *t);
    if (!t) {
        lf_config_free(lf_agents_tokens_file_options, &file);
        return LF_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < file.token_count && rc == LF_OK; i++) {
        const char *agency = file.tokens[i].key, *value = file.tokens[i].value;
        value = value ? value : "";
        size_t vlen = strlen(value);
        if (!agency || !*agency || strlen(agency) > LF_WIRE_MAX_STRING) {
            snprintf(errstr, errlen,
                     "enrolment.tokens_file %s: tokens: an agency id is empty "
                     "or longer than 1024 bytes",
                     path);
            rc = LF_ECONFIG;
            break;
        }
        if (strncmp(value, "sha256:", 7) == 0) {
            bool ok = vlen == 7 + 2 * LF_WIRE_KEY_BYTES;
            for (size_t k = 0; ok && k < LF_WIRE_KEY_BYTES; k++) {
                int hi = lf_hex_value(value[7 + 2 * k]), lo = lf_hex_value(value[8 + 2 * k]);
                ok = hi >= 0 && lo >= 0;
                t[n].key[k] = (uint8_t)(hi << 4 | lo);
            }
            if (!ok) {
                snprintf(errstr, errlen,
                         "enrolment.tokens_file %s: tokens.%s: 'sha256:' must be followed by "
                         "exactly 64 hex digits (printf %%s TOKEN | sha256sum)",
                         path, agency);
                rc = LF_ECONFIG;
                break;
            }
        } else if (vlen < MIN_TOKEN_BYTES) {
            snprintf(errstr, errlen,
                     "enrolment.tokens_file %s: tokens.%s: the token is shorter than %u "
                     "characters; generate one with `openssl rand -hex 32`",
                     path, agency, MIN_TOKEN_BYTES);
            rc = LF_ECONFIG;
            break;
        } else {
            lf_wire_enrol_key(lf_str_n(value, vlen), t[n].key);
        }
        if (!(t[n].agency = strdup(agency)))
            rc = LF_ENOMEM;
        else
            n++;
    }
    lf_config_free(lf_agents_tokens_file_options, &file);
    if (rc != LF_OK) {
        tokens_free(t, n);
        return rc;
    }
    *out = t;
    *count = n;
    return LF_OK;
}

static const token_t *token_find(const lf_agents_t *ag, lf_str_t agency)
{
    for (size_t i = 0; i < ag->token_count; i++)
        if (lf_str_eq_c(agency, ag->tokens[i].agency))
            return &ag->tokens[i];
    return NULL;
}

lf_err_t lf_agents_new(const lf_agents_config_t *cfg, lf_metrics_t *metrics, lf_agents_t **out,
                       char *errstr, size_t errlen)
{
    *out = NULL;
    lf_agents_t *ag = calloc(1, sizeof *ag);
    if (!ag)
        return LF_ENOMEM;
    ag->cfg = *cfg;
    lf_err_t rc = load_tokens(cfg->tokens_file, &ag->tokens, &ag->token_count, errstr, errlen);
    if (rc != LF_OK) {
        free(ag);
        return rc;
    }
    lf_buf_init(&ag->rec, 1u << 20);
    register_metrics(ag, metrics);
    lf_metric_set(&ag->tokens_loaded, (int64_t)ag->token_count);
    if (cfg->required && ag->token_count == 0)
        lf_warn(COMP, "enrolment.required is true but no agency has a token "
                      "(enrolment.tokens_file): every agent's events are held back");
    *out = ag;
    return LF_OK;
}

void lf_agents_free(lf_agents_t *ag)
{
    if (!ag)
        return;
    tokens_free(ag->tokens, ag->token_count);
    lf_buf_free(&ag->rec);
    free(ag);
}

lf_err_t lf_agents_reload(lf_agents_t *ag, char *errstr, size_t errlen)
{
    token_t *t;
    size_t n;
    lf_err_t rc = load_tokens(ag->cfg.tokens_file, &t, &n, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    tokens_free(ag->tokens, ag->token_count);
    ag->tokens = t;
    ag->token_count = n;
    lf_metric_set(&ag->tokens_loaded, (int64_t)n);
    lf_info(COMP, "enrolment tokens reloaded: %zu agencies", n);
    return LF_OK;
}

size_t lf_agents_token_count(const lf_agents_t *ag)
{
    return ag ? ag->token_count : 0;
}

/* ---- the registry record (docs/store.md) ---------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* Decodes a record value; strings borrow from val. */
static bool record_decode(lf_str_t key, lf_str_t val, lf_agents_record_t *r)
{
    const uint8_t *p = (const uint8_t *)val.ptr;
    memset(r, 0, sizeof *r);
    if (val.len < REC_FIXED || p[0] != REC_FORMAT || p[1] > LF_ENROL_FAILED ||
        p[2] >= LF_AGENTS_R_COUNT)
        return false;
    r->agent_id = key;
    r->enrolment = (lf_agents_enrolment_t)p[1];
    r->reason = (lf_agents_reason_t)p[2];
    r->accepting = (p[3] & REC_F_ACCEPTING) != 0;
    int64_t *times[] = {&r->first_seen_ms, &r->last_heartbeat_ms, &r->last_sent_ms,
                        &r->last_problem_ms, &r->last_refused_ms};
    for (int i = 0; i < 5; i++)
        *times[i] = (int64_t)get_be64(p + 8 + 8 * i);
    uint64_t *counts[] = {&r->heartbeats, &r->enrol_failures, &r->stale_heartbeats,
                          &r->refused_batches, &r->refused_records};
    for (int i = 0; i < 5; i++)
        *counts[i] = get_be64(p + 48 + 8 * i);
    size_t alen = get_be16(p + 88), plen = get_be16(p + 90), hlen = get_be32(p + 92);
    if (REC_FIXED + alen + plen + hlen != val.len)
        return false;
    r->enrolled_agency = lf_str_n((const char *)p + REC_FIXED, alen);
    r->problem = lf_str_n((const char *)p + REC_FIXED + alen, plen);
    if (hlen) {
        if (lf_wire_heartbeat_parse(p + REC_FIXED + alen + plen, hlen, &r->hb) != LF_OK)
            return false;
        r->has_heartbeat = true;
    }
    return true;
}

/* The record being updated, with its strings copied out of the map (a
 * write may move the pages they point into). */
typedef struct rec_work {
    lf_agents_record_t r;
    bool found;
    char agency[LF_WIRE_MAX_STRING];
    char problem[MAX_PROBLEM_TEXT];
    const uint8_t *hb_msg; /* heartbeat bytes to store (borrowed) */
    size_t hb_len;
} rec_work_t;

static lf_err_t record_load(lf_store_wtx_t *w, lf_str_t id, rec_work_t *rw, uint8_t **hb_copy)
{
    memset(rw, 0, sizeof *rw);
    *hb_copy = NULL;
    lf_str_t val;
    lf_err_t rc = lf_store_wtx_get(w, LF_TABLE_AGENT_REGISTRY, id.ptr, id.len, &val);
    if (rc == LF_ENOTFOUND)
        return LF_OK;
    if (rc != LF_OK)
        return rc;
    if (!record_decode(id, val, &rw->r)) {
        lf_warn(COMP, "agent %.*s: malformed registry record replaced", (int)id.len, id.ptr);
        memset(&rw->r, 0, sizeof rw->r);
        return LF_OK;
    }
    rw->found = true;
    size_t n = rw->r.enrolled_agency.len < sizeof rw->agency ? rw->r.enrolled_agency.len : 0;
    memcpy(rw->agency, rw->r.enrolled_agency.ptr, n);
    rw->r.enrolled_agency = lf_str_n(rw->agency, n);
    n = rw->r.problem.len < sizeof rw->problem ? rw->r.problem.len : 0;
    memcpy(rw->problem, rw->r.problem.ptr, n);
    rw->r.problem = lf_str_n(rw->problem, n);
    if (rw->r.has_heartbeat) {
        /* Keep the old heartbeat (to compare counters, and to store again
         * when a refusal updates the record). */
        const uint8_t *start =
            (const uint8_t *)val.ptr + REC_FIXED + rw->r.enrolled_agency.len + rw->r.problem.len;
        size_t hlen = val.len - (size_t)(start - (const uint8_t *)val.ptr);
        *hb_copy = malloc(hlen);
        if (!*hb_copy)
            return LF_ENOMEM;
        memcpy(*hb_copy, start, hlen);
        if (lf_wire_heartbeat_parse(*hb_copy, hlen, &rw->r.hb) != LF_OK)
            rw->r.has_heartbeat = false;
        rw->hb_msg = *hb_copy;
        rw->hb_len = hlen;
    }
    return LF_OK;
}

static lf_err_t record_store(lf_agents_t *ag, lf_store_wtx_t *w, lf_str_t id, const rec_work_t *rw)
{
    const lf_agents_record_t *r = &rw->r;
    size_t alen = r->enrolled_agency.len, plen = r->problem.len;
    lf_buf_reset(&ag->rec);
    lf_err_t rc = lf_buf_reserve(&ag->rec, REC_FIXED + alen + plen + rw->hb_len);
    if (rc != LF_OK)
        return rc;
    uint8_t *p = (uint8_t *)ag->rec.data;
    memset(p, 0, REC_FIXED);
    p[0] = REC_FORMAT;
    p[1] = (uint8_t)r->enrolment;
    p[2] = (uint8_t)r->reason;
    p[3] = r->accepting ? REC_F_ACCEPTING : 0;
    const int64_t times[] = {r->first_seen_ms, r->last_heartbeat_ms, r->last_sent_ms,
                             r->last_problem_ms, r->last_refused_ms};
    for (int i = 0; i < 5; i++)
        put_be64(p + 8 + 8 * i, (uint64_t)times[i]);
    const uint64_t counts[] = {r->heartbeats, r->enrol_failures, r->stale_heartbeats,
                               r->refused_batches, r->refused_records};
    for (int i = 0; i < 5; i++)
        put_be64(p + 48 + 8 * i, counts[i]);
    put_be16(p + 88, (uint16_t)alen);
    put_be16(p + 90, (uint16_t)plen);
    put_be32(p + 92, (uint32_t)rw->hb_len);
    ag->rec.len = REC_FIXED;
    lf_buf_append(&ag->rec, r->enrolled_agency.ptr, alen);
    lf_buf_append(&ag->rec, r->problem.ptr, plen);
    lf_buf_append(&ag->rec, rw->hb_msg, rw->hb_len);
    return lf_store_wtx_put(w, LF_TABLE_AGENT_REGISTRY, id.ptr, id.len, ag->rec.data, ag->rec.len);
}

/* ---- heartbeats ------------------------------------------------------------ */

/* Counters whose rise means the agent lost or dropped data. */
static bool is_loss_counter(lf_str_t name)
{
    static const char *const suffixes[] = {"_lost", "_dropped", "_errors"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t n = strlen(suffixes[i]);
        if (name.len > n && memcmp(name.ptr + name.len - n, suffixes[i], n) == 0)
            return true;
    }
    return false;
}

static bool hb_counter(const lf_wire_heartbeat_t *hb, lf_str_t name, uint64_t *value)
{
    lf_wire_hb_iter_t it = {0};
    lf_wire_counter_t c;
    while (lf_wire_heartbeat_counter(hb, &it, &c) == LF_OK) {
        if (lf_str_eq(c.name, name)) {
            *value = c.value;
            return true;
        }
    }
    return false;
}

/* Notes in rw a loss counter that rose since the previous heartbeat. */
static void note_losses(rec_work_t *rw, const lf_wire_heartbeat_t *prev,
                        const lf_wire_heartbeat_t *hb, int64_t now_ms)
{
    lf_wire_hb_iter_t it = {0};
    lf_wire_counter_t c;
    char text[MAX_PROBLEM_TEXT] = "";
    size_t used = 0;
    while (lf_wire_heartbeat_counter(hb, &it, &c) == LF_OK) {
        if (!is_loss_counter(c.name) || c.value == 0)
            continue;
        uint64_t before = 0;
        if (prev && !hb_counter(prev, c.name, &before))
            before = 0;
        if (!prev || c.value <= before)
            continue; /* the first heartbeat is the baseline; a reset state counts from 0 */
        int n = snprintf(text + used, sizeof text - used, "%s%.*s +%" PRIu64, used ? ", " : "",
                         (int)c.name.len, c.name.ptr, c.value - before);
        if (n < 0 || (size_t)n >= sizeof text - used)
            break;
        used += (size_t)n;
    }
    if (used) {
        memcpy(rw->problem, text, used);
        rw->r.problem = lf_str_n(rw->problem, used);
        rw->r.last_problem_ms = now_ms;
    }
}

lf_err_t lf_agents_on_heartbeat(lf_agents_t *ag, lf_store_wtx_t *w, const void *msg, size_t len,
                                int64_t now_ms, const char **why)
{
    lf_wire_heartbeat_t hb;
    *why = NULL;
    if (lf_wire_heartbeat_parse(msg, len, &hb) != LF_OK) {
        lf_metric_add(&ag->hb[HB_MALFORMED], 1);
        *why = "not a valid Lianfang heartbeat (LFH1)";
        return LF_EPARSE;
    }
    if (hb.agent_id.len > LF_STORE_MAX_AGENT_ID || hb.agent_id.ptr[0] == '_') {
        lf_metric_add(&ag->hb[HB_MALFORMED], 1);
        *why = "heartbeat: agent id too long or reserved (starts with '_')";
        return LF_EPARSE;
    }
    rec_work_t rw;
    uint8_t *old_hb = NULL;
    lf_err_t rc = record_load(w, hb.agent_id, &rw, &old_hb);
    if (rc != LF_OK) {
        free(old_hb);
        return rc;
    }
    lf_agents_record_t *r = &rw.r;
    if (!rw.found) {
        r->first_seen_ms = now_ms;
        r->accepting = !ag->cfg.required;
    }

    /* Verdict. */
    lf_agents_reason_t reason = LF_AGENTS_R_NONE;
    bool stale = hb.sent_ms < now_ms - ag->cfg.max_age_ms;
    if (!stale) {
        const token_t *tok = token_find(ag, hb.agency);
        if (!hb.proof)
            reason = LF_AGENTS_R_NO_PROOF;
        else if (!tok)
            reason = LF_AGENTS_R_UNKNOWN_AGENCY;
        else if (!lf_wire_heartbeat_verify(msg, &hb, tok->key))
            reason = LF_AGENTS_R_BAD_PROOF;
        else if (hb.sent_ms > now_ms + ag->cfg.max_clock_skew_ms)
            reason = LF_AGENTS_R_CLOCK_SKEW;
        else if (r->last_sent_ms && hb.sent_ms <= r->last_sent_ms)
            stale = true; /* a replay of a verified heartbeat, or one overtaken */
    }
    if (stale) {
        lf_metric_add(&ag->hb[HB_STALE], 1);
        r->stale_heartbeats++;
        if (r->stale_heartbeats <= 3 || r->stale_heartbeats % 100 == 0)
            lf_warn(COMP,
                    "agent %.*s: heartbeat sent at %" PRId64 " ignored as stale (older than "
                    "enrolment.max_age, or replayed); %" PRIu64 " so far",
                    (int)hb.agent_id.len, hb.agent_id.ptr, hb.sent_ms, r->stale_heartbeats);
        rc = record_store(ag, w, hb.agent_id, &rw);
        free(old_hb);
        return rc;
    }
    bool enrolled = reason == LF_AGENTS_R_NONE;
    lf_agents_enrolment_t before = rw.found ? r->enrolment : LF_ENROL_NONE;
    lf_agents_reason_t reason_before = r->reason;
    bool accepting_before = rw.found ? r->accepting : true;

    note_losses(&rw, r->has_heartbeat ? &r->hb : NULL, &hb, now_ms);
    r->enrolment = enrolled ? LF_ENROL_ENROLLED : LF_ENROL_FAILED;
    r->reason = reason;
    r->accepting = enrolled || !ag->cfg.required;
    r->heartbeats++;
    r->last_heartbeat_ms = now_ms;
    if (enrolled) {
        r->last_sent_ms = hb.sent_ms;
        size_t n = hb.agency.len < sizeof rw.agency ? hb.agency.len : 0;
        memcpy(rw.agency, hb.agency.ptr, n);
        r->enrolled_agency = lf_str_n(rw.agency, n);
        lf_metric_add(&ag->hb[HB_ENROLLED], 1);
    } else {
        r->enrol_failures++;
        r->enrolled_agency = LF_STR_NULL;
        lf_metric_add(&ag->hb[HB_NOT_ENROLLED], 1);
        lf_metric_add(&ag->failures[reason], 1);
    }
    rw.hb_msg = msg;
    rw.hb_len = len;
    rc = record_store(ag, w, hb.agent_id, &rw);
    free(old_hb);
    if (rc != LF_OK)
        return rc;
    /* Log changes only, so a steady state costs no log lines. */
    if (enrolled && before != LF_ENROL_ENROLLED)
        lf_info(COMP, "agent %.*s (agency %.*s, host %.*s, %.*s) enrolled", (int)hb.agent_id.len,
                hb.agent_id.ptr, (int)hb.agency.len, hb.agency.ptr, (int)hb.host.len, hb.host.ptr,
                (int)hb.version.len, hb.version.ptr);
    else if (!enrolled && (before != LF_ENROL_FAILED || reason != reason_before))
        lf_log(ag->cfg.required || reason != LF_AGENTS_R_NO_PROOF ? LF_LOG_WARN : LF_LOG_INFO, COMP,
               "agent %.*s (agency %.*s, host %.*s) not enrolled: %s: %s%s", (int)hb.agent_id.len,
               hb.agent_id.ptr, (int)hb.agency.len, hb.agency.ptr, (int)hb.host.len, hb.host.ptr,
               reason_names[reason], reason_texts[reason],
               ag->cfg.required ? "; its events are held back until it enrolls"
                                : "; its events are accepted (enrolment.required is false)");
    if (enrolled && !accepting_before)
        lf_info(COMP, "agent %.*s: events accepted again; it re-sends what was refused",
                (int)hb.agent_id.len, hb.agent_id.ptr);
    return LF_OK;
}

lf_err_t lf_agents_admit(lf_agents_t *ag, lf_store_wtx_t *w, const lf_wire_batch_header_t *h,
                         uint32_t records, int64_t now_ms, bool *admit)
{
    *admit = true;
    if (!ag || !ag->cfg.required)
        return LF_OK;
    rec_work_t rw;
    uint8_t *old_hb = NULL;
    lf_err_t rc = record_load(w, h->agent_id, &rw, &old_hb);
    if (rc != LF_OK) {
        free(old_hb);
        return rc;
    }
    lf_agents_record_t *r = &rw.r;
    lf_agents_reason_t reason = LF_AGENTS_R_NONE;
    if (!rw.found || r->enrolment == LF_ENROL_NONE)
        reason = LF_AGENTS_R_NO_HEARTBEAT;
    else if (r->enrolment != LF_ENROL_ENROLLED)
        reason = r->reason != LF_AGENTS_R_NONE ? r->reason : LF_AGENTS_R_NO_PROOF;
    else if (!lf_str_eq(h->agency, r->enrolled_agency))
        reason = LF_AGENTS_R_AGENCY_MISMATCH;
    if (reason == LF_AGENTS_R_NONE) {
        free(old_hb);
        return LF_OK;
    }
    *admit = false;
    if (!rw.found)
        r->first_seen_ms = now_ms;
    int64_t last = r->last_refused_ms;
    r->reason = reason;
    r->accepting = false;
    r->refused_batches++;
    r->refused_records += records;
    r->last_refused_ms = now_ms;
    lf_metric_add(&ag->refused[reason], 1);
    lf_metric_add(&ag->refused_records, records);
    rc = record_store(ag, w, h->agent_id, &rw);
    free(old_hb);
    if (now_ms - last >= REFUSAL_LOG_MS)
        lf_warn(COMP,
                "agent %.*s (agency %.*s): event batch of %" PRIu32 " records refused, not "
                "stored and not acknowledged (the agent keeps and re-sends it): %s: %s; "
                "%" PRIu64 " batches refused so far",
                (int)h->agent_id.len, h->agent_id.ptr, (int)h->agency.len, h->agency.ptr, records,
                reason_names[reason], reason_texts[reason], r->refused_batches);
    return rc;
}

/* ---- read side ------------------------------------------------------------ */

typedef struct read_ctx {
    lf_agents_record_cb cb;
    void *opaque;
} read_ctx_t;

static bool read_one(void *opaque, lf_str_t key, lf_str_t val)
{
    read_ctx_t *c = opaque;
    lf_agents_record_t r;
    if (!record_decode(key, val, &r)) {
        lf_warn(COMP, "skipping a malformed registry record of agent %.*s", (int)key.len, key.ptr);
        return true;
    }
    return c->cb(c->opaque, &r);
}

lf_err_t lf_agents_get(lf_store_t *st, lf_str_t agent_id, lf_agents_record_cb cb, void *opaque)
{
    if (!agent_id.len || agent_id.len > LF_STORE_MAX_AGENT_ID || !cb)
        return LF_EINVAL;
    read_ctx_t c = {.cb = cb, .opaque = opaque};
    return lf_store_table_get(st, LF_TABLE_AGENT_REGISTRY, agent_id.ptr, agent_id.len, read_one,
                              &c);
}

lf_err_t lf_agents_scan(lf_store_t *st, lf_agents_record_cb cb, void *opaque)
{
    read_ctx_t c = {.cb = cb, .opaque = opaque};
    lf_store_scan_t q = {0};
    return lf_store_table_scan(st, LF_TABLE_AGENT_REGISTRY, &q, read_one, &c, NULL);
}

bool lf_agents_counter(const lf_agents_record_t *rec, const char *name, uint64_t *value)
{
    return rec && rec->has_heartbeat && hb_counter(&rec->hb, lf_str_c(name), value);
}

static void problem_fill(const lf_agents_record_t *rec, int64_t now_ms,
                         const lf_agents_health_limits_t *lim, int *count,
                         void (*problem)(void *opaque, const char *text), void *opaque)
{
    char text[320];
    if (rec->last_problem_ms && now_ms - rec->last_problem_ms <= lim->problem_window_ms) {
        snprintf(text, sizeof text, "records lost or dropped %" PRId64 " s ago: %.*s",
                 (now_ms - rec->last_problem_ms) / 1000, (int)rec->problem.len, rec->problem.ptr);
        (*count)++;
        if (problem)
            problem(opaque, text);
    }
    if (!rec->has_heartbeat)
        return;
    const lf_wire_heartbeat_t *hb = &rec->hb;
    /* The agent's clock dates the error; compare it with the agent's own
     * clock at the heartbeat. */
    if (hb->last_error_ms && hb->last_error.len &&
        hb->sent_ms - hb->last_error_ms <= lim->problem_window_ms) {
        snprintf(text, sizeof text, "error %" PRId64 " s before its last heartbeat: %.*s",
                 (hb->sent_ms - hb->last_error_ms) / 1000, (int)hb->last_error.len,
                 hb->last_error.ptr);
        (*count)++;
        if (problem)
            problem(opaque, text);
    }
    static const char *const pairs[][3] = {
        {"spool_bytes", "spool_max_bytes", "spool (network records) %" PRIu64 "%% full"},
        {"unacked_bytes", "max_unacked_bytes",
         "send window %" PRIu64 "%% full: records wait for acknowledgement (backpressure)"},
    };
    for (size_t i = 0; i < 2; i++) {
        uint64_t used, max;
        if (!hb_counter(hb, lf_str_c(pairs[i][0]), &used) ||
            !hb_counter(hb, lf_str_c(pairs[i][1]), &max) || max == 0)
            continue;
        uint64_t pct = used >= max ? 100 : used * 100 / max;
        if (pct < (uint64_t)lim->spool_full_percent)
            continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(text, sizeof text, pairs[i][2], pct);
#pragma GCC diagnostic pop
        (*count)++;
        if (problem)
            problem(opaque, text);
    }
}

lf_agents_status_t lf_agents_status(const lf_agents_record_t *rec, int64_t now_ms,
                                    const lf_agents_health_limits_t *limits,
                                    void (*problem)(void *opaque, const char *text), void *opaque)
{
    int problems = 0;
    if (rec)
        problem_fill(rec, now_ms, limits, &problems, problem, opaque);
    if (!rec)
        return LF_AGENT_NOT_ENROLLED;
    if (!rec->accepting)
        return LF_AGENT_REFUSED;
    if (rec->last_heartbeat_ms) {
        int64_t interval =
            rec->has_heartbeat && rec->hb.interval_ms > 0 ? rec->hb.interval_ms : 30000;
        int64_t silent = limits->silent_after_ms > 0 ? limits->silent_after_ms : 3 * interval;
        if (now_ms - rec->last_heartbeat_ms > silent)
            return LF_AGENT_SILENT;
    }
    if (rec->enrolment != LF_ENROL_ENROLLED)
        return LF_AGENT_NOT_ENROLLED;
    return problems ? LF_AGENT_UNHEALTHY : LF_AGENT_HEALTHY;
}
