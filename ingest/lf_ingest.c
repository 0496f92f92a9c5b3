#include "lf_ingest.h"
#include "lf_agents.h"
#include "lf_decode.h"
#include "lf_event.h"
#include "lf_json.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const lf_config_option_t source_options[] = {
    LF_CFG_OPT_STRING("name", lf_ingest_source_t, name, NULL,
                      "Source name as the agent sends it (its sources[].name)."),
    LF_CFG_OPT_STRING("format", lf_ingest_source_t, format, "",
                      "Decoder forced for this source (lianfang-logtest --list shows the "
                      "names); empty: automatic."),
    LF_CFG_OPT_STRING("timezone", lf_ingest_source_t, timezone, "",
                      "Zone of this source's zone-less timestamps; empty: ingest.timezone."),
    LF_CFG_END};

const lf_config_option_t lf_ingest_config_options[] = {
    LF_CFG_OPT_STRING("group_id", lf_ingest_config_t, group_id, "lianfangd",
                      "Kafka consumer group of the lianfangd nodes sharing the events topic."),
    LF_CFG_OPT_INT("poll_batch", lf_ingest_config_t, poll_batch, "500", 1, 4096,
                   "Kafka messages (each a batch of records) per store transaction; at most "
                   "4096, the agents one store transaction tracks."),
    LF_CFG_OPT_SIZE("max_event_bytes", lf_ingest_config_t, max_event_bytes, "4MiB", 65536,
                    268435456,
                    "Largest ECS document; a larger one keeps a cut event.original and is "
                    "flagged truncated."),
    LF_CFG_OPT_STRING("timezone", lf_ingest_config_t, timezone, "+08:00",
                      "Zone of timestamps that carry none (Taiwan: +08:00)."),
    LF_CFG_OPT_DURATION("ack_republish", lf_ingest_config_t, ack_republish, "5s", 100, 600000,
                        "How often stored watermarks of active agents are published again, so "
                        "an agent that missed one catches up."),
    LF_CFG_OPT_DURATION("ack_agent_idle", lf_ingest_config_t, ack_agent_idle, "10m", 1000, 86400000,
                        "Agents silent this long are no longer re-published."),
    LF_CFG_OPT_INT("max_tracked_agents", lf_ingest_config_t, max_tracked_agents, "100000", 16,
                   10000000, "Agents whose watermarks are tracked for re-publishing."),
    LF_CFG_OPT_DURATION("retry_backoff_max", lf_ingest_config_t, retry_backoff_max, "30s", 100,
                        600000, "Longest wait between retries of a failed store commit."),
    LF_CFG_OPT_STRING("decoders_dir", lf_ingest_config_t, decoders_dir,
                      "/usr/share/lianfang/decoders",
                      "Directory of decoder rule files (*.yaml), loaded at start; a bad file "
                      "stops the start. When the default directory is missing only the "
                      "built-in decoders run."),
    LF_CFG_OPT_LIST("sources", lf_ingest_config_t, sources, source_count, lf_ingest_source_t,
                    source_options, 1024,
                    "Per-source decoding: force a decoder and/or a timezone for the batches "
                    "of a source name."),
    LF_CFG_OPT_INT("failure_samples", lf_ingest_config_t, failure_samples, "64", 0, 10000,
                   "Newest decode failures kept in memory for the operator (agent, source, "
                   "decoder, reason, first bytes)."),
    LF_CFG_END};

enum {
    M_MESSAGES,
    M_RECORDS,
    M_STORED,
    M_DUPLICATES,
    M_REJ_ENVELOPE,
    M_REJ_EVENT,
    M_TRUNCATED,
    M_INVALID_UTF8,
    M_NO_TIMESTAMP,
    M_LOST,
    M_COMMITS,
    M_COMMIT_FAILURES,
    M_ACKS,
    M_ACK_FAILURES,
    M_KAFKA_ERRORS,
    M_COUNT
};

typedef struct source_ctx {
    lf_str_t name;
    int format;
    int32_t tz_min;
} source_ctx_t;

typedef struct tracked_agent {
    char *id; /* NULL = empty slot */
    uint64_t watermark;
    int64_t last_seen_ms;
} tracked_agent_t;

typedef struct partition_offset {
    char topic[128];
    int32_t partition;
    int64_t next_offset;
} partition_offset_t;

struct lf_ingest {
    lf_ingest_config_t cfg;
    char topic_events[256];
    char topic_acks[256];
    int32_t tz_min;
    uv_loop_t *loop;
    lf_store_t *store;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *consumer_queue;
    lf_kafka_queue_watch_t consumer_watch;
    rd_kafka_t *producer;
    rd_kafka_queue_t *producer_queue;
    lf_kafka_queue_watch_t producer_watch;
    rd_kafka_topic_t *acks_topic;
    _Atomic int32_t acks_partitions; /* 0 until metadata is known */
    bool metadata_in_flight;
    bool acks_partitions_logged;
    uv_work_t metadata_work;
    uv_timer_t timer; /* republish + housekeeping */
    uv_timer_t retry; /* store failure retry */
    uv_idle_t drain;  /* keeps consuming while the queue has more */
    int64_t backoff_ms;
    bool stopping;

    rd_kafka_message_t **msgs; /* poll_batch slots */
    size_t held;               /* messages kept for a retry after a failed commit */

    lf_event_t ev;
    lf_buf_t doc;
    lf_buf_t scratch;
    lf_buf_t ackbuf;
    uint64_t reject_seq;

    tracked_agent_t *agents;
    size_t agent_cap;
    size_t agent_count;

    partition_offset_t offsets[256];
    size_t offset_count;

    pthread_mutex_t status_lock;
    lf_ingest_status_t status;

    lf_metric_t metrics[M_COUNT];

    lf_decoders_t *decoders;
    lf_ingest_event_hook_t event_hook;
    void *event_hook_opaque;
    lf_ingest_batch_hook_t batch_hook;
    void *batch_hook_opaque;
    lf_agents_t *enrol; /* agent registry; NULL: heartbeats skipped, every batch admitted */
    lf_decode_state_t *decode_state;
    source_ctx_t *sources;
    size_t source_count;
    /* Per-decoder counters: one block per decoder name ever loaded (a
     * reload keeps the counters of names that stay; the registry holds
     * them until the end), and per current decoder id a pointer to its. */
    struct decoder_counters *counter_blocks;
    /* Decode errors per agent: the first AGENT_ERROR_SLOTS agents get a
     * counter of their own, the rest share agent="_other". */
    struct agent_errors *agent_errors;
    size_t agent_error_count;
    struct decoder_counters **decoder_metrics; /* index: decoder id */
    lf_metrics_t *registry;
    lf_ingest_failure_t *failures; /* ring of failure_samples */
    size_t failure_next, failure_count;
    uint64_t failure_logged;
};

#define AGENT_ERROR_SLOTS 128

typedef struct agent_errors {
    lf_metric_t metric;
    char agent[LF_STORE_MAX_AGENT_ID + 1];
    char label[LF_STORE_MAX_AGENT_ID + 32];
} agent_errors_t;

