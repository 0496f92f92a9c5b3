#include "agent_syslog.h"
#include "agent_encoding.h"
#include "agent_yara.h"
#include "lf_agent.h"
#include "lf_wire.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

const char *const lf_agent_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const start_at_choices[] = {"end", "beginning", NULL};
static const char *const protocol_choices[] = {"udp", "tcp", "tls", NULL};
static const char *const client_auth_choices[] = {"none", "optional", "required", NULL};
static const char *const spool_sync_choices[] = {"off", "batch", "interval", NULL};

static const lf_config_option_t agent_options[] = {
    LF_CFG_OPT_STRING("id", lf_agent_identity_config_t, id, NULL,
                      "Agent id: the key of this agent's sequence numbers and "
                      "acknowledgements; unique in the region. Default: the host name."),
    LF_CFG_OPT_STRING("agency", lf_agent_identity_config_t, agency, "unassigned",
                      "Agency id of the member agency, e.g. TC-01 (the Kafka key of events)."),
    LF_CFG_OPT_STRING("host", lf_agent_identity_config_t, host, NULL,
                      "Host name stamped on every batch. Default: the host name."),
    LF_CFG_OPT_STRING("state_dir", lf_agent_identity_config_t, state_dir, "/var/lib/lianfang-agent",
                      "Directory of the LMDB state: sequence numbers, journal of unacknowledged "
                      "batches, file checkpoints."),
    LF_CFG_OPT_ENUM("log_level", lf_agent_identity_config_t, log_level, "info", lf_agent_log_levels,
                    "Lowest level logged to stderr."),
    LF_CFG_OPT_DURATION("status_interval", lf_agent_identity_config_t, status_interval_ms, "60s",
                        1000, 86400000, "How often the counters are logged and persisted."),
    LF_CFG_OPT_DURATION("heartbeat_interval", lf_agent_identity_config_t, heartbeat_interval_ms,
                        "30s", 1000, 3600000,
                        "How often the agent sends lianfangd a heartbeat (who it is, its "
                        "counters, its enrolment proof); also sent at start, before any batch. "
                        "The dashboard shows an agent as silent after three intervals without "
                        "one (api.agent_silent_after)."),
    LF_CFG_OPT_STRING("enrolment_token_file", lf_agent_identity_config_t, enrolment_token_file, "",
                      "File holding this agency's enrolment token (its first line), given by "
                      "the SOC; it must not be readable by other users (chmod 0600 or 0640). "
                      "The token never travels: heartbeats carry an HMAC proof made with it. "
                      "Empty: the environment variable LIANFANG_ENROLMENT_TOKEN, else no "
                      "enrolment (shown as not enrolled; refused where lianfangd requires "
                      "enrolment)."),
    LF_CFG_END};

static const lf_config_option_t source_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_source_config_t, name),
     .required = true,
     .description = "Source name stamped on its batches, e.g. syslog, nginx-access."},
    {.name = "path",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_source_config_t, path),
     .required = true,
     .description = "Absolute path of the file to tail (followed across rotation), or a "
                    "glob pattern (*, ?, [...], e.g. /var/log/nginx/*.log): every matching "
                    "file is tailed, and files that start to match later are picked up "
                    "within limits.glob_interval and read from their beginning. At most 256 "
                    "files in all."},
    LF_CFG_OPT_ENUM("start_at", lf_agent_source_config_t, start_at, "end", start_at_choices,
                    "Where to start in a file that has no checkpoint yet. A file that appears "
                    "later (rotation) is always read from its beginning."),
    LF_CFG_OPT_ENUM("encoding", lf_agent_source_config_t, encoding, "utf-8",
                    lf_agent_encoding_choices,
                    "Character set of the file: utf-8, or big5, cp950 (Microsoft's Big5) or "
                    "big5-hkscs for legacy systems, converted to UTF-8 as read. A record "
                    "invalid in its encoding is sent unchanged; lianfangd flags it "
                    "invalid_utf8 and keeps the exact bytes."),
    LF_CFG_OPT_STRING("multiline_start", lf_agent_source_config_t, multiline_start, "",
                      "Multi-line records: a POSIX extended regular expression matching the "
                      "first line of a record; the lines after it that do not match are its "
                      "continuation (joined with a newline). E.g. ^[0-9]{4}-[0-9]{2}-[0-9]{2} "
                      "for stack traces after timestamped lines, ^[^[:space:]] for indented "
                      "continuation lines. A record is sent when the next first line comes or "
                      "the file has been idle for limits.partial_line_timeout. Empty: one "
                      "line, one record."),
    LF_CFG_END};

