/* agent.c - the agent's runtime: one libuv loop tails the sources, serves
 * the syslog listeners and reads their spools, journals and produces
 * batches, applies acknowledgements and re-sends.
 * Everything here runs on the loop thread unless a comment says otherwise.
 */
#include "agent_batch.h"
#include "agent_heartbeat.h"
#include "agent_journald.h"
#include "agent_reader.h"
#include "agent_spool.h"
#include "agent_state.h"
#include "agent_syslog.h"
#include "agent_yara.h"
#include "lf_agent.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMP                "agent"
#define ACK_BACKOFF_MAX_MS  (5 * 60 * 1000)
#define SHUTDOWN_FLUSH_MS   10000
#define METADATA_TIMEOUT_MS 2000
#define METADATA_RETRY_MS   2000
#define SENDS_PER_ROUND     256
#define WIRE_SLACK          (64u * 1024u)

_Static_assert((int)LF_AGENT_SPOOL_SYNC_OFF == (int)LF_AGENT_SPOOL_SYNC_CFG_OFF &&
                   (int)LF_AGENT_SPOOL_SYNC_BATCH == (int)LF_AGENT_SPOOL_SYNC_CFG_BATCH &&
                   (int)LF_AGENT_SPOOL_SYNC_INTERVAL == (int)LF_AGENT_SPOOL_SYNC_CFG_INTERVAL,
               "spool sync policies of the configuration and the spool agree");

/* Delivery reports carry the batch's first sequence number as the message
 * opaque pointer. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "the agent needs 64-bit pointers");

typedef struct agent_origin { /* interned (source name, configured path) */
    struct agent_origin *next;
    char *name;
    char *path;
} agent_origin_t;

struct agent_listener;

typedef struct agent_file { /* an open file, shared by its journal entries and reader */
    struct agent_file *next;
    uint64_t dev, ino;
    int fd;
    int refs;
    char *path;                   /* the name it was opened by */
    struct agent_listener *owner; /* spool segments: the listener whose spool holds it */
    lf_agent_spool_seg_t *seg;    /* released (deleted when sealed) with the last ref */
} agent_file_t;

typedef struct agent_entry { /* one unacknowledged journal batch */
    lf_agent_jbatch_t jb;    /* source/path point into origin */
    agent_file_t *file;      /* NULL when lost */
    bool inflight;           /* handed to librdkafka, no delivery report yet */
    bool need_send;          /* waits for a (re-)send */
    uint32_t truncated;      /* records cut at max_record_bytes (counted when committed) */
    char *wire;              /* staged in an open group: the batch, produced at its commit */
    size_t wire_len;
} agent_entry_t;

typedef struct agent_source {
    lf_agent_t *agent;
    size_t index;
    const lf_agent_source_config_t *cfg;
    const agent_origin_t *origin;
    agent_file_t *file; /* being read; may be a rotated file being drained */
    lf_agent_reader_t reader;
    lf_agent_encoding_t enc; /* when the source's encoding is not UTF-8 */
    bool has_enc;
    lf_agent_multiline_t ml; /* when multiline_start is set */
    bool has_ml;
    lf_agent_recfmt_t fmt; /* points at enc / ml */
    uint64_t size_seen;
    int64_t last_growth_ms;
    bool rotated; /* the path names another file (or none): drain, then switch */
    bool linger;  /* a file event came: read when the linger timer fires */
    bool at_eof;  /* the last read found nothing pending */
    bool waiting_logged;
    bool read_error_logged;
    char *dir;
    uv_fs_event_t ev_file, ev_dir;
    lf_agent_source_config_t own; /* a glob match's configuration (cfg points here) */
    struct agent_source *next_retired;
} agent_source_t;

/* A syslog listener and its spool, read like a file. */
typedef struct agent_listener {
    lf_agent_t *agent;
    size_t index;
    const lf_agent_listener_config_t *cfg;
    const agent_origin_t *origin; /* (name, "tcp://host:port") */
    lf_agent_syslog_t *net;
    lf_agent_spool_t *spool;
    char key[128];             /* checkpoint key in the files database: "spool:<name>" */
    agent_file_t *file;        /* segment being read */
    lf_agent_spool_seg_t *seg; /* its segment */
    lf_agent_spool_reader_t reader;
    bool read_error_logged;
    bool flush_error_logged;
    uint64_t skipped_logged; /* segment number whose torn end was logged */
    uv_work_t sync_work;     /* the spool's fdatasync, in the thread pool */
    bool sync_busy;
    int sync_fd, sync_err;
    uint64_t sync_seg, sync_upto;
} agent_listener_t;

/* A journald source: the journal, read like a file; its checkpoint is the
 * cursor of the last entry journalled. */
typedef struct agent_journald {
    lf_agent_t *agent;
    size_t index;
    const lf_agent_journald_config_t *cfg;
    const agent_origin_t *origin; /* (name, directory or "journald") */
    lf_agent_journald_t *jd;
    char key[128];                            /* checkpoint key: "journald:<name>" */
    char checkpoint[LF_AGENT_CURSOR_MAX + 1]; /* "" = the beginning */
    uv_poll_t poll;
    bool read_error_logged;
} agent_journald_t;

typedef struct retired_watch {
    struct retired_watch *next;
    lf_kafka_queue_watch_t *w;
} retired_watch_t;

struct lf_agent {
    const lf_agent_config_t *cfg;
    uv_loop_t loop;
    lf_agent_state_t *st;
    lf_agent_state_meta_t meta;
    lf_agent_counters_t ctr;
    _Atomic uint64_t acked_shared;
    lf_agent_batch_ids_t ids;
    agent_origin_t *origins;
    agent_file_t *files;
    agent_source_t **sources; /* files tailed: configured paths and glob matches */
    size_t nsources;
    const lf_agent_source_config_t **patterns; /* sources whose path is a glob pattern */
    size_t npatterns;
    int64_t last_glob_ms;
    bool glob_limit_logged;
    agent_source_t *retired_sources; /* glob matches whose file is gone: closed at the end */
    agent_listener_t *listeners;
    size_t nlisteners; /* configured listeners, then the YARA results spool (if any) */
    lf_agent_yara_t *yara;
    lf_agent_listener_config_t yara_spool_cfg;
    agent_journald_t *journald;
    size_t njournald;
    lf_agent_spool_budget_t spool_budget;
    bool spool_paused;
    uv_check_t spool_check;
    uv_timer_t spool_timer;
    agent_entry_t *ents; /* journal index, [head, tail) in sequence order */
    size_t head, tail, cap;
    uint64_t unacked_bytes;
    size_t need_send_count;
    size_t group_count; /* entries staged in the open journal group: the last ones */
    lf_buf_t wire;
    bool backpressure_logged;
    bool state_error_logged;

    rd_kafka_t *producer;
    rd_kafka_queue_t *producer_q;
    lf_kafka_queue_watch_t *producer_watch;
    bool fatal;
    retired_watch_t *retired;

    rd_kafka_t *consumer;
    rd_kafka_queue_t *consumer_q;
    lf_kafka_queue_watch_t *consumer_watch;
    bool ack_assigned;
    bool ack_paused;  /* fetching paused: nothing waits for an acknowledgement */
    int32_t ack_part; /* the assigned partition of the acks topic */
    bool meta_busy;
    bool meta_waiting_logged;
    uv_work_t meta_work;
    int meta_partitions;
    char meta_err[256];

    uv_timer_t poll_timer, status_timer, meta_timer;
    lf_agent_hb_t *hb;       /* heartbeats to lianfangd (agent_heartbeat.h) */
    uv_timer_t hb_timer;     /* every agent.heartbeat_interval */
    uv_timer_t linger_timer; /* limits.read_linger after a file event */
    lf_buf_t hb_wire;
    uv_signal_t sig_term, sig_int;
    bool signals;
    uv_async_t stop_async;
    bool running, stopping;
    int64_t ack_timeout_cur;
    int64_t last_progress_ms; /* monotonic */
};

/* ---- small helpers ------------------------------------------------------ */

static bool has_property(const lf_kafka_config_t *k, const char *key)
{
    for (size_t i = 0; i < k->property_count; i++)
        if (!strcmp(k->properties[i].key, key))
            return true;
    return false;
}

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* librdkafka threads: lf_log is thread-safe. */
    lf_log_level_t lv = level <= 3   ? LF_LOG_ERROR
                        : level == 4 ? LF_LOG_WARN
                        : level <= 6 ? LF_LOG_INFO
                                     : LF_LOG_DEBUG;
    if (lf_log_enabled(lv))
        lf_log(lv, "kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static const agent_origin_t *origin_intern(lf_agent_t *a, lf_str_t name, lf_str_t path)
{
    for (agent_origin_t *o = a->origins; o; o = o->next)
        if (lf_str_eq_c(name, o->name) && lf_str_eq_c(path, o->path))
            return o;
    agent_origin_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->name = strndup(name.ptr ? name.ptr : "", name.len);
    o->path = strndup(path.ptr ? path.ptr : "", path.len);
    if (!o->name || !o->path) {
        free(o->name);
        free(o->path);
        free(o);
        return NULL;
    }
    o->next = a->origins;
    a->origins = o;
    return o;
}

static agent_file_t *file_find(lf_agent_t *a, uint64_t dev, uint64_t ino)
{
    for (agent_file_t *f = a->files; f; f = f->next)
        if (f->dev == dev && f->ino == ino)
            return f;
    return NULL;
}

/* Takes ownership of fd. */
static agent_file_t *file_adopt(lf_agent_t *a, int fd, const char *path)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return NULL;
    }
    agent_file_t *f = file_find(a, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
    if (f) {
        close(fd);
        return f;
    }
    f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return NULL;
    }
    f->dev = (uint64_t)sb.st_dev;
    f->ino = (uint64_t)sb.st_ino;
    f->fd = fd;
    f->next = a->files;
    a->files = f;
    return f;
}

/* The open file with this identity: already open, at path, or renamed in
 * path's directory. NULL when gone. */
static agent_file_t *file_get(lf_agent_t *a, uint64_t dev, uint64_t ino, const char *path)
{
    agent_file_t *f = file_find(a, dev, ino);
    if (f)
        return f;
    char *found = NULL;
    int fd = lf_agent_file_open_by_id(path, dev, ino, &found);
    if (fd < 0)
        return NULL;
    if (found && strcmp(found, path) != 0)
        lf_info(COMP, "%s (inode %" PRIu64 ") found as %s", path, ino, found);
    f = file_adopt(a, fd, found ? found : path);
    free(found);
    return f;
}

