/* The real producer and acknowledgement path against librdkafka's mock
 * cluster: the agent produces a file's lines, a test consumer decodes them,
 * a restart re-sends the journal byte for byte, an acknowledgement empties
 * the journal. */
#include "agent_state.h"
#include "agent_test_util.h"
#include "lf_agent.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define LINES        3000
#define ACK_PARTS    4
#define WAIT_MS      60000
#define MAX_MESSAGES 256

typedef struct message {
    uint64_t first_seq;
    uint32_t count;
    char *payload;
    size_t len;
} message_t;

typedef struct world {
    char *dir;
    char *log;
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    char config[2048];
} world_t;

static int setup(void **state)
{
    world_t *w = calloc(1, sizeof *w);
    w->dir = test_tmpdir();
    w->log = test_path(w->dir, "app.log");
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    w->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(w->mock_rk);
    w->mock = rd_kafka_mock_cluster_new(w->mock_rk, 1);
    assert_non_null(w->mock);
    assert_int_equal(rd_kafka_mock_topic_create(w->mock, "events", 1, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(w->mock, "acks", ACK_PARTS, 1), 0);
    snprintf(w->config, sizeof w->config,
             "agent:\n  id: web-01\n  agency: TC-01\n  host: web-01.example\n"
             "  state_dir: %s/state\n  log_level: warn\n"
             "kafka:\n  brokers: %s\n  linger: 1ms\n"
             "sources:\n  - name: app\n    path: %s\n    start_at: beginning\n"
             "limits:\n  batch_max_records: 500\n  poll_interval: 20ms\n"
             "  partial_line_timeout: 200ms\n  ack_timeout: 60s\n",
             w->dir, rd_kafka_mock_cluster_bootstraps(w->mock), w->log);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world_t *w = *state;
    rd_kafka_mock_cluster_destroy(w->mock);
    rd_kafka_destroy(w->mock_rk);
    test_rmtree(w->dir);
    free(w->dir);
    free(w->log);
    free(w);
    return 0;
}

typedef struct running {
    lf_agent_config_t cfg;
    lf_agent_t *agent;
    pthread_t thread;
} running_t;

static void *agent_thread(void *arg)
{
    running_t *r = arg;
    lf_agent_run(r->agent, false);
    return NULL;
}

static void agent_start(world_t *w, running_t *r)
{
    memset(r, 0, sizeof *r);
    char err[512] = "";
    assert_int_equal(lf_agent_config_load_string(w->config, "test.yaml", &r->cfg, err, sizeof err),
                     LF_OK);
    if (lf_agent_new(&r->cfg, &r->agent, err, sizeof err) != LF_OK)
        fail_msg("lf_agent_new: %s", err);
    assert_int_equal(pthread_create(&r->thread, NULL, agent_thread, r), 0);
}

static void agent_finish(running_t *r)
{
    lf_agent_stop(r->agent);
    pthread_join(r->thread, NULL);
    lf_agent_free(r->agent);
    lf_agent_config_free(&r->cfg);
}

/* Heartbeats (LFH1) share the events topic with the batches; these tests
 * look at the batches only. */
static bool is_heartbeat(const rd_kafka_message_t *m)
{
    return m->len >= 4 && memcmp(m->payload, LF_WIRE_HEARTBEAT_MAGIC, 4) == 0;
}

static rd_kafka_t *events_consumer(world_t *w, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), err,
                      sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "events", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    return c;
}

/* Consumes event batches until `records` distinct sequence numbers were seen
 * after `from_seq`; records each message. Returns the highest seq. */