static const lf_config_option_t listener_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_listener_config_t, name),
     .required = true,
     .description = "Source name stamped on its batches, e.g. firewall; also names the spool "
                    "directory state_dir/spool/<name> (letters, digits, '.', '_', '-')."},
    LF_CFG_OPT_ENUM("protocol", lf_agent_listener_config_t, protocol, "udp", protocol_choices,
                    "udp (RFC 5426, one message per datagram), tcp (RFC 6587: octet counting "
                    "or newline framing, detected per connection) or tls (RFC 5425)."),
    {.name = "listen",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_listener_config_t, listen),
     .required = true,
     .description = "Address and port to listen on: 0.0.0.0:514, [::]:6514, 127.0.0.1:5514. "
                    "Ports below 1024 need CAP_NET_BIND_SERVICE."},
    LF_CFG_OPT_INT("max_connections", lf_agent_listener_config_t, max_connections, "1024", 1,
                   100000,
                   "tcp/tls: most simultaneous connections; one more is accepted and closed at "
                   "once (counted, logged)."),
    LF_CFG_OPT_SIZE("max_frame_bytes", lf_agent_listener_config_t, max_frame_bytes, "64KiB", 256,
                    16 << 20,
                    "Longest message kept; a longer frame is cut to this size, flagged "
                    "truncated and counted. At most limits.max_record_bytes."),
    LF_CFG_OPT_DURATION("idle_timeout", lf_agent_listener_config_t, idle_timeout_ms, "1h", 0,
                        INT64_C(7) * 86400000,
                        "tcp/tls: a connection that sends nothing for this long is closed "
                        "(counted). 0: never."),
    LF_CFG_OPT_DURATION("stall_timeout", lf_agent_listener_config_t, stall_timeout_ms, "30s", 100,
                        3600000,
                        "tcp/tls: a connection that has begun a frame or a TLS handshake and "
                        "does not complete it within this time is dropped (counted, logged; a "
                        "partial frame is kept flagged truncated)."),
    LF_CFG_OPT_SIZE("receive_buffer", lf_agent_listener_config_t, receive_buffer, "8MiB", 0,
                    1 << 30,
                    "udp: socket receive buffer (SO_RCVBUF) that absorbs bursts; the kernel caps "
                    "it at net.core.rmem_max. 0: the system default."),
    LF_CFG_OPT_STRING("tls_cert", lf_agent_listener_config_t, tls_cert, NULL,
                      "tls: PEM certificate chain of this listener (required for tls)."),
    LF_CFG_OPT_STRING("tls_key", lf_agent_listener_config_t, tls_key, NULL,
                      "tls: PEM private key of tls_cert (required for tls)."),
    LF_CFG_OPT_STRING("tls_ca", lf_agent_listener_config_t, tls_ca, NULL,
                      "tls: PEM CA certificates that client certificates must chain to "
                      "(required when tls_client_auth is not none)."),
    LF_CFG_OPT_ENUM("tls_client_auth", lf_agent_listener_config_t, tls_client_auth, "none",
                    client_auth_choices,
                    "tls: none (any client), optional (a client certificate, if sent, must "
                    "verify against tls_ca) or required (every client must present one that "
                    "verifies). A failed handshake is counted and logged with the reason."),
    LF_CFG_END};