typedef struct decoder_counters {
    struct decoder_counters *next;
    lf_metric_t m[2]; /* decoded, errors */
    char name[64];
    char labels[2][96];
} decoder_counters_t;

static void set_error(lf_ingest_t *ing, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(lf_ingest_t *ing, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&ing->status_lock);
    vsnprintf(ing->status.last_error, sizeof ing->status.last_error, fmt, ap);
    pthread_mutex_unlock(&ing->status_lock);
    va_end(ap);
}

lf_err_t lf_ingest_parse_tz(const char *s, int32_t *minutes)
{
    if (!strcmp(s, "Z") || !strcmp(s, "UTC") || !strcmp(s, "+00:00")) {
        *minutes = 0;
        return LF_OK;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return LF_EINVAL;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return LF_EINVAL;
    int h = (s[1] - '0') * 10 + (s[2] - '0');
    int m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59)
        return LF_EINVAL;
    *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return LF_OK;
}

/* ---- tracked agents (open addressing, FNV-1a) -------------------------- */

static uint32_t hash_str(lf_str_t s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (uint8_t)s.ptr[i];
        h *= 16777619u;
    }
    return h;
}

static tracked_agent_t *agent_find(lf_ingest_t *ing, lf_str_t id, bool create)
{
    size_t mask = ing->agent_cap - 1;
    for (size_t i = hash_str(id) & mask, n = 0; n < ing->agent_cap; i = (i + 1) & mask, n++) {
        tracked_agent_t *a = &ing->agents[i];
        if (!a->id) {
            if (!create || ing->agent_count * 10 >= ing->agent_cap * 7 ||
                (int64_t)ing->agent_count >= ing->cfg.max_tracked_agents)
                return NULL;
            a->id = malloc(id.len + 1);
            if (!a->id)
                return NULL;
            memcpy(a->id, id.ptr, id.len);
            a->id[id.len] = '\0';
            ing->agent_count++;
            return a;
        }
        if (strlen(a->id) == id.len && memcmp(a->id, id.ptr, id.len) == 0)
            return a;
    }
    return NULL;
}

/* ---- acks ---------------------------------------------------------------- */

