/* test_api_http.c - the HTTP API end to end: a real store in a temporary
 * directory, the server on 127.0.0.1 port 0, and plain HTTP/1.1 requests
 * over a loopback socket, checked with jansson. */
#include "lf_api.h"
#include "lf_api_internal.h"
#include "lf_time.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- Fixture: the store's contents ---------------------------------------- */

#define N_EVENTS 61 /* small agents, interleaved in time */
#define N_ALERTS 20
#define N_BIG    3 /* ~30 KB documents of agent "big-agent" */

static const struct {
    const char *id, *agency, *host;
} agents[] = {
    {"ch07-app", "CH-07", "appt-web-01"},
    {"nt21-fw", "NT-21", "fw-edge"},
    {"tc01-web", "TC-01", "www-tc01"},
};
#define N_AGENTS 3

typedef struct fixture_event {
    int agent;    /* index into agents */
    uint64_t seq; /* per agent, from 1 */
    int64_t ts;
} fixture_event_t;

static fixture_event_t events[N_EVENTS];
static int64_t base_ms; /* 2026-03-10T01:00:00Z = 09:00 in Taipei */

static struct {
    char root[64];
    char store_path[128];
    lf_metrics_t metrics;
    lf_store_t *store;
    lf_api_t *api;
    uint16_t port;
} fx;

static atomic_bool degraded;

static void health_cb(void *opaque, lf_api_health_t *out)
{
    (void)opaque;
    lf_api_health_check_t *c = &out->checks[out->count++];
    snprintf(c->name, sizeof c->name, "store");
    c->ok = true;
    c = &out->checks[out->count++];
    snprintf(c->name, sizeof c->name, "kafka");
    c->ok = !atomic_load(&degraded);
    snprintf(c->detail, sizeof c->detail, "%s",
             c->ok ? "3 brokers up" : "all brokers down since 09:02");
}

static void put_event(lf_store_batch_t *b, const char *agent_id, const char *agency,
                      const char *host, uint64_t seq, int64_t ts, const char *message)
{
    char stamp[40];
    lf_time_format_rfc3339_ms(ts, stamp, sizeof stamp);
    size_t cap = strlen(message) + 512;
    char *doc = malloc(cap);
    assert_non_null(doc);
    int n = snprintf(doc, cap,
                     "{\"@timestamp\":\"%s\",\"agent\":{\"id\":\"%s\"},\"organization\":{\"id\":"
                     "\"%s\"},\"host\":{\"name\":\"%s\"},\"event\":{\"sequence\":%llu},"
                     "\"message\":\"%s\"}",
                     stamp, agent_id, agency, host, (unsigned long long)seq, message);
    lf_store_event_in_t ev = {
        .agent_id = lf_str_c(agent_id),
        .agency = lf_str_c(agency),
        .host = lf_str_c(host),
        .seq = seq,
        .epoch_seq = 1,
        .timestamp_ms = ts,
        .doc = doc,
        .doc_len = (size_t)n,
    };
    assert_int_equal(lf_store_batch_put(b, &ev), LF_OK);
    free(doc);
}

static void fill_store(void)
{
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(fx.store, &b), LF_OK);
    uint64_t next_seq[N_AGENTS] = {1, 1, 1};
    for (int i = 0; i < N_EVENTS; i++) {
        int a = i % N_AGENTS;
        /* Pairs share a timestamp so equal times are paged correctly too. */
        events[i] = (fixture_event_t){a, next_seq[a]++, base_ms + (i / 2) * 1000};
        char message[96];
        snprintf(message, sizeof message, "sshd: failed password #%d <script>x</script>", i);
        put_event(b, agents[a].id, agents[a].agency, agents[a].host, events[i].seq, events[i].ts,
                  message);
    }
    /* Three large documents, older than everything else. */
    size_t big_len = 30000;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    for (uint64_t seq = 1; seq <= N_BIG; seq++)
        put_event(b, "big-agent", "BIG", "bulk", seq, base_ms - 3600000 + (int64_t)seq, big);
    free(big);
    /* One document larger than the small server's response limit. */
    size_t huge_len = 70000;
    char *huge = malloc(huge_len + 1);
    assert_non_null(huge);
    memset(huge, 'y', huge_len);
    huge[huge_len] = '\0';
    put_event(b, "huge-agent", "BIG", "bulk", 1, base_ms - 7200000, huge);
    free(huge);
    /* Alerts: id i has level i % 5 and agency TC-01 for odd ids. */
    for (int i = 0; i < N_ALERTS; i++) {
        char doc[160], rule[32];
        uint64_t id = lf_store_batch_next_alert_id(b);
        snprintf(doc, sizeof doc, "{\"alert\":{\"id\":%llu},\"rule\":{\"id\":\"r-%d\"}}",
                 (unsigned long long)id, (int)(id % 2));
        snprintf(rule, sizeof rule, "r-%d", (int)(id % 2));
        lf_store_alert_in_t al = {.timestamp_ms = base_ms + (int64_t)id,
                                  .agency = lf_str_c(id % 2 ? "TC-01" : "CH-07"),
                                  .rule_id = lf_str_c(rule),
                                  .level = (int)(id % 5),
                                  .doc = doc,
                                  .doc_len = strlen(doc)};
        assert_int_equal(lf_store_batch_put_alert(b, &al), LF_OK);
    }
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
}

