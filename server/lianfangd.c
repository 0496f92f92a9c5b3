/* lianfangd - the Lianfang server: every stage in one process.
 *
 *   embedded broker (optional) -> ingest (libuv loop, main thread)
 *   -> store (LMDB) -> dashboard-api (its own threads)
 *
 * Each stage is a module with its own configuration section and public
 * header; this file only wires them together, owns the process lifetime and
 * decides when to stop.
 */
#include "agent_rules.h"
#include "lf_agents.h"
#include "lf_api.h"
#include "lf_broker.h"
#include "lf_config.h"
#include "lf_detect.h"
#include "lf_incidents.h"
#include "lf_ingest.h"
#include "lf_json.h"
#include "lf_kafka.h"
#include "lf_log.h"
#include "lf_metrics.h"
#include "lf_store.h"
#include "lf_time.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define DEFAULT_CONFIG "/etc/lianfang/lianfangd.yaml"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

typedef struct server_config {
    int log_level;
    lf_broker_config_t broker;
    lf_kafka_config_t kafka;
    lf_ingest_config_t ingest;
    lf_agents_config_t enrolment;
    lf_detect_config_t detect;
    lf_incidents_config_t incidents;
    lf_store_config_t store;
    lf_api_config_t api;
    lf_agent_rules_config_t agents;
} server_config_t;

static const lf_config_option_t server_options[] = {
    LF_CFG_OPT_ENUM("log_level", server_config_t, log_level, "info", log_levels,
                    "Lowest level logged to stderr (journald)."),
    LF_CFG_OPT_SECTION("embedded_broker", server_config_t, broker, lf_broker_config_options,
                       "In-memory Kafka-protocol broker for evaluation installs."),
    LF_CFG_OPT_SECTION("kafka", server_config_t, kafka, lf_kafka_config_options,
                       "Kafka connection (the embedded broker, or a real cluster)."),
    LF_CFG_OPT_SECTION("ingest", server_config_t, ingest, lf_ingest_config_options,
                       "Consuming, decoding and acknowledging events."),
    LF_CFG_OPT_SECTION("enrolment", server_config_t, enrolment, lf_agents_config_options,
                       "Agent enrolment: tokens per agency, and whether agents must enrol."),
    LF_CFG_OPT_SECTION("detect", server_config_t, detect, lf_detect_config_options,
                       "Detection: Sigma rules, YARA rules and STIX 2.1 indicators."),
    LF_CFG_OPT_SECTION("incidents", server_config_t, incidents, lf_incidents_config_options,
                       "Incidents, joint-defence correlation, deadlines and threat lights."),
    LF_CFG_OPT_SECTION("store", server_config_t, store, lf_store_config_options, "The LMDB store."),
    LF_CFG_OPT_SECTION("api", server_config_t, api, lf_api_config_options,
                       "HTTP API and dashboard."),
    LF_CFG_OPT_SECTION("agents", server_config_t, agents, lf_agent_rules_config_options,
                       "Content published to agents: the YARA rule set they scan files with."),
    LF_CFG_END};

typedef struct server {
    server_config_t cfg;
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_usr1, sig_usr2, sig_hup;
    lf_metrics_t metrics;
    lf_broker_t *broker;
    lf_store_t *store;
    lf_ingest_t *ingest;
    lf_agents_t *agents;
    lf_detect_t *detect;
    lf_incidents_t *incidents;
    lf_api_t *api;
    lf_agent_rules_t *agent_rules;
    /* detection hook state, loop thread only */
    lf_store_batch_t *hook_batch;
    const lf_event_t *hook_event;
    const lf_store_event_in_t *hook_in;
    lf_err_t hook_rc;
    lf_buf_t alert_doc;
    int64_t started_ms;
    uv_timer_t corr_clock; /* closes due correlation windows when no batch comes */
    int64_t last_batch_ms; /* monotonic, of the last batch through on_batch_end */
} server_t;

