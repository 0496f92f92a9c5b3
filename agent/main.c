/* lianfang-agent: see docs/agent.md. Exit codes: 0 done, 1 runtime failure,
 * 2 bad configuration or usage. */
#include "lf_agent.h"
#include "lf_log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lianfang-agent [--config PATH] [--check-config | --status | "
            "--config-reference]\n"
            "\n"
            "Tails the configured files and delivers their lines to Kafka; file checkpoints\n"
            "move only past what lianfangd acknowledges as stored.\n"
            "\n"
            "  -c, --config PATH     configuration file (default " LF_AGENT_DEFAULT_CONFIG ";\n"
            "                        when the default file is missing, all defaults apply)\n"
            "      --check-config    validate the configuration and exit (0 ok, 2 bad)\n"
            "      --status          print the state directory as JSON and exit\n"
            "      --config-reference print the configuration reference (Markdown)\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this help\n");
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_STATUS, OPT_REFERENCE };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, OPT_CHECK},
                                         {"status", no_argument, NULL, OPT_STATUS},
                                         {"config-reference", no_argument, NULL, OPT_REFERENCE},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = LF_AGENT_DEFAULT_CONFIG;
    bool explicit_config = false, check = false, status = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            explicit_config = true;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case OPT_STATUS:
            status = true;
            break;
        case OPT_REFERENCE:
            lf_agent_config_reference(stdout);
            return 0;
        case 'V':
            printf("lianfang-agent " LF_VERSION "\n");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lianfang-agent: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    char err[1024] = "";
    lf_agent_config_t cfg = {0};
    lf_err_t rc = lf_agent_config_load(config, !explicit_config, &cfg, err, sizeof err);
    if (rc != LF_OK) {
        fprintf(stderr, "lianfang-agent: %s\n", err[0] ? err : lf_strerror(rc));
        lf_agent_config_free(&cfg);
        return 2;
    }
    if (check) {
        printf("%s: configuration OK (%zu sources)\n", explicit_config ? config : "(defaults)",
               cfg.source_count);
        lf_agent_config_free(&cfg);
        return 0;
    }
    if (status) {
        rc = lf_agent_status_write(stdout, cfg.agent.state_dir, err, sizeof err);
        if (rc != LF_OK)
            fprintf(stderr, "lianfang-agent: %s\n", err);
        lf_agent_config_free(&cfg);
        return rc == LF_OK ? 0 : 1;
    }

    lf_log_set_level((lf_log_level_t)cfg.agent.log_level);
    lf_agent_t *agent = NULL;
    rc = lf_agent_new(&cfg, &agent, err, sizeof err);
    if (rc != LF_OK) {
        lf_error("agent", "%s", err[0] ? err : lf_strerror(rc));
        lf_agent_free(agent);
        lf_agent_config_free(&cfg);
        return rc == LF_ECONFIG ? 2 : 1;
    }
    rc = lf_agent_run(agent, true);
    lf_agent_free(agent);
    lf_agent_config_free(&cfg);
    return rc == LF_OK ? 0 : 1;
}