static lf_api_config_t api_config(void)
{
    lf_api_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[256];
    assert_int_equal(lf_config_set_defaults(lf_api_config_options, &cfg, err, sizeof err), LF_OK);
    free(cfg.listen);
    cfg.listen = strdup("127.0.0.1:0");
    return cfg;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    base_ms = lf_time_days_from_civil(2026, 3, 10) * 86400000LL + 3600000LL;
    snprintf(fx.root, sizeof fx.root, "/tmp/lf-api-test-XXXXXX");
    if (!mkdtemp(fx.root))
        return -1;
    snprintf(fx.store_path, sizeof fx.store_path, "%s/store", fx.root);

    lf_metrics_init(&fx.metrics);
    lf_store_config_t scfg;
    memset(&scfg, 0, sizeof scfg);
    char err[256];
    if (lf_config_set_defaults(lf_store_config_options, &scfg, err, sizeof err) != LF_OK)
        return -1;
    free(scfg.path);
    scfg.path = strdup(fx.store_path);
    scfg.map_size = 64 << 20;
    scfg.sync = false;
    lf_err_t rc = lf_store_open(&scfg, &fx.metrics, &fx.store, err, sizeof err);
    lf_config_free(lf_store_config_options, &scfg);
    if (rc != LF_OK) {
        fprintf(stderr, "store: %s\n", err);
        return -1;
    }
    fill_store();

    lf_api_config_t cfg = api_config();
    lf_api_deps_t deps = {.store = fx.store, .metrics = &fx.metrics, .health = health_cb};
    rc = lf_api_start(&cfg, &deps, &fx.api, err, sizeof err);
    lf_config_free(lf_api_config_options, &cfg);
    if (rc != LF_OK) {
        fprintf(stderr, "api: %s\n", err);
        return -1;
    }
    fx.port = lf_api_port(fx.api);
    return fx.port ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    lf_api_stop(fx.api);
    lf_store_close(fx.store);
    lf_metrics_destroy(&fx.metrics);
    nftw(fx.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- A tiny HTTP/1.1 client ------------------------------------------------ */

typedef struct http_resp {
    int status;
    char *head; /* status line and headers, NUL-terminated */
    char *body; /* NUL-terminated */
    size_t body_len;
} http_resp_t;

static void http_free(http_resp_t *r)
{
    free(r->head);
    free(r->body);
}

static http_resp_t http_on(uint16_t port, const char *method, const char *target)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);

    char req[2048];
    int n =
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                 method, target);
    assert_true(n > 0 && (size_t)n < sizeof req);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);

    size_t cap = 1 << 16, len = 0;
    char *raw = malloc(cap);
    assert_non_null(raw);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            raw = realloc(raw, cap);
            assert_non_null(raw);
        }
        ssize_t got = recv(fd, raw + len, cap - len - 1, 0);
        assert_true(got >= 0);
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    raw[len] = '\0';

    http_resp_t r = {0};
    char *end = strstr(raw, "\r\n\r\n");
    assert_non_null(end);
    size_t head_len = (size_t)(end - raw);
    r.head = strndup(raw, head_len);
    r.body_len = len - head_len - 4;
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, end + 4, r.body_len);
    r.body[r.body_len] = '\0';
    assert_int_equal(sscanf(raw, "HTTP/1.1 %d", &r.status), 1);
    free(raw);
    return r;
}