static const lf_config_option_t journald_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_journald_config_t, name),
     .required = true,
     .description = "Source name stamped on its batches, e.g. journald; also names its cursor "
                    "checkpoint in the state (letters, digits, '.', '_', '-')."},
    LF_CFG_OPT_STRLIST("matches", lf_agent_journald_config_t, matches, match_count, 64,
                       "Journal field matches FIELD=value, e.g. _SYSTEMD_UNIT=sshd.service: "
                       "matches of one field are alternatives, matches of different fields "
                       "must all hold. Empty (default): every entry."),
    LF_CFG_OPT_ENUM("start_at", lf_agent_journald_config_t, start_at, "end", start_at_choices,
                    "Where a source without a checkpoint starts: after the newest entry (end) "
                    "or at the oldest entry still in the journal (beginning)."),
    LF_CFG_OPT_STRING("directory", lf_agent_journald_config_t, directory, "",
                      "Read the journal files of this directory (e.g. the output of "
                      "systemd-journal-remote) instead of the local system journal. The agent's "
                      "user needs read access (group systemd-journal)."),
    LF_CFG_END};

static const lf_config_option_t limits_options[] = {
    LF_CFG_OPT_SIZE("max_record_bytes", lf_agent_limits_config_t, max_record_bytes, "64KiB", 256,
                    16 << 20,
                    "Longest record; a longer line is cut, flagged truncated and counted."),
    LF_CFG_OPT_INT("batch_max_records", lf_agent_limits_config_t, batch_max_records, "2048", 1,
                   100000, "Most records in one batch."),
    LF_CFG_OPT_SIZE("batch_max_bytes", lf_agent_limits_config_t, batch_max_bytes, "1MiB", 4096,
                    64 << 20,
                    "Target size of one wire batch; a batch is closed when one more record of "
                    "max_record_bytes might not fit. Keep it below the brokers' "
                    "message.max.bytes."),
    LF_CFG_OPT_SIZE("max_unacked_bytes", lf_agent_limits_config_t, max_unacked_bytes, "4MiB",
                    1 << 20, INT64_C(64) << 30,
                    "Backpressure and send window: reading stops while the unacknowledged "
                    "batches sum to more. Keep it below what the brokers retain per partition "
                    "ahead of lianfangd (the embedded broker keeps about 5 MiB per partition)."),
    LF_CFG_OPT_INT("max_unacked_batches", lf_agent_limits_config_t, max_unacked_batches, "65536",
                   16, 10000000,
                   "Backpressure: reading stops while more batches are unacknowledged "
                   "(bounds the in-memory journal index)."),
    LF_CFG_OPT_DURATION("ack_timeout", lf_agent_limits_config_t, ack_timeout_ms, "30s", 1000,
                        3600000,
                        "Re-send every unacknowledged batch when the oldest has waited this long "
                        "without acknowledgement progress; doubles up to 5 min, reset on "
                        "progress."),
    LF_CFG_OPT_DURATION("partial_line_timeout", lf_agent_limits_config_t, partial_line_timeout_ms,
                        "5s", 0, 3600000,
                        "A last line without newline is sent once its file has been idle this "
                        "long; also how long a rotated file must be idle before the agent moves "
                        "to the new one."),
    LF_CFG_OPT_DURATION("read_linger", lf_agent_limits_config_t, read_linger_ms, "250ms", 0, 5000,
                        "After a file grows, wait this long before reading it (its watches "
                        "paused meanwhile), so lines written one at a time travel as one batch: "
                        "one journal commit, one message and one wake-up instead of one per "
                        "line. It adds at most this much delay; 0: read at every file event."),
    LF_CFG_OPT_DURATION("poll_interval", lf_agent_limits_config_t, poll_interval_ms, "250ms", 10,
                        60000,
                        "Fallback poll of every source (file events wake the agent earlier)."),
    LF_CFG_OPT_DURATION("glob_interval", lf_agent_limits_config_t, glob_interval_ms, "5s", 100,
                        3600000,
                        "How often sources whose path is a glob pattern look for new files."),
    LF_CFG_OPT_SIZE("state_map_size", lf_agent_limits_config_t, state_map_size, "256MiB", 16 << 20,
                    INT64_C(1) << 40, "Maximum size of the LMDB state."),
    LF_CFG_OPT_BOOL("state_sync", lf_agent_limits_config_t, state_sync, "true",
                    "fsync each state commit (power-loss safety). Off: a crash of the machine "
                    "may re-send or, rarely, skip the last lines read."),
    LF_CFG_OPT_SIZE("spool_max_bytes", lf_agent_limits_config_t, spool_max_bytes, "1GiB", 4 << 20,
                    INT64_C(1) << 40,
                    "Bound of the on-disk spool of records received by syslog listeners "
                    "(all listeners together). When it is full, tcp/tls connections are not "
                    "read further (backpressure) and udp datagrams are dropped (counted, "
                    "logged), until acknowledged segments are deleted."),
    LF_CFG_OPT_SIZE("spool_segment_bytes", lf_agent_limits_config_t, spool_segment_bytes, "16MiB",
                    64 << 10, INT64_C(1) << 30,
                    "Size of one spool segment file; a segment is deleted once every record in "
                    "it is acknowledged. At most a quarter of spool_max_bytes."),
    LF_CFG_OPT_ENUM("spool_sync", lf_agent_limits_config_t, spool_sync, "batch", spool_sync_choices,
                    "When spooled records reach the disk: batch (fsync before they are "
                    "journalled and sent; the fsync runs in a worker thread, one at a time, and "
                    "covers everything written before it began), interval (fsync every "
                    "spool_sync_interval; records wait for it) or off (the OS decides; a machine "
                    "crash may lose the last records)."),
    LF_CFG_OPT_DURATION("spool_sync_interval", lf_agent_limits_config_t, spool_sync_interval_ms,
                        "1s", 10, 60000, "spool_sync: interval: how often the spool is fsynced."),
    LF_CFG_END};