static void add_check(lf_api_health_t *h, const char *name, bool ok, const char *detail)
{
    if (h->count >= LF_API_HEALTH_MAX_CHECKS)
        return;
    lf_api_health_check_t *c = &h->checks[h->count++];
    snprintf(c->name, sizeof c->name, "%.*s", (int)sizeof c->name - 1, name);
    c->ok = ok;
    snprintf(c->detail, sizeof c->detail, "%.*s", (int)sizeof c->detail - 1, detail);
}

/* Runs on API threads: reads only thread-safe snapshots. */
static void on_health(void *opaque, lf_api_health_t *out)
{
    server_t *srv = opaque;
    lf_ingest_status_t st;
    lf_ingest_status(srv->ingest, &st);
    char detail[256];
    snprintf(detail, sizeof detail, "%d partition(s) assigned%s%.100s", st.assigned_partitions,
             st.kafka_up ? "" : "; brokers unreachable: ", st.kafka_up ? "" : st.last_error);
    add_check(out, "kafka", st.kafka_up, detail);
    if (st.last_commit_ms)
        snprintf(detail, sizeof detail, "last commit %lld s ago",
                 (long long)((lf_time_now_ms() - st.last_commit_ms) / 1000));
    else
        snprintf(detail, sizeof detail, "no commit yet");
    add_check(out, "store", st.store_ok, st.store_ok ? detail : st.last_error);
    if (srv->broker)
        add_check(out, "embedded_broker", !lf_broker_is_down(srv->broker),
                  lf_broker_is_down(srv->broker) ? "taken down by SIGUSR1"
                                                 : "in memory, evaluation only");
}

/* GET /api/v1/decode-failures: the ingest's kept samples with tallies
 * (API threads; lf_ingest_failures is thread-safe). */
static lf_err_t on_decode_failures(void *opaque, lf_buf_t *out)
{
    server_t *srv = opaque;
    enum { MAX = 1000 };
    lf_ingest_failure_t *f = calloc(MAX, sizeof *f);
    if (!f)
        return LF_ENOMEM;
    size_t n = lf_ingest_failures(srv->ingest, f, MAX);
    lf_json_t js;
    lf_json_init(&js, out);
    lf_json_object_begin(&js);
    lf_json_key(&js, "failures");
    lf_json_array_begin(&js);
    for (size_t i = 0; i < n; i++) {
        lf_json_object_begin(&js);
        lf_json_key(&js, "time");
        lf_json_timestamp_ms(&js, f[i].time_ms);
        lf_json_key(&js, "agent_id");
        lf_json_cstring(&js, f[i].agent_id);
        lf_json_key(&js, "source");
        lf_json_cstring(&js, f[i].source);
        lf_json_key(&js, "decoder");
        lf_json_cstring(&js, f[i].decoder);
        lf_json_key(&js, "error");
        lf_json_cstring(&js, f[i].error);
        lf_json_key(&js, "record");
        lf_json_string(&js, f[i].record, f[i].record_len);
        lf_json_object_end(&js);
    }
    lf_json_array_end(&js);
    /* Tallies over the samples: which agents and decoders fail. */
    static const char *const keys[] = {"by_agent", "by_decoder"};
    for (int k = 0; k < 2; k++) {
        lf_json_key(&js, keys[k]);
        lf_json_object_begin(&js);
        for (size_t i = 0; i < n; i++) {
            const char *name = k == 0 ? f[i].agent_id : f[i].decoder;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(name, k == 0 ? f[j].agent_id : f[j].decoder) == 0;
            if (seen)
                continue;
            int64_t count = 0;
            for (size_t j = i; j < n; j++)
                count += strcmp(name, k == 0 ? f[j].agent_id : f[j].decoder) == 0;
            lf_json_key(&js, name);
            lf_json_int(&js, count);
        }
        lf_json_object_end(&js);
    }
    lf_json_key(&js, "count");
    lf_json_uint(&js, n);
    lf_json_object_end(&js);
    free(f);
    return lf_json_error(&js);
}