static http_resp_t http(const char *method, const char *target)
{
    return http_on(fx.port, method, target);
}

/* Value of a response header (copied into out), or NULL. */
static const char *header(const http_resp_t *r, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *eol = strstr(v, "\r\n");
            size_t vlen = eol ? (size_t)(eol - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vlen, v);
            return out;
        }
    }
    return NULL;
}

static json_t *body_json(const http_resp_t *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    if (!j)
        fail_msg("body is not JSON (%s): %.200s", jerr.text, r->body);
    return j;
}

static void assert_json_headers(const http_resp_t *r)
{
    char v[256];
    assert_non_null(header(r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json; charset=utf-8");
    assert_non_null(header(r, "Cache-Control", v, sizeof v));
    assert_string_equal(v, "no-store");
    assert_non_null(header(r, "X-Content-Type-Options", v, sizeof v));
    assert_string_equal(v, "nosniff");
}

static void assert_error(const char *target, int status, const char *code, const char *message)
{
    http_resp_t r = http("GET", target);
    if (r.status != status)
        fail_msg("%s: status %d, want %d: %s", target, r.status, status, r.body);
    assert_json_headers(&r);
    json_t *j = body_json(&r);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    if (message)
        assert_string_equal(json_string_value(json_object_get(e, "message")), message);
    json_decref(j);
    http_free(&r);
}

/* ---- Health ---------------------------------------------------------------- */

static void test_health_ok(void **state)
{
    (void)state;
    atomic_store(&degraded, false);
    http_resp_t r = http("GET", "/api/v1/health");
    assert_int_equal(r.status, 200);
    assert_json_headers(&r);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "version")), LF_VERSION);
    assert_true(json_is_integer(json_object_get(j, "uptime_s")));
    json_t *checks = json_object_get(j, "checks");
    assert_int_equal(json_array_size(checks), 2);
    json_t *kafka = json_array_get(checks, 1);
    assert_string_equal(json_string_value(json_object_get(kafka, "name")), "kafka");
    assert_true(json_is_true(json_object_get(kafka, "ok")));
    assert_string_equal(json_string_value(json_object_get(kafka, "detail")), "3 brokers up");
    json_decref(j);
    http_free(&r);
}

static void test_health_degraded(void **state)
{
    (void)state;
    atomic_store(&degraded, true);
    http_resp_t r = http("GET", "/api/v1/health");
    atomic_store(&degraded, false);
    assert_int_equal(r.status, 503);
    assert_json_headers(&r);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "degraded");
    json_t *kafka = json_array_get(json_object_get(j, "checks"), 1);
    assert_true(json_is_false(json_object_get(kafka, "ok")));
    json_decref(j);
    http_free(&r);
}

/* ---- Events ---------------------------------------------------------------- */

static int find_event(const char *agent_id, uint64_t seq)
{
    for (int i = 0; i < N_EVENTS; i++)
        if (strcmp(agents[events[i].agent].id, agent_id) == 0 && events[i].seq == seq)
            return i;
    return -1;
}

/* Pages through /api/v1/events?<query>&limit=<limit>, checking newest-first
 * order; marks each small fixture event seen in `seen` (asserting it was not
 * seen before) and returns the number of events of any agent. */
static size_t page_through(const char *query, int limit, int *seen, size_t *pages)
{
    char cursor[LF_STORE_CURSOR_MAX] = "";
    size_t total = 0;
    int64_t last_ts = INT64_MAX;
    *pages = 0;
    for (;;) {
        char target[512];
        snprintf(target, sizeof target, "/api/v1/events?limit=%d%s%s%s%s", limit, *query ? "&" : "",
                 query, cursor[0] ? "&cursor=" : "", cursor);
        http_resp_t r = http("GET", target);
        if (r.status != 200)
            fail_msg("%s: %d %s", target, r.status, r.body);
        assert_json_headers(&r);
        json_t *j = body_json(&r);
        json_t *list = json_object_get(j, "events");
        assert_true(json_is_array(list));
        assert_int_equal(json_integer_value(json_object_get(j, "count")), json_array_size(list));
        assert_true(json_array_size(list) <= (size_t)limit);
        size_t i;
        json_t *doc;
        json_array_foreach(list, i, doc)
        {
            const char *agent_id =
                json_string_value(json_object_get(json_object_get(doc, "agent"), "id"));
            uint64_t seq = (uint64_t)json_integer_value(
                json_object_get(json_object_get(doc, "event"), "sequence"));
            assert_non_null(agent_id);
            int idx = find_event(agent_id, seq);
            if (idx >= 0) {
                assert_int_equal(seen[idx], 0);
                seen[idx] = 1;
                assert_true(events[idx].ts <= last_ts);
                last_ts = events[idx].ts;
            }
            total++;
        }
        (*pages)++;
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            json_decref(j);
            http_free(&r);
            break;
        }
        assert_true(json_is_string(next));
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(j);
        http_free(&r);
        assert_true(*pages < 1000);
    }
    return total;
}