static void file_unref(lf_agent_t *a, agent_file_t *f)
{
    if (!f || --f->refs > 0)
        return;
    for (agent_file_t **pp = &a->files; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    close(f->fd);
    if (f->seg)
        lf_agent_spool_release(f->owner->spool, f->seg);
    free(f->path);
    free(f);
}

static size_t journal_len(const lf_agent_t *a)
{
    return a->tail - a->head;
}

static agent_entry_t *journal_push(lf_agent_t *a)
{
    if (a->tail == a->cap) {
        if (a->head > 0) {
            memmove(a->ents, a->ents + a->head, journal_len(a) * sizeof *a->ents);
            a->tail -= a->head;
            a->head = 0;
        }
        if (a->tail == a->cap) {
            size_t ncap = a->cap ? a->cap * 2 : 64;
            agent_entry_t *n = realloc(a->ents, ncap * sizeof *n);
            if (!n)
                return NULL;
            a->ents = n;
            a->cap = ncap;
        }
    }
    agent_entry_t *e = &a->ents[a->tail++];
    memset(e, 0, sizeof *e);
    return e;
}

static agent_entry_t *journal_find(lf_agent_t *a, uint64_t first_seq)
{
    size_t lo = a->head, hi = a->tail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t s = a->ents[mid].jb.first_seq;
        if (s == first_seq)
            return &a->ents[mid];
        if (s < first_seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void set_need_send(lf_agent_t *a, agent_entry_t *e, bool v)
{
    if (e->need_send == v)
        return;
    e->need_send = v;
    if (v)
        a->need_send_count++;
    else
        a->need_send_count--;
}

static bool backpressured(lf_agent_t *a)
{
    const lf_agent_limits_config_t *l = &a->cfg->limits;
    bool on = a->unacked_bytes > (uint64_t)l->max_unacked_bytes ||
              journal_len(a) >= (size_t)l->max_unacked_batches;
    if (on != a->backpressure_logged) {
        a->backpressure_logged = on;
        if (on)
            lf_warn(COMP,
                    "backpressure: %zu batches (%" PRIu64 " bytes) wait for acknowledgement; "
                    "reading paused",
                    journal_len(a), a->unacked_bytes);
        else
            lf_info(COMP, "backpressure released: reading resumes");
    }
    return on;
}

/* ---- producing ---------------------------------------------------------- */

/* Produces e's batch. With RD_KAFKA_MSG_F_FREE the (malloc'ed) data is
 * handed to librdkafka, or freed here when the produce fails: a failed
 * batch is rebuilt from its file for the re-send. */
static void produce_wire(lf_agent_t *a, agent_entry_t *e, char *data, size_t len, int msgflags)
{
    const lf_agent_config_t *cfg = a->cfg;
    rd_kafka_resp_err_t err =
        rd_kafka_producev(a->producer, RD_KAFKA_V_TOPIC(cfg->kafka.topic_events),
                          RD_KAFKA_V_KEY(cfg->agent.agency, strlen(cfg->agent.agency)),
                          RD_KAFKA_V_VALUE(data, len), RD_KAFKA_V_MSGFLAGS(msgflags),
                          RD_KAFKA_V_OPAQUE((void *)(uintptr_t)e->jb.first_seq), RD_KAFKA_V_END);
    if (err) {
        if (msgflags & RD_KAFKA_MSG_F_FREE)
            free(data);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            lf_warn(COMP, "produce seq %" PRIu64 "-%" PRIu64 ": %s (will retry)", e->jb.first_seq,
                    lf_agent_jbatch_last(&e->jb), rd_kafka_err2str(err));
        set_need_send(a, e, true);
        return;
    }
    e->inflight = true;
    set_need_send(a, e, false);
}

/* Produces a heartbeat (LFH1): who the agent is, its counters and its
 * enrolment proof, on the events topic keyed by agency, so it reaches
 * lianfangd in order with the batches produced after it. Not journalled:
 * a lost heartbeat is replaced by the next. Its delivery report carries
 * opaque 0, which names no journal batch. */
static void heartbeat_send(lf_agent_t *a)
{
    if (!a->hb || !a->producer)
        return;
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(a->st, &m);
    const uint64_t *values = (const uint64_t *)&a->ctr;
    lf_wire_counter_t ctr[LF_AGENT_COUNTER_COUNT + 16];
    size_t n = 0;
    for (size_t i = 0; i < LF_AGENT_COUNTER_COUNT; i++)
        ctr[n++] = (lf_wire_counter_t){lf_str_c(lf_agent_counter_names[i]), values[i]};
    const struct {
        const char *name;
        uint64_t value;
    } gauges[] = {
        {"records_sent", m.next_seq > m.epoch_seq ? m.next_seq - m.epoch_seq : 0},
        {"records_acked", m.acked + 1 > m.epoch_seq ? m.acked + 1 - m.epoch_seq : 0},
        {"records_unacked", m.next_seq > m.acked + 1 ? m.next_seq - 1 - m.acked : 0},
        {"unacked_batches", journal_len(a)},
        {"unacked_bytes", a->unacked_bytes},
        {"max_unacked_bytes", (uint64_t)a->cfg->limits.max_unacked_bytes},
        {"spool_bytes", a->spool_budget.used},
        {"spool_max_bytes", a->nlisteners ? a->spool_budget.max : 0},
        {"sources", a->nsources},
        {"listeners", a->nlisteners},
    };
    for (size_t i = 0; i < sizeof gauges / sizeof *gauges; i++)
        ctr[n++] = (lf_wire_counter_t){lf_str_c(gauges[i].name), gauges[i].value};
    lf_err_t rc = lf_agent_hb_encode(a->hb, ctr, n, &a->hb_wire);
    if (rc != LF_OK) {
        lf_warn(COMP, "heartbeat not built: %s", lf_strerror(rc));
        return;
    }
    const char *agency = a->cfg->agent.agency;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        a->producer, RD_KAFKA_V_TOPIC(a->cfg->kafka.topic_events),
        RD_KAFKA_V_KEY(agency, strlen(agency)), RD_KAFKA_V_VALUE(a->hb_wire.data, a->hb_wire.len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
    if (err)
        lf_debug(COMP, "heartbeat not queued: %s (the next one follows)", rd_kafka_err2str(err));
}

static void on_hb_timer(uv_timer_t *t)
{
    heartbeat_send(t->data);
}

static void entry_lose(lf_agent_t *a, agent_entry_t *e, const char *why)
{
    lf_error(COMP,
             "%s: %s; records seq %" PRIu64 "-%" PRIu64 " (bytes %" PRIu64 "-%" PRIu64
             ") are lost and will be sent as loss placeholders",
             e->file ? e->file->path : e->jb.path.ptr, why, e->jb.first_seq,
             lf_agent_jbatch_last(&e->jb), e->jb.off_start, e->jb.off_end);
    e->jb.flags |= LF_AGENT_JBATCH_LOST;
    a->ctr.records_lost += e->jb.count;
    lf_err_t rc = lf_agent_state_mark_lost(a->st, e->jb.first_seq);
    if (rc == LF_OK)
        rc = lf_agent_state_put_counters(a->st, &a->ctr);
    if (rc != LF_OK)
        lf_error(COMP, "state: mark seq %" PRIu64 " lost: %s", e->jb.first_seq, lf_strerror(rc));
    file_unref(a, e->file);
    e->file = NULL;
}

/* How the file source a journal batch came from shapes its records (joins,
 * converts), so a re-send carries the records of the first send; NULL for
 * plain sources. */
static const lf_agent_recfmt_t *source_format(lf_agent_t *a, const lf_agent_jbatch_t *jb)
{
    if (jb->source_index >= a->nsources || !a->sources[jb->source_index])
        return NULL;
    agent_source_t *s = a->sources[jb->source_index];
    return lf_str_eq_c(jb->source, s->cfg->name) ? &s->fmt : NULL;
}

static lf_err_t journald_rebuild(lf_agent_t *a, agent_entry_t *e);

/* Rebuilds e's batch from its file (or as loss placeholders) and produces it. */
static void entry_resend(lf_agent_t *a, agent_entry_t *e)
{
    lf_err_t rc = LF_OK;
    if (!(e->jb.flags & LF_AGENT_JBATCH_LOST)) {
        rc = (e->jb.flags & LF_AGENT_JBATCH_JOURNALD) ? journald_rebuild(a, e)
             : (e->jb.flags & LF_AGENT_JBATCH_SPOOL)
                 ? lf_agent_spool_rebuild(e->file->fd, &a->ids, &e->jb, &a->wire)
                 : lf_agent_batch_rebuild(e->file->fd, &a->ids, &e->jb, source_format(a, &e->jb),
                                          &a->wire);
        if (rc == LF_EPARSE)
            entry_lose(a, e, "file was truncated or rewritten");
        else if (rc != LF_OK) {
            lf_error(COMP, "%s: re-read seq %" PRIu64 ": %s (will retry)",
                     e->file ? e->file->path : e->jb.path.ptr, e->jb.first_seq, lf_strerror(rc));
            set_need_send(a, e, true);
            return;
        }
    }
    if (e->jb.flags & LF_AGENT_JBATCH_LOST)
        rc = lf_agent_batch_lost(&a->ids, &e->jb, &a->wire);
    if (rc != LF_OK) {
        lf_error(COMP, "rebuild seq %" PRIu64 ": %s", e->jb.first_seq, lf_strerror(rc));
        set_need_send(a, e, true);
        return;
    }
    a->ctr.resends++;
    produce_wire(a, e, a->wire.data, a->wire.len, RD_KAFKA_MSG_F_COPY);
}

/* Sends what waits, a bounded number per call so the loop stays responsive. */
static void service_sends(lf_agent_t *a)
{
    if (a->need_send_count == 0 || !a->producer || a->stopping)
        return;
    int budget = SENDS_PER_ROUND;
    for (size_t i = a->head; i < a->tail && budget > 0 && a->need_send_count; i++) {
        agent_entry_t *e = &a->ents[i];
        if (!e->need_send || e->inflight)
            continue;
        entry_resend(a, e);
        budget--;
        if (e->need_send)
            break; /* producer queue full: continue on the next round */
    }
}

static void resend_all(lf_agent_t *a)
{
    for (size_t i = a->head; i < a->tail; i++)
        if (!a->ents[i].inflight)
            set_need_send(a, &a->ents[i], true);
    service_sends(a);
}

/* Served from rd_kafka_poll() on the loop thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    lf_agent_t *a = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    agent_entry_t *e = journal_find(a, seq);
    if (!e)
        return; /* acknowledged meanwhile */
    e->inflight = false;
    if (m->err) {
        lf_warn(COMP, "delivery of seq %" PRIu64 "-%" PRIu64 " failed: %s; re-sending", seq,
                lf_agent_jbatch_last(&e->jb), rd_kafka_err2str(m->err));
        set_need_send(a, e, true);
    }
}

/* Served from rd_kafka_poll() on the loop thread. */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    lf_agent_t *a = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, why, sizeof why);
        lf_error(COMP, "kafka fatal error: %s: %s; recreating the producer",
                 rd_kafka_err2name(ferr), why);
        if (rk == a->producer)
            a->fatal = true;
        return;
    }
    /* Transport problems are already reported by the log callback. */
    lf_debug("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
}

static void on_producer_queue(void *opaque)
{
    lf_agent_t *a = opaque;
    while (a->producer && rd_kafka_poll(a->producer, 0) > 0) {
    }
    service_sends(a);
}

static lf_err_t producer_create(lf_agent_t *a, char *errstr, size_t errlen)
{
    const lf_agent_config_t *cfg = a->cfg;
    rd_kafka_conf_t *conf = lf_kafka_conf_new(&cfg->kafka, true, errstr, errlen);
    if (!conf)
        return LF_ECONFIG;
    lf_err_t rc = lf_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errlen);
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "acks", "all", errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "message.timeout.ms"))
        rc = lf_kafka_conf_set(conf, "message.timeout.ms", "60000", errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "message.max.bytes")) {
        char v[32];
        int64_t need = cfg->limits.batch_max_bytes + cfg->limits.max_record_bytes + WIRE_SLACK;
        snprintf(v, sizeof v, "%lld", (long long)(need > 1000000 ? need : 1000000));
        rc = lf_kafka_conf_set(conf, "message.max.bytes", v, errstr, errlen);
    }
    if (rc == LF_OK && !has_property(&cfg->kafka, "client.id"))
        rc = lf_kafka_conf_set(conf, "client.id", "lianfang-agent", errstr, errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, a);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    a->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!a->producer) {
        rd_kafka_conf_destroy(conf);
        return LF_EKAFKA;
    }
    a->producer_q = rd_kafka_queue_get_main(a->producer);
    return LF_OK;
}

static void watch_retire(lf_agent_t *a, lf_kafka_queue_watch_t **w)
{
    if (!*w)
        return;
    lf_kafka_queue_watch_stop(*w);
    retired_watch_t *r = malloc(sizeof *r);
    if (r) { /* the poll handle closes asynchronously: free after the loop */
        r->w = *w;
        r->next = a->retired;
        a->retired = r;
    }
    *w = NULL;
}

static lf_err_t watch_start(lf_agent_t *a, lf_kafka_queue_watch_t **w, rd_kafka_queue_t *q,
                            lf_kafka_queue_cb cb)
{
    *w = calloc(1, sizeof **w);
    if (!*w)
        return LF_ENOMEM;
    lf_err_t rc = lf_kafka_queue_watch_start(*w, &a->loop, q, cb, a);
    if (rc != LF_OK) {
        free(*w);
        *w = NULL;
    }
    return rc;
}

