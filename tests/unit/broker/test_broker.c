/* Unit tests of broker/: a stable address, real Kafka protocol round trip,
 * down/up, bad listen addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lf_broker.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Finds `n` consecutive free loopback ports. */
static int free_ports(int n)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int attempt = 0; attempt < 200; attempt++) {
        int base = 20000 + rand() % 30000;
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sin = {.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)(base + i)),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
            close(fd);
        }
        if (ok)
            return base;
    }
    fail_msg("no free ports");
    return 0;
}

static lf_broker_config_t config(const char *listen, int brokers)
{
    lf_broker_config_t cfg = {0};
    char err[256];
    assert_int_equal(lf_config_set_defaults(lf_broker_config_options, &cfg, err, sizeof err),
                     LF_OK);
    free(cfg.listen);
    cfg.listen = strdup(listen);
    cfg.brokers = brokers;
    return cfg;
}

static void test_stable_address_and_round_trip(void **state)
{
    int port = free_ports(2);
    char listen[64], want[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(want, sizeof want, "127.0.0.1:%d,127.0.0.1:%d", port, port + 1);
    lf_broker_config_t cfg = config(listen, 2);
    lf_broker_t *b;
    char err[512] = "";
    assert_int_equal(lf_broker_start(&cfg, &b, err, sizeof err), LF_OK);
    assert_string_equal(lf_broker_bootstraps(b), want);

    /* Produce one message with a real client and read it back. */
    char why[512];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", want, why, sizeof why);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, why, sizeof why);
    assert_non_null(p);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("events"), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_VALUE("hello", 5),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set(cc, "bootstrap.servers", want, why, sizeof why);
    rd_kafka_conf_set(cc, "group.id", "t", why, sizeof why);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, why, sizeof why);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "events", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    int got = 0;
    for (int i = 0; i < 100 && !got; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && m->len == 5 && memcmp(m->payload, "hello", 5) == 0)
            got = 1;
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_true(got);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);

    assert_false(lf_broker_is_down(b));
    lf_broker_set_down(b, true);
    assert_true(lf_broker_is_down(b));
    lf_broker_set_down(b, false);
    assert_false(lf_broker_is_down(b));
    lf_broker_stop(b);

    /* The same address can be taken again right away (restart). */
    assert_int_equal(lf_broker_start(&cfg, &b, err, sizeof err), LF_OK);
    assert_string_equal(lf_broker_bootstraps(b), want);
    lf_broker_stop(b);
    lf_config_free(lf_broker_config_options, &cfg);
}

static void test_bad_listen(void **state)
{
    const char *bad[] = {"localhost:9092", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
                         "[::1]:9092"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lf_broker_config_t cfg = config(bad[i], 1);
        lf_broker_t *b = NULL;
        char err[512] = "";
        assert_int_equal(lf_broker_start(&cfg, &b, err, sizeof err), LF_ECONFIG);
        assert_non_null(strstr(err, "embedded_broker.listen"));
        lf_config_free(lf_broker_config_options, &cfg);
    }
}

static void test_port_in_use(void **state)
{
    int port = free_ports(1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 1), 0);
    char listen_addr[64];
    snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", port);
    lf_broker_config_t cfg = config(listen_addr, 1);
    lf_broker_t *b = NULL;
    char err[512] = "";
    assert_int_not_equal(lf_broker_start(&cfg, &b, err, sizeof err), LF_OK);
    assert_non_null(strstr(err, "in use"));
    close(fd);
    lf_config_free(lf_broker_config_options, &cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stable_address_and_round_trip),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