static void test_events_pagination_covers_all_once(void **state)
{
    (void)state;
    int seen[N_EVENTS] = {0};
    size_t pages;
    size_t total = page_through("", 7, seen, &pages);
    assert_int_equal(total, N_EVENTS + N_BIG + 1);
    for (int i = 0; i < N_EVENTS; i++)
        assert_int_equal(seen[i], 1);
    assert_true(pages >= (N_EVENTS + N_BIG + 1) / 7);
}

static void test_events_default_page_newest_first(void **state)
{
    (void)state;
    http_resp_t r = http("GET", "/api/v1/events");
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    json_t *list = json_object_get(j, "events");
    assert_int_equal(json_array_size(list), N_EVENTS + N_BIG + 1); /* < default 100 */
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    /* The newest fixture event is the last one put. */
    json_t *first = json_array_get(list, 0);
    char stamp[40];
    lf_time_format_rfc3339_ms(events[N_EVENTS - 1].ts, stamp, sizeof stamp);
    assert_string_equal(json_string_value(json_object_get(first, "@timestamp")), stamp);
    /* Stored text comes back verbatim (escaping is the page's job). */
    assert_non_null(strstr(json_string_value(json_object_get(first, "message")), "<script>"));
    json_decref(j);
    http_free(&r);
}

static void test_events_filter_agency(void **state)
{
    (void)state;
    int seen[N_EVENTS] = {0};
    size_t pages;
    size_t total = page_through("agency=CH-07", 5, seen, &pages);
    size_t want = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        bool match = strcmp(agents[events[i].agent].agency, "CH-07") == 0;
        want += match;
        assert_int_equal(seen[i], match);
    }
    assert_int_equal(total, want);
}

static void test_events_filter_agent(void **state)
{
    (void)state;
    int seen[N_EVENTS] = {0};
    size_t pages;
    size_t total = page_through("agent=tc01-web", 4, seen, &pages);
    size_t want = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        bool match = strcmp(agents[events[i].agent].id, "tc01-web") == 0;
        want += match;
        assert_int_equal(seen[i], match);
    }
    assert_int_equal(total, want);
    int none[N_EVENTS] = {0};
    assert_int_equal(page_through("agent=no-such-agent", 4, none, &pages), 0);
}

static void check_window(const char *query, int64_t from, int64_t to)
{
    int seen[N_EVENTS] = {0};
    size_t pages;
    size_t total = page_through(query, 6, seen, &pages);
    size_t want = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        bool match = events[i].ts >= from && events[i].ts < to;
        want += match;
        assert_int_equal(seen[i], match);
    }
    assert_int_equal(total, want);
    assert_true(want > 0);
}

static void test_events_filter_time(void **state)
{
    (void)state;
    char query[256];
    /* RFC 3339 with a +08:00 offset ('+' encoded), Z, and epoch ms. */
    snprintf(query, sizeof query, "from=2026-03-10T09:00:10%%2B08:00&to=2026-03-10T01:00:20Z");
    check_window(query, base_ms + 10000, base_ms + 20000);
    snprintf(query, sizeof query, "from=%lld&to=%lld", (long long)(base_ms + 3000),
             (long long)(base_ms + 7500));
    check_window(query, base_ms + 3000, base_ms + 7500);
    /* An unencoded '+' arrives as a space and is still understood. */
    snprintf(query, sizeof query, "from=2026-03-10T09:00:25.000+08:00&agency=NT-21");
    int seen[N_EVENTS] = {0};
    size_t pages;
    size_t total = page_through(query, 50, seen, &pages);
    size_t want = 0;
    for (int i = 0; i < N_EVENTS; i++)
        want += events[i].ts >= base_ms + 25000 && events[i].agent == 1;
    assert_int_equal(total, want);
}