static void producer_destroy(lf_agent_t *a)
{
    if (!a->producer)
        return;
    watch_retire(a, &a->producer_watch);
    rd_kafka_queue_destroy(a->producer_q);
    a->producer_q = NULL;
    rd_kafka_purge(a->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(a->producer);
    a->producer = NULL;
}

static void producer_recreate(lf_agent_t *a)
{
    char err[512];
    a->fatal = false;
    producer_destroy(a);
    for (size_t i = a->head; i < a->tail; i++)
        a->ents[i].inflight = false;
    if (producer_create(a, err, sizeof err) != LF_OK ||
        watch_start(a, &a->producer_watch, a->producer_q, on_producer_queue) != LF_OK) {
        lf_error(COMP, "recreate producer: %s; retrying", err);
        a->fatal = true;
        return;
    }
    resend_all(a);
}

/* ---- acknowledgements --------------------------------------------------- */

static void source_service(agent_source_t *s, int64_t now);
static char *newer_generation(agent_source_t *s, const agent_file_t *f, const struct stat *pb,
                              struct stat *sb);
static bool truncated_copy_follow(agent_source_t *s, agent_file_t *f, uint64_t size, int64_t now);
static void listener_read(agent_listener_t *l);
static void journald_read(agent_journald_t *s);
static void spool_resume_check(lf_agent_t *a);

static void pump(lf_agent_t *a)
{
    int64_t now = lf_time_mono_ms();
    for (size_t i = 0; i < a->nsources && !a->stopping; i++)
        if (a->sources[i])
            source_service(a->sources[i], now);
    for (size_t i = 0; i < a->nlisteners && !a->stopping; i++)
        listener_read(&a->listeners[i]);
    for (size_t i = 0; i < a->njournald && !a->stopping; i++)
        journald_read(&a->journald[i]);
}

/* The ack consumer fetches only while batches wait for an
 * acknowledgement: an idle agent sends no fetch requests (they were most
 * of its idle CPU). Resumed fetching continues where it paused, so no
 * acknowledgement published meanwhile is missed. */
static void ack_fetch_update(lf_agent_t *a)
{
    if (!a->consumer || !a->ack_assigned)
        return;
    bool pause = journal_len(a) == 0;
    if (pause == a->ack_paused)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(l, a->cfg->kafka.topic_acks, a->ack_part);
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(a->consumer, l)
                                    : rd_kafka_resume_partitions(a->consumer, l);
    if (!err && !tp->err)
        a->ack_paused = pause;
    else
        lf_warn(COMP, "%s fetching acknowledgements: %s", pause ? "pause" : "resume",
                rd_kafka_err2str(err ? err : tp->err));
    rd_kafka_topic_partition_list_destroy(l);
}

static void apply_ack(lf_agent_t *a, uint64_t w)
{
    if (w >= a->meta.next_seq) {
        lf_error(COMP,
                 "acknowledgement %" PRIu64 " is at or past the next sequence number %" PRIu64
                 " (was another agent's state used with id '%s'?): ignored",
                 w, a->meta.next_seq, a->cfg->agent.id);
        return;
    }
    if (w <= a->meta.acked)
        return;
    size_t deleted = 0;
    lf_err_t rc = lf_agent_state_ack(a->st, w, &deleted);
    if (rc != LF_OK) {
        lf_error(COMP, "state: apply acknowledgement %" PRIu64 ": %s", w, lf_strerror(rc));
        return;
    }
    bool was_blocked = a->backpressure_logged;
    while (a->head < a->tail && lf_agent_jbatch_last(&a->ents[a->head].jb) <= w) {
        agent_entry_t *e = &a->ents[a->head];
        a->unacked_bytes -= e->jb.bytes;
        set_need_send(a, e, false);
        file_unref(a, e->file);
        a->head++;
    }
    if (a->head == a->tail)
        a->head = a->tail = 0;
    lf_agent_state_get_meta(a->st, &a->meta);
    a->ctr.acked_watermark = w;
    atomic_store(&a->acked_shared, w);
    a->ack_timeout_cur = a->cfg->limits.ack_timeout_ms;
    a->last_progress_ms = lf_time_mono_ms();
    lf_debug(COMP, "acknowledged up to %" PRIu64 ": %zu batches released", w, deleted);
    if (was_blocked && !backpressured(a))
        pump(a);
    spool_resume_check(a);
    ack_fetch_update(a);
}

static void on_consumer_queue(void *opaque)
{
    lf_agent_t *a = opaque;
    rd_kafka_message_t *m;
    /* Watermarks only grow: of all waiting, the highest is applied, in one
     * state transaction. */
    uint64_t best = 0;
    bool have = false;
    while (a->consumer && (m = rd_kafka_consumer_poll(a->consumer, 0)) != NULL) {
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                lf_warn(COMP, "acks consumer: %s", rd_kafka_message_errstr(m));
        } else {
            lf_wire_ack_t ack;
            if (lf_wire_ack_parse(m->payload, m->len, &ack) != LF_OK)
                lf_warn(COMP, "acks: malformed message at offset %" PRId64 " ignored", m->offset);
            else if (lf_str_eq_c(ack.agent_id, a->cfg->agent.id)) {
                a->ctr.acks_received++;
                if (ack.watermark >= a->meta.next_seq)
                    apply_ack(a, ack.watermark); /* refused there, with the reason */
                else if (!have || ack.watermark > best)
                    best = ack.watermark;
                have = true;
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (have)
        apply_ack(a, best);
}

static void on_meta_timer(uv_timer_t *t);

/* Thread pool: rd_kafka_metadata() blocks, so it never runs on the loop. */
static void meta_work_run(uv_work_t *req)
{
    lf_agent_t *a = req->data;
    a->meta_partitions = 0;
    a->meta_err[0] = '\0';
    rd_kafka_topic_t *t = rd_kafka_topic_new(a->consumer, a->cfg->kafka.topic_acks, NULL);
    if (!t) {
        snprintf(a->meta_err, sizeof a->meta_err, "cannot create topic handle");
        return;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(a->consumer, 0, t, &md, METADATA_TIMEOUT_MS);
    if (err)
        snprintf(a->meta_err, sizeof a->meta_err, "%s", rd_kafka_err2str(err));
    else if (md->topic_cnt < 1 || md->topics[0].err)
        snprintf(a->meta_err, sizeof a->meta_err, "%s",
                 md->topic_cnt < 1 ? "no such topic" : rd_kafka_err2str(md->topics[0].err));
    else
        a->meta_partitions = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
}

static void meta_work_done(uv_work_t *req, int status)
{
    lf_agent_t *a = req->data;
    a->meta_busy = false;
    if (a->stopping)
        return;
    if (a->meta_partitions <= 0) {
        if (!a->meta_waiting_logged)
            lf_warn(COMP, "acks topic '%s' not available yet (%s); retrying",
                    a->cfg->kafka.topic_acks, a->meta_err[0] ? a->meta_err : "no partitions");
        a->meta_waiting_logged = true;
        uv_timer_start(&a->meta_timer, on_meta_timer, METADATA_RETRY_MS, 0);
        return;
    }
    int32_t part = lf_wire_ack_partition(lf_str_c(a->cfg->agent.id), a->meta_partitions);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, a->cfg->kafka.topic_acks, part)->offset =
        RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = rd_kafka_assign(a->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        lf_error(COMP, "assign %s[%d]: %s; retrying", a->cfg->kafka.topic_acks, part,
                 rd_kafka_err2str(err));
        uv_timer_start(&a->meta_timer, on_meta_timer, METADATA_RETRY_MS, 0);
        return;
    }
    a->ack_assigned = true;
    a->ack_part = part;
    a->ack_paused = false;
    lf_info(COMP, "listening for acknowledgements on %s partition %d of %d",
            a->cfg->kafka.topic_acks, part, a->meta_partitions);
    ack_fetch_update(a);
}

static void on_meta_timer(uv_timer_t *t)
{
    lf_agent_t *a = t->data;
    if (a->meta_busy || a->ack_assigned || a->stopping)
        return;
    a->meta_busy = true;
    a->meta_work.data = a;
    if (uv_queue_work(&a->loop, &a->meta_work, meta_work_run, meta_work_done) != 0) {
        a->meta_busy = false;
        uv_timer_start(&a->meta_timer, on_meta_timer, METADATA_RETRY_MS, 0);
    }
}

static lf_err_t consumer_create(lf_agent_t *a, char *errstr, size_t errlen)
{
    const lf_agent_config_t *cfg = a->cfg;
    rd_kafka_conf_t *conf = lf_kafka_conf_new(&cfg->kafka, false, errstr, errlen);
    if (!conf)
        return LF_ECONFIG;
    char group[1100];
    snprintf(group, sizeof group, "lianfang-agent.%s", cfg->agent.id);
    lf_err_t rc = LF_OK;
    if (!has_property(&cfg->kafka, "group.id"))
        rc = lf_kafka_conf_set(conf, "group.id", group, errstr, errlen);
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errlen);
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, errlen);
    /* An idle fetch waits at most this long for an acknowledgement; a real
     * broker answers as soon as one arrives, the embedded one only then. */
    if (rc == LF_OK && !has_property(&cfg->kafka, "fetch.wait.max.ms"))
        rc = lf_kafka_conf_set(conf, "fetch.wait.max.ms", "20", errstr, errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, a);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    a->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!a->consumer) {
        rd_kafka_conf_destroy(conf);
        return LF_EKAFKA;
    }
    rd_kafka_poll_set_consumer(a->consumer);
    a->consumer_q = rd_kafka_queue_get_consumer(a->consumer);
    return LF_OK;
}

/* ---- sources ------------------------------------------------------------ */

static void source_attach(agent_source_t *s, agent_file_t *f, uint64_t offset, int64_t now)
{
    lf_agent_t *a = s->agent;
    f->refs++;
    s->file = f;
    struct stat sb;
    uint64_t size = fstat(f->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    if (offset > size) {
        lf_warn(COMP,
                "%s: shorter (%" PRIu64 " bytes) than its checkpoint %" PRIu64
                ": truncated while stopped, reading from the beginning",
                f->path, size, offset);
        offset = 0;
    }
    lf_agent_reader_reset(&s->reader, f->fd, offset);
    s->size_seen = size;
    s->last_growth_ms = now;
    s->at_eof = false;
    s->read_error_logged = false;
    lf_agent_filepos_t pos = {f->dev, f->ino, offset};
    lf_err_t rc = lf_agent_state_put_file(a->st, s->cfg->path, &pos);
    if (rc != LF_OK)
        lf_error(COMP, "state: checkpoint %s: %s", s->cfg->path, lf_strerror(rc));
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);

static void source_watch_file(agent_source_t *s)
{
    uv_fs_event_stop(&s->ev_file);
    uv_fs_event_start(&s->ev_file, on_fs_event, s->cfg->path, 0);
}

/* Opens the file now at the configured path. */
static bool source_open_path(agent_source_t *s, bool at_end, int64_t now)
{
    lf_agent_t *a = s->agent;
    int fd = open(s->cfg->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat sb;
    if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0) {
        if (!s->waiting_logged)
            lf_warn(COMP, "source %s: %s: %s; waiting for it", s->cfg->name, s->cfg->path,
                    errno == EINVAL ? "not a regular file" : strerror(errno));
        s->waiting_logged = true;
        return false;
    }
    s->waiting_logged = false;
    agent_file_t *f = file_adopt(a, fd, s->cfg->path);
    if (!f)
        return false;
    s->rotated = false;
    source_attach(s, f, at_end ? (uint64_t)sb.st_size : 0, now);
    if (a->running)
        source_watch_file(s);
    lf_info(COMP, "source %s: reading %s (inode %" PRIu64 ") from offset %" PRIu64, s->cfg->name,
            s->cfg->path, f->ino, lf_agent_reader_pos(&s->reader));
    return true;
}

/* Start-up: resume from the checkpoint, following the file by identity. */
static void source_start(agent_source_t *s, int64_t now)
{
    lf_agent_t *a = s->agent;
    lf_agent_filepos_t pos;
    if (lf_agent_state_get_file(a->st, s->cfg->path, &pos) != LF_OK) {
        source_open_path(s, s->cfg->start_at == LF_AGENT_START_END, now);
        return;
    }
    agent_file_t *f = file_get(a, pos.dev, pos.ino, s->cfg->path);
    if (!f) {
        lf_warn(COMP,
                "source %s: the file read before (inode %" PRIu64 ", offset %" PRIu64
                ") is gone; lines written to it after that offset are lost; reading %s from "
                "its beginning",
                s->cfg->name, pos.ino, pos.read_offset, s->cfg->path);
        source_open_path(s, false, now);
        return;
    }
    source_attach(s, f, pos.read_offset, now);
    struct stat sb;
    s->rotated = stat(s->cfg->path, &sb) != 0 || (uint64_t)sb.st_dev != f->dev ||
                 (uint64_t)sb.st_ino != f->ino;
    if (s->rotated)
        lf_info(COMP, "source %s: finishing rotated %s before moving to the new %s", s->cfg->name,
                f->path, s->cfg->path);
}

/* ---- sources: configured paths and glob matches ------------------------ */

static bool is_pattern(const char *path)
{
    return strpbrk(path, "*?[") != NULL;
}

/* Starts the watchers of a source (the loop runs). */
static void source_watch_start(agent_source_t *s)
{
    if (s->file && !s->rotated)
        source_watch_file(s);
    uv_fs_event_start(&s->ev_dir, on_fs_event, s->dir, 0);
}

/* Adds a tailed file in a free slot: cfg is the configured source, or, for
 * a glob match, the pattern's source and `match` the path. */
static lf_err_t source_add(lf_agent_t *a, const lf_agent_source_config_t *cfg, const char *match,
                           int64_t now)
{
    size_t slot = 0;
    while (slot < LF_AGENT_MAX_SOURCES && a->sources[slot])
        slot++;
    if (slot == LF_AGENT_MAX_SOURCES)
        return LF_EFULL;
    agent_source_t *s = calloc(1, sizeof *s);
    if (!s)
        return LF_ENOMEM;
    s->agent = a;
    s->index = slot;
    s->cfg = cfg;
    if (match) {
        s->own = *cfg;
        s->own.path = strdup(match);
        s->cfg = &s->own;
    }
    s->origin =
        s->cfg->path ? origin_intern(a, lf_str_c(s->cfg->name), lf_str_c(s->cfg->path)) : NULL;
    s->dir = s->cfg->path ? strdup(s->cfg->path) : NULL;
    if (!s->origin || !s->dir ||
        lf_agent_reader_init(&s->reader, (size_t)a->cfg->limits.max_record_bytes) != LF_OK) {
        free(s->dir);
        free(s->own.path);
        lf_agent_reader_free(&s->reader);
        free(s);
        return LF_ENOMEM;
    }
    if (s->cfg->encoding != LF_AGENT_ENC_UTF8) {
        lf_err_t erc = lf_agent_encoding_init(&s->enc, s->cfg->encoding,
                                              (size_t)a->cfg->limits.max_record_bytes);
        if (erc != LF_OK) {
            lf_error(COMP, "source %s: encoding %s: %s", s->cfg->name,
                     lf_agent_encoding_choices[s->cfg->encoding],
                     erc == LF_EINVAL ? "the C library has no converter for it (install "
                                        "the gconv modules of libc)"
                                      : lf_strerror(erc));
            free(s->dir);
            free(s->own.path);
            lf_agent_reader_free(&s->reader);
            free(s);
            return erc == LF_EINVAL ? LF_ECONFIG : erc;
        }
        s->has_enc = true;
        s->fmt.enc = &s->enc;
    }
    if (s->cfg->multiline_start && *s->cfg->multiline_start) {
        char err[512];
        lf_err_t mrc =
            lf_agent_multiline_init(&s->ml, s->cfg->multiline_start,
                                    (size_t)a->cfg->limits.max_record_bytes, err, sizeof err);
        if (mrc != LF_OK) {
            lf_error(COMP, "source %s: %s", s->cfg->name, err);
            if (s->has_enc)
                lf_agent_encoding_free(&s->enc);
            free(s->dir);
            free(s->own.path);
            lf_agent_reader_free(&s->reader);
            free(s);
            return mrc;
        }
        s->has_ml = true;
        s->fmt.ml = &s->ml;
    }
    char *slash = strrchr(s->dir, '/');
    if (slash)
        slash[slash == s->dir ? 1 : 0] = '\0';
    uv_fs_event_init(&a->loop, &s->ev_file);
    uv_fs_event_init(&a->loop, &s->ev_dir);
    s->ev_file.data = s->ev_dir.data = s;
    a->sources[slot] = s;
    if (slot >= a->nsources)
        a->nsources = slot + 1;
    source_start(s, now);
    if (a->running)
        source_watch_start(s);
    return LF_OK;
}

/* A glob match whose file is gone and read to its end leaves its slot. */
static void source_retire(lf_agent_t *a, agent_source_t *s)
{
    lf_info(COMP, "source %s: %s is gone and was read to its end; no longer tailed", s->cfg->name,
            s->cfg->path);
    uv_fs_event_stop(&s->ev_file);
    uv_fs_event_stop(&s->ev_dir);
    if (s->file)
        file_unref(a, s->file);
    s->file = NULL;
    a->sources[s->index] = NULL;
    s->next_retired = a->retired_sources;
    a->retired_sources = s;
}

/* Expands every glob pattern: new matches become sources (read from their
 * beginning once the agent runs; at start-up as start_at says), and
 * matches whose file is gone and drained are retired. A file already open
 * under another name (a rotated file being finished) is not added again. */
static lf_err_t glob_scan(lf_agent_t *a, int64_t now)
{
    for (size_t i = 0; i < a->nsources; i++) {
        agent_source_t *s = a->sources[i];
        struct stat sb;
        if (s && s->own.path && s->rotated && s->at_eof &&
            now - s->last_growth_ms >= a->cfg->limits.partial_line_timeout_ms &&
            stat(s->cfg->path, &sb) != 0)
            source_retire(a, s);
    }
    for (size_t p = 0; p < a->npatterns; p++) {
        const lf_agent_source_config_t *pat = a->patterns[p];
        glob_t g;
        int grc = glob(pat->path, GLOB_NOSORT, NULL, &g);
        if (grc == GLOB_NOMATCH)
            continue;
        if (grc != 0) {
            lf_warn(COMP, "source %s: cannot expand %s (glob error %d)", pat->name, pat->path, grc);
            continue;
        }
        for (size_t m = 0; m < g.gl_pathc; m++) {
            const char *path = g.gl_pathv[m];
            struct stat sb;
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || strlen(path) > 511)
                continue;
            bool known = file_find(a, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino) != NULL;
            for (size_t i = 0; i < a->nsources && !known; i++)
                known = a->sources[i] && strcmp(a->sources[i]->cfg->path, path) == 0;
            if (known)
                continue;
            lf_agent_source_config_t cfg = *pat;
            if (a->running)
                cfg.start_at = LF_AGENT_START_BEGINNING;
            /* source_add copies cfg into the source, so a local is fine. */
            lf_err_t rc = source_add(a, &cfg, path, now);
            if (rc == LF_EFULL) {
                if (!a->glob_limit_logged)
                    lf_warn(COMP,
                            "source %s: %s not tailed: %d files are tailed already (the "
                            "most); narrow the glob patterns",
                            pat->name, path, LF_AGENT_MAX_SOURCES);
                a->glob_limit_logged = true;
                break;
            }
            if (rc != LF_OK) {
                globfree(&g);
                return rc;
            }
            lf_info(COMP, "source %s: %s matches %s: tailing it", pat->name, path, pat->path);
        }
        globfree(&g);
    }
    return LF_OK;
}

