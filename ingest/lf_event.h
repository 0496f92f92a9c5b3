/* lf_event.h - the normalised event record and its ECS JSON form.
 *
 * Field names are interned: every Elastic Common Schema field Lianfang
 * fills is one row of LF_ECS_FIELDS, and code refers to it by its enum id
 * (LF_F_HOST_NAME), never by comparing strings. The table is sorted by
 * dotted path (strcmp order, which is component order because '.' sorts
 * below every name character), which lets lf_event_to_json() emit the
 * nested ECS objects in one pass and lf_field_lookup() binary-search; a
 * unit test checks the order.
 *
 * Kinds:
 *   STR   text (borrowed)
 *   INT   64-bit integer (ports, byte counts, pids, status codes)
 *   TS    epoch milliseconds, emitted as RFC 3339 UTC
 *   IP    an IPv4 or IPv6 address in text form; lf_event_set_ip() only
 *         accepts valid addresses
 *   LIST  keywords emitted as a JSON array; the value is the keywords
 *         joined by ',' (lf_event_value_text() returns that joined text)
 *   EXTRA not a field: the place where the event's extra fields (keys that
 *         are not interned, such as a vendor's custom keys) are emitted as
 *         members of the parent object ("labels.~" emits labels.<key>).
 *
 * String values borrow: they point into the raw record, the batch header,
 * string literals or the decode arena, and stay valid only while those do.
 * One lf_event_t is reused for every record of a batch (lf_event_reset), so
 * the hot path allocates nothing per event.
 */
#ifndef LF_EVENT_H
#define LF_EVENT_H

#include "lf_buf.h"
#include "lf_str.h"

#include <stdbool.h>
#include <stdint.h>

