/* Syslog listeners end to end against librdkafka's mock cluster: many TCP
 * senders (newline and octet-counting framing) and UDP at once, each record
 * delivered once with its sender's address; an oversized frame, malformed
 * frames, a sender that stalls, connections past max_connections: each
 * counted while the others keep being served; the spool is deleted as
 * acknowledgements arrive; a full spool stops TCP reading and drops UDP,
 * then drains. */
#include "agent_spool.h"
#include "agent_state.h"
#include "agent_test_util.h"
#include "lf_agent.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS   60000
#define ACK_PARTS 2
#define MAX_RECS  200000

typedef struct world {
    char *dir;
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    int tcp_port, udp_port;
    char config[4096];
} world_t;

typedef struct rec {
    char *data;
    char *sender;
    uint8_t flags;
    uint64_t seq;
} rec_t;

typedef struct records {
    rec_t *v;
    size_t n;
    uint64_t high;
} records_t;

static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int setup(void **state)
{
    world_t *w = calloc(1, sizeof *w);
    w->dir = test_tmpdir();
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    w->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(w->mock_rk);
    w->mock = rd_kafka_mock_cluster_new(w->mock_rk, 1);
    assert_non_null(w->mock);
    assert_int_equal(rd_kafka_mock_topic_create(w->mock, "events", 1, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(w->mock, "acks", ACK_PARTS, 1), 0);
    w->tcp_port = free_port(SOCK_STREAM);
    w->udp_port = free_port(SOCK_DGRAM);
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
    free(w);
    return 0;
}

static void make_config(world_t *w, const char *limits)
{
    snprintf(w->config, sizeof w->config,
             "agent:\n  id: relay-01\n  agency: TC-01\n  host: relay\n"
             "  state_dir: %s/state\n  log_level: warn\n  status_interval: 1s\n"
             "kafka:\n  brokers: %s\n  linger: 1ms\n"
             "listeners:\n"
             "  - name: net\n    protocol: tcp\n    listen: 127.0.0.1:%d\n"
             "    max_connections: 8\n    max_frame_bytes: 256\n    stall_timeout: 400ms\n"
             "  - name: dgram\n    protocol: udp\n    listen: 127.0.0.1:%d\n"
             "    max_frame_bytes: 256\n"
             "limits:\n  poll_interval: 20ms\n  ack_timeout: 60s\n%s",
             w->dir, rd_kafka_mock_cluster_bootstraps(w->mock), w->tcp_port, w->udp_port, limits);
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
    if (lf_agent_config_load_string(w->config, "test.yaml", &r->cfg, err, sizeof err) != LF_OK)
        fail_msg("config: %s", err);
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

static lf_agent_counters_t read_counters(world_t *w)
{
    char err[512];
    char *sdir = test_path(w->dir, "state");
    lf_agent_state_options_t ro = {.readonly = true};
    lf_agent_state_t *st;
    assert_int_equal(lf_agent_state_open(sdir, &ro, &st, err, sizeof err), LF_OK);
    lf_agent_counters_t c;
    assert_int_equal(lf_agent_state_get_counters(st, &c), LF_OK);
    lf_agent_state_close(st);
    free(sdir);
    return c;
}

static rd_kafka_t *events_consumer(world_t *w)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), err,
                      sizeof err);
    rd_kafka_conf_set(conf, "group.id", "syslog-test", err, sizeof err);
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

/* Polls event batches for up to ms; keeps each record (by sequence) once. */
/* Heartbeats (LFH1) share the events topic with the batches; these tests
 * look at the batches only. */
static bool is_heartbeat(const rd_kafka_message_t *m)
{
    return m->len >= 4 && memcmp(m->payload, LF_WIRE_HEARTBEAT_MAGIC, 4) == 0;
}