const lf_config_option_t lf_agent_config_options[] = {
    LF_CFG_OPT_SECTION("agent", lf_agent_config_t, agent, agent_options,
                       "Identity, state and logging."),
    LF_CFG_OPT_SECTION("kafka", lf_agent_config_t, kafka, lf_kafka_config_options,
                       "Kafka connection (TLS/SASL through properties)."),
    LF_CFG_OPT_LIST("sources", lf_agent_config_t, sources, source_count, lf_agent_source_config_t,
                    source_options, LF_AGENT_MAX_SOURCES, "Files to tail."),
    LF_CFG_OPT_LIST("listeners", lf_agent_config_t, listeners, listener_count,
                    lf_agent_listener_config_t, listener_options, LF_AGENT_MAX_LISTENERS,
                    "Syslog listeners for network devices (UDP, TCP, TLS); what they receive is "
                    "spooled on disk until lianfangd has stored it."),
    LF_CFG_OPT_LIST("journald", lf_agent_config_t, journald, journald_count,
                    lf_agent_journald_config_t, journald_options, LF_AGENT_MAX_JOURNALD,
                    "systemd journal sources (sd-journal): one record per entry, a JSON object "
                    "of its journal fields; the checkpoint is the journal cursor."),
    LF_CFG_OPT_SECTION("limits", lf_agent_config_t, limits, limits_options,
                       "Record, batch and memory bounds; timeouts."),
    LF_CFG_OPT_LIST("yara_scans", lf_agent_config_t, yara_scans, yara_scan_count,
                    lf_agent_yara_scan_config_t, lf_agent_yara_scan_options,
                    LF_AGENT_MAX_YARA_SCANS,
                    "Directories scanned with the YARA rule set lianfangd publishes (on change "
                    "and on a schedule); a match is sent as an alert event."),
    LF_CFG_OPT_SECTION("yara", lf_agent_config_t, yara, lf_agent_yara_options,
                       "Bounds of the YARA file scans (all targets together)."),
    LF_CFG_END};

