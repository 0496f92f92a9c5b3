#include "lf_broker.h"
#include "lf_log.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const default_topics_doc = "events, acks, control";

const lf_config_option_t lf_broker_config_options[] = {
    LF_CFG_OPT_BOOL("enabled", lf_broker_config_t, enabled, "true",
                    "Run the embedded in-memory broker (evaluation only; it loses its "
                    "contents on restart, agents re-send). Set false with a real Kafka."),
    LF_CFG_OPT_STRING("listen", lf_broker_config_t, listen, "127.0.0.1:9092",
                      "IPv4 address and first port; broker N listens on port+N-1. Use a "
                      "routable address for agents on other hosts."),
    LF_CFG_OPT_INT("brokers", lf_broker_config_t, brokers, "1", 1, 9, "Number of brokers."),
    LF_CFG_OPT_INT("partitions", lf_broker_config_t, partitions, "4", 1, 256,
                   "Partitions of each topic created at start."),
    LF_CFG_OPT_STRLIST("topics", lf_broker_config_t, topics, topic_count, 64,
                       "Topics created at start (default: events, acks, control)."),
    LF_CFG_END};

struct lf_broker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    int broker_count;
    bool down;
    char bootstraps[512];
};

/* ---- bind(2) interposition, active only inside lf_broker_start() -------- */

static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int bind_next_port; /* 0 = inactive */
static struct in_addr bind_addr;   /* guarded by bind_lock while active */

int bind(int fd, const struct sockaddr *addr, socklen_t len);
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind)
        real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    int port = atomic_load(&bind_next_port);
    if (port && addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        if (in->sin_port == 0 && in->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
            struct sockaddr_in fixed = *in;
            fixed.sin_addr = bind_addr;
            fixed.sin_port = htons((uint16_t)atomic_fetch_add(&bind_next_port, 1));
            return real_bind(fd, (const struct sockaddr *)&fixed, sizeof fixed);
        }
    }
    return real_bind(fd, addr, len);
}

static lf_err_t parse_listen(const char *listen, struct in_addr *addr, int *port, char *errstr,
                             size_t errlen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        snprintf(errstr, errlen, "embedded_broker.listen '%s': expected IPv4:port", listen);
        return LF_ECONFIG;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535 - 9 || inet_pton(AF_INET, host, addr) != 1) {
        snprintf(errstr, errlen,
                 "embedded_broker.listen '%s': expected an IPv4 address and a port 1..65526",
                 listen);
        return LF_ECONFIG;
    }
    *port = (int)p;
    return LF_OK;
}

/* librdkafka 2.0's mock cluster aborts the process (an assertion in its
 * cleanup path) when one of its listeners cannot bind, so every port is
 * probed first, with the same SO_REUSEADDR the mock uses. */
static bool ports_free(struct in_addr addr, int port, int count, int *busy)
{
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        struct sockaddr_in sin = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)(port + i)), .sin_addr = addr};
        int rc = bind(fd, (struct sockaddr *)&sin, sizeof sin);
        close(fd);
        if (rc != 0) {
            *busy = port + i;
            return false;
        }
    }
    return true;
}

lf_err_t lf_broker_start(const lf_broker_config_t *cfg, lf_broker_t **out, char *errstr,
                         size_t errlen)
{
    struct in_addr addr;
    int port;
    lf_err_t rc = parse_listen(cfg->listen, &addr, &port, errstr, errlen);
    if (rc != LF_OK)
        return rc;
    int busy = 0;
    if (!ports_free(addr, port, (int)cfg->brokers, &busy)) {
        snprintf(errstr, errlen,
                 "embedded broker: cannot listen on port %d of %s: in use or not a local "
                 "address? Stop what uses it or change embedded_broker.listen",
                 busy, cfg->listen);
        return LF_EIO;
    }
    lf_broker_t *b = calloc(1, sizeof *b);
    if (!b)
        return LF_ENOMEM;
    b->broker_count = (int)cfg->brokers;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_conf_set(conf, "client.id", "lianfang-embedded-broker", why, sizeof why);
    /* The host handle never connects anywhere; silence its bootstrap warning. */
    rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!b->rk) {
        snprintf(errstr, errlen, "embedded broker: %s", why);
        free(b);
        return LF_EKAFKA;
    }
    pthread_mutex_lock(&bind_lock);
    bind_addr = addr;
    atomic_store(&bind_next_port, port);
    b->mcluster = rd_kafka_mock_cluster_new(b->rk, b->broker_count);
    int next = atomic_exchange(&bind_next_port, 0);
    pthread_mutex_unlock(&bind_lock);
    if (!b->mcluster || next != port + b->broker_count) {
        snprintf(errstr, errlen,
                 "embedded broker: cannot listen on %s (ports %d..%d): in use or not a local "
                 "address? Change embedded_broker.listen",
                 cfg->listen, port, port + b->broker_count - 1);
        if (b->mcluster)
            rd_kafka_mock_cluster_destroy(b->mcluster);
        rd_kafka_destroy(b->rk);
        free(b);
        return LF_EIO;
    }
    snprintf(b->bootstraps, sizeof b->bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(b->mcluster));
    static const char *const defaults[] = {"events", "acks", "control"};
    size_t n = cfg->topic_count ? cfg->topic_count : 3;
    int replication = b->broker_count < 3 ? b->broker_count : 3;
    for (size_t i = 0; i < n; i++) {
        const char *topic = cfg->topic_count ? cfg->topics[i] : defaults[i];
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(b->mcluster, topic, (int)cfg->partitions, replication);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            /* The brokers listen from their creation on: a client that
             * reconnected at once (an agent, after a restart of lianfangd)
             * can have its metadata request create the topic first, with
             * the mock cluster's default of 4 partitions. */
            if (cfg->partitions != 4)
                lf_warn("broker",
                        "topic %s was created by a client's request before the broker made it: "
                        "it has 4 partitions, not embedded_broker.partitions (%lld)",
                        topic, (long long)cfg->partitions);
            continue;
        }
        if (err) {
            snprintf(errstr, errlen, "embedded broker: creating topic %s: %s", topic,
                     rd_kafka_err2str(err));
            lf_broker_stop(b);
            return LF_EKAFKA;
        }
    }
    lf_warn("broker",
            "embedded Kafka-protocol broker on %s (%d broker(s), %lld partitions, topics %s): "
            "IN MEMORY, evaluation only; contents are lost on restart (agents re-send what "
            "was not stored). Use a real Kafka cluster in production.",
            b->bootstraps, b->broker_count, (long long)cfg->partitions,
            cfg->topic_count ? "as configured" : default_topics_doc);
    *out = b;
    return LF_OK;
}

const char *lf_broker_bootstraps(const lf_broker_t *b)
{
    return b->bootstraps;
}

void lf_broker_set_down(lf_broker_t *b, bool down)
{
    for (int id = 1; id <= b->broker_count; id++) {
        if (down)
            rd_kafka_mock_broker_set_down(b->mcluster, id);
        else
            rd_kafka_mock_broker_set_up(b->mcluster, id);
    }
    b->down = down;
    lf_warn("broker", "embedded broker %s", down ? "DOWN (refusing connections)" : "UP again");
}

bool lf_broker_is_down(const lf_broker_t *b)
{
    return b->down;
}

void lf_broker_stop(lf_broker_t *b)
{
    if (!b)
        return;
    if (b->mcluster)
        rd_kafka_mock_cluster_destroy(b->mcluster);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b);
}
