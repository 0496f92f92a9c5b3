/* agent_rules.h - lianfangd publishes the agents' YARA rule set (private to
 * server/).
 *
 * The rule files of one directory (agents.yara_rules_dir, *.yar and
 * *.yara) are one set. At start and on every lf_agent_rules_publish()
 * (SIGHUP) the directory is read; a set whose files differ from the last
 * one published is compiled here first (with the same libyara and the same
 * external variables as the agents) and published on the control topic as
 * one LFY1 message (common/lf_wire_rules.h) only when it compiles. A set
 * that does not compile is refused with file:line: reason in the log and
 * in lianfang_agent_rules_refused_total; agents keep the set they run.
 *
 * Threads: everything runs on the loop thread that created it.
 */
#ifndef LF_SERVER_AGENT_RULES_H
#define LF_SERVER_AGENT_RULES_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_kafka.h"
#include "lf_metrics.h"

#include <uv.h>

typedef struct lf_agent_rules_config {
    char *yara_rules_dir; /* "": <detect.rules_dir>/yara-agent */
    int64_t max_set_bytes;
} lf_agent_rules_config_t;

/* The `agents:` section rows. */
extern const lf_config_option_t lf_agent_rules_config_options[];

typedef struct lf_agent_rules lf_agent_rules_t;

/* Creates the publisher (a Kafka producer, a timer on loop) and publishes
 * the current set. rules_dir is detect.rules_dir (used when
 * yara_rules_dir is empty). cfg and kafka are borrowed. LF_EKAFKA with
 * errstr when the producer cannot be created. A set that cannot be read
 * or compiled is logged and refused, not an error of this function. */
lf_err_t lf_agent_rules_new(const lf_agent_rules_config_t *cfg, const char *rules_dir,
                            const lf_kafka_config_t *kafka, uv_loop_t *loop, lf_metrics_t *metrics,
                            lf_agent_rules_t **out, char *errstr, size_t errlen);
/* Reads the directory again and publishes the set when it changed and
 * compiles. LF_OK also when nothing changed; LF_EPARSE (refused) or LF_EIO
 * with errstr. */
lf_err_t lf_agent_rules_publish(lf_agent_rules_t *p, char *errstr, size_t errlen);
/* Flushes the producer (up to 5 s) and frees everything; the timer handle
 * is closed (run the loop once afterwards). */
void lf_agent_rules_free(lf_agent_rules_t *p);

#endif
