/* lf_broker.h - the embedded Kafka-protocol broker of an evaluation install.
 *
 * It is librdkafka's mock cluster: it speaks the real Kafka protocol
 * (produce, fetch, consumer groups, idempotent producers), so the agent and
 * lianfangd use exactly the code they use against a real cluster. It keeps
 * everything IN MEMORY (about 5 MiB per partition, oldest dropped first) and
 * loses it all on restart; nothing is lost end to end because agents keep
 * every record until lianfangd reports it stored (docs/protocol.md).
 * Not for production: point `kafka.brokers` at a real cluster instead.
 *
 * Stable address: librdkafka 2.0's mock cluster binds ephemeral ports. While
 * lf_broker_start() creates the cluster, an interposed bind(2) in this
 * module maps the mock listeners' port-0 binds to the configured address and
 * consecutive ports, so agents can be configured with a fixed
 * `brokers: 127.0.0.1:9092` that survives restarts.
 *
 * Threads: start/stop from one control thread; the cluster runs its own.
 */
#ifndef LF_BROKER_H
#define LF_BROKER_H

#include "lf_config.h"
#include "lf_error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct lf_broker_config {
    bool enabled;
    char *listen;       /* IPv4 address and first port, "127.0.0.1:9092" */
    int64_t brokers;    /* brokers in the cluster, consecutive ports */
    int64_t partitions; /* partitions of each topic created at start */
    char **topics;      /* topics created at start */
    size_t topic_count;
} lf_broker_config_t;

extern const lf_config_option_t lf_broker_config_options[];

typedef struct lf_broker lf_broker_t;

/* Starts the cluster and creates the configured topics. */
lf_err_t lf_broker_start(const lf_broker_config_t *cfg, lf_broker_t **out, char *errstr,
                         size_t errlen);
/* "127.0.0.1:9092,127.0.0.1:9093": valid until lf_broker_stop(). */
const char *lf_broker_bootstraps(const lf_broker_t *b);
/* Takes every broker down (connections closed, new ones refused) or up. */
void lf_broker_set_down(lf_broker_t *b, bool down);
bool lf_broker_is_down(const lf_broker_t *b);
void lf_broker_stop(lf_broker_t *b);

#endif