static void publish_ack(lf_ingest_t *ing, lf_str_t agent_id, uint64_t watermark)
{
    int32_t parts = atomic_load(&ing->acks_partitions);
    if (parts <= 0 || !ing->acks_topic)
        return; /* re-published once the partition count is known */
    lf_wire_ack_t ack = {
        .watermark = watermark, .stored_time_ms = lf_time_now_ms(), .agent_id = agent_id};
    if (lf_wire_ack_encode(&ing->ackbuf, &ack) != LF_OK)
        return;
    int32_t partition = lf_wire_ack_partition(agent_id, parts);
    if (rd_kafka_produce(ing->acks_topic, partition, RD_KAFKA_MSG_F_COPY, ing->ackbuf.data,
                         ing->ackbuf.len, agent_id.ptr, agent_id.len, NULL) != 0) {
        lf_metric_add(&ing->metrics[M_ACK_FAILURES], 1);
        lf_debug("ingest", "ack for %.*s not queued: %s", (int)agent_id.len, agent_id.ptr,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return;
    }
    lf_metric_add(&ing->metrics[M_ACKS], 1);
}

static void on_committed_agent(void *opaque, lf_str_t agent_id, uint64_t watermark, uint64_t added,
                               uint64_t duplicates)
{
    lf_ingest_t *ing = opaque;
    if (agent_id.len && agent_id.ptr[0] == '_')
        return; /* pipeline pseudo-agents get no acks */
    tracked_agent_t *a = agent_find(ing, agent_id, true);
    if (a) {
        a->watermark = watermark;
        a->last_seen_ms = lf_time_mono_ms();
    }
    publish_ack(ing, agent_id, watermark);
}

static void metadata_work(uv_work_t *req)
{
    lf_ingest_t *ing = req->data;
    const struct rd_kafka_metadata *md = NULL;
    /* Doubles as the Kafka liveness probe behind the health check. */
    bool up = false;
    if (rd_kafka_metadata(ing->producer, 0, ing->acks_topic, &md, 3000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md) {
        up = true;
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0)
            atomic_store(&ing->acks_partitions, md->topics[0].partition_cnt);
        rd_kafka_metadata_destroy(md);
    }
    pthread_mutex_lock(&ing->status_lock);
    ing->status.kafka_up = up;
    pthread_mutex_unlock(&ing->status_lock);
}

static void metadata_done(uv_work_t *req, int status)
{
    lf_ingest_t *ing = req->data;
    ing->metadata_in_flight = false;
    if (atomic_load(&ing->acks_partitions) > 0 && !ing->acks_partitions_logged) {
        ing->acks_partitions_logged = true;
        lf_info("ingest", "topic %s has %d partitions; publishing stored watermarks",
                ing->topic_acks, (int)atomic_load(&ing->acks_partitions));
    }
}

static void on_timer(uv_timer_t *t)
{
    lf_ingest_t *ing = t->data;
    if (!ing->metadata_in_flight && !ing->stopping) {
        ing->metadata_in_flight = true;
        ing->metadata_work.data = ing;
        uv_queue_work(ing->loop, &ing->metadata_work, metadata_work, metadata_done);
    }
    int64_t now = lf_time_mono_ms();
    for (size_t i = 0; i < ing->agent_cap; i++) {
        tracked_agent_t *a = &ing->agents[i];
        if (a->id && now - a->last_seen_ms <= ing->cfg.ack_agent_idle)
            publish_ack(ing, lf_str_c(a->id), a->watermark);
    }
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(ing->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned) {
        pthread_mutex_lock(&ing->status_lock);
        ing->status.assigned_partitions = assigned->cnt;
        pthread_mutex_unlock(&ing->status_lock);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
}

/* ---- consuming ----------------------------------------------------------- */

static void note_offset(lf_ingest_t *ing, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < ing->offset_count; i++) {
        partition_offset_t *po = &ing->offsets[i];
        if (po->partition == m->partition && strcmp(po->topic, topic) == 0) {
            if (m->offset + 1 > po->next_offset)
                po->next_offset = m->offset + 1;
            return;
        }
    }
    if (ing->offset_count < sizeof ing->offsets / sizeof *ing->offsets) {
        partition_offset_t *po = &ing->offsets[ing->offset_count++];
        snprintf(po->topic, sizeof po->topic, "%s", topic);
        po->partition = m->partition;
        po->next_offset = m->offset + 1;
    }
}

/* Stores a message that is not a valid event batch as a pipeline event. */
static lf_err_t store_rejected(lf_ingest_t *ing, lf_store_batch_t *b, const rd_kafka_message_t *m,
                               const char *reason)
{
    lf_metric_add(&ing->metrics[M_REJ_ENVELOPE], 1);
    lf_warn("ingest",
            "rejected message %s[%" PRId32 "]@%" PRId64 " (%zu bytes): %s; kept as "
            "agent.id=_rejected",
            rd_kafka_topic_name(m->rkt), m->partition, m->offset, m->len, reason);
    lf_event_t *ev = &ing->ev;
    lf_event_reset(ev);
    int64_t now = lf_time_now_ms();
    size_t keep = m->len < 65536 ? m->len : 65536;
    lf_event_set_num(ev, LF_F_TIMESTAMP, now);
    lf_event_set_num(ev, LF_F_EVENT_INGESTED, now);
    lf_event_set_str(ev, LF_F_AGENT_ID, lf_str_c("_rejected"));
    lf_event_set_str(ev, LF_F_EVENT_KIND, lf_str_c("pipeline_error"));
    lf_event_set_str(ev, LF_F_EVENT_DATASET, lf_str_c("lianfang.rejected"));
    lf_event_set_str(ev, LF_F_MESSAGE, lf_str_c(reason));
    lf_event_set_str(ev, LF_F_EVENT_ORIGINAL, lf_str_n(m->payload, keep));
    lf_event_set_str(ev, LF_F_LIANFANG_DECODER, lf_str_c("none"));
    if (keep < m->len)
        ev->flags |= LF_EVFLAG(TRUNCATED);
    lf_err_t rc = lf_event_to_json(ev, &ing->doc, &ing->scratch);
    if (rc != LF_OK)
        return LF_OK; /* counted above; nothing sensible left to keep */
    uint64_t seq = (uint64_t)now * 1000 + (ing->reject_seq++ % 1000);
    lf_store_event_in_t in = {.agent_id = lf_str_c("_rejected"),
                              .agency = LF_STR_NULL,
                              .host = LF_STR_NULL,
                              .seq = seq,
                              .epoch_seq = 0,
                              .timestamp_ms = now,
                              .doc = ing->doc.data,
                              .doc_len = ing->doc.len};
    rc = lf_store_batch_put(b, &in);
    return rc == LF_EDUPLICATE ? LF_OK : rc;
}

/* The agent numbered a record but could not re-read it for a re-send (its
 * file was deleted or rewritten first): keep a visible placeholder so the
 * loss is searchable and the agent's watermark can move past it. */
static lf_err_t store_lost(lf_ingest_t *ing, lf_store_batch_t *b, const lf_wire_batch_t *wb,
                           const lf_wire_record_t *rec, int64_t now)
{
    lf_event_t *ev = &ing->ev;
    lf_event_reset(ev);
    lf_metric_add(&ing->metrics[M_LOST], 1);
    lf_event_set_num(ev, LF_F_TIMESTAMP, wb->h.read_time_ms ? wb->h.read_time_ms : now);
    lf_event_set_str(ev, LF_F_AGENT_ID, wb->h.agent_id);
    lf_event_set_str(ev, LF_F_AGENT_TYPE, lf_str_c("lianfang-agent"));
    if (wb->h.agency.len)
        lf_event_set_str(ev, LF_F_ORGANIZATION_ID, wb->h.agency);
    if (wb->h.host.len)
        lf_event_set_str(ev, LF_F_HOST_NAME, wb->h.host);
    if (wb->h.source.len)
        lf_event_set_str(ev, LF_F_EVENT_DATASET, wb->h.source);
    if (wb->h.path.len)
        lf_event_set_str(ev, LF_F_LOG_FILE_PATH, wb->h.path);
    lf_event_set_str(ev, LF_F_EVENT_KIND, lf_str_c("pipeline_error"));
    lf_event_set_str(ev, LF_F_MESSAGE,
                     lf_str_c("record lost at the agent: its file was deleted or rewritten "
                              "before the record was stored"));
    lf_event_set_num(ev, LF_F_EVENT_SEQUENCE, (int64_t)rec->seq);
    lf_event_set_num(ev, LF_F_EVENT_INGESTED, now);
    lf_event_set_str(ev, LF_F_LIANFANG_DECODER, lf_str_c("none"));
    ev->flags |= LF_EVFLAG(LOST);
    lf_err_t rc = lf_event_to_json(ev, &ing->doc, &ing->scratch);
    if (rc != LF_OK)
        return LF_OK;
    lf_store_event_in_t in = {.agent_id = wb->h.agent_id,
                              .agency = wb->h.agency,
                              .host = wb->h.host,
                              .seq = rec->seq,
                              .epoch_seq = wb->h.epoch_seq,
                              .timestamp_ms = ev->num[LF_F_TIMESTAMP],
                              .doc = ing->doc.data,
                              .doc_len = ing->doc.len};
    rc = lf_store_batch_put(b, &in);
    return rc == LF_EDUPLICATE || rc == LF_EINVAL ? LF_OK : rc;
}

/* Counts a decode failure against its agent (metric
 * lianfang_ingest_agent_decode_errors_total{agent}). */
static void count_agent_error(lf_ingest_t *ing, lf_str_t agent)
{
    if (!ing->agent_errors || !ing->registry)
        return;
    /* Slot 0 is agent="_other". */
    for (size_t i = 1; i < ing->agent_error_count; i++) {
        if (lf_str_eq_c(agent, ing->agent_errors[i].agent)) {
            lf_metric_add(&ing->agent_errors[i].metric, 1);
            return;
        }
    }
    if (ing->agent_error_count < AGENT_ERROR_SLOTS && agent.len <= LF_STORE_MAX_AGENT_ID) {
        agent_errors_t *e = &ing->agent_errors[ing->agent_error_count];
        memcpy(e->agent, agent.ptr, agent.len);
        e->agent[agent.len] = '\0';
        /* Agent ids are letters, digits and . _ - by the agent's own rule;
         * anything else is escaped away rather than trusted into a label. */
        char safe[LF_STORE_MAX_AGENT_ID + 1];
        size_t n = 0;
        for (size_t i = 0; i < agent.len; i++) {
            char ch = agent.ptr[i];
            safe[n++] = (ch == '"' || ch == '\\' || ch == '\n') ? '_' : ch;
        }
        safe[n] = '\0';
        snprintf(e->label, sizeof e->label, "agent=\"%s\"", safe);
        e->metric = (lf_metric_t){.name = "lianfang_ingest_agent_decode_errors_total",
                                  .labels = e->label,
                                  .help = "Records of each agent that no decoder could decode "
                                          "(the first 128 agents; the rest as agent=\"_other\")",
                                  .kind = LF_METRIC_COUNTER};
        if (lf_metrics_register(ing->registry, &e->metric, 1) == LF_OK) {
            ing->agent_error_count++;
            lf_metric_add(&e->metric, 1);
            return;
        }
    }
    lf_metric_add(&ing->agent_errors[0].metric, 1);
}

/* Counts the record against its decoder and keeps a sample of failures. */
static void note_decode(lf_ingest_t *ing, const lf_wire_batch_t *wb, const lf_decode_result_t *res,
                        lf_str_t data, int64_t now)
{
    if (!ing->decoder_metrics)
        return;
    if (res->decoder_id > 0)
        lf_metric_add(&ing->decoder_metrics[res->decoder_id]->m[0], 1);
    if (!res->error)
        return;
    int failed = res->failed_id ? res->failed_id : res->decoder_id;
    if (failed > 0)
        lf_metric_add(&ing->decoder_metrics[failed]->m[1], 1);
    count_agent_error(ing, wb->h.agent_id);
    if (ing->failure_logged++ < 10 || ing->failure_logged % 1000 == 0)
        lf_warn("ingest",
                "agent %.*s source %.*s: %s: %s (%" PRIu64 " decode failures so far; "
                "kept as a generic event)",
                (int)wb->h.agent_id.len, wb->h.agent_id.ptr, (int)wb->h.source.len,
                wb->h.source.ptr, lf_decoders_name(ing->decoders, failed), res->error,
                ing->failure_logged);
    if (!ing->failures)
        return;
    pthread_mutex_lock(&ing->status_lock);
    lf_ingest_failure_t *f = &ing->failures[ing->failure_next];
    ing->failure_next = (ing->failure_next + 1) % (size_t)ing->cfg.failure_samples;
    if (ing->failure_count < (size_t)ing->cfg.failure_samples)
        ing->failure_count++;
    f->time_ms = now;
    snprintf(f->agent_id, sizeof f->agent_id, "%.*s", (int)wb->h.agent_id.len, wb->h.agent_id.ptr);
    snprintf(f->source, sizeof f->source, "%.*s", (int)wb->h.source.len, wb->h.source.ptr);
    snprintf(f->decoder, sizeof f->decoder, "%s", lf_decoders_name(ing->decoders, failed));
    snprintf(f->error, sizeof f->error, "%s", res->error);
    size_t n = data.len < sizeof f->record - 1 ? data.len : sizeof f->record - 1;
    memcpy(f->record, data.ptr, n);
    f->record_len = n;
    f->record[n] = '\0';
    pthread_mutex_unlock(&ing->status_lock);
}

size_t lf_ingest_failures(lf_ingest_t *ing, lf_ingest_failure_t *out, size_t max)
{
    pthread_mutex_lock(&ing->status_lock);
    size_t n = 0;
    for (; n < max && n < ing->failure_count; n++) {
        size_t cap = (size_t)ing->cfg.failure_samples;
        out[n] = ing->failures[(ing->failure_next + cap - 1 - n) % cap];
    }
    pthread_mutex_unlock(&ing->status_lock);
    return n;
}

static lf_err_t store_record(lf_ingest_t *ing, lf_store_batch_t *b, const lf_wire_batch_t *wb,
                             const lf_wire_record_t *rec, int64_t now)
{
    lf_event_t *ev = &ing->ev;
    lf_str_t data = rec->data;
    if (rec->flags & LF_REC_LOST)
        return store_lost(ing, b, wb, rec, now);
    const source_ctx_t *src = NULL;
    for (size_t i = 0; i < ing->source_count && !src; i++)
        if (lf_str_eq(ing->sources[i].name, wb->h.source))
            src = &ing->sources[i];
    lf_decode_ctx_t ctx = {.tz_offset_min =
                               src && src->tz_min != INT32_MIN ? src->tz_min : ing->tz_min,
                           .decoders = ing->decoders,
                           .state = ing->decode_state,
                           .format = src ? src->format : 0};
    lf_record_meta_t meta = {.agent_id = wb->h.agent_id,
                             .agency = wb->h.agency,
                             .host = wb->h.host,
                             .source = wb->h.source,
                             .path = wb->h.path,
                             .read_time_ms = wb->h.read_time_ms,
                             .ingest_ms = now,
                             .seq = rec->seq,
                             .offset = rec->offset == LF_WIRE_NO_OFFSET ? UINT64_MAX : rec->offset,
                             .truncated = (rec->flags & LF_REC_TRUNCATED) != 0};
    for (int attempt = 0; attempt < 2; attempt++) {
        lf_decode_result_t res;
        lf_decode_event(&ctx, &meta, data, ev, &res);
        if (rec->sender.len) /* records of an agent's syslog listener */
            lf_event_set_str(ev, LF_F_LOG_SOURCE_ADDRESS, rec->sender);
        if (attempt == 0)
            note_decode(ing, wb, &res, data, now);
        if (ev->flags & LF_EVFLAG(TIME_FROM_INGEST))
            lf_metric_add(&ing->metrics[M_NO_TIMESTAMP], attempt == 0);
        if (attempt > 0)
            ev->flags |= LF_EVFLAG(TRUNCATED);
        lf_err_t rc = lf_event_to_json(ev, &ing->doc, &ing->scratch);
        if (rc == LF_EFULL && attempt == 0) {
            /* Keep a prefix that surely fits after escaping (6x) and base64. */
            size_t cap = (size_t)ing->cfg.max_event_bytes / 16;
            data.len = data.len < cap ? data.len : cap;
            continue;
        }
        if (rc != LF_OK) {
            lf_metric_add(&ing->metrics[M_REJ_EVENT], 1);
            lf_warn("ingest", "agent %.*s seq %" PRIu64 ": cannot serialise event: %s",
                    (int)wb->h.agent_id.len, wb->h.agent_id.ptr, rec->seq, lf_strerror(rc));
            return LF_OK;
        }
        break;
    }
    if (rec->flags & LF_REC_TRUNCATED)
        lf_metric_add(&ing->metrics[M_TRUNCATED], 1);
    if (ev->flags & LF_EVFLAG(INVALID_UTF8))
        lf_metric_add(&ing->metrics[M_INVALID_UTF8], 1);
    lf_store_event_in_t in = {.agent_id = wb->h.agent_id,
                              .agency = wb->h.agency,
                              .host = wb->h.host,
                              .seq = rec->seq,
                              .epoch_seq = wb->h.epoch_seq,
                              .timestamp_ms = ev->num[LF_F_TIMESTAMP],
                              .doc = ing->doc.data,
                              .doc_len = ing->doc.len};
    lf_err_t rc = lf_store_batch_put(b, &in);
    if (rc == LF_OK) {
        lf_metric_add(&ing->metrics[M_STORED], 1);
        if (ing->event_hook)
            rc = ing->event_hook(ing->event_hook_opaque, b, ev, &in);
    } else if (rc == LF_EDUPLICATE) {
        lf_metric_add(&ing->metrics[M_DUPLICATES], 1);
        rc = LF_OK;
    } else if (rc == LF_EINVAL) {
        lf_metric_add(&ing->metrics[M_REJ_EVENT], 1);
        lf_warn("ingest",
                "agent %.*s seq %" PRIu64 ": refused by the store (bad agent id or "
                "sequence)",
                (int)wb->h.agent_id.len, wb->h.agent_id.ptr, rec->seq);
        rc = LF_OK;
    }
    return rc;
}

static lf_err_t process_message(lf_ingest_t *ing, lf_store_batch_t *b, rd_kafka_message_t *m,
                                int64_t now)
{
    if (m->len >= 4 && memcmp(m->payload, LF_WIRE_HEARTBEAT_MAGIC, 4) == 0) {
        /* An agent's heartbeat: its registry record is written in this
         * batch, before the batches that follow it in the partition. */
        const char *why = NULL;
        lf_err_t hrc = ing->enrol ? lf_agents_on_heartbeat(ing->enrol, lf_store_batch_wtx(b),
                                                           m->payload, m->len, now, &why)
                                  : LF_OK;
        return hrc == LF_EPARSE ? store_rejected(ing, b, m, why) : hrc;
    }
    lf_wire_batch_t wb;
    if (lf_wire_batch_parse(m->payload, m->len, &wb) != LF_OK)
        return store_rejected(ing, b, m, "not a valid Lianfang event batch (LFE1)");
    if (wb.h.agent_id.len > LF_STORE_MAX_AGENT_ID || wb.h.agent_id.ptr[0] == '_')
        return store_rejected(ing, b, m, "agent id too long or reserved (starts with '_')");
    bool admit = true;
    lf_err_t arc = lf_agents_admit(ing->enrol, lf_store_batch_wtx(b), &wb.h, wb.count, now, &admit);
    if (arc != LF_OK || !admit)
        return arc; /* refused: not stored, so not acknowledged; the agent re-sends */
    lf_wire_iter_t it;
    lf_wire_record_t rec;
    lf_wire_batch_iter(&wb, &it);
    while (lf_wire_batch_next(&wb, &it, &rec) == LF_OK) {
        lf_metric_add(&ing->metrics[M_RECORDS], 1);
        lf_err_t rc = store_record(ing, b, &wb, &rec, now);
        if (rc != LF_OK)
            return rc;
    }
    return LF_OK;
}

static void commit_offsets(lf_ingest_t *ing)
{
    if (!ing->offset_count)
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)ing->offset_count);
    for (size_t i = 0; i < ing->offset_count; i++)
        rd_kafka_topic_partition_list_add(list, ing->offsets[i].topic, ing->offsets[i].partition)
            ->offset = ing->offsets[i].next_offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(ing->consumer, list, 1);
    if (err)
        lf_debug("ingest",
                 "offset commit not sent: %s (messages will be re-read and "
                 "deduplicated)",
                 rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

static void release_held(lf_ingest_t *ing)
{
    for (size_t i = 0; i < ing->held; i++)
        rd_kafka_message_destroy(ing->msgs[i]);
    ing->held = 0;
}

/* Stores the held messages in one transaction. */
static lf_err_t store_held(lf_ingest_t *ing)
{
    lf_store_batch_t *b;
    lf_err_t rc = lf_store_batch_begin(ing->store, &b);
    if (rc != LF_OK)
        return rc;
    ing->offset_count = 0;
    int64_t now = lf_time_now_ms();
    for (size_t i = 0; i < ing->held && rc == LF_OK; i++) {
        rd_kafka_message_t *m = ing->msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                lf_metric_add(&ing->metrics[M_KAFKA_ERRORS], 1);
                lf_warn("ingest", "consumer: %s", rd_kafka_message_errstr(m));
            }
            continue;
        }
        lf_metric_add(&ing->metrics[M_MESSAGES], 1);
        note_offset(ing, m);
        rc = process_message(ing, b, m, now);
    }
    for (size_t i = 0; i < ing->offset_count && rc == LF_OK; i++)
        rc = lf_store_batch_set_offset(b, ing->offsets[i].topic, ing->offsets[i].partition,
                                       ing->offsets[i].next_offset);
    if (rc == LF_OK && ing->batch_hook)
        rc = ing->batch_hook(ing->batch_hook_opaque, b, true);
    if (rc != LF_OK) {
        lf_store_batch_abort(b);
        if (ing->batch_hook)
            ing->batch_hook(ing->batch_hook_opaque, b, false);
        return rc;
    }
    rc = lf_store_batch_commit(b, on_committed_agent, ing);
    if (rc != LF_OK && ing->batch_hook)
        ing->batch_hook(ing->batch_hook_opaque, b, false); /* nothing of it was stored */
    return rc;
}