static uint64_t consume_records(rd_kafka_t *c, uint64_t from_seq, uint64_t records, message_t *msgs,
                                size_t *nmsgs, const char *expect_prefix, uint64_t number0)
{
    uint64_t seen = 0, high = 0;
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (seen < records) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("only %llu of %llu records arrived", (unsigned long long)seen,
                     (unsigned long long)records);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err || is_heartbeat(m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        assert_int_equal(m->key_len, 5);
        assert_memory_equal(m->key, "TC-01", 5);
        lf_wire_batch_t b;
        assert_int_equal(lf_wire_batch_parse(m->payload, m->len, &b), LF_OK);
        assert_true(lf_str_eq_c(b.h.agent_id, "web-01"));
        assert_true(lf_str_eq_c(b.h.source, "app"));
        assert_true(b.h.epoch_seq <= b.h.first_seq);
        if (*nmsgs < MAX_MESSAGES) {
            message_t *rec = &msgs[(*nmsgs)++];
            rec->first_seq = b.h.first_seq;
            rec->count = b.count;
            rec->payload = malloc(m->len);
            memcpy(rec->payload, m->payload, m->len);
            rec->len = m->len;
        }
        lf_wire_iter_t it;
        lf_wire_record_t r;
        lf_wire_batch_iter(&b, &it);
        while (lf_wire_batch_next(&b, &it, &r) == LF_OK) {
            if (r.seq < from_seq)
                continue;
            /* Records arrive in order and without gaps. */
            if (r.seq != from_seq + seen)
                continue; /* a duplicate of one already counted */
            char want[64];
            int n = snprintf(want, sizeof want, "%s%llu", expect_prefix,
                             (unsigned long long)(number0 + r.seq - from_seq));
            if (r.data.len != (size_t)n || memcmp(r.data.ptr, want, (size_t)n) != 0)
                fail_msg("seq %llu: got '%.*s', want '%s'", (unsigned long long)r.seq,
                         (int)r.data.len, r.data.ptr, want);
            high = r.seq;
            seen++;
        }
        rd_kafka_message_destroy(m);
    }
    return high;
}

static void publish_ack(world_t *w, rd_kafka_t *p, const char *agent_id, uint64_t watermark)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 4096);
    lf_wire_ack_t ack = {
        .watermark = watermark, .stored_time_ms = lf_time_now_ms(), .agent_id = lf_str_c(agent_id)};
    assert_int_equal(lf_wire_ack_encode(&buf, &ack), LF_OK);
    int32_t part = lf_wire_ack_partition(lf_str_c(agent_id), ACK_PARTS);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("acks"), RD_KAFKA_V_PARTITION(part),
                                       RD_KAFKA_V_KEY(agent_id, strlen(agent_id)),
                                       RD_KAFKA_V_VALUE(buf.data, buf.len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    rd_kafka_flush(p, 5000);
    lf_buf_free(&buf);
}

static void write_lines(const char *path, const char *prefix, int n, bool last_newline)
{
    lf_buf_t text;
    lf_buf_init(&text, 16u << 20);
    for (int i = 0; i < n; i++)
        lf_buf_printf(&text, "%s%d%s", prefix, i, (i < n - 1 || last_newline) ? "\n" : "");
    test_write_file(path, text.data, text.len, 1);
    lf_buf_free(&text);
}