static void test_events_bad_parameters(void **state)
{
    (void)state;
    assert_error("/api/v1/events?limit=0", 400, "bad_request", "limit must be 1..1000");
    assert_error("/api/v1/events?limit=1001", 400, "bad_request", "limit must be 1..1000");
    assert_error("/api/v1/events?limit=abc", 400, "bad_request", "limit must be 1..1000");
    assert_error("/api/v1/events?limit=-5", 400, "bad_request", "limit must be 1..1000");
    assert_error("/api/v1/events?limit=99999999999999999999999", 400, "bad_request",
                 "limit must be 1..1000");
    assert_error("/api/v1/events?cursor=zz", 400, "bad_request", "cursor is malformed");
    assert_error("/api/v1/events?cursor=0123456789abcdef0123456789abcdef0123456789abcdef0123"
                 "456789abcdef0123",
                 400, "bad_request", "cursor is malformed");
    assert_error("/api/v1/events?from=yesterday", 400, "bad_request", NULL);
    assert_error("/api/v1/events?from=2026-02-30T00:00:00Z", 400, "bad_request", NULL);
    assert_error("/api/v1/events?to=2026-03-10T25:00:00Z", 400, "bad_request", NULL);
    assert_error("/api/v1/events?from=2000&to=1000", 400, "bad_request",
                 "from must be earlier than to");
    assert_error("/api/v1/events?agnecy=CH-07", 400, "bad_request",
                 "unknown query parameter 'agnecy' (accepted: "
                 "limit,cursor,agent,agency,from,to)");
}

static void test_event_by_id(void **state)
{
    (void)state;
    http_resp_t r = http("GET", "/api/v1/events/ch07-app/3");
    assert_int_equal(r.status, 200);
    assert_json_headers(&r);
    json_t *j = body_json(&r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "organization"), "id")), "CH-07");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "event"), "sequence")),
                     3);
    json_decref(j);
    http_free(&r);

    assert_error("/api/v1/events/ch07-app/999", 404, "not_found", NULL);
    assert_error("/api/v1/events/nobody/1", 404, "not_found", NULL);
    assert_error("/api/v1/events/ch07-app/zero", 400, "bad_request", NULL);
    assert_error("/api/v1/events/ch07-app/0", 400, "bad_request", NULL);
}

/* ---- Agents, stats, metrics ------------------------------------------------- */

static void test_agents(void **state)
{
    (void)state;
    http_resp_t r = http("GET", "/api/v1/agents");
    assert_int_equal(r.status, 200);
    assert_json_headers(&r);
    json_t *j = body_json(&r);
    json_t *list = json_object_get(j, "agents");
    assert_int_equal(json_array_size(list), N_AGENTS + 2);
    /* Ordered by id: big-agent, ch07-app, huge-agent, nt21-fw, tc01-web. */
    json_t *a = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "ch07-app");
    assert_string_equal(json_string_value(json_object_get(a, "agency")), "CH-07");
    assert_string_equal(json_string_value(json_object_get(a, "host")), "appt-web-01");
    int want = 0;
    for (int i = 0; i < N_EVENTS; i++)
        want += events[i].agent == 0;
    assert_int_equal(json_integer_value(json_object_get(a, "events_stored")), want);
    assert_int_equal(json_integer_value(json_object_get(a, "watermark")), want);
    assert_int_equal(json_integer_value(json_object_get(a, "duplicates")), 0);
    int64_t ms;
    const char *first_seen = json_string_value(json_object_get(a, "first_seen"));
    const char *last_seen = json_string_value(json_object_get(a, "last_seen"));
    assert_non_null(first_seen);
    assert_non_null(last_seen);
    assert_true(lf_api_parse_time(first_seen, &ms));
    assert_true(ms > base_ms - 86400000LL * 365 * 10);
    assert_true(lf_api_parse_time(last_seen, &ms));
    json_decref(j);
    http_free(&r);
}

