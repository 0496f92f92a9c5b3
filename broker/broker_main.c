/* lianfang-broker: the embedded in-memory Kafka-protocol broker as its own
 * process, for tests and multi-node evaluations. SIGUSR1 takes every broker
 * down, SIGUSR2 brings them back, SIGTERM/SIGINT stop. */
#include "lf_broker.h"
#include "lf_log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: lianfang-broker [--listen IPV4:PORT] [--brokers N] [--partitions N]\n"
                 "                       [--topic NAME]... [--ready-file PATH]\n"
                 "In-memory Kafka-protocol broker (librdkafka mock cluster); evaluation and "
                 "tests only.\nSIGUSR1: all brokers down; SIGUSR2: up; SIGTERM: stop.\n");
}

int main(int argc, char **argv)
{
    lf_broker_config_t cfg = {0};
    char errstr[512];
    lf_config_set_defaults(lf_broker_config_options, &cfg, errstr, sizeof errstr);
    const char *ready_file = NULL;
    char *topics[64];
    size_t ntopics = 0;
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},     {"brokers", required_argument, 0, 'b'},
        {"partitions", required_argument, 0, 'p'}, {"topic", required_argument, 0, 't'},
        {"ready-file", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "l:b:p:t:r:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            free(cfg.listen);
            cfg.listen = strdup(optarg);
            break;
        case 'b':
            cfg.brokers = strtol(optarg, NULL, 10);
            break;
        case 'p':
            cfg.partitions = strtol(optarg, NULL, 10);
            break;
        case 't':
            if (ntopics < 64)
                topics[ntopics++] = optarg;
            break;
        case 'r':
            ready_file = optarg;
            break;
        case 'V':
            printf("lianfang-broker %s\n", LF_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cfg.brokers < 1 || cfg.brokers > 9 || cfg.partitions < 1 || cfg.partitions > 256) {
        fprintf(stderr, "lianfang-broker: --brokers must be 1..9 and --partitions 1..256\n");
        return 2;
    }
    cfg.topics = ntopics ? topics : NULL;
    cfg.topic_count = ntopics;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    lf_broker_t *b;
    if (lf_broker_start(&cfg, &b, errstr, sizeof errstr) != LF_OK) {
        fprintf(stderr, "lianfang-broker: %s\n", errstr);
        return 1;
    }
    printf("%s\n", lf_broker_bootstraps(b));
    fflush(stdout);
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f) {
            fprintf(f, "%s\n", lf_broker_bootstraps(b));
            fclose(f);
        }
    }
    for (;;) {
        pause();
        int sig = got_signal;
        got_signal = 0;
        if (sig == SIGUSR1)
            lf_broker_set_down(b, true);
        else if (sig == SIGUSR2)
            lf_broker_set_down(b, false);
        else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    lf_broker_stop(b);
    cfg.topics = NULL;
    cfg.topic_count = 0;
    lf_config_free(lf_broker_config_options, &cfg);
    return 0;
}