static lf_err_t fill_host_default(char **field)
{
    if (*field && **field)
        return LF_OK;
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        snprintf(name, sizeof name, "localhost");
    name[sizeof name - 1] = '\0';
    free(*field);
    *field = strdup(name);
    return *field ? LF_OK : LF_ENOMEM;
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static lf_err_t validate_listeners(const char *name, lf_agent_config_t *cfg, char *errstr,
                                   size_t errlen)
{
    const lf_agent_limits_config_t *l = &cfg->limits;
    if (l->spool_segment_bytes > l->spool_max_bytes / 4) {
        snprintf(errstr, errlen,
                 "%s: limits.spool_segment_bytes: must be at most a quarter of spool_max_bytes",
                 name);
        return LF_ECONFIG;
    }
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const lf_agent_listener_config_t *s = &cfg->listeners[i];
        struct sockaddr_storage sa;
        if (!name_ok(s->name)) {
            snprintf(errstr, errlen,
                     "%s: listeners[%zu].name: 1 to 64 letters, digits, '.', '_' or '-'", name, i);
            return LF_ECONFIG;
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->listeners[j].name, s->name)) {
                snprintf(errstr, errlen,
                         "%s: listeners[%zu].name: %s is already used by "
                         "listeners[%zu]",
                         name, i, s->name, j);
                return LF_ECONFIG;
            }
        }
        if (lf_agent_syslog_parse_address(s->listen, &sa) != LF_OK) {
            snprintf(errstr, errlen,
                     "%s: listeners[%zu].listen: '%s' is not host:port (e.g. 0.0.0.0:514, "
                     "[::]:6514)",
                     name, i, s->listen ? s->listen : "");
            return LF_ECONFIG;
        }
        if (s->max_frame_bytes > l->max_record_bytes) {
            snprintf(errstr, errlen,
                     "%s: listeners[%zu].max_frame_bytes: must not exceed "
                     "limits.max_record_bytes (%lld)",
                     name, i, (long long)l->max_record_bytes);
            return LF_ECONFIG;
        }
        if (s->protocol == LF_AGENT_SYSLOG_TLS &&
            (!s->tls_cert || !*s->tls_cert || !s->tls_key || !*s->tls_key)) {
            snprintf(errstr, errlen, "%s: listeners[%zu]: protocol tls needs tls_cert and tls_key",
                     name, i);
            return LF_ECONFIG;
        }
        if (s->protocol == LF_AGENT_SYSLOG_TLS && s->tls_client_auth != LF_AGENT_TLS_CLIENT_NONE &&
            (!s->tls_ca || !*s->tls_ca)) {
            snprintf(errstr, errlen,
                     "%s: listeners[%zu].tls_ca: needed to verify client certificates "
                     "(tls_client_auth)",
                     name, i);
            return LF_ECONFIG;
        }
    }
    return LF_OK;
}

/* A journal match: FIELD=value, FIELD of upper-case letters, digits and '_',
 * not starting with a digit (sd_journal_add_match's rule). */
static bool journal_match_ok(const char *m)
{
    const char *eq = strchr(m, '=');
    if (!eq || eq == m || (m[0] >= '0' && m[0] <= '9'))
        return false;
    for (const char *p = m; p < eq; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static lf_err_t validate_journald(const char *name, lf_agent_config_t *cfg, char *errstr,
                                  size_t errlen)
{
    for (size_t i = 0; i < cfg->journald_count; i++) {
        const lf_agent_journald_config_t *s = &cfg->journald[i];
        if (!name_ok(s->name)) {
            snprintf(errstr, errlen,
                     "%s: journald[%zu].name: 1 to 64 letters, digits, '.', '_' or '-'", name, i);
            return LF_ECONFIG;
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->journald[j].name, s->name)) {
                snprintf(errstr, errlen,
                         "%s: journald[%zu].name: %s is already used by journald[%zu]", name, i,
                         s->name, j);
                return LF_ECONFIG;
            }
        }
        for (size_t m = 0; m < s->match_count; m++) {
            if (!journal_match_ok(s->matches[m])) {
                snprintf(errstr, errlen,
                         "%s: journald[%zu].matches[%zu]: '%s' is not FIELD=value with FIELD in "
                         "upper-case letters, digits and '_' (e.g. _SYSTEMD_UNIT=sshd.service)",
                         name, i, m, s->matches[m]);
                return LF_ECONFIG;
            }
        }
        if (s->directory && *s->directory &&
            (s->directory[0] != '/' || strlen(s->directory) > 511)) {
            snprintf(errstr, errlen,
                     "%s: journald[%zu].directory: must be an absolute path of at most 511 bytes",
                     name, i);
            return LF_ECONFIG;
        }
    }
    return LF_OK;
}