/* The entity fields of incident grouping that a correlation's group-by
 * values (ECS names) stand for. */
static void correlation_entities(const lf_sigcorr_alert_t *c, lf_incident_alert_t *a)
{
    for (size_t i = 0; i < c->rule->group_count; i++) {
        const char *name = c->rule->group_by[i];
        lf_str_t v = c->group_values[i];
        if (!v.len)
            continue;
        switch (lf_field_lookup(name, strlen(name))) {
        case LF_F_ORGANIZATION_ID:
            a->agency = v;
            break;
        case LF_F_SOURCE_IP:
        case LF_F_CLIENT_IP:
            a->source_ip = v;
            break;
        case LF_F_USER_NAME:
            a->user = v;
            break;
        case LF_F_HOST_NAME:
            a->host = v;
            break;
        case LF_F_FILE_HASH_SHA256:
        case LF_F_PROCESS_HASH_SHA256:
        case LF_F_FILE_HASH_MD5:
            a->file_hash = v;
            break;
        default:
            break;
        }
    }
}

/* Hands a stored alert to incident grouping, in the same batch. A
 * correlation alert of a window that closed on the clock has no event: its
 * agency and entities come from its group-by values. */
static void group_alert(server_t *srv, const lf_detect_hit_t *hit, uint64_t alert_id,
                        int64_t time_ms)
{
    static const char *const kinds[] = {"sigma", "yara", "intel"};
    const lf_event_t *ev = srv->hook_event;
    const lf_store_event_in_t *in = srv->hook_in;
    char ip[64] = "";
    lf_str_t src = {0};
    lf_field_id_t ip_fields[] = {LF_F_SOURCE_IP, LF_F_CLIENT_IP};
    for (size_t i = 0; ev && i < 2 && !src.len; i++)
        if (!lf_event_has(ev, ip_fields[i]) ||
            !lf_event_value_text(ev, ip_fields[i], ip, sizeof ip, &src))
            src = (lf_str_t){0};
    lf_field_id_t hash_fields[] = {LF_F_FILE_HASH_SHA256, LF_F_PROCESS_HASH_SHA256,
                                   LF_F_FILE_HASH_MD5};
    lf_str_t hash = {0};
    for (size_t i = 0; ev && i < 3 && !hash.len; i++)
        if (lf_event_has(ev, hash_fields[i]))
            hash = ev->str[hash_fields[i]];
    lf_incident_alert_t a = {
        .alert_id = alert_id,
        .time_ms = time_ms,
        .level = hit->level,
        .kind = hit->kind == LF_DETECT_CORRELATION ? "correlation"
                : (unsigned)hit->kind < 3          ? kinds[hit->kind]
                                                   : "sigma",
        .agency = in ? in->agency : lf_str_c(""),
        .rule_id = lf_str_c(hit->rule_id),
        .host = in ? in->host : lf_str_c(""),
        .user = ev && lf_event_has(ev, LF_F_USER_NAME) ? ev->str[LF_F_USER_NAME] : (lf_str_t){0},
        .source_ip = src,
        .file_hash = hash,
        .agent_id = in ? in->agent_id : lf_str_c(""),
        .event_seq = in ? in->seq : 0,
    };
    if (hit->correlation)
        correlation_entities(hit->correlation, &a);
    if (hit->sigma) {
        a.rule_title = lf_str_c(hit->sigma->title);
        a.tactics = hit->sigma->attack_tactics.items;
        a.tactic_count = hit->sigma->attack_tactics.count;
        a.techniques = hit->sigma->attack_techniques.items;
        a.technique_count = hit->sigma->attack_techniques.count;
    } else if (hit->intel && hit->intel->indicator) {
        a.indicator = lf_str_c(hit->intel->indicator->id);
        a.rule_title = lf_str_c(hit->intel->indicator->name);
    } else if (hit->yara && hit->yara->rule) {
        a.rule_title = lf_str_c(hit->rule_id);
    }
    lf_err_t rc = lf_incidents_on_alert(srv->incidents, srv->hook_batch, &a);
    if (rc != LF_OK)
        srv->hook_rc = rc;
}