static void schedule_drain(lf_ingest_t *ing, bool more);

static void on_retry(uv_timer_t *t);

/* Consumes one poll's worth and stores it. Returns the number consumed. */
static ssize_t consume_once(lf_ingest_t *ing)
{
    if (ing->stopping)
        return 0;
    if (ing->held == 0) {
        ssize_t n = rd_kafka_consume_batch_queue(ing->consumer_queue, 0, ing->msgs,
                                                 (size_t)ing->cfg.poll_batch);
        if (n <= 0)
            return 0;
        ing->held = (size_t)n;
    }
    ssize_t consumed = (ssize_t)ing->held;
    lf_err_t rc = store_held(ing);
    if (rc != LF_OK) {
        lf_metric_add(&ing->metrics[M_COMMIT_FAILURES], 1);
        ing->backoff_ms = ing->backoff_ms ? ing->backoff_ms * 2 : 100;
        if (ing->backoff_ms > ing->cfg.retry_backoff_max)
            ing->backoff_ms = ing->cfg.retry_backoff_max;
        lf_error("ingest",
                 "store commit failed (%s); %zu Kafka messages kept, retrying in %" PRId64
                 " ms; nothing is acknowledged until stored",
                 lf_strerror(rc), ing->held, ing->backoff_ms);
        set_error(ing, "store commit failed: %s", lf_strerror(rc));
        pthread_mutex_lock(&ing->status_lock);
        ing->status.store_ok = false;
        pthread_mutex_unlock(&ing->status_lock);
        uv_timer_start(&ing->retry, on_retry, (uint64_t)ing->backoff_ms, 0);
        return -1;
    }
    ing->backoff_ms = 0;
    lf_metric_add(&ing->metrics[M_COMMITS], 1);
    commit_offsets(ing);
    release_held(ing);
    pthread_mutex_lock(&ing->status_lock);
    ing->status.store_ok = true;
    ing->status.kafka_up = true;
    ing->status.last_commit_ms = lf_time_now_ms();
    pthread_mutex_unlock(&ing->status_lock);
    return consumed;
}