static void test_alerts(void **state)
{
    (void)state;
    /* Every alert once across pages, newest first. */
    char target[256] = "/api/v1/alerts?limit=7";
    uint64_t expect = N_ALERTS;
    for (int pages = 0; pages < 10; pages++) {
        http_resp_t r = http("GET", target);
        assert_int_equal(r.status, 200);
        assert_json_headers(&r);
        json_t *j = body_json(&r);
        json_t *arr = json_object_get(j, "alerts");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *id = json_object_get(json_object_get(json_array_get(arr, i), "alert"), "id");
            assert_int_equal(json_integer_value(id), expect--);
        }
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            json_decref(j);
            http_free(&r);
            break;
        }
        snprintf(target, sizeof target, "/api/v1/alerts?limit=7&cursor=%s",
                 json_string_value(next));
        json_decref(j);
        http_free(&r);
    }
    assert_int_equal(expect, 0);
    /* Filters: odd ids with level >= high (3): 3, 9, 13, 19 of 1..20. */
    http_resp_t r = http("GET", "/api/v1/alerts?agency=TC-01&min_level=high");
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
    json_decref(j);
    http_free(&r);
    r = http("GET", "/api/v1/alerts/3");
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "rule"), "id")),
                        "r-1");
    json_decref(j);
    http_free(&r);
    assert_error("/api/v1/alerts/999", 404, "not_found", NULL);
    assert_error("/api/v1/alerts?min_level=severe", 400, "bad_request", NULL);
    assert_error("/api/v1/alerts?cursor=zz", 400, "bad_request", NULL);
}

static void test_stats(void **state)
{
    (void)state;
    http_resp_t r = http("GET", "/api/v1/stats");
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    json_t *st = json_object_get(j, "store");
    assert_int_equal(json_integer_value(json_object_get(st, "events")), N_EVENTS + N_BIG + 1);
    assert_int_equal(json_integer_value(json_object_get(st, "agents")), N_AGENTS + 2);
    assert_int_equal(json_integer_value(json_object_get(st, "alerts")), N_ALERTS);
    assert_true(json_integer_value(json_object_get(st, "map_used")) > 0);
    assert_int_equal(json_integer_value(json_object_get(st, "map_size")), 64 << 20);
    json_decref(j);
    http_free(&r);
}

static void test_metrics(void **state)
{
    (void)state;
    http_resp_t warm = http("GET", "/no/such/thing");
    http_free(&warm);
    http_resp_t r = http("GET", "/metrics");
    assert_int_equal(r.status, 200);
    char v[128];
    assert_non_null(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "lianfang_store_events_written_total"));
    assert_non_null(strstr(r.body, "# TYPE lianfang_api_requests_total counter"));
    assert_non_null(strstr(r.body, "lianfang_api_requests_total{code=\"2xx\"} "));
    assert_non_null(strstr(r.body, "lianfang_api_requests_total{code=\"4xx\"} "));
    assert_non_null(strstr(r.body, "lianfang_api_route_requests_total{route=\"events\"} "));
    assert_non_null(strstr(r.body, "lianfang_api_route_requests_total{route=\"unmatched\"} "));
    assert_non_null(strstr(r.body, "lianfang_api_connections_active "));
    /* 2xx has been counted at least once before this request. */
    const char *p = strstr(r.body, "lianfang_api_requests_total{code=\"2xx\"} ");
    assert_true(strtoll(p + strlen("lianfang_api_requests_total{code=\"2xx\"} "), NULL, 10) >= 1);
    http_free(&r);
}

/* ---- Routing ---------------------------------------------------------------- */

static void test_not_found_and_method_not_allowed(void **state)
{
    (void)state;
    assert_error("/api/v2/events", 404, "not_found", NULL);
    assert_error("/api/v1/events/", 404, "not_found", NULL);
    assert_error("/nope.js", 404, "not_found", NULL);

    http_resp_t r = http("POST", "/api/v1/events");
    assert_int_equal(r.status, 405);
    assert_json_headers(&r);
    char v[64];
    assert_non_null(header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET, HEAD");
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "method_not_allowed");
    json_decref(j);
    http_free(&r);

    r = http("DELETE", "/api/v1/events/ch07-app/1");
    assert_int_equal(r.status, 405);
    http_free(&r);

    r = http("HEAD", "/api/v1/health");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    http_free(&r);
}