/* Starts the wire batch of jb in a->wire (its header from jb). */
static lf_err_t batch_begin(lf_agent_t *a, const lf_agent_jbatch_t *jb)
{
    lf_wire_batch_header_t h;
    lf_agent_batch_header(&a->ids, jb, &h);
    return lf_wire_batch_begin(&a->wire, &h);
}

/* ---- journal groups (group commit) ----------------------------------------
 *
 * A reader call (source_read, listener_read, journald_read) journals every
 * batch it reads in one LMDB transaction: the batches are staged (journal
 * entry, window, sequence numbers) as the state accepts each, and produced
 * only once the group is committed, so n batches cost one fsync pair and
 * nothing reaches the broker before its journal record is durable (a
 * sequence number is never produced twice with different records). */

static bool group_open(lf_agent_t *a)
{
    lf_err_t rc = lf_agent_state_group_begin(a->st);
    if (rc != LF_OK) {
        if (!a->state_error_logged)
            lf_error(COMP, "state: begin a journal transaction: %s; reading paused",
                     lf_strerror(rc));
        a->state_error_logged = true;
        return false;
    }
    a->group_count = 0;
    return true;
}

/* Commits the open group and produces its batches. When the commit fails
 * every staged batch is undone (journal index, window, sequence numbers)
 * and false is returned: the caller rewinds its reader to where the group
 * began. */
static bool group_close(lf_agent_t *a)
{
    lf_err_t rc = lf_agent_state_group_end(a->st);
    size_t g0 = a->tail - a->group_count;
    a->group_count = 0;
    if (rc != LF_OK) {
        if (!a->state_error_logged)
            lf_error(COMP,
                     "state: commit of %zu journal batches: %s; they are read again "
                     "(reading paused until the state accepts writes)",
                     a->tail - g0, lf_strerror(rc));
        a->state_error_logged = true;
        for (size_t i = g0; i < a->tail; i++) {
            agent_entry_t *e = &a->ents[i];
            a->unacked_bytes -= e->jb.bytes;
            free(e->wire);
            if (e->file)
                file_unref(a, e->file);
        }
        a->tail = g0;
        if (a->head == a->tail)
            a->head = a->tail = 0;
        lf_agent_state_get_meta(a->st, &a->meta);
        return false;
    }
    for (size_t i = g0; i < a->tail; i++) {
        agent_entry_t *e = &a->ents[i];
        a->ctr.records_read += e->jb.count;
        a->ctr.records_truncated += e->truncated;
        a->ctr.batches_produced++;
        a->ctr.bytes_produced += e->jb.bytes;
        char *data = e->wire;
        e->wire = NULL;
        if (a->producer)
            produce_wire(a, e, data, e->wire_len, RD_KAFKA_MSG_F_FREE);
        else {
            free(data);
            set_need_send(a, e, true);
        }
    }
    ack_fetch_update(a);
    return true;
}

/* Stages the batch built in a->wire in the open group: journals it with its
 * checkpoint (key and pos, or the journald cursors first/last) and keeps
 * the wire bytes for the produce at the group's commit. false when the
 * state refused it (logged once; the caller rewinds its reader to
 * jb->off_start or its previous cursor). */
static bool journal_stage(lf_agent_t *a, lf_agent_jbatch_t *jb, uint32_t count, uint32_t truncated,
                          const char *key, agent_file_t *f, const lf_str_t *cursors)
{
    lf_wire_batch_finish(&a->wire, count);
    jb->count = count;
    jb->bytes = a->wire.len;
    agent_entry_t *e = journal_push(a);
    lf_err_t src = LF_ENOMEM;
    if (e && cursors) {
        src = lf_agent_state_commit_batch_cursor(a->st, jb, key, cursors[0], cursors[1]);
    } else if (e) {
        lf_agent_filepos_t pos = {f->dev, f->ino, jb->off_end};
        src = lf_agent_state_commit_batch(a->st, jb, key, &pos);
    }
    if (src != LF_OK) {
        if (e)
            a->tail--;
        if (!a->state_error_logged)
            lf_error(COMP, "state: journal batch of %s: %s; reading paused", key, lf_strerror(src));
        a->state_error_logged = true;
        return false;
    }
    a->state_error_logged = false;
    if (journal_len(a) == 1)
        a->last_progress_ms = lf_time_mono_ms();
    a->meta.next_seq = jb->first_seq + count;
    e->jb = *jb;
    e->file = f;
    if (f)
        f->refs++;
    e->truncated = truncated;
    /* The buffer goes with the entry (to librdkafka, which frees it); the
     * next batch starts in a new one of the same size. */
    e->wire = a->wire.data;
    e->wire_len = a->wire.len;
    size_t cap = a->wire.cap;
    a->wire.data = NULL;
    a->wire.len = a->wire.cap = 0;
    (void)lf_buf_reserve(&a->wire, cap);
    a->unacked_bytes += jb->bytes;
    a->group_count++;
    return true;
}

/* Reads whole batches until the file has nothing more or backpressure,
 * all journalled in one group. */
static void source_read(agent_source_t *s, int64_t now)
{
    lf_agent_t *a = s->agent;
    const lf_agent_limits_config_t *l = &a->cfg->limits;
    bool flush = now - s->last_growth_ms >= l->partial_line_timeout_ms;
    const lf_agent_batch_limits_t limits = {.max_records = (uint32_t)l->batch_max_records,
                                            .max_bytes = (uint64_t)l->batch_max_bytes,
                                            .max_record = (uint32_t)l->max_record_bytes};
    if (a->stopping || backpressured(a) || !group_open(a))
        return;
    agent_file_t *f = s->file;
    uint64_t group_start = lf_agent_reader_pos(&s->reader);
    while (!a->stopping && !backpressured(a)) {
        lf_agent_jbatch_t jb = {
            .first_seq = a->meta.next_seq,
            .source_index = (uint32_t)s->index,
            .max_record = (uint32_t)l->max_record_bytes,
            .dev = f->dev,
            .ino = f->ino,
            .off_start = lf_agent_reader_pos(&s->reader),
            .read_time_ms = lf_time_now_ms(),
            .source = lf_str_c(s->origin->name),
            .path = lf_str_c(s->origin->path),
        };
        lf_err_t rc = batch_begin(a, &jb);
        uint32_t count = 0, truncated = 0;
        if (rc == LF_OK)
            rc = lf_agent_batch_fill(&s->reader, &limits, flush, &s->fmt, &a->wire, &count,
                                     &truncated);
        s->at_eof = rc == LF_ENOTFOUND;
        if (rc == LF_EIO && !s->read_error_logged) {
            lf_error(COMP, "source %s: read %s: %s", s->cfg->name, f->path, strerror(errno));
            s->read_error_logged = true;
        } else if (rc != LF_OK && rc != LF_EAGAIN && rc != LF_ENOTFOUND && rc != LF_EIO) {
            lf_error(COMP, "source %s: batch: %s", s->cfg->name, lf_strerror(rc));
        }
        if (count == 0)
            break;
        jb.off_end = lf_agent_reader_pos(&s->reader);
        if (!journal_stage(a, &jb, count, truncated, s->cfg->path, f, NULL)) {
            lf_agent_reader_reset(&s->reader, f->fd, jb.off_start);
            s->at_eof = false;
            break;
        }
        if (rc != LF_OK)
            break;
    }
    if (!group_close(a)) {
        lf_agent_reader_reset(&s->reader, f->fd, group_start);
        s->at_eof = false;
    }
}

static void source_service(agent_source_t *s, int64_t now)
{
    lf_agent_t *a = s->agent;
    if (!s->file && !source_open_path(s, false, now))
        return;
    agent_file_t *f = s->file;
    struct stat sb;
    if (fstat(f->fd, &sb) == 0) {
        uint64_t size = (uint64_t)sb.st_size;
        if (size < lf_agent_reader_pos(&s->reader)) {
            if (truncated_copy_follow(s, f, size, now))
                return;
            lf_warn(COMP,
                    "source %s: %s was truncated to %" PRIu64 " bytes at offset %" PRIu64
                    " and no copy of it holds the bytes read before; reading from 0",
                    s->cfg->name, f->path, size, lf_agent_reader_pos(&s->reader));
            lf_agent_reader_reset(&s->reader, f->fd, 0);
            s->last_growth_ms = now;
        } else if (size != s->size_seen) {
            s->last_growth_ms = now;
        }
        s->size_seen = size;
    }
    if (!s->rotated) {
        struct stat pb;
        if (stat(s->cfg->path, &pb) != 0 || (uint64_t)pb.st_dev != f->dev ||
            (uint64_t)pb.st_ino != f->ino) {
            s->rotated = true;
            lf_info(COMP, "source %s: %s was rotated or removed; finishing the old file",
                    s->cfg->name, s->cfg->path);
        }
    }
    source_read(s, now);
    /* A rotated file is finished once idle: by this process's clock, or by
     * its modification time (a restart does not start the wait again, so
     * frequent restarts cannot keep the agent on an old file while newer
     * ones come and go). */
    bool idle = now - s->last_growth_ms >= a->cfg->limits.partial_line_timeout_ms;
    if (s->rotated && s->at_eof && !idle && fstat(f->fd, &sb) == 0) {
        int64_t mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        idle = lf_time_now_ms() - mtime_ms >= a->cfg->limits.partial_line_timeout_ms;
    }
    if (s->rotated && s->at_eof && idle && !a->stopping) {
        struct stat pb, gb;
        char *gen = stat(s->cfg->path, &pb) == 0 ? newer_generation(s, f, &pb, &gb) : NULL;
        int gfd = gen ? open(gen, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) : -1;
        agent_file_t *g = gfd >= 0 ? file_adopt(a, gfd, gen) : NULL;
        if (g) {
            lf_warn(COMP,
                    "source %s: %s was rotated again before %s was read to its end; reading "
                    "%s (inode %" PRIu64 ") before the file now at the path",
                    s->cfg->name, s->cfg->path, f->path, gen, g->ino);
            s->file = NULL;
            source_attach(s, g, 0, now);
            s->rotated = true;
            file_unref(a, f);
            free(gen);
            source_read(s, now);
            return;
        }
        free(gen);
        if (stat(s->cfg->path, &pb) == 0 &&
            ((uint64_t)pb.st_dev != f->dev || (uint64_t)pb.st_ino != f->ino)) {
            s->file = NULL;
            if (source_open_path(s, false, now)) {
                file_unref(a, f);
                source_read(s, now);
            } else {
                s->file = f;
            }
        }
    }
}