static void on_consumer_readable(void *opaque)
{
    lf_ingest_t *ing = opaque;
    if (uv_is_active((uv_handle_t *)&ing->retry))
        return; /* waiting to retry a failed commit */
    ssize_t n = consume_once(ing);
    schedule_drain(ing, n == ing->cfg.poll_batch);
}

static void on_drain(uv_idle_t *idle)
{
    lf_ingest_t *ing = idle->data;
    ssize_t n = consume_once(ing);
    schedule_drain(ing, n == ing->cfg.poll_batch);
}

/* A full poll means more may be queued; librdkafka signals the pipe only
 * when the queue turns non-empty, so keep going from an idle handle (which
 * still lets the loop serve other handles between polls). */
static void schedule_drain(lf_ingest_t *ing, bool more)
{
    if (more && !ing->stopping)
        uv_idle_start(&ing->drain, on_drain);
    else
        uv_idle_stop(&ing->drain);
}

static void on_retry(uv_timer_t *t)
{
    lf_ingest_t *ing = t->data;
    ssize_t n = consume_once(ing);
    if (n >= 0)
        schedule_drain(ing, true);
}

static void on_producer_events(void *opaque)
{
    lf_ingest_t *ing = opaque;
    rd_kafka_poll(ing->producer, 0);
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    lf_ingest_t *ing = opaque;
    lf_metric_add(&ing->metrics[M_KAFKA_ERRORS], 1);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        pthread_mutex_lock(&ing->status_lock);
        ing->status.kafka_up = false;
        pthread_mutex_unlock(&ing->status_lock);
    }
    set_error(ing, "kafka: %s", reason);
    lf_warn("ingest", "kafka (%s): %s: %s", rd_kafka_name(rk),
            rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_ack_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    lf_ingest_t *ing = opaque;
    if (m->err) {
        lf_metric_add(&ing->metrics[M_ACK_FAILURES], 1);
        lf_debug("ingest", "ack delivery failed: %s (re-published later)",
                 rd_kafka_err2str(m->err));
    }
}