/* X(id, "ecs.path", kind), sorted by path. */
#define LF_ECS_FIELDS(X)                                                                           \
    X(TIMESTAMP, "@timestamp", TS)                                                                 \
    X(AGENT_ID, "agent.id", STR)                                                                   \
    X(AGENT_TYPE, "agent.type", STR)                                                               \
    X(CLIENT_DOMAIN, "client.domain", STR)                                                         \
    X(CLIENT_IP, "client.ip", IP)                                                                  \
    X(DESTINATION_BYTES, "destination.bytes", INT)                                                 \
    X(DESTINATION_DOMAIN, "destination.domain", STR)                                               \
    X(DESTINATION_IP, "destination.ip", IP)                                                        \
    X(DESTINATION_NAT_IP, "destination.nat.ip", IP)                                                \
    X(DESTINATION_NAT_PORT, "destination.nat.port", INT)                                           \
    X(DESTINATION_PACKETS, "destination.packets", INT)                                             \
    X(DESTINATION_PORT, "destination.port", INT)                                                   \
    X(DESTINATION_USER_NAME, "destination.user.name", STR)                                         \
    X(DNS_QUESTION_NAME, "dns.question.name", STR)                                                 \
    X(DNS_RESOLVED_IP, "dns.resolved_ip", STR)                                                     \
    X(EVENT_ACTION, "event.action", STR)                                                           \
    X(EVENT_CATEGORY, "event.category", LIST)                                                      \
    X(EVENT_CODE, "event.code", STR)                                                               \
    X(EVENT_DATASET, "event.dataset", STR)                                                         \
    X(EVENT_DURATION, "event.duration", INT)                                                       \
    X(EVENT_ID, "event.id", STR)                                                                   \
    X(EVENT_INGESTED, "event.ingested", TS)                                                        \
    X(EVENT_KIND, "event.kind", STR)                                                               \
    X(EVENT_MODULE, "event.module", STR)                                                           \
    X(EVENT_ORIGINAL, "event.original", STR)                                                       \
    X(EVENT_OUTCOME, "event.outcome", STR)                                                         \
    X(EVENT_PROVIDER, "event.provider", STR)                                                       \
    X(EVENT_REASON, "event.reason", STR)                                                           \
    X(EVENT_SEQUENCE, "event.sequence", INT)                                                       \
    X(EVENT_SEVERITY, "event.severity", INT)                                                       \
    X(EVENT_TYPE, "event.type", LIST)                                                              \
    X(FILE_HASH_MD5, "file.hash.md5", STR)                                                         \
    X(FILE_HASH_SHA1, "file.hash.sha1", STR)                                                       \
    X(FILE_HASH_SHA256, "file.hash.sha256", STR)                                                   \
    X(FILE_MTIME, "file.mtime", TS)                                                                \
    X(FILE_NAME, "file.name", STR)                                                                 \
    X(FILE_PATH, "file.path", STR)                                                                 \
    X(FILE_SIZE, "file.size", INT)                                                                 \
    X(GROUP_ID, "group.id", STR)                                                                   \
    X(GROUP_NAME, "group.name", STR)                                                               \
    X(HOST_HOSTNAME, "host.hostname", STR)                                                         \
    X(HOST_IP, "host.ip", IP)                                                                      \
    X(HOST_NAME, "host.name", STR)                                                                 \
    X(HTTP_REQUEST_BODY_CONTENT, "http.request.body.content", STR)                                 \
    X(HTTP_REQUEST_METHOD, "http.request.method", STR)                                             \
    X(HTTP_REQUEST_REFERRER, "http.request.referrer", STR)                                         \
    X(HTTP_RESPONSE_BODY_BYTES, "http.response.body.bytes", INT)                                   \
    X(HTTP_RESPONSE_STATUS_CODE, "http.response.status_code", INT)                                 \
    X(HTTP_VERSION, "http.version", STR)                                                           \
    X(JSON_EXTRA, "json.~", EXTRA)                                                                 \
    X(LABELS_EXTRA, "labels.~", EXTRA)                                                             \
    X(LIANFANG_DECODE_ERROR, "lianfang.decode_error", STR)                                         \
    X(LIANFANG_DECODER, "lianfang.decoder", STR)                                                   \
    X(LIANFANG_DECODER_RULE, "lianfang.decoder_rule", STR)                                         \
    X(LIANFANG_ORIGINAL_B64, "lianfang.original_base64", STR)                                      \
    X(LIANFANG_READ_TIME, "lianfang.read_time", TS)                                                \
    X(LIANFANG_SOURCE, "lianfang.source", STR)                                                     \
    X(LOG_FILE_PATH, "log.file.path", STR)                                                         \
    X(LOG_LEVEL, "log.level", STR)                                                                 \
    X(LOG_OFFSET, "log.offset", INT)                                                               \
    X(LOG_SOURCE_ADDRESS, "log.source.address", STR)                                               \
    X(LOG_SYSLOG_APPNAME, "log.syslog.appname", STR)                                               \
    X(LOG_SYSLOG_FACILITY_CODE, "log.syslog.facility.code", INT)                                   \
    X(LOG_SYSLOG_HOSTNAME, "log.syslog.hostname", STR)                                             \
    X(LOG_SYSLOG_MSGID, "log.syslog.msgid", STR)                                                   \
    X(LOG_SYSLOG_PRIORITY, "log.syslog.priority", INT)                                             \
    X(LOG_SYSLOG_PROCID, "log.syslog.procid", STR)                                                 \
    X(LOG_SYSLOG_SEVERITY_CODE, "log.syslog.severity.code", INT)                                   \
    X(LOG_SYSLOG_STRUCTURED_DATA, "log.syslog.structured_data", STR)                               \
    X(LOG_SYSLOG_VERSION, "log.syslog.version", STR)                                               \
    X(MESSAGE, "message", STR)                                                                     \
    X(NETWORK_APPLICATION, "network.application", STR)                                             \
    X(NETWORK_BYTES, "network.bytes", INT)                                                         \
    X(NETWORK_DIRECTION, "network.direction", STR)                                                 \
    X(NETWORK_PACKETS, "network.packets", INT)                                                     \
    X(NETWORK_PROTOCOL, "network.protocol", STR)                                                   \
    X(NETWORK_TRANSPORT, "network.transport", STR)                                                 \
    X(OBSERVER_EGRESS_INTERFACE_NAME, "observer.egress.interface.name", STR)                       \
    X(OBSERVER_HOSTNAME, "observer.hostname", STR)                                                 \
    X(OBSERVER_INGRESS_INTERFACE_NAME, "observer.ingress.interface.name", STR)                     \
    X(OBSERVER_PRODUCT, "observer.product", STR)                                                   \
    X(OBSERVER_SERIAL_NUMBER, "observer.serial_number", STR)                                       \
    X(OBSERVER_TYPE, "observer.type", STR)                                                         \
    X(OBSERVER_VENDOR, "observer.vendor", STR)                                                     \
    X(OBSERVER_VERSION, "observer.version", STR)                                                   \
    X(ORGANIZATION_ID, "organization.id", STR)                                                     \
    X(PROCESS_ARGS_COUNT, "process.args_count", INT)                                               \
    X(PROCESS_COMMAND_LINE, "process.command_line", STR)                                           \
    X(PROCESS_EXECUTABLE, "process.executable", STR)                                               \
    X(PROCESS_EXIT_CODE, "process.exit_code", INT)                                                 \
    X(PROCESS_HASH_MD5, "process.hash.md5", STR)                                                   \
    X(PROCESS_HASH_SHA1, "process.hash.sha1", STR)                                                 \
    X(PROCESS_HASH_SHA256, "process.hash.sha256", STR)                                             \
    X(PROCESS_NAME, "process.name", STR)                                                           \
    X(PROCESS_PARENT_COMMAND_LINE, "process.parent.command_line", STR)                             \
    X(PROCESS_PARENT_EXECUTABLE, "process.parent.executable", STR)                                 \
    X(PROCESS_PARENT_PID, "process.parent.pid", INT)                                               \
    X(PROCESS_PID, "process.pid", INT)                                                             \
    X(PROCESS_TITLE, "process.title", STR)                                                         \
    X(PROCESS_WORKING_DIRECTORY, "process.working_directory", STR)                                 \
    X(RELATED_IP, "related.ip", LIST)                                                              \
    X(RULE_CATEGORY, "rule.category", STR)                                                         \
    X(RULE_ID, "rule.id", STR)                                                                     \
    X(RULE_NAME, "rule.name", STR)                                                                 \
    X(RULE_RULESET, "rule.ruleset", STR)                                                           \
    X(RULE_VERSION, "rule.version", STR)                                                           \
    X(SERVER_DOMAIN, "server.domain", STR)                                                         \
    X(SERVER_IP, "server.ip", IP)                                                                  \
    X(SERVICE_NAME, "service.name", STR)                                                           \
    X(SOURCE_BYTES, "source.bytes", INT)                                                           \
    X(SOURCE_DOMAIN, "source.domain", STR)                                                         \
    X(SOURCE_IP, "source.ip", IP)                                                                  \
    X(SOURCE_NAT_IP, "source.nat.ip", IP)                                                          \
    X(SOURCE_NAT_PORT, "source.nat.port", INT)                                                     \
    X(SOURCE_PACKETS, "source.packets", INT)                                                       \
    X(SOURCE_PORT, "source.port", INT)                                                             \
    X(SOURCE_USER_NAME, "source.user.name", STR)                                                   \
    X(SYSTEMD_UNIT, "systemd.unit", STR)                                                           \
    X(TAGS, "tags", LIST)                                                                          \
    X(URL_DOMAIN, "url.domain", STR)                                                               \
    X(URL_FULL, "url.full", STR)                                                                   \
    X(URL_ORIGINAL, "url.original", STR)                                                           \
    X(URL_PATH, "url.path", STR)                                                                   \
    X(URL_QUERY, "url.query", STR)                                                                 \
    X(USER_AUDIT_ID, "user.audit.id", STR)                                                         \
    X(USER_DOMAIN, "user.domain", STR)                                                             \
    X(USER_EFFECTIVE_ID, "user.effective.id", STR)                                                 \
    X(USER_EFFECTIVE_NAME, "user.effective.name", STR)                                             \
    X(USER_ID, "user.id", STR)                                                                     \
    X(USER_NAME, "user.name", STR)                                                                 \
    X(USER_TARGET_DOMAIN, "user.target.domain", STR)                                               \
    X(USER_TARGET_ID, "user.target.id", STR)                                                       \
    X(USER_TARGET_NAME, "user.target.name", STR)                                                   \
    X(USER_TERMINAL, "user.terminal", STR)                                                         \
    X(USER_AGENT_ORIGINAL, "user_agent.original", STR)                                             \
    X(WINLOG_CHANNEL, "winlog.channel", STR)                                                       \
    X(WINLOG_COMPUTER_NAME, "winlog.computer_name", STR)                                           \
    X(WINLOG_EVENT_DATA_COMMAND_LINE, "winlog.event_data.CommandLine", STR)                        \
    X(WINLOG_EVENT_DATA_DESTINATION_IP, "winlog.event_data.DestinationIp", STR)                    \
    X(WINLOG_EVENT_DATA_DESTINATION_PORT, "winlog.event_data.DestinationPort", STR)                \
    X(WINLOG_EVENT_DATA_HASHES, "winlog.event_data.Hashes", STR)                                   \
    X(WINLOG_EVENT_DATA_IMAGE, "winlog.event_data.Image", STR)                                     \
    X(WINLOG_EVENT_DATA_IP_ADDRESS, "winlog.event_data.IpAddress", STR)                            \
    X(WINLOG_EVENT_DATA_LOGON_PROCESS_NAME, "winlog.event_data.LogonProcessName", STR)             \
    X(WINLOG_EVENT_DATA_LOGON_TYPE, "winlog.event_data.LogonType", STR)                            \
    X(WINLOG_EVENT_DATA_MEMBER_NAME, "winlog.event_data.MemberName", STR)                          \
    X(WINLOG_EVENT_DATA_NEW_PROCESS_NAME, "winlog.event_data.NewProcessName", STR)                 \
    X(WINLOG_EVENT_DATA_PARENT_COMMAND_LINE, "winlog.event_data.ParentCommandLine", STR)           \
    X(WINLOG_EVENT_DATA_PARENT_IMAGE, "winlog.event_data.ParentImage", STR)                        \
    X(WINLOG_EVENT_DATA_PARENT_PROCESS_NAME, "winlog.event_data.ParentProcessName", STR)           \
    X(WINLOG_EVENT_DATA_PROCESS_NAME, "winlog.event_data.ProcessName", STR)                        \
    X(WINLOG_EVENT_DATA_QUERY_NAME, "winlog.event_data.QueryName", STR)                            \
    X(WINLOG_EVENT_DATA_SERVICE_FILE_NAME, "winlog.event_data.ServiceFileName", STR)               \
    X(WINLOG_EVENT_DATA_SERVICE_NAME, "winlog.event_data.ServiceName", STR)                        \
    X(WINLOG_EVENT_DATA_STATUS, "winlog.event_data.Status", STR)                                   \
    X(WINLOG_EVENT_DATA_SUB_STATUS, "winlog.event_data.SubStatus", STR)                            \
    X(WINLOG_EVENT_DATA_SUBJECT_DOMAIN_NAME, "winlog.event_data.SubjectDomainName", STR)           \
    X(WINLOG_EVENT_DATA_SUBJECT_USER_NAME, "winlog.event_data.SubjectUserName", STR)               \
    X(WINLOG_EVENT_DATA_TARGET_DOMAIN_NAME, "winlog.event_data.TargetDomainName", STR)             \
    X(WINLOG_EVENT_DATA_TARGET_FILENAME, "winlog.event_data.TargetFilename", STR)                  \
    X(WINLOG_EVENT_DATA_TARGET_USER_NAME, "winlog.event_data.TargetUserName", STR)                 \
    X(WINLOG_EVENT_DATA_USER, "winlog.event_data.User", STR)                                       \
    X(WINLOG_EVENT_DATA_WORKSTATION_NAME, "winlog.event_data.WorkstationName", STR)                \
    X(WINLOG_EVENT_DATA_EXTRA, "winlog.event_data.~", EXTRA)                                       \
    X(WINLOG_EVENT_ID, "winlog.event_id", STR)                                                     \
    X(WINLOG_PROVIDER_NAME, "winlog.provider_name", STR)                                           \
    X(WINLOG_RECORD_ID, "winlog.record_id", STR)

