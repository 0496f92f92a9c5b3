/* lf_kafka.h - the Kafka settings every Lianfang binary shares, and the
 * bridge that lets a libuv loop wait on a librdkafka queue without polling.
 *
 * Everything that differs between the embedded broker and a real cluster is
 * configuration: bootstrap servers, and any librdkafka property (TLS, SASL,
 * timeouts) through the free-form `properties` map.
 */
#ifndef LF_KAFKA_H
#define LF_KAFKA_H

#include "lf_config.h"
#include "lf_error.h"

#include <librdkafka/rdkafka.h>
#include <uv.h>

typedef struct lf_kafka_config {
    char *brokers;
    char *topic_events;
    char *topic_acks;
    char *topic_control;
    int compression; /* index into lf_kafka_compressions */
    int64_t linger_ms;
    lf_config_kv_t *properties;
    size_t property_count;
} lf_kafka_config_t;

extern const char *const lf_kafka_compressions[];
/* The `kafka:` section rows, shared by the agent and the server. */
extern const lf_config_option_t lf_kafka_config_options[];

/* Builds an rd_kafka_conf_t with bootstrap.servers, compression, linger and
 * every `properties` entry applied. Returns NULL with errstr naming the bad
 * property. */
rd_kafka_conf_t *lf_kafka_conf_new(const lf_kafka_config_t *cfg, bool producer, char *errstr,
                                   size_t errlen);

/* Sets one property, formatting the error as "kafka property K=V: why". */
lf_err_t lf_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                           size_t errlen);

/* Wakes a libuv loop when a librdkafka queue becomes non-empty.
 * librdkafka writes one byte to a pipe (rd_kafka_queue_io_event_enable);
 * the loop watches the read end with uv_poll and calls cb, which must drain
 * the queue (rd_kafka_consume_batch_queue / rd_kafka_queue_poll with 0
 * timeout). Runs on the loop thread only. */
typedef void (*lf_kafka_queue_cb)(void *opaque);
typedef struct lf_kafka_queue_watch {
    uv_poll_t poll;
    int fds[2];
    rd_kafka_queue_t *queue;
    lf_kafka_queue_cb cb;
    void *opaque;
} lf_kafka_queue_watch_t;

lf_err_t lf_kafka_queue_watch_start(lf_kafka_queue_watch_t *w, uv_loop_t *loop,
                                    rd_kafka_queue_t *queue, lf_kafka_queue_cb cb, void *opaque);
/* Stops watching; the handle is closed asynchronously (run the loop once). */
void lf_kafka_queue_watch_stop(lf_kafka_queue_watch_t *w);

#endif