static void test_kafka_produce_resend_and_ack(void **state)
{
    world_t *w = *state;
    lf_log_set_level(LF_LOG_WARN);
    write_lines(w->log, "line ", LINES, true);

    /* First run: every line arrives, numbered from the epoch. */
    running_t r;
    agent_start(w, &r);
    rd_kafka_t *c = events_consumer(w, "test-1");
    message_t first[MAX_MESSAGES], again[MAX_MESSAGES];
    size_t nfirst = 0, nagain = 0;
    char err[512];
    char *sdir = test_path(w->dir, "state");
    /* The epoch is in the state, which only the agent may open now: take it
     * from the first batch instead. */
    while (nfirst == 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && !is_heartbeat(m)) {
            lf_wire_batch_t b;
            assert_int_equal(lf_wire_batch_parse(m->payload, m->len, &b), LF_OK);
            first[0].first_seq = b.h.first_seq;
            first[0].count = b.count;
            first[0].payload = malloc(m->len);
            memcpy(first[0].payload, m->payload, m->len);
            first[0].len = m->len;
            nfirst = 1;
            assert_int_equal(b.h.first_seq, b.h.epoch_seq); /* new state: starts at the epoch */
        }
        rd_kafka_message_destroy(m);
    }
    uint64_t epoch = first[0].first_seq;
    free(first[0].payload);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    /* A consumer that stays open across both runs, so the second run's
     * messages are told apart from the first's. */
    c = events_consumer(w, "test-2");
    nfirst = 0;
    uint64_t high = consume_records(c, epoch, LINES, first, &nfirst, "line ", 0);
    assert_int_equal(high, epoch + LINES - 1);
    assert_int_equal(lf_agent_acked_watermark(r.agent), epoch - 1);
    agent_finish(&r);

    /* Nothing was acknowledged: the journal holds every batch. */
    lf_agent_state_options_t ro = {.readonly = true};
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(sdir, &ro, &st, err, sizeof err), LF_OK);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.next_seq, epoch + LINES);
    assert_int_equal(m.acked, epoch - 1);
    lf_agent_state_close(st);

    /* Second run: the start-up re-send repeats the same batches byte for
     * byte; then new lines, including a last one without newline, follow. */
    agent_start(w, &r);
    write_lines(w->log, "more ", 10, false);
    consume_records(c, epoch, LINES, again, &nagain, "line ", 0);
    size_t compared = 0;
    for (size_t i = 0; i < nagain; i++)
        for (size_t j = 0; j < nfirst; j++)
            if (again[i].first_seq == first[j].first_seq) {
                assert_int_equal(again[i].len, first[j].len);
                assert_memory_equal(again[i].payload, first[j].payload, first[j].len);
                compared++;
            }
    assert_true(compared >= (LINES + 499) / 500);
    message_t tail[MAX_MESSAGES];
    size_t ntail = 0;
    high = consume_records(c, epoch + LINES, 10, tail, &ntail, "more ", 0);
    assert_int_equal(high, epoch + LINES + 9);

    /* An acknowledgement for another agent is ignored; ours empties the
     * journal. The ack is repeated until the agent's consumer is assigned. */
    char perr[512];
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), perr,
                      sizeof perr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, perr, sizeof perr);
    assert_non_null(p);
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (lf_agent_acked_watermark(r.agent) != high) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("the agent never applied the acknowledgement");
        publish_ack(w, p, "web-99", high + 1000000);
        publish_ack(w, p, "web-01", high);
        usleep(200 * 1000);
    }
    rd_kafka_destroy(p);
    agent_finish(&r);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);

    assert_int_equal(lf_agent_state_open(sdir, &ro, &st, err, sizeof err), LF_OK);
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.acked, high);
    assert_int_equal(m.next_seq, high + 1);
    lf_agent_filepos_t pos;
    assert_int_equal(lf_agent_state_get_file(st, w->log, &pos), LF_OK);
    struct stat sb;
    assert_int_equal(stat(w->log, &sb), 0);
    assert_int_equal(pos.read_offset, (uint64_t)sb.st_size);
    lf_agent_counters_t ctr;
    assert_int_equal(lf_agent_state_get_counters(st, &ctr), LF_OK);
    assert_int_equal(ctr.acked_watermark, high);
    assert_true(ctr.resends >= compared);
    assert_int_equal(ctr.records_read, LINES + 10);
    lf_agent_state_close(st);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mem = open_memstream(&out, &outlen);
    assert_int_equal(lf_agent_status_write(mem, sdir, err, sizeof err), LF_OK);
    fclose(mem);
    assert_non_null(strstr(out, "\"batches\":0"));
    free(out);

    for (size_t i = 0; i < nfirst; i++)
        free(first[i].payload);
    for (size_t i = 0; i < nagain; i++)
        free(again[i].payload);
    for (size_t i = 0; i < ntail; i++)
        free(tail[i].payload);
    free(sdir);
}

/* Rename rotation while running: late lines written to the old file are read
 * before the agent moves to the new file, which is read from its start;
 * truncation restarts at 0. The acknowledgement then releases every batch. */
