/* ack_sink: stands in for lianfangd's store in agent benchmarks. It reads the
 * `events` topic from the beginning, counts the records of every LFE1 batch
 * (re-sent records once), and publishes each agent's watermark on the
 * `acks` topic (LFA1, partition lf_wire_ack_partition) the moment it
 * advances, as lianfangd does after a store commit. The agent's send window
 * and journal therefore behave as in production, while the figures measure
 * the agent and the broker, not lianfangd's decoding and storage.
 *
 * A record counts as received when its batch has been acknowledged by the
 * broker (the agent produces with acks=all) and read back from it here.
 *
 *   ack_sink --brokers 127.0.0.1:PORT [--expect N] [--timeout S] [--idle S]
 *
 * Exits when N records were counted, when nothing new came for --idle
 * seconds after the first record, after --timeout seconds, or on SIGTERM /
 * SIGINT. Prints one line: records, batches, duplicates, gaps, and the
 * wall-clock times of the first and of the last new record (first_unix,
 * last_unix). A benchmark tool: figures only.
 */
#include "lf_buf.h"
#include "lf_wire.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_AGENTS 16

typedef struct agent {
    char id[256];
    uint64_t watermark;
    bool dirty;
} agent_t;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ack_sink: %s=%s: %s\n", k, v, err);
        return false;
    }
    return true;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        const rd_kafka_metadata_t *md = NULL;
        int n = -1;
        if (rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(t);
        if (n > 0)
            return n;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static agent_t *agent_for(agent_t *agents, size_t *n, lf_str_t id, uint64_t epoch_seq)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen(agents[i].id) == id.len && memcmp(agents[i].id, id.ptr, id.len) == 0)
            return &agents[i];
    if (*n == MAX_AGENTS || id.len >= sizeof agents[0].id)
        return NULL;
    agent_t *a = &agents[(*n)++];
    memcpy(a->id, id.ptr, id.len);
    a->id[id.len] = '\0';
    a->watermark = epoch_seq - 1;
    return a;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL;
    uint64_t expect = 0, timeout_s = 600, idle_s = 0;
    static const struct option opts[] = {{"brokers", required_argument, 0, 'b'},
                                         {"expect", required_argument, 0, 'n'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"idle", required_argument, 0, 'i'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "b:n:t:i:", opts, NULL)) != -1) {
        uint64_t v = 0;
        if (c == 'b') {
            brokers = optarg;
            continue;
        }
        if ((c != 'n' && c != 't' && c != 'i') || !parse_u64(optarg, &v)) {
            fprintf(stderr, "usage: ack_sink --brokers HOST:PORT [--expect N] [--timeout S] "
                            "[--idle S]\n");
            return 2;
        }
        if (c == 'n')
            expect = v;
        else if (c == 't')
            timeout_s = v;
        else
            idle_s = v;
    }
    if (!brokers) {
        fprintf(stderr, "ack_sink: --brokers is required\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    char err[512];
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    if (!set(cc, "bootstrap.servers", brokers) || !set(cc, "group.id", "lianfang-bench-sink") ||
        !set(cc, "enable.auto.commit", "false") || !set(cc, "fetch.wait.max.ms", "5") ||
        !set(cc, "enable.partition.eof", "false"))
        return 2;
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    if (!set(pc, "bootstrap.servers", brokers) || !set(pc, "linger.ms", "1"))
        return 2;
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!consumer || !producer) {
        fprintf(stderr, "ack_sink: %s\n", err);
        return 1;
    }
    int events_parts = partitions_of(consumer, "events");
    int acks_parts = partitions_of(producer, "acks");
    if (events_parts < 0 || acks_parts < 0) {
        fprintf(stderr, "ack_sink: topics events/acks not found on %s\n", brokers);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(events_parts);
    for (int p = 0; p < events_parts; p++)
        rd_kafka_topic_partition_list_add(parts, "events", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    fprintf(stderr, "ack_sink: reading events (%d partitions), acks to %d partitions\n",
            events_parts, acks_parts);

    agent_t agents[MAX_AGENTS];
    size_t nagents = 0;
    uint64_t records = 0, batches = 0, dups = 0, gaps = 0, errors = 0;
    double first_unix = 0, last_unix = 0, last_new_mono = 0;
    double started = now_mono();
    lf_buf_t ack;
    lf_buf_init(&ack, 4096);
    while (!stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 5);
        if (m) {
            if (m->err) {
                if (errors++ < 5)
                    fprintf(stderr, "ack_sink: consume: %s\n", rd_kafka_message_errstr(m));
            } else if (m->len >= 4 && memcmp(m->payload, "LFE1", 4) == 0) {
                lf_wire_batch_t b;
                if (lf_wire_batch_parse(m->payload, m->len, &b) == LF_OK) {
                    agent_t *a = agent_for(agents, &nagents, b.h.agent_id, b.h.epoch_seq);
                    uint64_t last = b.h.first_seq + b.count - 1;
                    batches++;
                    if (a && b.count > 0) {
                        if (b.h.first_seq > a->watermark + 1)
                            gaps++;
                        if (last > a->watermark) {
                            uint64_t fresh =
                                b.h.first_seq > a->watermark ? b.count : last - a->watermark;
                            dups += b.count - fresh;
                            records += fresh;
                            a->watermark = last;
                            a->dirty = true;
                            last_unix = now_real();
                            last_new_mono = now_mono();
                            if (first_unix == 0)
                                first_unix = last_unix;
                        } else {
                            dups += b.count;
                        }
                    }
                } else if (errors++ < 5) {
                    fprintf(stderr, "ack_sink: malformed batch at offset %" PRId64 "\n", m->offset);
                }
            }
            rd_kafka_message_destroy(m);
        }
        for (size_t i = 0; i < nagents; i++) {
            agent_t *a = &agents[i];
            if (!a->dirty)
                continue;
            lf_wire_ack_t w = {.watermark = a->watermark,
                               .stored_time_ms = (int64_t)(now_real() * 1000.0),
                               .agent_id = {a->id, strlen(a->id)}};
            if (lf_wire_ack_encode(&ack, &w) != LF_OK)
                continue;
            rd_kafka_resp_err_t perr = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC("acks"),
                RD_KAFKA_V_PARTITION(lf_wire_ack_partition(w.agent_id, acks_parts)),
                RD_KAFKA_V_KEY(a->id, strlen(a->id)), RD_KAFKA_V_VALUE(ack.data, ack.len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (perr == RD_KAFKA_RESP_ERR_NO_ERROR)
                a->dirty = false;
        }
        rd_kafka_poll(producer, 0);
        double t = now_mono();
        if (expect && records >= expect)
            break;
        if (idle_s && first_unix > 0 && t - last_new_mono >= (double)idle_s)
            break;
        if (t - started >= (double)timeout_s)
            break;
    }
    rd_kafka_flush(producer, 2000);
    printf("records=%" PRIu64 " batches=%" PRIu64 " duplicates=%" PRIu64 " gaps=%" PRIu64
           " errors=%" PRIu64 " first_unix=%.6f last_unix=%.6f\n",
           records, batches, dups, gaps, errors, first_unix, last_unix);
    fflush(stdout);
    lf_buf_free(&ack);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    return 0;
}