static bool compressed_name(const char *n)
{
    static const char *const ext[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z", ".zip"};
    size_t len = strlen(n);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t el = strlen(ext[i]);
        if (len > el && strcmp(n + len - el, ext[i]) == 0)
            return true;
    }
    return false;
}

/* A rotated generation's name: the path's base name followed by '.', '-'
 * or '_' and more (auth.log.1, auth.log-20260310), not compressed. */
static bool generation_name(const char *n, const char *base, size_t blen)
{
    return strncmp(n, base, blen) == 0 && n[blen] && strchr(".-_", n[blen]) && !compressed_name(n);
}

/* When the path was rotated more than once while f was still being read
 * (the agent was stopped, or behind), the generations in between are
 * renamed files of the same directory: named like the path with a suffix
 * (auth.log.1, auth.log-20260310, not compressed), neither f nor the file
 * now at the path (pb), not open already (a file with journalled batches
 * was read), and modified after f. Returns the oldest such (malloc'ed
 * path, *sb its stat), or NULL. Only for configured paths: a glob may
 * match rotated names itself. */
static char *newer_generation(agent_source_t *s, const agent_file_t *f, const struct stat *pb,
                              struct stat *sb)
{
    struct stat fsb;
    memset(sb, 0, sizeof *sb);
    if (s->own.path || fstat(f->fd, &fsb) != 0)
        return NULL;
    const char *slash = strrchr(s->cfg->path, '/');
    const char *base = slash ? slash + 1 : s->cfg->path;
    size_t blen = strlen(base);
    DIR *d = opendir(s->dir);
    if (!d)
        return NULL;
    char *best = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!generation_name(n, base, blen))
            continue;
        char path[PATH_MAX];
        int len = snprintf(path, sizeof path, "%s/%s", s->dir, n);
        struct stat cs;
        if (len <= 0 || (size_t)len >= sizeof path || stat(path, &cs) != 0 ||
            !S_ISREG(cs.st_mode) || cs.st_dev != fsb.st_dev || cs.st_ino == fsb.st_ino ||
            cs.st_ino == pb->st_ino ||
            file_find(s->agent, (uint64_t)cs.st_dev, (uint64_t)cs.st_ino))
            continue;
        bool newer =
            cs.st_mtim.tv_sec > fsb.st_mtim.tv_sec ||
            (cs.st_mtim.tv_sec == fsb.st_mtim.tv_sec && cs.st_mtim.tv_nsec >= fsb.st_mtim.tv_nsec);
        bool older_than_best =
            !best || cs.st_mtim.tv_sec < sb->st_mtim.tv_sec ||
            (cs.st_mtim.tv_sec == sb->st_mtim.tv_sec && cs.st_mtim.tv_nsec < sb->st_mtim.tv_nsec);
        if (newer && older_than_best) {
            char *copy = strdup(path);
            if (!copy)
                continue;
            free(best);
            best = copy;
            *sb = cs;
        }
    }
    closedir(d);
    return best;
}

/* How old a copy made by copytruncate may be when the truncation is seen:
 * the agent looks at every source each poll_interval, and logrotate
 * truncates as soon as the copy is written. */
#define TRUNCATED_COPY_MAX_AGE_MS (10 * 60 * 1000)

/* copytruncate: f, the file at the configured path, is now shorter than
 * the read offset `off`. Its copy, made just before the truncation, is a
 * generation of the path (generation_name) in the same directory: a
 * regular file on the same device, not open already, modified in the last
 * TRUNCATED_COPY_MAX_AGE_MS, at least `off` bytes long, and its `n` bytes
 * before `off` are `tail`, the bytes last read from f. Returns the most
 * recently modified match, opened (*path malloc'ed), or -1. */
static int truncated_copy_find(agent_source_t *s, const agent_file_t *f, uint64_t off,
                               const char *tail, size_t n, char **path)
{
    *path = NULL;
    const char *slash = strrchr(s->cfg->path, '/');
    const char *base = slash ? slash + 1 : s->cfg->path;
    size_t blen = strlen(base);
    DIR *d = opendir(s->dir);
    if (!d)
        return -1;
    int64_t oldest = lf_time_now_ms() - TRUNCATED_COPY_MAX_AGE_MS;
    int best = -1;
    int64_t best_ms = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!generation_name(de->d_name, base, blen))
            continue;
        char p[PATH_MAX];
        int len = snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
        struct stat cs;
        if (len <= 0 || (size_t)len >= sizeof p || stat(p, &cs) != 0 || !S_ISREG(cs.st_mode) ||
            (uint64_t)cs.st_dev != f->dev || (uint64_t)cs.st_ino == f->ino ||
            (uint64_t)cs.st_size < off ||
            file_find(s->agent, (uint64_t)cs.st_dev, (uint64_t)cs.st_ino))
            continue;
        int64_t mtime_ms = (int64_t)cs.st_mtim.tv_sec * 1000 + cs.st_mtim.tv_nsec / 1000000;
        if (mtime_ms < oldest || (best >= 0 && mtime_ms <= best_ms))
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        char got[LF_AGENT_READER_KEEP];
        struct stat os;
        if (fd < 0)
            continue;
        if (fstat(fd, &os) != 0 || os.st_ino != cs.st_ino ||
            pread(fd, got, n, (off_t)(off - n)) != (ssize_t)n || memcmp(got, tail, n) != 0) {
            close(fd);
            continue;
        }
        char *copy = strdup(p);
        if (!copy) {
            close(fd);
            continue;
        }
        if (best >= 0)
            close(best);
        free(*path);
        best = fd;
        best_ms = mtime_ms;
        *path = copy;
    }
    closedir(d);
    return best;
}

/* The unacknowledged batches read from f since it was last attached (the
 * newest run of its entries whose byte ranges go down from off) are
 * re-read from the copy g should they need a re-send: f lost those bytes. */
static void truncated_copy_repoint(lf_agent_t *a, agent_file_t *f, agent_file_t *g, uint64_t off)
{
    for (size_t i = a->tail; i-- > a->head;) {
        agent_entry_t *e = &a->ents[i];
        if (e->file != f)
            continue;
        if (e->jb.off_end > off)
            break;
        off = e->jb.off_start;
        e->file = g;
        g->refs++;
        file_unref(a, f);
    }
}

/* f, the file at the configured path, is shorter than the read offset.
 * When a copy of it holds the bytes the agent read last (copytruncate),
 * reads the rest of the copy first, like a renamed file: the checkpoint
 * names the copy until the agent moves back to the path, which is then
 * read from 0. false: no copy (or a glob source, or the file being read is
 * not the one at the path); the caller reads f from 0. */
static bool truncated_copy_follow(agent_source_t *s, agent_file_t *f, uint64_t size, int64_t now)
{
    lf_agent_t *a = s->agent;
    uint64_t off = lf_agent_reader_pos(&s->reader);
    char tail[LF_AGENT_READER_KEEP];
    size_t n = lf_agent_reader_tail(&s->reader, tail, sizeof tail);
    struct stat pb;
    if (s->own.path || s->rotated || a->stopping || n < (off < sizeof tail ? off : sizeof tail) ||
        stat(s->cfg->path, &pb) != 0 || (uint64_t)pb.st_dev != f->dev ||
        (uint64_t)pb.st_ino != f->ino)
        return false;
    char *path;
    int fd = truncated_copy_find(s, f, off, tail, n, &path);
    agent_file_t *g = fd >= 0 ? file_adopt(a, fd, path) : NULL;
    if (!g) {
        free(path);
        return false;
    }
    lf_warn(COMP,
            "source %s: %s was truncated to %" PRIu64 " bytes at offset %" PRIu64
            "; reading the rest of its copy %s (inode %" PRIu64
            ") first, then the file from 0 (copytruncate)",
            s->cfg->name, f->path, size, off, path, g->ino);
    free(path);
    truncated_copy_repoint(a, f, g, off);
    s->file = NULL;
    source_attach(s, g, off, now);
    s->rotated = true;
    file_unref(a, f);
    source_read(s, now);
    return true;
}

/* Reads the sources that had file events since the linger began. */
static void on_linger_timer(uv_timer_t *t)
{
    lf_agent_t *a = t->data;
    int64_t now = lf_time_mono_ms();
    for (size_t i = 0; i < a->nsources && !a->stopping; i++) {
        agent_source_t *s = a->sources[i];
        if (s && s->linger) {
            s->linger = false;
            source_service(s, now);
            if (!a->stopping && a->sources[i] == s) {
                uv_fs_event_stop(&s->ev_dir);
                source_watch_start(s);
            }
        }
    }
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    agent_source_t *s = h->data;
    lf_agent_t *a = s->agent;
    if (a->stopping)
        return;
    if (a->cfg->limits.read_linger_ms <= 0) {
        source_service(s, lf_time_mono_ms());
        return;
    }
    /* Until the read, further writes need not wake the loop: the watches
     * pause (a write per line would otherwise be a wake-up per line). */
    s->linger = true;
    uv_fs_event_stop(&s->ev_file);
    uv_fs_event_stop(&s->ev_dir);
    if (!uv_is_active((uv_handle_t *)&a->linger_timer))
        uv_timer_start(&a->linger_timer, on_linger_timer, (uint64_t)a->cfg->limits.read_linger_ms,
                       0);
}

/* ---- syslog listeners and their spools ----------------------------------- */