typedef enum lf_field_id {
#define LF_FIELD_ENUM(id, path, kind) LF_F_##id,
    LF_ECS_FIELDS(LF_FIELD_ENUM)
#undef LF_FIELD_ENUM
        LF_F_COUNT
} lf_field_id_t;

typedef enum lf_field_kind {
    LF_KIND_STR,
    LF_KIND_INT,
    LF_KIND_TS,
    LF_KIND_IP,
    LF_KIND_LIST,
    LF_KIND_EXTRA
} lf_field_kind_t;

/* Flags that say what was done to a record; emitted as lianfang.flags. */
#define LF_EVENT_FLAGS(X)                                                                          \
    X(TRUNCATED, "truncated")                                                                      \
    X(INVALID_UTF8, "invalid_utf8")                                                                \
    X(TIME_FROM_INGEST, "timestamp_from_ingest")                                                   \
    X(YEAR_INFERRED, "year_inferred")                                                              \
    X(TZ_ASSUMED, "timezone_assumed")                                                              \
    X(LOST, "record_lost")                                                                         \
    X(FIELDS_DROPPED, "fields_dropped")

enum {
#define LF_EVFLAG_BIT(id, name) LF_EVFLAG_BIT_##id,
    LF_EVENT_FLAGS(LF_EVFLAG_BIT)
#undef LF_EVFLAG_BIT
};
#define LF_EVFLAG(id) (1u << LF_EVFLAG_BIT_##id)