static void register_metrics(lf_ingest_t *ing, lf_metrics_t *reg)
{
    static const struct {
        const char *name, *labels, *help;
        lf_metric_kind_t kind;
    } defs[M_COUNT] = {
        [M_MESSAGES] = {"lianfang_ingest_messages_total", NULL, "Kafka messages consumed",
                        LF_METRIC_COUNTER},
        [M_RECORDS] = {"lianfang_ingest_records_total", NULL, "Records decoded", LF_METRIC_COUNTER},
        [M_STORED] = {"lianfang_ingest_events_stored_total", NULL, "New events stored",
                      LF_METRIC_COUNTER},
        [M_DUPLICATES] = {"lianfang_ingest_duplicates_total", NULL,
                          "Records already stored (re-sent), dropped", LF_METRIC_COUNTER},
        [M_REJ_ENVELOPE] = {"lianfang_ingest_rejected_total", "reason=\"bad_envelope\"",
                            "Messages or records rejected, by reason", LF_METRIC_COUNTER},
        [M_REJ_EVENT] = {"lianfang_ingest_rejected_total", "reason=\"bad_event\"",
                         "Messages or records rejected, by reason", LF_METRIC_COUNTER},
        [M_TRUNCATED] = {"lianfang_ingest_flagged_total", "flag=\"truncated\"",
                         "Events stored with a flag", LF_METRIC_COUNTER},
        [M_INVALID_UTF8] = {"lianfang_ingest_flagged_total", "flag=\"invalid_utf8\"",
                            "Events stored with a flag", LF_METRIC_COUNTER},
        [M_NO_TIMESTAMP] = {"lianfang_ingest_flagged_total", "flag=\"timestamp_from_ingest\"",
                            "Events stored with a flag", LF_METRIC_COUNTER},
        [M_LOST] = {"lianfang_ingest_flagged_total", "flag=\"record_lost\"",
                    "Events stored with a flag", LF_METRIC_COUNTER},
        [M_COMMITS] = {"lianfang_ingest_commits_total", NULL, "Store transactions committed",
                       LF_METRIC_COUNTER},
        [M_COMMIT_FAILURES] = {"lianfang_ingest_commit_failures_total", NULL,
                               "Store transactions that failed (retried)", LF_METRIC_COUNTER},
        [M_ACKS] = {"lianfang_ingest_acks_published_total", NULL,
                    "Stored watermarks published to agents", LF_METRIC_COUNTER},
        [M_ACK_FAILURES] = {"lianfang_ingest_ack_failures_total", NULL,
                            "Watermark messages not delivered (re-published later)",
                            LF_METRIC_COUNTER},
        [M_KAFKA_ERRORS] = {"lianfang_ingest_kafka_errors_total", NULL,
                            "Errors reported by the Kafka clients", LF_METRIC_COUNTER},
    };
    for (int i = 0; i < M_COUNT; i++) {
        ing->metrics[i].name = defs[i].name;
        ing->metrics[i].labels = defs[i].labels;
        ing->metrics[i].help = defs[i].help;
        ing->metrics[i].kind = defs[i].kind;
        atomic_store(&ing->metrics[i].value, 0);
    }
    if (reg)
        lf_metrics_register(reg, ing->metrics, M_COUNT);
}

/* The counter table of a decoder set: id -> counters of its name, reusing
 * the block of a name seen before, registering new ones. NULL on ENOMEM. */
static decoder_counters_t **counters_for(lf_ingest_t *ing, const lf_decoders_t *set)
{
    int n = lf_decoders_count(set);
    decoder_counters_t **table = calloc((size_t)n + 1, sizeof *table);
    if (!table)
        return NULL;
    for (int id = 1; id <= n; id++) {
        const char *name = lf_decoders_name(set, id);
        decoder_counters_t *b = ing->counter_blocks;
        while (b && strcmp(b->name, name) != 0)
            b = b->next;
        if (!b) {
            b = calloc(1, sizeof *b);
            if (!b) {
                free(table);
                return NULL;
            }
            snprintf(b->name, sizeof b->name, "%s", name);
            for (int k = 0; k < 2; k++) {
                snprintf(b->labels[k], sizeof b->labels[k], "decoder=\"%s\"", b->name);
                b->m[k].name = k == 0 ? "lianfang_ingest_decoded_total"
                                      : "lianfang_ingest_decode_errors_total";
                b->m[k].labels = b->labels[k];
                b->m[k].help = k == 0 ? "Records taken by each decoder"
                                      : "Records a decoder claimed but could not decode (kept as "
                                        "generic events with lianfang.decode_error)";
                b->m[k].kind = LF_METRIC_COUNTER;
            }
            b->next = ing->counter_blocks;
            ing->counter_blocks = b;
            if (ing->registry)
                lf_metrics_register(ing->registry, b->m, 2);
        }
        table[id] = b;
    }
    return table;
}

/* Loads the decoder rule files of ingest.decoders_dir (the built-in
 * decoders alone when the default directory is missing). */
static lf_err_t load_decoders(const lf_ingest_config_t *cfg, lf_decoders_t **out, char *errstr,
                              size_t errlen)
{
    const char *dir = cfg->decoders_dir && *cfg->decoders_dir ? cfg->decoders_dir : NULL;
    lf_err_t rc = lf_decoders_load(dir, out, errstr, errlen);
    if (rc == LF_ENOTFOUND && dir && strcmp(dir, "/usr/share/lianfang/decoders") == 0) {
        lf_warn("ingest",
                "%s not found: only the built-in decoders (syslog, CEF, LEEF, JSON, "
                "Windows, auditd) run; set ingest.decoders_dir",
                dir);
        rc = lf_decoders_load(NULL, out, errstr, errlen);
    }
    if (rc != LF_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", errstr);
        snprintf(errstr, errlen, "ingest.decoders_dir: %s", why);
        return rc == LF_ENOTFOUND ? LF_ECONFIG : rc;
    }
    return LF_OK;
}

/* Resolves the sources' forced formats in set into formats[] (one per
 * configured source). */