/* The open file of spool segment seg of l. */
static agent_file_t *listener_seg_file(agent_listener_t *l, lf_agent_spool_seg_t *seg)
{
    lf_agent_t *a = l->agent;
    agent_file_t *f = file_find(a, seg->dev, seg->ino);
    if (!f) {
        int fd = open(seg->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return NULL;
        f = file_adopt(a, fd, seg->path);
        if (!f)
            return NULL;
    }
    f->owner = l;
    f->seg = seg;
    return f;
}

/* Points l's reader at offset of seg and checkpoints it. */
static bool listener_attach(agent_listener_t *l, lf_agent_spool_seg_t *seg, uint64_t offset)
{
    lf_agent_t *a = l->agent;
    agent_file_t *f = listener_seg_file(l, seg);
    if (!f) {
        lf_error(COMP, "listener %s: cannot open spool segment %s: %s", l->cfg->name, seg->path,
                 strerror(errno));
        return false;
    }
    f->refs++;
    l->file = f;
    l->seg = seg;
    lf_agent_spool_reader_reset(&l->reader, f->fd, offset);
    lf_agent_filepos_t pos = {f->dev, f->ino, offset};
    lf_err_t rc = lf_agent_state_put_file(a->st, l->key, &pos);
    if (rc != LF_OK)
        lf_error(COMP, "state: checkpoint %s: %s", l->key, lf_strerror(rc));
    return true;
}

/* Reads l's current segment into batches, like source_read() a file, in
 * one journal group. true when the segment was read to its end and l
 * moved on to the next one (read that too). */
static bool listener_read_segment(agent_listener_t *l)
{
    lf_agent_t *a = l->agent;
    const lf_agent_limits_config_t *lim = &a->cfg->limits;
    const lf_agent_batch_limits_t limits = {.max_records = (uint32_t)lim->batch_max_records,
                                            .max_bytes = (uint64_t)lim->batch_max_bytes,
                                            .max_record = (uint32_t)l->cfg->max_frame_bytes};
    lf_agent_spool_seg_t *seg = l->seg;
    agent_file_t *f = l->file;
    if (!seg->sealed && lf_agent_spool_reader_pos(&l->reader) >= seg->readable)
        return false; /* nothing new is readable yet */
    if (!group_open(a))
        return false;
    uint64_t group_start = lf_agent_spool_reader_pos(&l->reader);
    lf_err_t rc = LF_OK;
    while (!a->stopping && !backpressured(a)) {
        lf_agent_jbatch_t jb = {
            .first_seq = a->meta.next_seq,
            .flags = LF_AGENT_JBATCH_SPOOL,
            .source_index = (uint32_t)(LF_AGENT_MAX_SOURCES + l->index),
            .max_record = (uint32_t)l->cfg->max_frame_bytes,
            .dev = f->dev,
            .ino = f->ino,
            .off_start = lf_agent_spool_reader_pos(&l->reader),
            .read_time_ms = lf_time_now_ms(),
            .source = lf_str_c(l->origin->name),
            .path = lf_str_c(l->origin->path),
        };
        rc = batch_begin(a, &jb);
        uint32_t count = 0, truncated = 0;
        if (rc == LF_OK)
            rc = lf_agent_spool_fill(&l->reader, &limits, seg->readable, &a->wire, &count,
                                     &truncated);
        if (rc == LF_EIO && !l->read_error_logged) {
            lf_error(COMP, "listener %s: read %s: %s", l->cfg->name, f->path, strerror(errno));
            l->read_error_logged = true;
        } else if (rc != LF_OK && rc != LF_ENOTFOUND && rc != LF_EIO && rc != LF_EPARSE) {
            lf_error(COMP, "listener %s: batch: %s", l->cfg->name, lf_strerror(rc));
        }
        if (count > 0) {
            jb.off_end = lf_agent_spool_reader_pos(&l->reader);
            if (!journal_stage(a, &jb, count, truncated, l->key, f, NULL)) {
                lf_agent_spool_reader_reset(&l->reader, f->fd, jb.off_start);
                rc = LF_ESTORE;
                break;
            }
        }
        if (rc != LF_OK)
            break;
    }
    if (!group_close(a)) {
        lf_agent_spool_reader_reset(&l->reader, f->fd, group_start);
        return false;
    }
    if (rc == LF_OK || rc == LF_ESTORE || rc == LF_EIO || !seg->sealed || a->stopping)
        return false;
    /* A sealed segment read to its end (or to bytes that are not whole
     * records: the end of a segment written when the agent stopped). */
    uint64_t pos = lf_agent_spool_reader_pos(&l->reader);
    if (pos < seg->size && l->skipped_logged != seg->number) {
        lf_warn(COMP,
                "listener %s: the last %" PRIu64 " bytes of spool segment %s are not whole "
                "records (cut short when the agent stopped); skipped",
                l->cfg->name, seg->size - pos, seg->path);
        l->skipped_logged = seg->number;
    }
    if (!seg->next)
        return false; /* the writer has not started the next segment yet */
    agent_file_t *old = l->file;
    if (!listener_attach(l, seg->next, 0))
        return false;
    file_unref(a, old); /* deletes the segment when no batch in it waits */
    return true;
}

/* Reads the spool into batches, segment after segment. */
static void listener_read(agent_listener_t *l)
{
    lf_agent_t *a = l->agent;
    while (!a->stopping && !backpressured(a)) {
        if (!l->file) {
            lf_agent_spool_seg_t *first = lf_agent_spool_first(l->spool);
            if (!first || !listener_attach(l, first, 0))
                return;
        }
        if (!listener_read_segment(l))
            return;
    }
}

/* The spool's fdatasync runs in the thread pool, on a duplicate of the
 * segment's descriptor, so that receiving never waits for the disk: what
 * arrives meanwhile is written (page cache) and synced by the next round.
 * Records become readable (journalled, produced) once synced. */
static void spool_sync_run(uv_work_t *req)
{
    agent_listener_t *l = req->data;
    l->sync_err = fdatasync(l->sync_fd) == 0 ? 0 : errno;
    close(l->sync_fd);
}

static void spool_sync_start(agent_listener_t *l);

static void spool_sync_after(uv_work_t *req, int status)
{
    agent_listener_t *l = req->data;
    lf_agent_t *a = l->agent;
    l->sync_busy = false;
    bool ok = status == 0 && l->sync_err == 0;
    if (ok) {
        lf_agent_spool_sync_done(l->spool, l->sync_seg, l->sync_upto);
        l->flush_error_logged = false;
    } else if (!l->flush_error_logged) {
        lf_error(COMP, "listener %s: fdatasync of spool %s: %s; retrying", l->cfg->name,
                 lf_agent_spool_dir(l->spool), strerror(status ? -status : l->sync_err));
        l->flush_error_logged = true;
    }
    if (a->stopping)
        return;
    listener_read(l);
    /* More was written while this sync ran (a failed one is retried by the
     * poll timer, not at once). */
    if (ok && a->cfg->limits.spool_sync == LF_AGENT_SPOOL_SYNC_CFG_BATCH)
        spool_sync_start(l);
}

static void spool_sync_start(agent_listener_t *l)
{
    lf_agent_t *a = l->agent;
    if (l->sync_busy || a->stopping)
        return;
    int fd = lf_agent_spool_sync_take(l->spool, &l->sync_seg, &l->sync_upto);
    if (fd < 0)
        return;
    l->sync_fd = fd;
    l->sync_busy = true;
    l->sync_work.data = l;
    if (uv_queue_work(&a->loop, &l->sync_work, spool_sync_run, spool_sync_after) != 0) {
        close(fd);
        l->sync_busy = false;
    }
}

/* Writes what the listeners buffered; with `sync`, starts their spool
 * syncs. */
static void spool_write_all(lf_agent_t *a, bool sync)
{
    for (size_t i = 0; i < a->nlisteners; i++) {
        agent_listener_t *l = &a->listeners[i];
        lf_err_t rc = lf_agent_spool_write(l->spool);
        if (rc != LF_OK && !l->flush_error_logged)
            lf_error(COMP, "listener %s: write spool %s: %s (%s); retrying", l->cfg->name,
                     lf_agent_spool_dir(l->spool), lf_strerror(rc), strerror(errno));
        l->flush_error_logged = rc != LF_OK;
        if (rc == LF_OK && sync)
            spool_sync_start(l);
    }
}

/* At shutdown: written and synced here, on the loop. */
static void spool_flush_all(lf_agent_t *a)
{
    for (size_t i = 0; i < a->nlisteners; i++) {
        agent_listener_t *l = &a->listeners[i];
        lf_err_t rc = lf_agent_spool_flush(l->spool, true);
        if (rc != LF_OK)
            lf_error(COMP, "listener %s: write spool %s: %s (%s)", l->cfg->name,
                     lf_agent_spool_dir(l->spool), lf_strerror(rc), strerror(errno));
    }
}

static void spool_resume_check(lf_agent_t *a)
{
    const lf_agent_spool_budget_t *b = &a->spool_budget;
    if (!a->spool_paused || a->stopping || b->used + b->max / 16 > b->max)
        return;
    a->spool_paused = false;
    lf_info(COMP, "spool has room again (%" PRIu64 " of %" PRIu64 " bytes): reading resumes",
            b->used, b->max);
    for (size_t i = 0; i < a->nlisteners; i++)
        lf_agent_syslog_pause(a->listeners[i].net, false);
}

/* End of a loop iteration in which records were spooled: write them (and
 * fsync, as the policy says), then journal and produce what is readable. */
static void on_spool_check(uv_check_t *h)
{
    lf_agent_t *a = h->data;
    uv_check_stop(h);
    if (a->stopping)
        return;
    spool_write_all(a, a->cfg->limits.spool_sync == LF_AGENT_SPOOL_SYNC_CFG_BATCH);
    for (size_t i = 0; i < a->nlisteners; i++)
        listener_read(&a->listeners[i]);
}

static void on_spool_timer(uv_timer_t *t)
{
    lf_agent_t *a = t->data;
    if (a->stopping)
        return;
    spool_write_all(a, true);
    for (size_t i = 0; i < a->nlisteners; i++)
        listener_read(&a->listeners[i]);
}

static void on_spooled(void *opaque)
{
    lf_agent_t *a = opaque;
    if (!a->stopping && !uv_is_active((uv_handle_t *)&a->spool_check))
        uv_check_start(&a->spool_check, on_spool_check);
}

static void on_spool_full(void *opaque)
{
    lf_agent_t *a = opaque;
    if (a->spool_paused)
        return;
    a->spool_paused = true;
    a->ctr.spool_paused++;
    lf_warn(COMP,
            "spool full (%" PRIu64 " of %" PRIu64 " bytes, limits.spool_max_bytes): TCP/TLS "
            "senders are not read until acknowledged records free space; UDP datagrams are "
            "dropped meanwhile",
            a->spool_budget.used, a->spool_budget.max);
    for (size_t i = 0; i < a->nlisteners; i++)
        lf_agent_syslog_pause(a->listeners[i].net, true);
}

/* Start-up: opens the spool and binds the socket of listener i. */
static lf_err_t listener_new(lf_agent_t *a, size_t i, char *errstr, size_t errlen)
{
    const lf_agent_config_t *cfg = a->cfg;
    agent_listener_t *l = &a->listeners[i];
    l->agent = a;
    l->index = i;
    l->cfg = i < cfg->listener_count ? &cfg->listeners[i] : &a->yara_spool_cfg;
    snprintf(l->key, sizeof l->key, "spool:%s", l->cfg->name);
    lf_err_t rc = lf_agent_spool_reader_init(&l->reader, (size_t)l->cfg->max_frame_bytes);
    if (rc != LF_OK)
        return rc;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/spool", cfg->agent.state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errstr, errlen, "%s: cannot create: %s", dir, strerror(errno));
        return LF_EIO;
    }
    snprintf(dir, sizeof dir, "%s/spool/%s", cfg->agent.state_dir, l->cfg->name);
    lf_agent_spool_options_t so = {.dir = dir,
                                   .segment_bytes = (uint64_t)cfg->limits.spool_segment_bytes,
                                   .sync = cfg->limits.spool_sync,
                                   .budget = &a->spool_budget};
    rc = lf_agent_spool_open(&so, &l->spool, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    lf_agent_syslog_env_t env = {.loop = &a->loop,
                                 .ctr = &a->ctr,
                                 .spool = l->spool,
                                 .budget = &a->spool_budget,
                                 .spooled = on_spooled,
                                 .full = on_spool_full,
                                 .opaque = a};
    if (i >= cfg->listener_count) {
        /* The YARA match records: a spool read like a listener's, no socket. */
        lf_agent_yara_env_t yenv = {
            .loop = &a->loop, .cfg = cfg, .spool = l->spool, .spooled = on_spooled, .opaque = a};
        rc = lf_agent_yara_new(&yenv, &a->yara, errstr, errlen);
        l->origin = origin_intern(a, lf_str_c(l->cfg->name), lf_str_c("yara://scan"));
        return rc != LF_OK ? rc : l->origin ? LF_OK : LF_ENOMEM;
    }
    rc = lf_agent_syslog_new(l->cfg, &env, &l->net, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    l->origin = origin_intern(a, lf_str_c(l->cfg->name), lf_str_c(lf_agent_syslog_url(l->net)));
    return l->origin ? LF_OK : LF_ENOMEM;
}

/* Start-up, after the journal is loaded: resume reading the spool at its
 * checkpoint and delete segments nothing needs any more. */
static void listener_resume(agent_listener_t *l)
{
    lf_agent_t *a = l->agent;
    lf_agent_filepos_t pos;
    lf_agent_spool_seg_t *seg = NULL;
    uint64_t offset = 0;
    bool have = lf_agent_state_get_file(a->st, l->key, &pos) == LF_OK;
    if (have)
        seg = lf_agent_spool_find(l->spool, pos.dev, pos.ino);
    if (seg) {
        offset = pos.read_offset;
    } else {
        /* No checkpoint (a new listener) or its segment is gone: start after
         * every segment the journal still refers to, so nothing is read twice. */
        seg = lf_agent_spool_first(l->spool);
        for (lf_agent_spool_seg_t *s = seg; s; s = s->next)
            if (file_find(a, s->dev, s->ino))
                seg = s->next;
        if (have)
            lf_warn(COMP,
                    "listener %s: the spool segment being read (inode %" PRIu64
                    ") is gone; continuing with the next one",
                    l->cfg->name, pos.ino);
    }
    if (seg && !listener_attach(l, seg, offset))
        seg = NULL;
    /* Segments before the reader that no journal batch needs: acknowledged
     * before the agent stopped, but not yet deleted. */
    lf_agent_spool_seg_t *s = lf_agent_spool_first(l->spool);
    while (s && (!seg || s->number < seg->number)) {
        lf_agent_spool_seg_t *next = s->next;
        if (!file_find(a, s->dev, s->ino))
            lf_agent_spool_release(l->spool, s);
        s = next;
    }
}

/* A journal entry of a spool: its segment, opened. NULL when gone. */
static agent_file_t *spool_entry_file(lf_agent_t *a, const lf_agent_jbatch_t *b)
{
    for (size_t i = 0; i < a->nlisteners; i++) {
        agent_listener_t *l = &a->listeners[i];
        if (!lf_str_eq_c(b->source, l->cfg->name))
            continue;
        lf_agent_spool_seg_t *seg = lf_agent_spool_find(l->spool, b->dev, b->ino);
        return seg ? listener_seg_file(l, seg) : NULL;
    }
    /* The listener is no longer configured: read its spool all the same. */
    char path[4096];
    snprintf(path, sizeof path, "%s/spool/%.*s/-", a->cfg->agent.state_dir, (int)b->source.len,
             b->source.ptr);
    return file_get(a, b->dev, b->ino, path);
}

/* ---- journald sources ----------------------------------------------------- */

/* The checkpoint value meaning "the beginning of the journal" (a source that
 * started on an empty journal). */
#define JOURNALD_AT_BEGINNING "^"

/* Reads the journal into batches until it has nothing more or backpressure. */
static void journald_read(agent_journald_t *s)
{
    lf_agent_t *a = s->agent;
    const lf_agent_limits_config_t *l = &a->cfg->limits;
    const lf_agent_batch_limits_t limits = {.max_records = (uint32_t)l->batch_max_records,
                                            .max_bytes = (uint64_t)l->batch_max_bytes,
                                            .max_record = (uint32_t)l->max_record_bytes};
    if (a->stopping || backpressured(a) || !group_open(a))
        return;
    char group_start[sizeof s->checkpoint];
    memcpy(group_start, s->checkpoint, sizeof group_start);
    bool ok = true;
    while (!a->stopping && !backpressured(a)) {
        lf_agent_jbatch_t jb = {
            .first_seq = a->meta.next_seq,
            .flags = LF_AGENT_JBATCH_JOURNALD,
            .source_index = (uint32_t)s->index,
            .max_record = (uint32_t)l->max_record_bytes,
            .read_time_ms = lf_time_now_ms(),
            .source = lf_str_c(s->origin->name),
            .path = lf_str_c(s->origin->path),
        };
        lf_err_t rc = batch_begin(a, &jb);
        uint32_t count = 0, truncated = 0;
        lf_str_t first = LF_STR_NULL, last = LF_STR_NULL;
        if (rc == LF_OK)
            rc =
                lf_agent_journald_fill(s->jd, &limits, &a->wire, &count, &truncated, &first, &last);
        if (rc == LF_EIO && !s->read_error_logged) {
            lf_error(COMP, "journald source %s: read %s: %s; retrying", s->cfg->name,
                     s->origin->path, strerror(errno));
            s->read_error_logged = true;
        } else if (rc == LF_OK || rc == LF_ENOTFOUND) {
            s->read_error_logged = false;
        } else if (rc != LF_EIO) {
            lf_error(COMP, "journald source %s: batch: %s", s->cfg->name, lf_strerror(rc));
        }
        if (count == 0)
            break;
        const lf_str_t cursors[2] = {first, last};
        if (!journal_stage(a, &jb, count, truncated, s->key, NULL, cursors)) {
            ok = false;
            break;
        }
        memcpy(s->checkpoint, last.ptr, last.len);
        s->checkpoint[last.len] = '\0';
        if (rc != LF_OK)
            break;
    }
    if (!group_close(a)) {
        memcpy(s->checkpoint, group_start, sizeof s->checkpoint);
        ok = false;
    }
    if (!ok) /* back to the last journalled entry: read again next time */
        lf_agent_journald_seek(s->jd, s->checkpoint, false, NULL, NULL);
}

static void on_journald_poll(uv_poll_t *h, int status, int events)
{
    agent_journald_t *s = h->data;
    if (s->agent->stopping)
        return;
    lf_agent_journald_process(s->jd);
    journald_read(s);
}

/* Start-up: opens the journal of source i and positions it after its
 * checkpoint (or where start_at says, checkpointing that at once). */
static lf_err_t journald_new(lf_agent_t *a, size_t i, char *errstr, size_t errlen)
{
    agent_journald_t *s = &a->journald[i];
    s->agent = a;
    s->index = i;
    s->cfg = &a->cfg->journald[i];
    snprintf(s->key, sizeof s->key, "journald:%s", s->cfg->name);
    s->origin = origin_intern(a, lf_str_c(s->cfg->name), lf_str_c(lf_agent_journald_path(s->cfg)));
    if (!s->origin)
        return LF_ENOMEM;
    lf_err_t rc = lf_agent_journald_open(s->cfg, (uint32_t)a->cfg->limits.max_record_bytes, &s->jd,
                                         errstr, errlen);
    if (rc != LF_OK)
        return rc;
    char stored[LF_AGENT_CURSOR_MAX + 1];
    bool have = lf_agent_state_get_cursor(a->st, s->key, stored) == LF_OK;
    bool found = true;
    if (have && strcmp(stored, JOURNALD_AT_BEGINNING) != 0) {
        rc = lf_agent_journald_seek(s->jd, stored, false, s->checkpoint, &found);
        if (rc == LF_OK && !found)
            lf_warn(COMP,
                    "journald source %s: the last entry read before (%s) is no longer in the "
                    "journal (vacuumed while the agent was stopped); entries removed with it "
                    "that were not read are lost; continuing after where it was",
                    s->cfg->name, stored);
    } else {
        bool at_end = !have && s->cfg->start_at == LF_AGENT_START_END;
        rc = lf_agent_journald_seek(s->jd, NULL, at_end, s->checkpoint, NULL);
        if (rc == LF_OK && !have) {
            lf_str_t c = lf_str_c(s->checkpoint[0] ? s->checkpoint : JOURNALD_AT_BEGINNING);
            lf_err_t prc = lf_agent_state_put_cursor(a->st, s->key, c);
            if (prc != LF_OK)
                lf_error(COMP, "state: checkpoint %s: %s", s->key, lf_strerror(prc));
        }
    }
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "journald source %s: cannot position in %s: %s", s->cfg->name,
                 s->origin->path, strerror(errno));
        return rc;
    }
    lf_info(COMP, "journald source %s: reading %s %s", s->cfg->name, s->origin->path,
            s->checkpoint[0] ? "after its checkpoint" : "from its beginning");
    return LF_OK;
}