#define LF_EVENT_PRESENT_WORDS ((LF_F_COUNT + 63) / 64)
#define LF_EVENT_MAX_EXTRA     64

typedef enum lf_extra_type {
    LF_EXTRA_STR, /* str is text */
    LF_EXTRA_INT, /* num */
    LF_EXTRA_RAW  /* str is a complete, valid JSON value (object, array, number, bool) */
} lf_extra_type_t;

/* A field that is not interned: emitted as <parent's object>.<key>. */
typedef struct lf_event_extra {
    lf_field_id_t parent; /* an EXTRA-kind row, e.g. LF_F_LABELS_EXTRA */
    lf_extra_type_t type;
    lf_str_t key;
    lf_str_t str;
    int64_t num;
} lf_event_extra_t;

typedef struct lf_event {
    uint64_t present[LF_EVENT_PRESENT_WORDS]; /* bit per lf_field_id_t */
    lf_str_t str[LF_F_COUNT];
    int64_t num[LF_F_COUNT];
    uint32_t flags; /* LF_EVFLAG(...) */
    uint32_t extra_count;
    lf_event_extra_t extra[LF_EVENT_MAX_EXTRA];
} lf_event_t;

const char *lf_field_path(lf_field_id_t id);
lf_field_kind_t lf_field_kind(lf_field_id_t id);
/* Looks up a field id by ECS path (binary search); LF_F_COUNT when unknown. */
lf_field_id_t lf_field_lookup(const char *path, size_t len);