/* Stores one detection hit as an alert in the event's own transaction. */
static void on_detect_hit(void *opaque, const lf_detect_hit_t *hit)
{
    server_t *srv = opaque;
    if (srv->hook_rc != LF_OK)
        return;
    uint64_t id = lf_store_batch_next_alert_id(srv->hook_batch);
    /* A correlation window closing on the clock has no event. */
    int64_t ts = srv->hook_in ? srv->hook_in->timestamp_ms : lf_time_now_ms();
    lf_err_t rc = lf_detect_alert_json(hit, srv->hook_event, id, ts, &srv->alert_doc);
    if (rc != LF_OK) {
        lf_warn("server", "alert of rule %s not stored: %s", hit->rule_id, lf_strerror(rc));
        return;
    }
    lf_str_t agency = srv->hook_in ? srv->hook_in->agency : lf_str_c("");
    if (hit->correlation) {
        lf_incident_alert_t ent = {.agency = agency};
        correlation_entities(hit->correlation, &ent);
        agency = ent.agency;
    }
    lf_store_alert_in_t alert = {.timestamp_ms = ts,
                                 .agency = agency,
                                 .rule_id = lf_str_c(hit->rule_id),
                                 .level = hit->level,
                                 .doc = srv->alert_doc.data,
                                 .doc_len = srv->alert_doc.len};
    rc = lf_store_batch_put_alert(srv->hook_batch, &alert);
    if (rc == LF_EINVAL)
        lf_warn("server", "alert of rule %.200s refused by the store (oversized)", hit->rule_id);
    else if (rc != LF_OK)
        srv->hook_rc = rc;
    else if (srv->incidents)
        group_alert(srv, hit, id, ts);
}

/* Ingest hook: runs detection on every newly stored event. */
static lf_err_t on_new_event(void *opaque, lf_store_batch_t *batch, const lf_event_t *ev,
                             const lf_store_event_in_t *in)
{
    server_t *srv = opaque;
    srv->hook_batch = batch;
    srv->hook_event = ev;
    srv->hook_in = in;
    srv->hook_rc = LF_OK;
    lf_detect_event(srv->detect, ev, in->timestamp_ms, on_detect_hit, srv);
    return srv->hook_rc;
}

/* Ingest hook at the end of each store batch: incident records kept for
 * the batch go into it before the commit, or are dropped after an abort. */
typedef struct state_put {
    lf_store_wtx_t *w;
    lf_err_t rc;
} state_put_t;

/* Writes one changed correlation window into the batch (NULL = delete). */
static void put_correlation_state(void *opaque, const void *key, size_t klen, const void *val,
                                  size_t vlen)
{
    state_put_t *p = opaque;
    if (p->rc != LF_OK)
        return;
    p->rc = val ? lf_store_wtx_put(p->w, LF_TABLE_STATE, key, klen, val, vlen)
                : lf_store_wtx_del(p->w, LF_TABLE_STATE, key, klen);
}

/* Ingest hook at the end of each store batch: correlation windows that
 * closed on the clock raise their alerts, changed windows and incident
 * records go into the batch before the commit; after an abort they are
 * dropped, so correlation state is exactly-once with the events. */
static lf_err_t on_batch_end(void *opaque, lf_store_batch_t *batch, bool commit)
{
    server_t *srv = opaque;
    if (!commit) {
        if (srv->detect)
            lf_detect_discard_changes(srv->detect);
        return srv->incidents ? lf_incidents_batch_end(srv->incidents, batch, false) : LF_OK;
    }
    lf_err_t rc = LF_OK;
    srv->last_batch_ms = (int64_t)uv_now(&srv->loop);
    if (srv->detect) {
        srv->hook_batch = batch;
        srv->hook_event = NULL;
        srv->hook_in = NULL;
        srv->hook_rc = LF_OK;
        lf_detect_advance(srv->detect, lf_time_now_ms(), on_detect_hit, srv);
        rc = srv->hook_rc;
        state_put_t put = {.w = lf_store_batch_wtx(batch), .rc = LF_OK};
        if (rc == LF_OK && put.w) {
            lf_detect_take_changes(srv->detect, put_correlation_state, &put);
            rc = put.rc;
        }
    }
    if (rc == LF_OK && srv->incidents)
        rc = lf_incidents_batch_end(srv->incidents, batch, true);
    return rc;
}