/* Re-reads journal batch e from its journald source. A batch whose entries
 * are gone is marked lost here (the caller sends placeholders). */
static lf_err_t journald_rebuild(lf_agent_t *a, agent_entry_t *e)
{
    agent_journald_t *s = NULL;
    for (size_t i = 0; i < a->njournald && !s; i++)
        if (lf_str_eq_c(e->jb.source, a->journald[i].cfg->name))
            s = &a->journald[i];
    char first[LF_AGENT_CURSOR_MAX + 1], last[LF_AGENT_CURSOR_MAX + 1];
    lf_err_t rc = lf_agent_state_batch_cursors(a->st, e->jb.first_seq, first, last);
    if (rc != LF_OK && rc != LF_ENOTFOUND)
        return rc;
    if (rc == LF_ENOTFOUND || !s) {
        entry_lose(a, e,
                   rc == LF_ENOTFOUND ? "the journal entry's cursors are unreadable"
                                      : "the journald source is no longer configured");
        return LF_OK;
    }
    rc = lf_agent_journald_rebuild(s->jd, &a->ids, &e->jb, first, last, &a->wire);
    if (rc == LF_EPARSE) {
        entry_lose(a, e,
                   "its journal entries are gone (vacuumed, or their journal file was "
                   "removed) before they were acknowledged");
        return LF_OK;
    }
    return rc;
}

/* ---- timers, signals, life cycle ---------------------------------------- */

static void log_counters(lf_agent_t *a)
{
    const lf_agent_counters_t *c = &a->ctr;
    lf_info(COMP,
            "records_read=%" PRIu64 " batches_produced=%" PRIu64 " bytes_produced=%" PRIu64
            " records_truncated=%" PRIu64 " resends=%" PRIu64 " records_lost=%" PRIu64
            " acks_received=%" PRIu64 " acked_watermark=%" PRIu64 " unacked_batches=%zu"
            " unacked_bytes=%" PRIu64,
            c->records_read, c->batches_produced, c->bytes_produced, c->records_truncated,
            c->resends, c->records_lost, c->acks_received, c->acked_watermark, journal_len(a),
            a->unacked_bytes);
    if (a->nlisteners)
        lf_info(COMP,
                "syslog_received=%" PRIu64 " syslog_truncated=%" PRIu64 " syslog_malformed=%" PRIu64
                " syslog_connections=%" PRIu64 " syslog_refused=%" PRIu64 " syslog_stalled=%" PRIu64
                " syslog_idle_closed=%" PRIu64 " syslog_tls_failures=%" PRIu64
                " syslog_udp_dropped=%" PRIu64 " syslog_spool_errors=%" PRIu64
                " spool_paused=%" PRIu64 " spool_bytes=%" PRIu64,
                c->syslog_received, c->syslog_truncated, c->syslog_malformed, c->syslog_connections,
                c->syslog_refused, c->syslog_stalled, c->syslog_idle_closed, c->syslog_tls_failures,
                c->syslog_udp_dropped, c->syslog_spool_errors, c->spool_paused,
                a->spool_budget.used);
    lf_err_t rc = lf_agent_state_put_counters(a->st, c);
    if (rc != LF_OK)
        lf_warn(COMP, "state: persist counters: %s", lf_strerror(rc));
}

static void on_status_timer(uv_timer_t *t)
{
    log_counters(t->data);
}