static lf_err_t validate(const char *name, lf_agent_config_t *cfg, char *errstr, size_t errlen)
{
    lf_err_t rc = fill_host_default(&cfg->agent.id);
    if (rc == LF_OK)
        rc = fill_host_default(&cfg->agent.host);
    if (rc != LF_OK)
        return rc;
    const struct {
        const char *key;
        const char *value;
    } ids[] = {{"agent.id", cfg->agent.id},
               {"agent.agency", cfg->agent.agency},
               {"agent.host", cfg->agent.host}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        size_t n = ids[i].value ? strlen(ids[i].value) : 0;
        if (n == 0 || n > LF_WIRE_MAX_STRING) {
            snprintf(errstr, errlen, "%s: %s: must be 1 to %u bytes", name, ids[i].key,
                     LF_WIRE_MAX_STRING);
            return LF_ECONFIG;
        }
    }
    if (!cfg->agent.state_dir || !*cfg->agent.state_dir) {
        snprintf(errstr, errlen, "%s: agent.state_dir: must not be empty", name);
        return LF_ECONFIG;
    }
    for (size_t i = 0; i < cfg->source_count; i++) {
        const lf_agent_source_config_t *s = &cfg->sources[i];
        if (!s->name || !*s->name || strlen(s->name) > LF_WIRE_MAX_STRING) {
            snprintf(errstr, errlen, "%s: sources[%zu].name: must be 1 to %u bytes", name, i,
                     LF_WIRE_MAX_STRING);
            return LF_ECONFIG;
        }
        if (!s->path || s->path[0] != '/' || strlen(s->path) > 511) {
            snprintf(errstr, errlen,
                     "%s: sources[%zu].path: must be an absolute path of at most 511 bytes", name,
                     i);
            return LF_ECONFIG;
        }
        if (s->multiline_start && *s->multiline_start) {
            regex_t re;
            int rrc = regcomp(&re, s->multiline_start, REG_EXTENDED | REG_NOSUB);
            if (rrc != 0) {
                char msg[256];
                regerror(rrc, &re, msg, sizeof msg);
                snprintf(errstr, errlen,
                         "%s: sources[%zu].multiline_start: \"%s\" is not a valid POSIX extended "
                         "regular expression: %s",
                         name, i, s->multiline_start, msg);
                return LF_ECONFIG;
            }
            regfree(&re);
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->sources[j].path, s->path)) {
                snprintf(errstr, errlen,
                         "%s: sources[%zu].path: %s is already tailed by sources[%zu]", name, i,
                         s->path, j);
                return LF_ECONFIG;
            }
        }
    }
    lf_err_t lrc = validate_journald(name, cfg, errstr, errlen);
    if (lrc == LF_OK)
        lrc = validate_listeners(name, cfg, errstr, errlen);
    return lrc == LF_OK ? lf_agent_yara_config_validate(name, cfg, errstr, errlen) : lrc;
}

lf_err_t lf_agent_config_load(const char *path, bool missing_ok, lf_agent_config_t *cfg,
                              char *errstr, size_t errlen)
{
    if (missing_ok && access(path, F_OK) != 0 && errno == ENOENT) {
        lf_err_t rc = lf_config_set_defaults(lf_agent_config_options, cfg, errstr, errlen);
        return rc == LF_OK ? validate("(defaults)", cfg, errstr, errlen) : rc;
    }
    lf_err_t rc = lf_config_load_file(path, lf_agent_config_options, cfg, errstr, errlen);
    if (rc == LF_EIO)
        rc = LF_ECONFIG;
    return rc == LF_OK ? validate(path, cfg, errstr, errlen) : rc;
}

lf_err_t lf_agent_config_load_string(const char *text, const char *name, lf_agent_config_t *cfg,
                                     char *errstr, size_t errlen)
{
    lf_err_t rc = lf_config_load_string(text, strlen(text), name, lf_agent_config_options, cfg,
                                        errstr, errlen);
    return rc == LF_OK ? validate(name, cfg, errstr, errlen) : rc;
}

void lf_agent_config_free(lf_agent_config_t *cfg)
{
    lf_config_free(lf_agent_config_options, cfg);
}

void lf_agent_config_reference(FILE *out)
{
    lf_config_write_reference(
        out, lf_agent_config_options, "lianfang-agent configuration",
        "File: /etc/lianfang/lianfang-agent.yaml (`--config PATH`). Every option has a safe "
        "default; a missing default file means all defaults. Generated by "
        "`lianfang-agent --config-reference`.");
}