static lf_err_t resolve_formats(const lf_ingest_config_t *cfg, const lf_decoders_t *set,
                                int *formats, char *errstr, size_t errlen)
{
    for (size_t i = 0; i < cfg->source_count; i++) {
        const lf_ingest_source_t *s = &cfg->sources[i];
        formats[i] = 0;
        if (s->format && *s->format && !(formats[i] = lf_decoders_find(set, s->format))) {
            snprintf(errstr, errlen,
                     "ingest.sources[%zu].format: no decoder named '%s' "
                     "(lianfang-logtest --list shows them)",
                     i, s->format);
            return LF_ECONFIG;
        }
    }
    return LF_OK;
}

lf_err_t lf_ingest_reload_decoders(lf_ingest_t *ing, char *errstr, size_t errlen)
{
    const lf_ingest_config_t *cfg = &ing->cfg;
    lf_decoders_t *set = NULL;
    lf_decode_state_t *state = NULL;
    decoder_counters_t **table = NULL;
    int *formats = calloc(cfg->source_count ? cfg->source_count : 1, sizeof *formats);
    lf_err_t rc = formats ? load_decoders(cfg, &set, errstr, errlen) : LF_ENOMEM;
    if (rc == LF_OK)
        rc = resolve_formats(cfg, set, formats, errstr, errlen);
    if (rc == LF_OK)
        rc = lf_decode_state_new(set, 1u << 20, &state);
    if (rc == LF_OK && !(table = counters_for(ing, set)))
        rc = LF_ENOMEM;
    if (rc != LF_OK) {
        if (state)
            lf_decode_state_free(state);
        lf_decoders_free(set);
        free(formats);
        if (rc == LF_ENOMEM)
            snprintf(errstr, errlen, "out of memory");
        return rc;
    }
    /* Runs on the loop thread, between records: swap. */
    lf_decode_state_free(ing->decode_state);
    lf_decoders_free(ing->decoders);
    free(ing->decoder_metrics);
    ing->decoders = set;
    ing->decode_state = state;
    ing->decoder_metrics = table;
    for (size_t i = 0; i < ing->source_count; i++)
        ing->sources[i].format = formats[i];
    free(formats);
    lf_info("ingest", "decoders reloaded: %d decoders (%d rule files)", lf_decoders_count(set),
            lf_decoders_file_count(set));
    return LF_OK;
}

/* Loads the decoder rule files, resolves per-source settings, registers
 * the per-decoder counters. */