static void consume(rd_kafka_t *c, records_t *rs, int ms)
{
    int64_t until = lf_time_mono_ms() + ms;
    while (lf_time_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (!m)
            continue;
        if (!m->err && !is_heartbeat(m)) {
            lf_wire_batch_t b;
            assert_int_equal(lf_wire_batch_parse(m->payload, m->len, &b), LF_OK);
            assert_int_equal(b.h.flags, LF_WIRE_F_SENDERS);
            assert_true(b.h.path.len > 6 &&
                        (!memcmp(b.h.path.ptr, "tcp://", 6) || !memcmp(b.h.path.ptr, "udp://", 6)));
            lf_wire_iter_t it;
            lf_wire_record_t r;
            lf_wire_batch_iter(&b, &it);
            while (lf_wire_batch_next(&b, &it, &r) == LF_OK) {
                if (r.seq <= rs->high && rs->n > 0)
                    continue; /* a re-send */
                assert_true(rs->n < MAX_RECS);
                rec_t *x = &rs->v[rs->n++];
                x->data = strndup(r.data.ptr, r.data.len);
                x->sender = strndup(r.sender.ptr, r.sender.len);
                x->flags = r.flags;
                x->seq = r.seq;
                rs->high = r.seq;
            }
        }
        rd_kafka_message_destroy(m);
    }
}

static size_t count_prefix(const records_t *rs, const char *prefix, const char *sender)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (!strncmp(rs->v[i].data, prefix, strlen(prefix)) &&
            (!sender || !strcmp(rs->v[i].sender, sender)))
            n++;
    return n;
}

static const rec_t *find(const records_t *rs, const char *data)
{
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i].data, data))
            return &rs->v[i];
    return NULL;
}

static void records_free(records_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].data);
        free(rs->v[i].sender);
    }
    free(rs->v);
}

static int tcp_connect(int port, char *local, size_t locallen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 100 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0; i++) {
        close(fd);
        usleep(50 * 1000);
        fd = socket(AF_INET, SOCK_STREAM, 0);
    }
    if (local) {
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &len);
        char ip[32];
        inet_ntop(AF_INET, &me.sin_addr, ip, sizeof ip);
        snprintf(local, locallen, "%s:%d", ip, ntohs(me.sin_port));
    }
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

static bool peer_closed(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b;
    return recv(fd, &b, 1, 0) == 0;
}

static rd_kafka_t *ack_producer(world_t *w)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(w->mock), err,
                      sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    return p;
}

static void publish_ack(rd_kafka_t *p, uint64_t watermark)
{
    lf_buf_t buf;
    lf_buf_init(&buf, 4096);
    lf_wire_ack_t ack = {.watermark = watermark,
                         .stored_time_ms = lf_time_now_ms(),
                         .agent_id = lf_str_c("relay-01")};
    assert_int_equal(lf_wire_ack_encode(&buf, &ack), LF_OK);
    int32_t part = lf_wire_ack_partition(lf_str_c("relay-01"), ACK_PARTS);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("acks"), RD_KAFKA_V_PARTITION(part),
                      RD_KAFKA_V_VALUE(buf.data, buf.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    lf_buf_free(&buf);
}

static void ack_until(running_t *r, rd_kafka_t *p, uint64_t high)
{
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (lf_agent_acked_watermark(r->agent) < high) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("the agent never applied the acknowledgement");
        publish_ack(p, high);
        usleep(100 * 1000);
    }
}

static void wait_records(rd_kafka_t *c, records_t *rs, size_t want)
{
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    while (rs->n < want) {
        if (lf_time_mono_ms() > deadline)
            fail_msg("only %zu of %zu records arrived", rs->n, want);
        consume(c, rs, 100);
    }
}