static void test_dashboard_page(void **state)
{
    (void)state;
    http_resp_t r = http("GET", "/");
    assert_int_equal(r.status, 200);
    char v[512];
    assert_non_null(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_non_null(header(&r, "Content-Security-Policy", v, sizeof v));
    assert_non_null(strstr(v, "default-src 'self'"));
    assert_non_null(header(&r, "X-Content-Type-Options", v, sizeof v));
    assert_non_null(strstr(r.body, "事件 Events"));
    assert_non_null(strstr(r.body, "代理程式 Agents"));
    assert_null(strstr(r.body, "http://"));
    assert_null(strstr(r.body, "https://"));
    http_free(&r);

    static const struct {
        const char *path, *type, *needle;
    } files[] = {
        {"/index.html", "text/html; charset=utf-8", "<!DOCTYPE html>"},
        {"/app.js", "text/javascript; charset=utf-8", "textContent"},
        {"/style.css", "text/css; charset=utf-8", ":root"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        r = http("GET", files[i].path);
        assert_int_equal(r.status, 200);
        assert_non_null(header(&r, "Content-Type", v, sizeof v));
        assert_string_equal(v, files[i].type);
        assert_non_null(strstr(r.body, files[i].needle));
        http_free(&r);
    }
    /* The page never writes untrusted text as markup. */
    r = http("GET", "/app.js");
    assert_null(strstr(r.body, "innerHTML"));
    http_free(&r);
}

/* ---- Response size limit ------------------------------------------------------ */

static void test_response_limit_shortens_pages(void **state)
{
    (void)state;
    lf_api_config_t cfg = api_config();
    cfg.max_response_size = 65536;
    lf_api_deps_t deps = {.store = fx.store};
    lf_api_t *small;
    char err[256];
    assert_int_equal(lf_api_start(&cfg, &deps, &small, err, sizeof err), LF_OK);
    lf_config_free(lf_api_config_options, &cfg);
    uint16_t port = lf_api_port(small);

    /* Three ~30 KB documents never fit in one 64 KiB page: the pages are
     * shortened and the cursor still walks every event once. */
    size_t seen_big = 0;
    char cursor[LF_STORE_CURSOR_MAX] = "";
    for (int guard = 0; guard < 10; guard++) {
        char target[256];
        snprintf(target, sizeof target, "/api/v1/events?agent=big-agent&limit=10%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        http_resp_t r = http_on(port, "GET", target);
        if (r.status != 200)
            fail_msg("%s: %d %s", target, r.status, r.body);
        assert_true(r.body_len <= 65536);
        json_t *j = body_json(&r);
        size_t count = json_array_size(json_object_get(j, "events"));
        assert_true(count >= 1 && count <= 2);
        seen_big += count;
        json_t *next = json_object_get(j, "next_cursor");
        bool more = json_is_string(next);
        if (more)
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(j);
        http_free(&r);
        if (!more)
            break;
    }
    assert_int_equal(seen_big, N_BIG);

    /* A single document larger than the limit is refused, and counted. */
    http_resp_t r = http_on(port, "GET", "/api/v1/events/huge-agent/1");
    assert_int_equal(r.status, 500);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "response_too_large");
    json_decref(j);
    http_free(&r);
    r = http_on(port, "GET", "/api/v1/events?agent=huge-agent");
    assert_int_equal(r.status, 500);
    http_free(&r);
    r = http_on(port, "GET", "/metrics");
    assert_non_null(strstr(r.body, "lianfang_api_responses_too_large_total 2"));
    http_free(&r);

    lf_api_stop(small);
}

/* ---- Start-up errors ---------------------------------------------------------- */

static void test_start_errors(void **state)
{
    (void)state;
    lf_api_deps_t deps = {.store = fx.store};
    lf_api_t *api = NULL;
    char err[256];

    lf_api_config_t cfg = api_config();
    free(cfg.listen);
    cfg.listen = strdup("localhost:8080");
    assert_int_equal(lf_api_start(&cfg, &deps, &api, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "api.listen"));
    assert_null(api);

    free(cfg.listen);
    char busy[32];
    snprintf(busy, sizeof busy, "127.0.0.1:%u", (unsigned)fx.port);
    cfg.listen = strdup(busy);
    assert_int_equal(lf_api_start(&cfg, &deps, &api, err, sizeof err), LF_EIO);
    assert_non_null(strstr(err, "Address already in use"));

    free(cfg.listen);
    cfg.listen = strdup("127.0.0.1:0");
    cfg.threads = 0;
    assert_int_equal(lf_api_start(&cfg, &deps, &api, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "api.threads"));
    cfg.threads = 2;

    lf_api_deps_t no_store = {0};
    assert_int_equal(lf_api_start(&cfg, &no_store, &api, err, sizeof err), LF_EINVAL);

    /* One thread (no pool) and IPv6 loopback, when the host has it. */
    cfg.threads = 1;
    free(cfg.listen);
    cfg.listen = strdup("[::1]:0");
    lf_err_t rc = lf_api_start(&cfg, &deps, &api, err, sizeof err);
    if (rc == LF_OK) {
        assert_true(lf_api_port(api) > 0);
        lf_api_stop(api);
    } else {
        assert_int_equal(rc, LF_EIO); /* no IPv6 in this sandbox */
    }
    lf_config_free(lf_api_config_options, &cfg);
    lf_api_stop(NULL);
}

/* ---- Concurrency and connection bounds ---------------------------------------- */

#define N_CLIENTS 8

static void *client_thread(void *arg)
{
    static const char *const targets[] = {
        "/api/v1/events?limit=13",  "/api/v1/agents", "/api/v1/health", "/metrics",
        "/api/v1/events/nt21-fw/2", "/app.js",        "/api/v1/stats",  "/nope",
    };
    size_t *failures = arg;
    for (int i = 0; i < 40; i++) {
        const char *target = targets[(size_t)i % (sizeof targets / sizeof targets[0])];
        http_resp_t r = http("GET", target);
        bool ok = strcmp(target, "/nope") == 0 ? r.status == 404 : r.status == 200;
        *failures += !ok;
        http_free(&r);
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    pthread_t threads[N_CLIENTS];
    size_t failures[N_CLIENTS] = {0};
    for (int i = 0; i < N_CLIENTS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, client_thread, &failures[i]), 0);
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(failures[i], 0);
    }
}

static int connect_idle(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends a request on fd and returns the bytes of the answer (0: closed). */
static ssize_t request_on(int fd)
{
    static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0)
        return -1;
    char buf[4096];
    ssize_t total = 0, got;
    while ((got = recv(fd, buf, sizeof buf, 0)) > 0)
        total += got;
    return total;
}

static void test_connection_bounds(void **state)
{
    (void)state;
    lf_api_config_t cfg = api_config();
    cfg.per_ip_connection_limit = 2;
    cfg.connection_timeout_ms = 1000;
    cfg.threads = 1;
    lf_api_deps_t deps = {.store = fx.store};
    lf_api_t *api;
    char err[256];
    assert_int_equal(lf_api_start(&cfg, &deps, &api, err, sizeof err), LF_OK);
    lf_config_free(lf_api_config_options, &cfg);
    uint16_t port = lf_api_port(api);

    /* Two idle connections use up this address's allowance ... */
    int a = connect_idle(port);
    int b = connect_idle(port);
    usleep(200 * 1000);
    /* ... so a third is closed without an answer. */
    int c = connect_idle(port);
    assert_true(request_on(c) <= 0);
    close(c);

    /* Idle connections are closed by the timeout (1 s). */
    int64_t t0 = lf_time_mono_ms();
    char byte;
    assert_true(recv(a, &byte, 1, 0) <= 0);
    assert_true(recv(b, &byte, 1, 0) <= 0);
    int64_t waited = lf_time_mono_ms() - t0;
    assert_true(waited < 5000);
    close(a);
    close(b);

    /* With the slots free again, requests are answered. */
    usleep(100 * 1000);
    int d = connect_idle(port);
    assert_true(request_on(d) > 0);
    close(d);
    lf_api_stop(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ok),
        cmocka_unit_test(test_health_degraded),
        cmocka_unit_test(test_events_pagination_covers_all_once),
        cmocka_unit_test(test_events_default_page_newest_first),
        cmocka_unit_test(test_events_filter_agency),
        cmocka_unit_test(test_events_filter_agent),
        cmocka_unit_test(test_events_filter_time),
        cmocka_unit_test(test_events_bad_parameters),
        cmocka_unit_test(test_event_by_id),
        cmocka_unit_test(test_agents),
        cmocka_unit_test(test_alerts),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_not_found_and_method_not_allowed),
        cmocka_unit_test(test_dashboard_page),
        cmocka_unit_test(test_response_limit_shortens_pages),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_connection_bounds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