static lf_err_t setup_decoding(lf_ingest_t *ing, lf_metrics_t *reg, char *errstr, size_t errlen)
{
    const lf_ingest_config_t *cfg = &ing->cfg;
    lf_err_t rc = load_decoders(cfg, &ing->decoders, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    const char *dir = cfg->decoders_dir && *cfg->decoders_dir ? cfg->decoders_dir : NULL;
    lf_info("ingest", "%d decoders (%d rule files from %s)", lf_decoders_count(ing->decoders),
            lf_decoders_file_count(ing->decoders), dir ? dir : "-");
    rc = lf_decode_state_new(ing->decoders, 1u << 20, &ing->decode_state);
    if (rc != LF_OK)
        return rc;
    ing->sources = calloc(cfg->source_count ? cfg->source_count : 1, sizeof *ing->sources);
    int *formats = calloc(cfg->source_count ? cfg->source_count : 1, sizeof *formats);
    if (!ing->sources || !formats) {
        free(formats);
        return LF_ENOMEM;
    }
    rc = resolve_formats(cfg, ing->decoders, formats, errstr, errlen);
    for (size_t i = 0; rc == LF_OK && i < cfg->source_count; i++) {
        const lf_ingest_source_t *s = &cfg->sources[i];
        source_ctx_t *sc = &ing->sources[ing->source_count++];
        sc->name = lf_str_c(s->name ? s->name : "");
        sc->tz_min = INT32_MIN;
        sc->format = formats[i];
        if (s->timezone && *s->timezone && lf_ingest_parse_tz(s->timezone, &sc->tz_min) != LF_OK) {
            snprintf(errstr, errlen,
                     "ingest.sources[%zu].timezone '%s': expected +HH:MM, -HH:MM "
                     "or Z",
                     i, s->timezone);
            rc = LF_ECONFIG;
        }
    }
    free(formats);
    if (rc != LF_OK)
        return rc;
    if (cfg->failure_samples > 0) {
        ing->failures = calloc((size_t)cfg->failure_samples, sizeof *ing->failures);
        if (!ing->failures)
            return LF_ENOMEM;
    }
    ing->registry = reg;
    ing->agent_errors = calloc(AGENT_ERROR_SLOTS, sizeof *ing->agent_errors);
    if (!ing->agent_errors)
        return LF_ENOMEM;
    agent_errors_t *other = &ing->agent_errors[0];
    snprintf(other->label, sizeof other->label, "agent=\"_other\"");
    other->metric = (lf_metric_t){.name = "lianfang_ingest_agent_decode_errors_total",
                                  .labels = other->label,
                                  .help = "Records of each agent that no decoder could decode",
                                  .kind = LF_METRIC_COUNTER};
    ing->agent_error_count = 1;
    if (reg)
        lf_metrics_register(reg, &other->metric, 1);
    ing->decoder_metrics = counters_for(ing, ing->decoders);
    return ing->decoder_metrics ? LF_OK : LF_ENOMEM;
}

static void ingest_free(lf_ingest_t *ing)
{
    if (ing->acks_topic)
        rd_kafka_topic_destroy(ing->acks_topic);
    if (ing->producer_queue)
        rd_kafka_queue_destroy(ing->producer_queue);
    if (ing->producer)
        rd_kafka_destroy(ing->producer);
    if (ing->consumer_queue)
        rd_kafka_queue_destroy(ing->consumer_queue);
    if (ing->consumer)
        rd_kafka_destroy(ing->consumer);
    for (size_t i = 0; ing->agents && i < ing->agent_cap; i++)
        free(ing->agents[i].id);
    free(ing->agents);
    free(ing->msgs);
    lf_buf_free(&ing->doc);
    lf_buf_free(&ing->scratch);
    lf_buf_free(&ing->ackbuf);
    lf_decode_state_free(ing->decode_state);
    lf_decoders_free(ing->decoders);
    free(ing->sources);
    free(ing->decoder_metrics);
    free(ing->agent_errors);
    for (decoder_counters_t *b = ing->counter_blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(ing->failures);
    pthread_mutex_destroy(&ing->status_lock);
    free(ing);
}

lf_err_t lf_ingest_start(const lf_ingest_config_t *cfg, const lf_kafka_config_t *kafka,
                         uv_loop_t *loop, lf_store_t *store, lf_metrics_t *metrics,
                         lf_ingest_t **out, char *errstr, size_t errlen)
{
    lf_ingest_t *ing = calloc(1, sizeof *ing);
    if (!ing)
        return LF_ENOMEM;
    pthread_mutex_init(&ing->status_lock, NULL);
    ing->cfg = *cfg; /* strings stay owned by the caller's config */
    ing->loop = loop;
    ing->store = store;
    snprintf(ing->topic_events, sizeof ing->topic_events, "%s", kafka->topic_events);
    snprintf(ing->topic_acks, sizeof ing->topic_acks, "%s", kafka->topic_acks);
    if (lf_ingest_parse_tz(cfg->timezone, &ing->tz_min) != LF_OK) {
        snprintf(errstr, errlen,
                 "ingest.timezone '%s': expected +HH:MM, -HH:MM or Z (Taiwan: "
                 "+08:00)",
                 cfg->timezone);
        ingest_free(ing);
        return LF_ECONFIG;
    }
    lf_buf_init(&ing->doc, (size_t)cfg->max_event_bytes);
    lf_buf_init(&ing->scratch, (size_t)cfg->max_event_bytes);
    lf_buf_init(&ing->ackbuf, 4096);
    size_t cap = 64;
    while (cap < (size_t)cfg->max_tracked_agents * 2)
        cap *= 2;
    ing->agent_cap = cap;
    ing->agents = calloc(cap, sizeof *ing->agents);
    ing->msgs = calloc((size_t)cfg->poll_batch, sizeof *ing->msgs);
    if (!ing->agents || !ing->msgs) {
        ingest_free(ing);
        return LF_ENOMEM;
    }
    register_metrics(ing, metrics);
    ing->status.store_ok = true;
    lf_err_t drc = setup_decoding(ing, metrics, errstr, errlen);
    if (drc != LF_OK) {
        ingest_free(ing);
        return drc;
    }

    /* Consumer of the events topic. */
    rd_kafka_conf_t *conf = lf_kafka_conf_new(kafka, false, errstr, errlen);
    if (!conf) {
        ingest_free(ing);
        return LF_ECONFIG;
    }
    static const char *const consumer_props[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
        {"queued.max.messages.kbytes", "65536"},
        {"client.id", "lianfangd-ingest"},
        /* An idle fetch returns after this long at most (a real broker returns as
         * soon as data arrives; the embedded one only then). */
        {"fetch.wait.max.ms", "20"},
    };
    lf_err_t rc = lf_kafka_conf_set(conf, "group.id", cfg->group_id, errstr, errlen);
    for (size_t i = 0; rc == LF_OK && i < sizeof consumer_props / sizeof *consumer_props; i++)
        rc = lf_kafka_conf_set(conf, consumer_props[i][0], consumer_props[i][1], errstr, errlen);
    /* Operator properties win over our defaults. */
    for (size_t i = 0; rc == LF_OK && i < kafka->property_count; i++)
        rc = lf_kafka_conf_set(conf, kafka->properties[i].key, kafka->properties[i].value, errstr,
                               errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        ingest_free(ing);
        return rc;
    }
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_opaque(conf, ing);
    char why[512];
    ing->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!ing->consumer) {
        snprintf(errstr, errlen, "kafka consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        ingest_free(ing);
        return LF_EKAFKA;
    }
    rd_kafka_poll_set_consumer(ing->consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, ing->topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(ing->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errlen, "kafka subscribe to %s: %s", ing->topic_events,
                 rd_kafka_err2str(err));
        ingest_free(ing);
        return LF_EKAFKA;
    }
    ing->consumer_queue = rd_kafka_queue_get_consumer(ing->consumer);

    /* Producer of stored watermarks. */
    conf = lf_kafka_conf_new(kafka, true, errstr, errlen);
    if (!conf) {
        ingest_free(ing);
        return LF_ECONFIG;
    }
    rc = lf_kafka_conf_set(conf, "client.id", "lianfangd-acks", errstr, errlen);
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "message.timeout.ms", "30000", errstr, errlen);
    /* Acks are tiny and gate the agents' send windows: send them at once. */
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "linger.ms", "1", errstr, errlen);
    for (size_t i = 0; rc == LF_OK && i < kafka->property_count; i++)
        rc = lf_kafka_conf_set(conf, kafka->properties[i].key, kafka->properties[i].value, errstr,
                               errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        ingest_free(ing);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_ack_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_opaque(conf, ing);
    ing->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!ing->producer) {
        snprintf(errstr, errlen, "kafka producer: %s", why);
        rd_kafka_conf_destroy(conf);
        ingest_free(ing);
        return LF_EKAFKA;
    }
    ing->acks_topic = rd_kafka_topic_new(ing->producer, ing->topic_acks, NULL);
    ing->producer_queue = rd_kafka_queue_get_main(ing->producer);

    uv_timer_init(loop, &ing->timer);
    ing->timer.data = ing;
    uv_timer_init(loop, &ing->retry);
    ing->retry.data = ing;
    uv_idle_init(loop, &ing->drain);
    ing->drain.data = ing;
    lf_kafka_queue_watch_start(&ing->producer_watch, loop, ing->producer_queue, on_producer_events,
                               ing);
    lf_kafka_queue_watch_start(&ing->consumer_watch, loop, ing->consumer_queue,
                               on_consumer_readable, ing);
    uv_timer_start(&ing->timer, on_timer, 0, (uint64_t)cfg->ack_republish);
    lf_info("ingest", "consuming %s as group %s from %s", ing->topic_events, cfg->group_id,
            kafka->brokers);
    *out = ing;
    return LF_OK;
}

void lf_ingest_set_batch_hook(lf_ingest_t *ing, lf_ingest_batch_hook_t hook, void *opaque)
{
    ing->batch_hook = hook;
    ing->batch_hook_opaque = opaque;
}

void lf_ingest_set_agents(lf_ingest_t *ing, lf_agents_t *agents)
{
    ing->enrol = agents;
}

void lf_ingest_set_event_hook(lf_ingest_t *ing, lf_ingest_event_hook_t hook, void *opaque)
{
    ing->event_hook = hook;
    ing->event_hook_opaque = opaque;
}

void lf_ingest_status(lf_ingest_t *ing, lf_ingest_status_t *out)
{
    pthread_mutex_lock(&ing->status_lock);
    *out = ing->status;
    pthread_mutex_unlock(&ing->status_lock);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void lf_ingest_stop(lf_ingest_t *ing)
{
    if (!ing)
        return;
    ing->stopping = true;
    uv_timer_stop(&ing->timer);
    uv_timer_stop(&ing->retry);
    uv_idle_stop(&ing->drain);
    uv_close((uv_handle_t *)&ing->timer, on_handle_closed);
    uv_close((uv_handle_t *)&ing->retry, on_handle_closed);
    uv_close((uv_handle_t *)&ing->drain, on_handle_closed);
    lf_kafka_queue_watch_stop(&ing->consumer_watch);
    lf_kafka_queue_watch_stop(&ing->producer_watch);
    /* Wait for an in-flight metadata request before freeing what it uses. */
    while (ing->metadata_in_flight)
        uv_run(ing->loop, UV_RUN_ONCE);
    uv_run(ing->loop, UV_RUN_NOWAIT);
    release_held(ing);
    rd_kafka_consumer_close(ing->consumer);
    rd_kafka_flush(ing->producer, 3000);
    ingest_free(ing);
}