static void test_syslog_many_senders_and_bad_ones(void **state)
{
    world_t *w = *state;
    lf_log_set_level(LF_LOG_ERROR);
    make_config(w, "  spool_segment_bytes: 64KiB\n  spool_max_bytes: 4MiB\n");
    running_t r;
    agent_start(w, &r);
    rd_kafka_t *c = events_consumer(w);
    records_t rs = {.v = calloc(MAX_RECS, sizeof(rec_t))};

    char a_addr[64], b_addr[64], s_addr[64];
    int a = tcp_connect(w->tcp_port, a_addr, sizeof a_addr);
    int b = tcp_connect(w->tcp_port, b_addr, sizeof b_addr);
    /* A sender that begins a frame and stalls. */
    int s = tcp_connect(w->tcp_port, s_addr, sizeof s_addr);
    send_str(s, "<13>stalled part");
    char line[512];
    for (int i = 0; i < 200; i++) {
        snprintf(line, sizeof line, "<13>Mar 10 09:02:00 fw-a app: newline %d\n", i);
        send_str(a, line);
        char msg[128];
        int n = snprintf(msg, sizeof msg, "<14>octet %d%s", i, i == 5 ? "\nwith newline" : "");
        snprintf(line, sizeof line, "%d %s", n, msg);
        send_str(b, line);
    }
    /* An oversized frame, then a normal one, on the newline connection. */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(line, sizeof line, "<13>big ");
    send_str(a, line);
    send_str(a, big);
    send_str(a, "\n<13>after big\n");
    /* A malformed octet-counted stream: closed by the agent. */
    int m = tcp_connect(w->tcp_port, NULL, 0);
    send_str(m, "9 <13>good0x7 <13>bad");
    assert_true(peer_closed(m, 5000));
    close(m);
    /* UDP: 100 datagrams and an empty one. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)w->udp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(u, (struct sockaddr *)&ua, sizeof ua), 0);
    struct sockaddr_in me;
    socklen_t melen = sizeof me;
    getsockname(u, (struct sockaddr *)&me, &melen);
    char u_addr[64];
    snprintf(u_addr, sizeof u_addr, "127.0.0.1:%d", ntohs(me.sin_port));
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "<13>datagram %d\n", i);
        assert_int_equal(send(u, line, (size_t)n, 0), n);
        if (i % 20 == 0)
            usleep(1000);
    }
    assert_int_equal(send(u, "\n", 1, 0), 1);
    /* The stalled sender is dropped; the others are still served. */
    assert_true(peer_closed(s, 5000));
    close(s);
    send_str(a, "<13>after the stall\n");
    send_str(b, "15 <13>after stall");
    wait_records(c, &rs, 200 + 200 + 2 + 1 + 100 + 1 + 2);

    assert_int_equal(count_prefix(&rs, "<13>Mar 10 09:02:00 fw-a app: newline ", a_addr), 200);
    assert_int_equal(count_prefix(&rs, "<14>octet ", b_addr), 200);
    assert_non_null(find(&rs, "<14>octet 5\nwith newline"));
    assert_int_equal(count_prefix(&rs, "<13>datagram ", u_addr), 100);
    const rec_t *x = find(&rs, "<13>good0");
    assert_non_null(x);
    x = find(&rs, "<13>stalled part");
    assert_non_null(x);
    assert_string_equal(x->sender, s_addr);
    assert_int_equal(x->flags, LF_REC_TRUNCATED);
    assert_non_null(find(&rs, "<13>after big"));
    assert_non_null(find(&rs, "<13>after the stall"));
    assert_non_null(find(&rs, "<13>after stall"));
    bool saw_big = false;
    for (size_t i = 0; i < rs.n; i++) {
        if (!strncmp(rs.v[i].data, "<13>big zzz", 11)) {
            assert_int_equal(strlen(rs.v[i].data), 256);
            assert_int_equal(rs.v[i].flags, LF_REC_TRUNCATED);
            saw_big = true;
        }
    }
    assert_true(saw_big);
    /* Every record exactly once. */
    for (size_t i = 1; i < rs.n; i++)
        assert_int_equal(rs.v[i].seq, rs.v[i - 1].seq + 1);

    /* max_connections (8): two idle senders are connected; seven more. */
    int extra[7];
    for (int i = 0; i < 7; i++)
        extra[i] = tcp_connect(w->tcp_port, NULL, 0);
    int refused = 0;
    for (int i = 0; i < 7; i++)
        refused += peer_closed(extra[i], i == 6 ? 3000 : 200);
    assert_int_equal(refused, 1);
    for (int i = 0; i < 7; i++)
        close(extra[i]);

    /* Acknowledging everything deletes the spool segments the reader left. */
    rd_kafka_t *p = ack_producer(w);
    ack_until(&r, p, rs.high);
    rd_kafka_destroy(p);
    close(a);
    close(b);
    close(u);
    agent_finish(&r);

    lf_agent_counters_t ctr = read_counters(w);
    assert_int_equal(ctr.syslog_received, rs.n);
    assert_int_equal(ctr.syslog_truncated, 2); /* the big frame and the stalled one */
    assert_int_equal(ctr.syslog_malformed, 2); /* bad octet count, empty datagram */
    assert_int_equal(ctr.syslog_stalled, 1);
    assert_int_equal(ctr.syslog_refused, 1);
    assert_true(ctr.syslog_connections >= 10);
    assert_int_equal(ctr.syslog_udp_dropped, 0);
    uint64_t bytes, segs;
    char *sdir = test_path(w->dir, "state");
    lf_agent_spool_usage(sdir, &bytes, &segs);
    assert_true(segs <= 2); /* what each listener's reader is on */
    free(sdir);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    records_free(&rs);
}