static inline void lf_event_reset(lf_event_t *ev)
{
    for (int i = 0; i < LF_EVENT_PRESENT_WORDS; i++)
        ev->present[i] = 0;
    ev->flags = 0;
    ev->extra_count = 0;
}
static inline void lf_event_set_str(lf_event_t *ev, lf_field_id_t id, lf_str_t v)
{
    ev->str[id] = v;
    ev->present[id / 64] |= 1ull << (id % 64);
}
static inline void lf_event_set_num(lf_event_t *ev, lf_field_id_t id, int64_t v)
{
    ev->num[id] = v;
    ev->present[id / 64] |= 1ull << (id % 64);
}
static inline bool lf_event_has(const lf_event_t *ev, lf_field_id_t id)
{
    return id < LF_F_COUNT && ((ev->present[id / 64] >> (id % 64)) & 1u);
}
static inline void lf_event_unset(lf_event_t *ev, lf_field_id_t id)
{
    ev->present[id / 64] &= ~(1ull << (id % 64));
}

/* Sets an IP-kind field when v is a valid IPv4 or IPv6 address (IPv6 may
 * be in brackets, which are dropped). Returns false, leaving the field
 * unset, otherwise. */
bool lf_event_set_ip(lf_event_t *ev, lf_field_id_t id, lf_str_t v);
/* Adds an extra field under parent (an EXTRA-kind id). false when the
 * event already holds LF_EVENT_MAX_EXTRA (the FIELDS_DROPPED flag is set). */
bool lf_event_add_extra(lf_event_t *ev, lf_field_id_t parent, lf_extra_type_t type, lf_str_t key,
                        lf_str_t str, int64_t num);

/* The value of a field as text, for matchers that do not care about its
 * kind: strings, IPs and lists as they are (borrowed; a list is its
 * keywords joined by ','), numbers in decimal and timestamps in RFC 3339
 * formatted into buf (at least 40 bytes). false when absent. */
bool lf_event_value_text(const lf_event_t *ev, lf_field_id_t id, char *buf, size_t buflen,
                         lf_str_t *out);

/* Serialises the event as nested ECS JSON into out (reset first). Invalid
 * UTF-8 in a string is replaced by U+FFFD; when event.original had to be
 * changed that way, the INVALID_UTF8 flag is added and the exact bytes are
 * kept base64-encoded in lianfang.original_base64. LF_EFULL when out's
 * maximum is reached. */
lf_err_t lf_event_to_json(lf_event_t *ev, lf_buf_t *out, lf_buf_t *scratch);

#endif