static void test_kafka_follows_rotation_and_truncation(void **state)
{
    world_t *w = *state;
    lf_log_set_level(LF_LOG_ERROR);
    write_lines(w->log, "r", 100, true);
    running_t r;
    agent_start(w, &r);
    rd_kafka_t *c = events_consumer(w, "rot");
    message_t msgs[MAX_MESSAGES];
    size_t nmsgs = 0;
    /* The first batch gives the epoch. */
    uint64_t epoch = 0;
    while (!epoch) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && !is_heartbeat(m)) {
            lf_wire_batch_t b;
            assert_int_equal(lf_wire_batch_parse(m->payload, m->len, &b), LF_OK);
            epoch = b.h.epoch_seq;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    c = events_consumer(w, "rot-2");
    consume_records(c, epoch, 100, msgs, &nmsgs, "r", 0);

    char *old = test_path(w->dir, "app.log.1");
    assert_int_equal(rename(w->log, old), 0);
    /* The writer still appends to the renamed file... */
    lf_buf_t text;
    lf_buf_init(&text, 1 << 20);
    for (int i = 100; i < 105; i++)
        lf_buf_printf(&text, "r%d\n", i);
    test_write_file(old, text.data, text.len, 1);
    /* ...then reopens the path: a new file. */
    lf_buf_reset(&text);
    for (int i = 105; i < 150; i++)
        lf_buf_printf(&text, "r%d\n", i);
    test_write_file(w->log, text.data, text.len, 0);
    consume_records(c, epoch + 100, 50, msgs, &nmsgs, "r", 100);

    /* copytruncate-style: the file is emptied and written again. */
    usleep(300 * 1000);
    lf_buf_reset(&text);
    for (int i = 150; i < 160; i++)
        lf_buf_printf(&text, "r%d\n", i);
    test_write_file(w->log, text.data, text.len, 0);
    uint64_t high = consume_records(c, epoch + 150, 10, msgs, &nmsgs, "r", 150);
    lf_buf_free(&text);

    char perr[512];
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), perr,
                      sizeof perr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, perr, sizeof perr);
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (lf_agent_acked_watermark(r.agent) != high) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("the agent never applied the acknowledgement");
        publish_ack(w, p, "web-01", high);
        usleep(200 * 1000);
    }
    rd_kafka_destroy(p);
    agent_finish(&r);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);

    char err[512];
    char *sdir = test_path(w->dir, "state");
    lf_agent_state_options_t ro = {.readonly = true};
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(sdir, &ro, &st, err, sizeof err), LF_OK);
    lf_agent_filepos_t pos;
    assert_int_equal(lf_agent_state_get_file(st, w->log, &pos), LF_OK);
    struct stat sb;
    assert_int_equal(stat(w->log, &sb), 0);
    assert_int_equal(pos.ino, (uint64_t)sb.st_ino);
    assert_int_equal(pos.read_offset, (uint64_t)sb.st_size);
    lf_agent_state_meta_t m;
    lf_agent_state_get_meta(st, &m);
    assert_int_equal(m.acked, high);
    assert_int_equal(m.next_seq, epoch + 160);
    lf_agent_state_close(st);
    for (size_t i = 0; i < nmsgs; i++)
        free(msgs[i].payload);
    free(sdir);
    free(old);
}

/* Backpressure: with at most 16 unacknowledged batches the agent never runs
 * more than 16 records ahead of the watermark, and resumes on each ack. */
static void test_kafka_backpressure_waits_for_acks(void **state)
{
    world_t *w = *state;
    lf_log_set_level(LF_LOG_ERROR);
    char *at = strstr(w->config, "batch_max_records: 500");
    assert_non_null(at);
    char rest[1024];
    snprintf(rest, sizeof rest, "%s", at + strlen("batch_max_records: 500"));
    snprintf(at, sizeof w->config - (size_t)(at - w->config),
             "batch_max_records: 1\n  max_unacked_batches: 16%s", rest);
    write_lines(w->log, "b", 100, true);
    running_t r;
    agent_start(w, &r);
    rd_kafka_t *c = events_consumer(w, "bp");
    char perr[512];
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), perr,
                      sizeof perr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, perr, sizeof perr);
    uint64_t epoch = 0, high = 0, acked = 0;
    int acks_sent = 0;
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (!epoch || high < epoch + 99 || lf_agent_acked_watermark(r.agent) < epoch + 99) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("stalled at seq %llu", (unsigned long long)(high - epoch));
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (m && !m->err && !is_heartbeat(m)) {
            lf_wire_batch_t b;
            assert_int_equal(lf_wire_batch_parse(m->payload, m->len, &b), LF_OK);
            assert_int_equal(b.count, 1);
            if (!epoch) {
                epoch = b.h.epoch_seq;
                acked = epoch - 1;
            }
            if (b.h.first_seq > high)
                high = b.h.first_seq;
            /* Never more than 16 batches past what was acknowledged. */
            assert_true(high <= acked + 16);
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (!m && epoch && high > acked) {
            /* Quiet: the agent waits for us. Acknowledge what arrived. */
            publish_ack(w, p, "web-01", high);
            acks_sent++;
            while (lf_agent_acked_watermark(r.agent) < high) {
                if (lf_time_mono_ms() > deadline)
                    fail_msg("acknowledgement not applied");
                usleep(20 * 1000);
                if (lf_agent_acked_watermark(r.agent) < high)
                    publish_ack(w, p, "web-01", high);
            }
            acked = high;
        }
    }
    /* 100 records with 16 in flight at most: at least 6 rounds of acks. */
    assert_true(acks_sent >= 6);
    rd_kafka_destroy(p);
    agent_finish(&r);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kafka_backpressure_waits_for_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_produce_resend_and_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_follows_rotation_and_truncation, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