/* The spool fills while nothing is acknowledged: TCP reading stops (the
 * sender blocks), UDP datagrams are dropped and counted; acknowledgements
 * drain it and every TCP record arrives, once. */
static void test_syslog_spool_full_then_drains(void **state)
{
    world_t *w = *state;
    lf_log_set_level(LF_LOG_ERROR);
    make_config(w, "  spool_segment_bytes: 256KiB\n  spool_max_bytes: 4MiB\n"
                   "  max_unacked_bytes: 1MiB\n  batch_max_bytes: 64KiB\n");
    running_t r;
    agent_start(w, &r);
    rd_kafka_t *c = events_consumer(w);
    records_t rs = {.v = calloc(MAX_RECS, sizeof(rec_t))};
    int t = tcp_connect(w->tcp_port, NULL, 0);
    char pad[200];
    memset(pad, 'p', sizeof pad);
    char line[300];
    /* 200-byte lines until the socket stays unwritable for 300 ms: the
     * agent stopped reading (after about 4 MiB of spool and the socket
     * buffers). A line cut by that is finished during the drain. */
    int sent = 0;
    size_t pending_off = 0, pending_len = 0;
    int64_t deadline = lf_time_mono_ms() + WAIT_MS;
    for (;;) {
        int n = snprintf(line, sizeof line, "<13>fill %06d %.*s\n", sent, 180, pad);
        size_t off = 0;
        while (off < (size_t)n) {
            struct pollfd pfd = {.fd = t, .events = POLLOUT};
            if (poll(&pfd, 1, 300) == 0)
                break;
            ssize_t k = send(t, line + off, (size_t)n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                off += (size_t)k;
        }
        assert_true(lf_time_mono_ms() < deadline);
        if (off < (size_t)n) {
            pending_off = off;
            pending_len = (size_t)n;
            break; /* blocked: backpressure */
        }
        sent++;
    }
    assert_true(sent > 4 * 1024 * 1024 / 200 / 2);
    /* UDP is dropped now. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)w->udp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 10; i++)
        sendto(u, "<13>dropped\n", 12, 0, (struct sockaddr *)&ua, sizeof ua);
    usleep(300 * 1000);
    uint64_t bytes, segs;
    char *sdir = test_path(w->dir, "state");
    lf_agent_spool_usage(sdir, &bytes, &segs);
    assert_true(bytes >= 4u << 20);
    assert_true(bytes < (4u << 20) + (512u << 10)); /* at most one read past the bound */

    /* Drain: acknowledge whatever arrives until every line is there; the
     * cut line is finished, then more lines follow (TCP reading resumed). */
    rd_kafka_t *p = ack_producer(w);
    int more = 0;
    while (rs.n < (size_t)sent + (pending_len ? 1u : 0u) + (size_t)more || more < 100) {
        assert_true(lf_time_mono_ms() < deadline + WAIT_MS);
        consume(c, &rs, 100);
        if (rs.n)
            publish_ack(p, rs.high);
        if (pending_off < pending_len) {
            ssize_t k =
                send(t, line + pending_off, pending_len - pending_off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                pending_off += (size_t)k;
        } else if (more < 100) {
            int n = snprintf(line, sizeof line, "<13>more %06d\n", more);
            pending_off = 0;
            pending_len = (size_t)n;
            more++;
        }
    }
    ack_until(&r, p, rs.high);
    rd_kafka_destroy(p);
    close(t);
    close(u);
    agent_finish(&r);
    /* Each line exactly once (the blocked send may have gone partly). */
    assert_int_equal(count_prefix(&rs, "<13>fill ", NULL), (size_t)sent + 1);
    assert_int_equal(count_prefix(&rs, "<13>more ", NULL), (size_t)more);
    for (size_t i = 1; i < rs.n; i++)
        assert_int_equal(rs.v[i].seq, rs.v[i - 1].seq + 1);
    lf_agent_counters_t ctr = read_counters(w);
    assert_true(ctr.spool_paused >= 1);
    assert_int_equal(ctr.syslog_udp_dropped, 10);
    lf_agent_spool_usage(sdir, &bytes, &segs);
    assert_true(bytes < 512u << 10); /* acknowledged segments are gone */
    free(sdir);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    records_free(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_syslog_many_senders_and_bad_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_spool_full_then_drains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
