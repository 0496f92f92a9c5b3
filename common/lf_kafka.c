#include "lf_kafka.h"
#include "lf_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const lf_kafka_compressions[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};

const lf_config_option_t lf_kafka_config_options[] = {
    LF_CFG_OPT_STRING("brokers", lf_kafka_config_t, brokers, "127.0.0.1:9092",
                      "Bootstrap servers, comma-separated host:port. The default is the "
                      "embedded broker of an evaluation install."),
    LF_CFG_OPT_STRING("topic_events", lf_kafka_config_t, topic_events, "events",
                      "Topic of event batches (key: agency id)."),
    LF_CFG_OPT_STRING("topic_acks", lf_kafka_config_t, topic_acks, "acks",
                      "Topic of stored watermarks (key: agent id)."),
    LF_CFG_OPT_STRING("topic_control", lf_kafka_config_t, topic_control, "control",
                      "Topic of content for agents: the agent YARA rule set (LFY1, partition "
                      "0, key yara-agent); compacted on a real cluster."),
    LF_CFG_OPT_ENUM("compression", lf_kafka_config_t, compression, "lz4", lf_kafka_compressions,
                    "Compression of produced batches."),
    LF_CFG_OPT_DURATION("linger", lf_kafka_config_t, linger_ms, "5ms", 0, 900000,
                        "How long the producer waits to fill a Kafka request."),
    LF_CFG_OPT_MAP("properties", lf_kafka_config_t, properties, property_count, 256,
                   "Extra librdkafka properties, e.g. security.protocol: ssl, "
                   "ssl.ca.location, sasl.mechanisms. Applied last."),
    LF_CFG_END};

lf_err_t lf_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                           size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errlen, "kafka property %s=%s: %s", key, value, why);
        return LF_ECONFIG;
    }
    return LF_OK;
}

rd_kafka_conf_t *lf_kafka_conf_new(const lf_kafka_config_t *cfg, bool producer, char *errstr,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char linger[32];
    snprintf(linger, sizeof linger, "%lld", (long long)cfg->linger_ms);
    lf_err_t rc = lf_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, errstr, errlen);
    if (rc == LF_OK && producer) {
        rc = lf_kafka_conf_set(conf, "compression.codec", lf_kafka_compressions[cfg->compression],
                               errstr, errlen);
        if (rc == LF_OK)
            rc = lf_kafka_conf_set(conf, "linger.ms", linger, errstr, errlen);
    }
    for (size_t i = 0; rc == LF_OK && i < cfg->property_count; i++)
        rc = lf_kafka_conf_set(conf, cfg->properties[i].key, cfg->properties[i].value, errstr,
                               errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static void on_queue_readable(uv_poll_t *handle, int status, int events)
{
    lf_kafka_queue_watch_t *w = handle->data;
    char drain[256];
    while (read(w->fds[0], drain, sizeof drain) > 0) {
    }
    w->cb(w->opaque);
}

lf_err_t lf_kafka_queue_watch_start(lf_kafka_queue_watch_t *w, uv_loop_t *loop,
                                    rd_kafka_queue_t *queue, lf_kafka_queue_cb cb, void *opaque)
{
    memset(w, 0, sizeof *w);
    if (pipe2(w->fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return LF_EIO;
    w->queue = queue;
    w->cb = cb;
    w->opaque = opaque;
    rd_kafka_queue_io_event_enable(queue, w->fds[1], "1", 1);
    if (uv_poll_init(loop, &w->poll, w->fds[0]) != 0) {
        close(w->fds[0]);
        close(w->fds[1]);
        return LF_EIO;
    }
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE, on_queue_readable);
    /* Messages already queued before the pipe existed would not signal. */
    cb(opaque);
    return LF_OK;
}

static void on_poll_closed(uv_handle_t *handle)
{
    lf_kafka_queue_watch_t *w = handle->data;
    close(w->fds[0]);
    close(w->fds[1]);
    w->fds[0] = w->fds[1] = -1;
}

void lf_kafka_queue_watch_stop(lf_kafka_queue_watch_t *w)
{
    if (w->queue)
        rd_kafka_queue_io_event_enable(w->queue, -1, NULL, 0);
    w->queue = NULL;
    if (!uv_is_closing((uv_handle_t *)&w->poll))
        uv_close((uv_handle_t *)&w->poll, on_poll_closed);
}