/* The correlation clock: with no batch for detect.correlation_clock, a
 * batch of its own lets windows that are due close and raise their alerts
 * (with their changed state, exactly once like every batch). The loop is
 * the store's only batch writer, so this never meets an ingest batch. */
static void on_corr_clock(uv_timer_t *t)
{
    server_t *srv = t->data;
    if (!srv->detect ||
        (int64_t)uv_now(&srv->loop) - srv->last_batch_ms < srv->cfg.detect.correlation_clock_ms)
        return;
    lf_store_batch_t *b;
    lf_err_t rc = lf_store_batch_begin(srv->store, &b);
    if (rc == LF_OK) {
        rc = on_batch_end(srv, b, true);
        if (rc == LF_OK) {
            rc = lf_store_batch_commit(b, NULL, NULL);
            if (rc != LF_OK)
                on_batch_end(srv, b, false);
        } else {
            lf_store_batch_abort(b);
            on_batch_end(srv, b, false);
        }
    }
    if (rc != LF_OK)
        lf_warn("server",
                "correlation clock: the batch was not stored (%s); the windows close "
                "with the next batch",
                lf_strerror(rc));
}

typedef struct restore_ctx {
    lf_detect_t *detect;
    size_t restored, refused;
} restore_ctx_t;

static bool restore_one(void *opaque, lf_str_t key, lf_str_t val)
{
    restore_ctx_t *r = opaque;
    if (lf_detect_restore(r->detect, key.ptr, key.len, val.ptr, val.len) == LF_OK)
        r->restored++;
    else
        r->refused++;
    return true;
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *srv = h->data;
    if (signum == SIGHUP) {
        char err[512] = "";
        if (lf_ingest_reload_decoders(srv->ingest, err, sizeof err) != LF_OK)
            lf_error("server", "SIGHUP: decoders not reloaded, the running ones stay: %s", err);
        err[0] = '\0';
        if (lf_agents_reload(srv->agents, err, sizeof err) != LF_OK)
            lf_error("server", "SIGHUP: enrolment tokens not reloaded, the loaded ones stay: %s",
                     err);
        err[0] = '\0';
        if (!srv->detect)
            lf_info("server", "SIGHUP: detection is disabled, nothing to reload");
        else if (lf_detect_reload(srv->detect, err, sizeof err) != LF_OK)
            lf_error("server", "SIGHUP: %s", err);
        err[0] = '\0';
        if (srv->agent_rules && lf_agent_rules_publish(srv->agent_rules, err, sizeof err) != LF_OK)
            lf_error("server",
                     "SIGHUP: agent YARA rule set refused, agents keep the set they run: %s", err);
        return;
    }
    if (signum == SIGUSR1 || signum == SIGUSR2) {
        if (srv->broker)
            lf_broker_set_down(srv->broker, signum == SIGUSR1);
        else
            lf_warn("server", "signal %d ignored: no embedded broker", signum);
        return;
    }
    lf_info("server", "signal %d: shutting down", signum);
    uv_stop(&srv->loop);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: lianfangd [--config PATH] [--check-config] [--config-reference]\n"
                 "                 [--help] [--version]\n\n"
                 "Lianfang server: ingest, detection, storage and API in one process.\n"
                 "  --config PATH        configuration file (default " DEFAULT_CONFIG ")\n"
                 "  --check-config       validate the configuration and exit\n"
                 "  --config-reference   print the configuration reference (Markdown)\n\n"
                 "Signals: SIGTERM/SIGINT stop; SIGHUP reloads decoders, detection content\n"
                 "and enrolment tokens;\n"
                 "SIGUSR1/SIGUSR2 take the embedded broker down/up (for outage drills).\n");
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool check_only = false;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},     {"check-config", no_argument, 0, 'k'},
        {"config-reference", no_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check_only = true;
            break;
        case 'r':
            lf_config_write_reference(stdout, server_options, "lianfangd configuration",
                                      "File: `/etc/lianfang/lianfangd.yaml` (or `--config`). "
                                      "Every key is optional; the defaults run a single-node "
                                      "evaluation install on loopback.");
            return 0;
        case 'V':
            printf("lianfangd %s\n", LF_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    static server_t srv;
    char errstr[1024] = "";
    lf_err_t rc;
    if (config_path) {
        rc = lf_config_load_file(config_path, server_options, &srv.cfg, errstr, sizeof errstr);
    } else {
        FILE *f = fopen(DEFAULT_CONFIG, "r");
        if (f) {
            fclose(f);
            config_path = DEFAULT_CONFIG;
            rc = lf_config_load_file(config_path, server_options, &srv.cfg, errstr, sizeof errstr);
        } else {
            rc = lf_config_set_defaults(server_options, &srv.cfg, errstr, sizeof errstr);
        }
    }
    if (rc != LF_OK) {
        fprintf(stderr, "lianfangd: %s\n", errstr);
        lf_config_free(server_options, &srv.cfg);
        return 2;
    }
    if (check_only) {
        printf("lianfangd: configuration %s is valid\n", config_path ? config_path : "(defaults)");
        lf_config_free(server_options, &srv.cfg);
        return 0;
    }
    lf_log_set_level((lf_log_level_t)srv.cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    srv.started_ms = lf_time_now_ms();
    lf_metrics_init(&srv.metrics);
    uv_loop_init(&srv.loop);
    int exit_code = 1;
    lf_info("server", "lianfangd %s starting (config: %s)", LF_VERSION,
            config_path ? config_path : "built-in defaults");

    if (srv.cfg.broker.enabled) {
        rc = lf_broker_start(&srv.cfg.broker, &srv.broker, errstr, sizeof errstr);
        if (rc != LF_OK) {
            lf_error("server", "%s", errstr);
            goto out;
        }
    }
    rc = lf_store_open(&srv.cfg.store, &srv.metrics, &srv.store, errstr, sizeof errstr);
    if (rc != LF_OK) {
        lf_error("server", "store: %s", errstr);
        goto out;
    }
    if (srv.cfg.detect.enabled) {
        srv.cfg.detect.correlation_persist = true;
        rc = lf_detect_new(&srv.cfg.detect, &srv.metrics, &srv.detect, errstr, sizeof errstr);
        if (rc != LF_OK) {
            lf_error("server", "%s", errstr);
            goto out;
        }
        /* Correlation windows open at the last commit carry on. */
        restore_ctx_t rctx = {.detect = srv.detect};
        lf_store_scan_t scan = {0};
        rc = lf_store_table_scan(srv.store, LF_TABLE_STATE, &scan, restore_one, &rctx, NULL);
        if (rc != LF_OK) {
            lf_error("server", "cannot read the correlation state: %s", lf_strerror(rc));
            goto out;
        }
        if (rctx.restored || rctx.refused)
            lf_info("server",
                    "correlation state: %zu window group(s) restored, %zu refused (rule gone "
                    "or changed; dropped at the next commit)",
                    rctx.restored, rctx.refused);
    } else {
        lf_warn("server", "detection is disabled (detect.enabled: false): no alerts are raised");
    }
    if (srv.detect && srv.cfg.incidents.enabled) {
        rc = lf_incidents_new(&srv.cfg.incidents, srv.store, &srv.incidents, errstr, sizeof errstr);
        if (rc != LF_OK) {
            lf_error("server", "incidents: %s", errstr);
            goto out;
        }
        lf_incidents_register_metrics(srv.incidents, &srv.metrics);
        const lf_region_model_t *regions = lf_incidents_regions(srv.incidents);
        if (!regions)
            lf_warn("server", "incidents.regions_file is empty: no joint-defence correlation "
                              "and no region lights");
        else
            lf_info("server", "region model: %zu region(s) from %s", regions->region_count,
                    srv.cfg.incidents.regions_file);
    }
    rc = lf_agents_new(&srv.cfg.enrolment, &srv.metrics, &srv.agents, errstr, sizeof errstr);
    if (rc != LF_OK) {
        lf_error("server", "%s", errstr);
        goto out;
    }
    lf_info("server", "enrolment: %zu agencies with a token, %s", lf_agents_token_count(srv.agents),
            srv.cfg.enrolment.required ? "required (events of agents not enrolled are held back)"
                                       : "optional (agents not enrolled are accepted)");
    lf_buf_init(&srv.alert_doc, 4u << 20);
    rc = lf_ingest_start(&srv.cfg.ingest, &srv.cfg.kafka, &srv.loop, srv.store, &srv.metrics,
                         &srv.ingest, errstr, sizeof errstr);
    if (rc != LF_OK) {
        lf_error("server", "ingest: %s", errstr);
        goto out;
    }
    lf_ingest_set_agents(srv.ingest, srv.agents);
    if (srv.detect) {
        lf_ingest_set_event_hook(srv.ingest, on_new_event, &srv);
        lf_ingest_set_batch_hook(srv.ingest, on_batch_end, &srv);
    }
    rc = lf_agent_rules_new(&srv.cfg.agents, srv.cfg.detect.rules_dir, &srv.cfg.kafka, &srv.loop,
                            &srv.metrics, &srv.agent_rules, errstr, sizeof errstr);
    if (rc != LF_OK) {
        lf_error("server", "agent rules: %s", errstr);
        goto out;
    }
    lf_api_deps_t deps = {
        .store = srv.store,
        .metrics = &srv.metrics,
        .health = on_health,
        .health_opaque = &srv,
        .incidents = srv.incidents,
        .decode_failures = on_decode_failures,
        .decode_failures_opaque = &srv,
    };
    rc = lf_api_start(&srv.cfg.api, &deps, &srv.api, errstr, sizeof errstr);
    if (rc != LF_OK) {
        lf_error("server", "api: %s", errstr);
        goto out;
    }
    lf_info("server", "dashboard and API on http://%s/ (port %u)", srv.cfg.api.listen,
            (unsigned)lf_api_port(srv.api));

    if (srv.detect && srv.cfg.detect.correlation_clock_ms > 0) {
        uv_timer_init(&srv.loop, &srv.corr_clock);
        srv.corr_clock.data = &srv;
        uint64_t every = (uint64_t)srv.cfg.detect.correlation_clock_ms;
        uv_timer_start(&srv.corr_clock, on_corr_clock, every, every);
    }
    uv_signal_t *sigs[] = {&srv.sig_term, &srv.sig_int, &srv.sig_usr1, &srv.sig_usr2, &srv.sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP};
    for (int i = 0; i < 5; i++) {
        uv_signal_init(&srv.loop, sigs[i]);
        sigs[i]->data = &srv;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    exit_code = 0;

out:
    lf_api_stop(srv.api);
    srv.api = NULL;
    if (srv.ingest)
        lf_ingest_stop(srv.ingest);
    uv_walk(&srv.loop, close_walk, NULL);
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    lf_agent_rules_free(srv.agent_rules);
    uv_loop_close(&srv.loop);
    lf_detect_free(srv.detect);
    lf_agents_free(srv.agents);
    lf_incidents_free(srv.incidents);
    lf_buf_free(&srv.alert_doc);
    lf_store_close(srv.store);
    lf_broker_stop(srv.broker);
    lf_metrics_destroy(&srv.metrics);
    lf_config_free(server_options, &srv.cfg);
    lf_info("server", "stopped");
    return exit_code;
}