static void on_poll_timer(uv_timer_t *t)
{
    lf_agent_t *a = t->data;
    if (a->stopping)
        return;
    if (a->fatal)
        producer_recreate(a);
    if (a->producer)
        on_producer_queue(a);
    ack_fetch_update(a);
    spool_resume_check(a);
    if (a->cfg->limits.spool_sync == LF_AGENT_SPOOL_SYNC_CFG_BATCH)
        for (size_t i = 0; i < a->nlisteners; i++)
            spool_sync_start(&a->listeners[i]); /* a failed sync is retried here */
    int64_t now = lf_time_mono_ms();
    if (journal_len(a) > 0 && now - a->last_progress_ms >= a->ack_timeout_cur) {
        lf_warn(COMP,
                "no acknowledgement for %" PRId64 " ms: re-sending %zu batches (seq %" PRIu64
                "-%" PRIu64 ")",
                now - a->last_progress_ms, journal_len(a), a->ents[a->head].jb.first_seq,
                lf_agent_jbatch_last(&a->ents[a->tail - 1].jb));
        a->last_progress_ms = now;
        a->ack_timeout_cur = a->ack_timeout_cur * 2 > ACK_BACKOFF_MAX_MS ? ACK_BACKOFF_MAX_MS
                                                                         : a->ack_timeout_cur * 2;
        resend_all(a);
    }
    service_sends(a);
    if (a->npatterns && now - a->last_glob_ms >= a->cfg->limits.glob_interval_ms) {
        a->last_glob_ms = now;
        glob_scan(a, now);
    }
    pump(a);
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void agent_shutdown(lf_agent_t *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    lf_info(COMP, "stopping: flushing the producer (up to %d s)", SHUTDOWN_FLUSH_MS / 1000);
    /* Listeners first: what they received is written (and synced) to the
     * spool, read at the next start. */
    for (size_t i = 0; i < a->nlisteners; i++)
        lf_agent_syslog_close(a->listeners[i].net);
    lf_agent_yara_stop(a->yara);
    if (a->nlisteners)
        spool_flush_all(a);
    close_handle((uv_handle_t *)&a->spool_check);
    close_handle((uv_handle_t *)&a->spool_timer);
    uv_timer_stop(&a->poll_timer);
    uv_timer_stop(&a->status_timer);
    uv_timer_stop(&a->hb_timer);
    uv_timer_stop(&a->linger_timer);
    uv_timer_stop(&a->meta_timer);
    if (a->producer) {
        rd_kafka_resp_err_t err = rd_kafka_flush(a->producer, SHUTDOWN_FLUSH_MS);
        if (err)
            lf_warn(COMP,
                    "%d messages still undelivered; they stay journalled and are re-sent at "
                    "the next start",
                    rd_kafka_outq_len(a->producer));
    }
    log_counters(a);
    watch_retire(a, &a->producer_watch);
    watch_retire(a, &a->consumer_watch);
    close_handle((uv_handle_t *)&a->poll_timer);
    close_handle((uv_handle_t *)&a->status_timer);
    close_handle((uv_handle_t *)&a->hb_timer);
    close_handle((uv_handle_t *)&a->linger_timer);
    close_handle((uv_handle_t *)&a->meta_timer);
    close_handle((uv_handle_t *)&a->stop_async);
    if (a->signals) {
        close_handle((uv_handle_t *)&a->sig_term);
        close_handle((uv_handle_t *)&a->sig_int);
    }
    for (size_t i = 0; i < a->nsources; i++) {
        if (a->sources[i]) {
            close_handle((uv_handle_t *)&a->sources[i]->ev_file);
            close_handle((uv_handle_t *)&a->sources[i]->ev_dir);
        }
    }
    for (agent_source_t *r = a->retired_sources; r; r = r->next_retired) {
        close_handle((uv_handle_t *)&r->ev_file);
        close_handle((uv_handle_t *)&r->ev_dir);
    }
    for (size_t i = 0; i < a->njournald; i++)
        close_handle((uv_handle_t *)&a->journald[i].poll);
}

static void on_stop_async(uv_async_t *h)
{
    agent_shutdown(h->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    lf_info(COMP, "signal %d received", signum);
    agent_shutdown(h->data);
}

static bool load_entry(void *opaque, const lf_agent_jbatch_t *b)
{
    lf_agent_t *a = opaque;
    const agent_origin_t *o = origin_intern(a, b->source, b->path);
    agent_entry_t *e = o ? journal_push(a) : NULL;
    if (!e)
        return false;
    e->jb = *b;
    e->jb.source = lf_str_c(o->name);
    e->jb.path = lf_str_c(o->path);
    a->unacked_bytes += b->bytes;
    return true;
}

lf_err_t lf_agent_new(const lf_agent_config_t *cfg, lf_agent_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    lf_agent_t *a = calloc(1, sizeof *a);
    if (!a)
        return LF_ENOMEM;
    a->cfg = cfg;
    if (uv_loop_init(&a->loop) != 0) {
        free(a);
        snprintf(errstr, errlen, "cannot create the event loop");
        return LF_EIO;
    }
    uv_async_init(&a->loop, &a->stop_async, on_stop_async);
    a->stop_async.data = a;
    uv_check_init(&a->loop, &a->spool_check);
    uv_timer_init(&a->loop, &a->spool_timer);
    a->spool_check.data = a->spool_timer.data = a;
    a->spool_budget.max = (uint64_t)cfg->limits.spool_max_bytes;
    lf_buf_init(&a->wire,
                (size_t)(cfg->limits.batch_max_bytes + cfg->limits.max_record_bytes) + WIRE_SLACK);
    a->ack_timeout_cur = cfg->limits.ack_timeout_ms;
    lf_buf_init(&a->hb_wire, 64 * 1024);
    uv_timer_init(&a->loop, &a->hb_timer);
    a->hb_timer.data = a;
    uv_timer_init(&a->loop, &a->linger_timer);
    a->linger_timer.data = a;
    *out = a;
    lf_err_t hrc = lf_agent_hb_new(cfg, &a->hb, errstr, errlen);
    if (hrc != LF_OK)
        return hrc;
    lf_agent_hb_capture_errors(a->hb);

    lf_agent_state_options_t so = {.map_size = (uint64_t)cfg->limits.state_map_size,
                                   .sync = cfg->limits.state_sync,
                                   .agent_id = cfg->agent.id};
    lf_err_t rc = lf_agent_state_open(cfg->agent.state_dir, &so, &a->st, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    lf_agent_state_get_meta(a->st, &a->meta);
    lf_agent_state_get_counters(a->st, &a->ctr);
    a->ctr.acked_watermark = a->meta.acked;
    atomic_store(&a->acked_shared, a->meta.acked);
    a->ids = (lf_agent_batch_ids_t){.agent_id = lf_str_c(cfg->agent.id),
                                    .agency = lf_str_c(cfg->agent.agency),
                                    .host = lf_str_c(cfg->agent.host),
                                    .epoch_seq = a->meta.epoch_seq};

    rc = lf_agent_state_foreach_batch(a->st, load_entry, a);
    if (rc != LF_OK) {
        snprintf(errstr, errlen, "state_dir %s: reading the journal: %s", cfg->agent.state_dir,
                 lf_strerror(rc));
        return rc;
    }
    /* Listeners: their spools (journal entries refer to segments) and sockets. */
    a->nlisteners = cfg->listener_count + (cfg->yara_scan_count ? 1 : 0);
    lf_agent_yara_spool_config(cfg, &a->yara_spool_cfg);
    a->listeners = calloc(a->nlisteners ? a->nlisteners : 1, sizeof *a->listeners);
    if (!a->listeners)
        return LF_ENOMEM;
    for (size_t i = 0; i < a->nlisteners; i++) {
        rc = listener_new(a, i, errstr, errlen);
        if (rc != LF_OK)
            return rc;
    }
    /* Re-open the file of every journalled batch by identity. */
    for (size_t i = a->head; i < a->tail; i++) {
        agent_entry_t *e = &a->ents[i];
        if (e->jb.flags & (LF_AGENT_JBATCH_LOST | LF_AGENT_JBATCH_JOURNALD))
            continue; /* journald batches are re-read from the journal */
        bool spool = e->jb.flags & LF_AGENT_JBATCH_SPOOL;
        e->file =
            spool ? spool_entry_file(a, &e->jb) : file_get(a, e->jb.dev, e->jb.ino, e->jb.path.ptr);
        if (e->file)
            e->file->refs++;
        else
            entry_lose(a, e,
                       spool ? "spool segment is gone (deleted while the agent was stopped)"
                             : "file is gone (deleted or rotated away while stopped)");
    }
    for (size_t i = 0; i < a->nlisteners; i++)
        listener_resume(&a->listeners[i]);
    a->njournald = cfg->journald_count;
    a->journald = calloc(a->njournald ? a->njournald : 1, sizeof *a->journald);
    if (!a->journald)
        return LF_ENOMEM;
    for (size_t i = 0; i < a->njournald; i++) {
        rc = journald_new(a, i, errstr, errlen);
        if (rc != LF_OK)
            return rc;
    }

    a->sources = calloc(LF_AGENT_MAX_SOURCES, sizeof *a->sources);
    a->patterns = calloc(cfg->source_count ? cfg->source_count : 1, sizeof *a->patterns);
    if (!a->sources || !a->patterns)
        return LF_ENOMEM;
    int64_t now = lf_time_mono_ms();
    for (size_t i = 0; i < cfg->source_count; i++) {
        if (is_pattern(cfg->sources[i].path)) {
            a->patterns[a->npatterns++] = &cfg->sources[i];
            continue;
        }
        rc = source_add(a, &cfg->sources[i], NULL, now);
        if (rc != LF_OK)
            return rc;
    }
    rc = glob_scan(a, now);
    if (rc != LF_OK)
        return rc;
    a->last_glob_ms = now;

    rc = producer_create(a, errstr, errlen);
    if (rc == LF_OK)
        rc = consumer_create(a, errstr, errlen);
    return rc;
}

lf_err_t lf_agent_run(lf_agent_t *a, bool handle_signals)
{
    const lf_agent_config_t *cfg = a->cfg;
    lf_info(COMP,
            "agent %s (agency %s) starting: epoch %" PRIu64 ", next seq %" PRIu64
            ", acknowledged %" PRIu64 ", %zu journalled batches to re-send, %zu sources",
            cfg->agent.id, cfg->agent.agency, a->meta.epoch_seq, a->meta.next_seq, a->meta.acked,
            journal_len(a), a->nsources);
    uv_timer_init(&a->loop, &a->poll_timer);
    uv_timer_init(&a->loop, &a->status_timer);
    uv_timer_init(&a->loop, &a->meta_timer);
    a->poll_timer.data = a->status_timer.data = a->meta_timer.data = a;
    if (handle_signals) {
        a->signals = true;
        uv_signal_init(&a->loop, &a->sig_term);
        uv_signal_init(&a->loop, &a->sig_int);
        a->sig_term.data = a->sig_int.data = a;
        uv_signal_start(&a->sig_term, on_signal, SIGTERM);
        uv_signal_start(&a->sig_int, on_signal, SIGINT);
    }
    a->running = true;
    if (watch_start(a, &a->producer_watch, a->producer_q, on_producer_queue) != LF_OK ||
        watch_start(a, &a->consumer_watch, a->consumer_q, on_consumer_queue) != LF_OK) {
        lf_error(COMP, "cannot watch the Kafka queues");
        agent_shutdown(a);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        return LF_EIO;
    }
    /* The heartbeat first, so lianfangd knows (and enrols) the agent before
     * its batches; then the start-up re-send: every journalled batch goes
     * out before new reading. */
    heartbeat_send(a);
    uv_timer_start(&a->hb_timer, on_hb_timer, (uint64_t)cfg->agent.heartbeat_interval_ms,
                   (uint64_t)cfg->agent.heartbeat_interval_ms);
    a->last_progress_ms = lf_time_mono_ms();
    resend_all(a);
    for (size_t i = 0; i < a->nlisteners; i++) {
        char err[512];
        if (lf_agent_syslog_start(a->listeners[i].net, err, sizeof err) != LF_OK)
            lf_error(COMP, "%s", err);
    }
    if (a->yara) {
        char err[512];
        if (lf_agent_yara_start(a->yara, err, sizeof err) != LF_OK)
            lf_error(COMP, "YARA scans: %s (scanning with the rule set kept, if any)", err);
    }
    if (a->nlisteners && cfg->limits.spool_sync == LF_AGENT_SPOOL_SYNC_CFG_INTERVAL)
        uv_timer_start(&a->spool_timer, on_spool_timer,
                       (uint64_t)cfg->limits.spool_sync_interval_ms,
                       (uint64_t)cfg->limits.spool_sync_interval_ms);
    for (size_t i = 0; i < a->nsources; i++)
        if (a->sources[i])
            source_watch_start(a->sources[i]);
    for (size_t i = 0; i < a->njournald; i++) {
        int events = 0, fd = lf_agent_journald_fd(a->journald[i].jd, &events);
        if (fd < 0 || uv_poll_init(&a->loop, &a->journald[i].poll, fd) != 0) {
            lf_warn(COMP,
                    "journald source %s: no change notification; read every "
                    "limits.poll_interval",
                    a->journald[i].cfg->name);
            continue;
        }
        a->journald[i].poll.data = &a->journald[i];
        uv_poll_start(&a->journald[i].poll, (events & POLLOUT ? UV_WRITABLE : 0) | UV_READABLE,
                      on_journald_poll);
    }
    uv_timer_start(&a->poll_timer, on_poll_timer, 0, (uint64_t)cfg->limits.poll_interval_ms);
    uv_timer_start(&a->status_timer, on_status_timer, (uint64_t)cfg->agent.status_interval_ms,
                   (uint64_t)cfg->agent.status_interval_ms);
    uv_timer_start(&a->meta_timer, on_meta_timer, 0, 0);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    a->running = false;
    if (a->consumer)
        rd_kafka_consumer_close(a->consumer);
    lf_info(COMP, "stopped");
    return LF_OK;
}

void lf_agent_stop(lf_agent_t *a)
{
    uv_async_send(&a->stop_async);
}

uint64_t lf_agent_acked_watermark(const lf_agent_t *a)
{
    return atomic_load(&((lf_agent_t *)a)->acked_shared);
}

void lf_agent_free(lf_agent_t *a)
{
    if (!a)
        return;
    if (!a->stopping) {
        /* Never ran (or failed to start): close the handles made in new. */
        a->stopping = true;
        close_handle((uv_handle_t *)&a->stop_async);
        close_handle((uv_handle_t *)&a->hb_timer);
        close_handle((uv_handle_t *)&a->linger_timer);
        close_handle((uv_handle_t *)&a->spool_check);
        close_handle((uv_handle_t *)&a->spool_timer);
        for (size_t i = 0; a->listeners && i < a->nlisteners; i++)
            lf_agent_syslog_close(a->listeners[i].net);
        lf_agent_yara_stop(a->yara);
        for (size_t i = 0; a->sources && i < a->nsources; i++) {
            if (a->sources[i]) {
                close_handle((uv_handle_t *)&a->sources[i]->ev_file);
                close_handle((uv_handle_t *)&a->sources[i]->ev_dir);
            }
        }
    }
    watch_retire(a, &a->producer_watch);
    watch_retire(a, &a->consumer_watch);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (a->producer_q)
        rd_kafka_queue_destroy(a->producer_q);
    if (a->producer)
        rd_kafka_destroy(a->producer);
    if (a->consumer_q)
        rd_kafka_queue_destroy(a->consumer_q);
    if (a->consumer)
        rd_kafka_destroy(a->consumer);
    uv_loop_close(&a->loop);
    for (retired_watch_t *r = a->retired, *n; r; r = n) {
        n = r->next;
        free(r->w);
        free(r);
    }
    for (agent_source_t *r = a->retired_sources, *next; r; r = next) {
        next = r->next_retired;
        lf_agent_reader_free(&r->reader);
        if (r->has_enc)
            lf_agent_encoding_free(&r->enc);
        if (r->has_ml)
            lf_agent_multiline_free(&r->ml);
        free(r->dir);
        free(r->own.path);
        free(r);
    }
    for (size_t i = 0; a->sources && i < a->nsources; i++) {
        agent_source_t *s = a->sources[i];
        if (!s)
            continue;
        lf_agent_reader_free(&s->reader);
        if (s->has_enc)
            lf_agent_encoding_free(&s->enc);
        if (s->has_ml)
            lf_agent_multiline_free(&s->ml);
        free(s->dir);
        free(s->own.path);
        free(s);
    }
    free(a->sources);
    free(a->patterns);
    free(a->ents);
    for (agent_file_t *f = a->files, *n; f; f = n) {
        n = f->next;
        close(f->fd);
        free(f->path);
        free(f);
    }
    lf_agent_yara_free(a->yara);
    for (size_t i = 0; a->listeners && i < a->nlisteners; i++) {
        agent_listener_t *l = &a->listeners[i];
        lf_agent_syslog_free(l->net);
        lf_agent_spool_reader_free(&l->reader);
        lf_agent_spool_close(l->spool);
    }
    free(a->listeners);
    for (size_t i = 0; a->journald && i < a->njournald; i++)
        lf_agent_journald_close(a->journald[i].jd);
    free(a->journald);
    for (agent_origin_t *o = a->origins, *n; o; o = n) {
        n = o->next;
        free(o->name);
        free(o->path);
        free(o);
    }
    lf_buf_free(&a->wire);
    lf_buf_free(&a->hb_wire);
    lf_agent_hb_free(a->hb);
    lf_agent_state_close(a->st);
    free(a);
}
