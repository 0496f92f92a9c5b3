/* lf_store.c - the LMDB event store. Layout: docs/store.md. */
#include "lf_store.h"
#include "lf_store_int.h"

#include "lf_buf.h"
#include "lf_log.h"
#include "lf_time.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_COMP "store"

#define MIB                  (1024LL * 1024)
#define GIB                  (1024LL * MIB)
#define EVENT_KEY_LEN        12u /* agent_no u32 BE, seq u64 BE */
#define TIME_KEY_LEN         20u /* sign-flipped ts u64 BE, agent_no u32 BE, seq u64 BE */
#define EVENT_HDR_LEN        20u
#define EVENT_VALUE_FORMAT   1u
#define AGENT_HDR_LEN        56u
#define AGENT_RECORD_FORMAT  1u
#define OFFSET_KEY_MAX       (LF_STORE_MAX_TOPIC + 1 + 4)
#define BATCH_ARENA_MAX      (8u << 20)
#define BATCH_INITIAL_AGENTS 64u

/* ---- configuration ------------------------------------------------------ */

const lf_config_option_t lf_store_config_options[] = {
    LF_CFG_OPT_STRING("path", lf_store_config_t, path, "/var/lib/lianfang/store",
                      "Directory holding the LMDB files (data.mdb, lock.mdb). Created with "
                      "mode 0750 if missing; must be on a local filesystem (not NFS) and "
                      "writable by the lianfangd user. One directory per lianfangd node."),
    LF_CFG_OPT_SIZE("map_size", lf_store_config_t, map_size, "8GiB", 16 * MIB, 1024 * 1024 * GIB,
                    "Largest size the database may grow to. Disk space is only used as data "
                    "is written, but when the store reaches this size every write fails "
                    "(logged as 'map is full') until it is raised and lianfangd restarted. "
                    "Size it for the retention you keep: roughly events per day x average "
                    "event size x 2 x days. See docs/store.md."),
    LF_CFG_OPT_INT("max_readers", lf_store_config_t, max_readers, "126", 1, 65536,
                   "Most read transactions open at once (API requests, exports, stats). "
                   "A read past the limit fails with 'try again later'; raise it for busy "
                   "dashboards. Changing it needs all processes using the store restarted."),
    LF_CFG_OPT_BOOL("sync", lf_store_config_t, sync, "true",
                    "Flush to disk at every commit. true: a committed batch survives kill -9 "
                    "and power loss. false: faster; a crash of lianfangd (kill -9) still "
                    "loses nothing, but a power loss or kernel crash can undo the last "
                    "commits although their watermarks were already sent to agents, which "
                    "then do not re-send them. Use false only for evaluation installs or "
                    "with battery-backed storage."),
    LF_CFG_END,
};

static void event_key(uint8_t *k, uint32_t agent_no, uint64_t seq)
{
    put_be32(k, agent_no);
    put_be64(k + 4, seq);
}

static void time_key(uint8_t *k, int64_t ts, uint32_t agent_no, uint64_t seq)
{
    put_be64(k, time_bits(ts));
    put_be32(k + 8, agent_no);
    put_be64(k + 12, seq);
}

/* ---- types --------------------------------------------------------------- */

static const lf_metric_t metric_templates[M_COUNT] = {
    [M_EVENTS_WRITTEN] = {.name = "lianfang_store_events_written_total",
                          .help = "Events newly stored (committed).",
                          .kind = LF_METRIC_COUNTER},
    [M_DUPLICATES] = {.name = "lianfang_store_duplicates_total",
                      .help = "Events dropped because (agent, seq) was already stored.",
                      .kind = LF_METRIC_COUNTER},
    [M_COMMITS] = {.name = "lianfang_store_commits_total",
                   .help = "Write transactions committed.",
                   .kind = LF_METRIC_COUNTER},
    [M_COMMIT_ERRORS] = {.name = "lianfang_store_commit_errors_total",
                         .help = "Write transactions that failed (nothing of them stored).",
                         .kind = LF_METRIC_COUNTER},
    [M_MAP_USED] = {.name = "lianfang_store_map_used_bytes",
                    .help = "Bytes of the LMDB map in use (compare with store.map_size).",
                    .kind = LF_METRIC_GAUGE},
    [M_ALERTS_WRITTEN] = {.name = "lianfang_store_alerts_written_total",
                          .help = "Alerts stored (committed).",
                          .kind = LF_METRIC_COUNTER},
};

static lf_metric_t *metric(lf_store_t *st, enum store_metric m)
{
    return &st->metrics[m];
}

lf_err_t lf_store_mdb_fail(lf_store_t *st, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL) {
        lf_error(LOG_COMP,
                 "%s: the database map is full (store.map_size = %" PRId64
                 " bytes, path %s): nothing of this batch was stored; raise store.map_size "
                 "in the configuration and restart lianfangd",
                 what, st->map_size, st->path);
        return LF_EFULL;
    }
    if (rc == MDB_READERS_FULL) {
        lf_warn(LOG_COMP, "%s: all reader slots are in use (raise store.max_readers)", what);
        return LF_EAGAIN;
    }
    lf_error(LOG_COMP, "%s: %s (store %s)", what, mdb_strerror(rc), st->path);
    return LF_ESTORE;
}

static void errfmt(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errfmt(char *errstr, size_t errlen, const char *fmt, ...)
{
    if (!errstr || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
}

/* ---- open / close ------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat sb;
    if (stat(tmp, &sb) != 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static const char META_SCHEMA[] = "schema_version";
static const char META_NEXT_AGENT[] = "next_agent_no";
static const char META_NEXT_ALERT[] = "next_alert_id";

static MDB_val mval(const void *p, size_t n)
{
    return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* Opens the named databases and checks the schema version in one write
 * transaction. */
static lf_err_t open_dbs(lf_store_t *st, char *errstr, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc) {
        errfmt(errstr, errlen, "store %s: cannot begin a transaction: %s", st->path,
               mdb_strerror(rc));
        return rc == MDB_MAP_FULL ? LF_EFULL : LF_ESTORE;
    }
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"events", &st->db_events},
        {"time_idx", &st->db_time},
        {"agents", &st->db_agents},
        {"agent_nos", &st->db_agent_nos},
        {"offsets", &st->db_offsets},
        {"meta", &st->db_meta},
        {"alerts", &st->db_alerts},
        {"state", &st->db_tables[LF_TABLE_STATE]},
        {"incidents", &st->db_tables[LF_TABLE_INCIDENTS]},
        {"incident_keys", &st->db_tables[LF_TABLE_INCIDENT_KEYS]},
        {"incident_links", &st->db_tables[LF_TABLE_INCIDENT_LINKS]},
        {"joint", &st->db_tables[LF_TABLE_JOINT]},
        {"agent_registry", &st->db_tables[LF_TABLE_AGENT_REGISTRY]},
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc) {
            errfmt(errstr, errlen, "store %s: cannot open database '%s': %s", st->path, dbs[i].name,
                   mdb_strerror(rc));
            mdb_txn_abort(txn);
            return LF_ESTORE;
        }
    }
    MDB_val k = mval(META_SCHEMA, sizeof META_SCHEMA - 1), v;
    rc = mdb_get(txn, st->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t b[4];
        put_be32(b, LF_STORE_SCHEMA_VERSION);
        v = mval(b, 4);
        rc = mdb_put(txn, st->db_meta, &k, &v, 0);
    } else if (rc == 0) {
        uint32_t version = v.mv_size == 4 ? get_be32(v.mv_data) : UINT32_MAX;
        if (version > LF_STORE_SCHEMA_VERSION || version == 0) {
            errfmt(errstr, errlen,
                   "store %s has schema version %" PRIu32 ", this build reads only version "
                   "%u: run a newer lianfangd or point store.path at another directory",
                   st->path, version, LF_STORE_SCHEMA_VERSION);
            mdb_txn_abort(txn);
            return LF_ESTORE;
        }
    }
    if (rc) {
        errfmt(errstr, errlen, "store %s: cannot read the schema version: %s", st->path,
               mdb_strerror(rc));
        mdb_txn_abort(txn);
        return LF_ESTORE;
    }
    k = mval(META_NEXT_AGENT, sizeof META_NEXT_AGENT - 1);
    rc = mdb_get(txn, st->db_meta, &k, &v);
    st->next_agent_no = 1;
    if (rc == 0 && v.mv_size == 4)
        st->next_agent_no = get_be32(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND) {
        errfmt(errstr, errlen, "store %s: cannot read meta: %s", st->path, mdb_strerror(rc));
        mdb_txn_abort(txn);
        return LF_ESTORE;
    }
    k = mval(META_NEXT_ALERT, sizeof META_NEXT_ALERT - 1);
    rc = mdb_get(txn, st->db_meta, &k, &v);
    st->next_alert_id = 1;
    if (rc == 0 && v.mv_size == 8)
        st->next_alert_id = get_be64(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND) {
        errfmt(errstr, errlen, "store %s: cannot read meta: %s", st->path, mdb_strerror(rc));
        mdb_txn_abort(txn);
        return LF_ESTORE;
    }
    rc = mdb_txn_commit(txn);
    if (rc) {
        errfmt(errstr, errlen, "store %s: cannot commit the initial transaction: %s", st->path,
               mdb_strerror(rc));
        return LF_ESTORE;
    }
    return LF_OK;
}

static void update_map_used(lf_store_t *st)
{
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) == 0)
        lf_metric_set(metric(st, M_MAP_USED), (int64_t)(info.me_last_pgno + 1) * st->page_size);
}

lf_err_t lf_store_open(const lf_store_config_t *cfg, lf_metrics_t *metrics, lf_store_t **out,
                       char *errstr, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->path || !cfg->path[0]) {
        errfmt(errstr, errlen, "store.path: must name a directory");
        return LF_EINVAL;
    }
    if (cfg->map_size < 16 * MIB) {
        errfmt(errstr, errlen, "store.map_size: %" PRId64 " bytes is below the minimum 16MiB",
               cfg->map_size);
        return LF_EINVAL;
    }
    if (cfg->max_readers < 1 || cfg->max_readers > 65536) {
        errfmt(errstr, errlen, "store.max_readers: %" PRId64 " is out of range [1, 65536]",
               cfg->max_readers);
        return LF_EINVAL;
    }
    if (mkdir_p(cfg->path, 0750) != 0) {
        errfmt(errstr, errlen, "store.path %s: cannot create the directory: %s", cfg->path,
               strerror(errno));
        return LF_EIO;
    }
    lf_store_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(cfg->path))) {
        free(st);
        errfmt(errstr, errlen, "store: out of memory");
        return LF_ENOMEM;
    }
    st->map_size = cfg->map_size;
    st->batch.st = st;
    lf_buf_init(&st->batch.arena, BATCH_ARENA_MAX);
    memcpy(st->metrics, metric_templates, sizeof st->metrics);

    int rc = mdb_env_create(&st->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(st->env, 16);
    if (rc == 0)
        rc = mdb_env_set_mapsize(st->env, (size_t)cfg->map_size);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(st->env, (unsigned)cfg->max_readers);
    unsigned flags = MDB_NOTLS;
    if (!cfg->sync)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    if (rc == 0)
        rc = mdb_env_open(st->env, cfg->path, flags, 0640);
    if (rc) {
        errfmt(errstr, errlen, "store %s: cannot open the LMDB environment: %s", cfg->path,
               mdb_strerror(rc));
        lf_store_close(st);
        return LF_ESTORE;
    }
    int dead = 0;
    mdb_reader_check(st->env, &dead);
    if (dead)
        lf_info(LOG_COMP, "cleared %d reader slots left by a crashed process", dead);
    MDB_stat ms;
    if (mdb_env_stat(st->env, &ms) == 0)
        st->page_size = ms.ms_psize;
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) == 0)
        st->map_size = (int64_t)info.me_mapsize;

    lf_err_t err = open_dbs(st, errstr, errlen);
    if (err != LF_OK) {
        lf_store_close(st);
        return err;
    }
    if (metrics) {
        err = lf_metrics_register(metrics, st->metrics, M_COUNT);
        if (err != LF_OK) {
            errfmt(errstr, errlen, "store: cannot register metrics: %s", lf_strerror(err));
            lf_store_close(st);
            return err;
        }
        st->registry = metrics;
    }
    update_map_used(st);
    *out = st;
    return LF_OK;
}

void lf_store_close(lf_store_t *st)
{
    if (!st)
        return;
    lf_store_batch_abort(&st->batch);
    if (st->env)
        mdb_env_close(st->env);
    free(st->batch.agents);
    free(st->batch.slots);
    lf_buf_free(&st->batch.arena);
    free(st->path);
    free(st);
}

/* ---- agent records ------------------------------------------------------ */

typedef struct agent_record {
    uint32_t agent_no;
    uint64_t watermark, events_stored, duplicates;
    int64_t first_seen_ms, last_seen_ms;
    lf_str_t agency, host;
} agent_record_t;

static bool agent_record_decode(const MDB_val *v, agent_record_t *r)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < AGENT_HDR_LEN || p[0] != AGENT_RECORD_FORMAT)
        return false;
    size_t alen = get_be16(p + 2), hlen = get_be16(p + 4);
    if (v->mv_size != AGENT_HDR_LEN + alen + hlen)
        return false;
    r->agent_no = get_be32(p + 8);
    r->watermark = get_be64(p + 16);
    r->events_stored = get_be64(p + 24);
    r->duplicates = get_be64(p + 32);
    r->first_seen_ms = (int64_t)get_be64(p + 40);
    r->last_seen_ms = (int64_t)get_be64(p + 48);
    r->agency = lf_str_n((const char *)p + AGENT_HDR_LEN, alen);
    r->host = lf_str_n((const char *)p + AGENT_HDR_LEN + alen, hlen);
    return true;
}

static void agent_record_encode(uint8_t *p, const agent_record_t *r)
{
    memset(p, 0, AGENT_HDR_LEN);
    p[0] = AGENT_RECORD_FORMAT;
    put_be16(p + 2, (uint16_t)r->agency.len);
    put_be16(p + 4, (uint16_t)r->host.len);
    put_be32(p + 8, r->agent_no);
    put_be64(p + 16, r->watermark);
    put_be64(p + 24, r->events_stored);
    put_be64(p + 32, r->duplicates);
    put_be64(p + 40, (uint64_t)r->first_seen_ms);
    put_be64(p + 48, (uint64_t)r->last_seen_ms);
    if (r->agency.len)
        memcpy(p + AGENT_HDR_LEN, r->agency.ptr, r->agency.len);
    if (r->host.len)
        memcpy(p + AGENT_HDR_LEN + r->agency.len, r->host.ptr, r->host.len);
}

/* ---- event values ------------------------------------------------------- */

typedef struct event_value {
    int64_t timestamp_ms, stored_ms;
    lf_str_t agency;
    const char *doc;
    size_t doc_len;
} event_value_t;

static bool event_value_decode(const MDB_val *v, event_value_t *ev)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < EVENT_HDR_LEN || p[0] != EVENT_VALUE_FORMAT)
        return false;
    size_t alen = get_be16(p + 2);
    if (v->mv_size < EVENT_HDR_LEN + alen)
        return false;
    ev->timestamp_ms = (int64_t)get_be64(p + 4);
    ev->stored_ms = (int64_t)get_be64(p + 12);
    ev->agency = lf_str_n((const char *)p + EVENT_HDR_LEN, alen);
    ev->doc = (const char *)p + EVENT_HDR_LEN + alen;
    ev->doc_len = v->mv_size - EVENT_HDR_LEN - alen;
    return true;
}

/* ---- write path ---------------------------------------------------------- */

static void batch_reset(lf_store_batch_t *b)
{
    b->txn = NULL;
    b->events_cur = NULL;
    b->open = false;
    b->failed = false;
    b->added = b->dups = 0;
    b->alerts_added = 0;
    b->agent_count = 0;
    for (size_t i = 0; i < b->slot_count; i++)
        b->slots[i] = -1;
    lf_buf_reset(&b->arena);
}

lf_err_t lf_store_batch_begin(lf_store_t *st, lf_store_batch_t **out)
{
    lf_store_batch_t *b = &st->batch;
    *out = NULL;
    if (b->open)
        return LF_ESTATE;
    batch_reset(b);
    int rc = mdb_txn_begin(st->env, NULL, 0, &b->txn);
    if (rc) {
        b->txn = NULL;
        return lf_store_mdb_fail(st, rc, "begin write transaction");
    }
    b->open = true;
    b->now_ms = lf_time_now_ms();
    b->next_agent_no = st->next_agent_no;
    b->next_alert_id = st->next_alert_id;
    *out = b;
    return LF_OK;
}

/* Marks the batch failed after an LMDB error. */
static lf_err_t batch_fail(lf_store_batch_t *b, int rc, const char *what)
{
    b->failed = true;
    return lf_store_mdb_fail(b->st, rc, what);
}

static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void slots_insert(lf_store_batch_t *b, size_t index)
{
    size_t mask = b->slot_count - 1;
    size_t i = (size_t)hash_id(b->agents[index].id, b->agents[index].id_len) & mask;
    while (b->slots[i] >= 0)
        i = (i + 1) & mask;
    b->slots[i] = (int32_t)index;
}

/* Makes room for one more agent entry; LF_EAGAIN at the bound. */
static lf_err_t agents_grow(lf_store_batch_t *b)
{
    if (b->agent_count < b->agent_cap)
        return LF_OK;
    if (b->agent_cap >= LF_STORE_BATCH_MAX_AGENTS)
        return LF_EAGAIN;
    size_t cap = b->agent_cap ? b->agent_cap * 2 : BATCH_INITIAL_AGENTS;
    if (cap > LF_STORE_BATCH_MAX_AGENTS)
        cap = LF_STORE_BATCH_MAX_AGENTS;
    batch_agent_t *agents = realloc(b->agents, cap * sizeof *agents);
    if (!agents)
        return LF_ENOMEM;
    b->agents = agents;
    int32_t *slots = realloc(b->slots, cap * 2 * sizeof *slots);
    if (!slots)
        return LF_ENOMEM;
    b->slots = slots;
    b->agent_cap = cap;
    b->slot_count = cap * 2;
    for (size_t i = 0; i < b->slot_count; i++)
        b->slots[i] = -1;
    for (size_t i = 0; i < b->agent_count; i++)
        slots_insert(b, i);
    return LF_OK;
}

static batch_agent_t *agents_find(lf_store_batch_t *b, lf_str_t id)
{
    if (!b->slot_count)
        return NULL;
    size_t mask = b->slot_count - 1;
    size_t i = (size_t)hash_id(id.ptr, id.len) & mask;
    while (b->slots[i] >= 0) {
        batch_agent_t *a = &b->agents[b->slots[i]];
        if (a->id_len == id.len && memcmp(a->id, id.ptr, id.len) == 0)
            return a;
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Copies s into the arena; LF_EAGAIN when the arena is full. */
static lf_err_t arena_keep(lf_store_batch_t *b, lf_str_t s, size_t *off)
{
    *off = b->arena.len;
    lf_err_t err = lf_buf_append(&b->arena, s.ptr, s.len);
    return err == LF_EFULL ? LF_EAGAIN : err;
}

static lf_str_t arena_str(lf_store_batch_t *b, size_t off, size_t len)
{
    return lf_str_n(b->arena.data ? b->arena.data + off : "", len);
}

/* Finds or loads the batch state of an agent, assigning a number to a new
 * agent. */
static lf_err_t batch_agent_get(lf_store_batch_t *b, lf_str_t id, batch_agent_t **out)
{
    batch_agent_t *a = agents_find(b, id);
    if (a) {
        *out = a;
        return LF_OK;
    }
    lf_err_t err = agents_grow(b);
    if (err != LF_OK)
        return err;
    lf_store_t *st = b->st;
    a = &b->agents[b->agent_count];
    memset(a, 0, sizeof *a);
    memcpy(a->id, id.ptr, id.len);
    a->id_len = id.len;
    MDB_val k = mval(id.ptr, id.len), v;
    int rc = mdb_get(b->txn, st->db_agents, &k, &v);
    if (rc == 0) {
        agent_record_t r;
        if (!agent_record_decode(&v, &r)) {
            lf_error(LOG_COMP, "agent record of '%.*s' is malformed", (int)id.len, id.ptr);
            b->failed = true;
            return LF_ESTORE;
        }
        a->agent_no = r.agent_no;
        a->watermark = r.watermark;
        a->events_stored = r.events_stored;
        a->duplicates = r.duplicates;
        a->first_seen_ms = r.first_seen_ms;
        if ((err = arena_keep(b, r.agency, &a->agency_off)) != LF_OK ||
            (err = arena_keep(b, r.host, &a->host_off)) != LF_OK)
            return err;
        a->agency_len = r.agency.len;
        a->host_len = r.host.len;
    } else if (rc == MDB_NOTFOUND) {
        if (b->next_agent_no == UINT32_MAX) {
            lf_error(LOG_COMP, "no agent numbers left (2^32 - 1 agents)");
            return LF_EFULL;
        }
        a->agent_no = b->next_agent_no++;
        a->first_seen_ms = b->now_ms;
        uint8_t nb[4];
        put_be32(nb, a->agent_no);
        MDB_val nk = mval(nb, 4), nv = mval(id.ptr, id.len);
        rc = mdb_put(b->txn, st->db_agent_nos, &nk, &nv, 0);
        if (rc)
            return batch_fail(b, rc, "record agent number");
    } else {
        return batch_fail(b, rc, "read agent record");
    }
    slots_insert(b, b->agent_count);
    b->agent_count++;
    *out = a;
    return LF_OK;
}

/* Advances the watermark over consecutive stored sequence numbers. */
static lf_err_t watermark_advance(lf_store_batch_t *b, batch_agent_t *a)
{
    if (a->watermark == UINT64_MAX)
        return LF_OK;
    int rc;
    if (!b->events_cur) {
        rc = mdb_cursor_open(b->txn, b->st->db_events, &b->events_cur);
        if (rc)
            return batch_fail(b, rc, "open events cursor");
    }
    uint8_t kb[EVENT_KEY_LEN];
    event_key(kb, a->agent_no, a->watermark + 1);
    MDB_val k = mval(kb, sizeof kb), v;
    rc = mdb_cursor_get(b->events_cur, &k, &v, MDB_SET_KEY);
    while (rc == 0) {
        a->watermark++;
        if (a->watermark == UINT64_MAX)
            return LF_OK;
        rc = mdb_cursor_get(b->events_cur, &k, &v, MDB_NEXT);
        if (rc == 0 && (k.mv_size != EVENT_KEY_LEN || get_be32(k.mv_data) != a->agent_no ||
                        get_be64((const uint8_t *)k.mv_data + 4) != a->watermark + 1))
            return LF_OK;
    }
    if (rc != MDB_NOTFOUND)
        return batch_fail(b, rc, "advance watermark");
    return LF_OK;
}

static lf_err_t check_label(lf_str_t s)
{
    if (s.len > LF_STORE_MAX_LABEL || (s.len && !s.ptr))
        return LF_EINVAL;
    return LF_OK;
}

/* Keeps the latest non-empty agency / host of the agent. */
static lf_err_t update_label(lf_store_batch_t *b, lf_str_t s, size_t *off, size_t *len)
{
    if (!s.len || lf_str_eq(s, arena_str(b, *off, *len)))
        return LF_OK;
    lf_err_t err = arena_keep(b, s, off);
    if (err == LF_OK)
        *len = s.len;
    return err;
}

lf_err_t lf_store_batch_put(lf_store_batch_t *b, const lf_store_event_in_t *ev)
{
    if (!b || !b->open || b->failed)
        return LF_ESTATE;
    if (!ev || ev->agent_id.len == 0 || ev->agent_id.len > LF_STORE_MAX_AGENT_ID ||
        !ev->agent_id.ptr || ev->seq == 0 || ev->doc_len > LF_STORE_MAX_DOC ||
        (ev->doc_len && !ev->doc) || check_label(ev->agency) != LF_OK ||
        check_label(ev->host) != LF_OK)
        return LF_EINVAL;
    lf_store_t *st = b->st;
    batch_agent_t *a = NULL;
    lf_err_t err = batch_agent_get(b, ev->agent_id, &a);
    if (err != LF_OK)
        return err;
    /* The labels are kept even when the event turns out a duplicate: a
     * re-sent batch still shows where the agent is. */
    if ((err = update_label(b, ev->agency, &a->agency_off, &a->agency_len)) != LF_OK ||
        (err = update_label(b, ev->host, &a->host_off, &a->host_len)) != LF_OK)
        return err;
    if (ev->epoch_seq > 1 && ev->epoch_seq - 1 > a->watermark) {
        a->watermark = ev->epoch_seq - 1;
        if ((err = watermark_advance(b, a)) != LF_OK)
            return err;
    }
    if (ev->seq <= a->watermark) {
        a->duplicates++;
        a->batch_dups++;
        b->dups++;
        return LF_EDUPLICATE;
    }
    uint8_t kb[EVENT_KEY_LEN];
    event_key(kb, a->agent_no, ev->seq);
    MDB_val k = mval(kb, sizeof kb);
    MDB_val v = {.mv_size = EVENT_HDR_LEN + ev->agency.len + ev->doc_len};
    int rc = mdb_put(b->txn, st->db_events, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == MDB_KEYEXIST) {
        a->duplicates++;
        a->batch_dups++;
        b->dups++;
        return LF_EDUPLICATE;
    }
    if (rc)
        return batch_fail(b, rc, "store event");
    uint8_t *p = v.mv_data;
    p[0] = EVENT_VALUE_FORMAT;
    p[1] = 0;
    put_be16(p + 2, (uint16_t)ev->agency.len);
    put_be64(p + 4, (uint64_t)ev->timestamp_ms);
    put_be64(p + 12, (uint64_t)b->now_ms);
    if (ev->agency.len)
        memcpy(p + EVENT_HDR_LEN, ev->agency.ptr, ev->agency.len);
    if (ev->doc_len)
        memcpy(p + EVENT_HDR_LEN + ev->agency.len, ev->doc, ev->doc_len);

    uint8_t tb[TIME_KEY_LEN];
    time_key(tb, ev->timestamp_ms, a->agent_no, ev->seq);
    MDB_val tk = mval(tb, sizeof tb), tv = mval("", 0);
    rc = mdb_put(b->txn, st->db_time, &tk, &tv, 0);
    if (rc)
        return batch_fail(b, rc, "store time index entry");
    a->added++;
    a->events_stored++;
    b->added++;
    if (ev->seq == a->watermark + 1)
        return watermark_advance(b, a);
    return LF_OK;
}

static lf_err_t offset_key(const char *topic, int32_t partition, uint8_t *kb, size_t *klen)
{
    size_t tlen = topic ? strlen(topic) : 0;
    if (tlen == 0 || tlen > LF_STORE_MAX_TOPIC || partition < 0)
        return LF_EINVAL;
    memcpy(kb, topic, tlen);
    kb[tlen] = 0;
    put_be32(kb + tlen + 1, (uint32_t)partition);
    *klen = tlen + 5;
    return LF_OK;
}

lf_err_t lf_store_batch_set_offset(lf_store_batch_t *b, const char *topic, int32_t partition,
                                   int64_t next_offset)
{
    if (!b || !b->open || b->failed)
        return LF_ESTATE;
    uint8_t kb[OFFSET_KEY_MAX];
    size_t klen;
    if (offset_key(topic, partition, kb, &klen) != LF_OK)
        return LF_EINVAL;
    uint8_t vb[8];
    put_be64(vb, (uint64_t)next_offset);
    MDB_val k = mval(kb, klen), v = mval(vb, 8);
    int rc = mdb_put(b->txn, b->st->db_offsets, &k, &v, 0);
    if (rc)
        return batch_fail(b, rc, "store consumer offset");
    return LF_OK;
}

/* Writes the touched agents' records and the meta counters into the txn. */
static lf_err_t batch_flush_agents(lf_store_batch_t *b)
{
    lf_store_t *st = b->st;
    uint8_t buf[AGENT_HDR_LEN + 2 * LF_STORE_MAX_LABEL];
    for (size_t i = 0; i < b->agent_count; i++) {
        batch_agent_t *a = &b->agents[i];
        agent_record_t r = {
            .agent_no = a->agent_no,
            .watermark = a->watermark,
            .events_stored = a->events_stored,
            .duplicates = a->duplicates,
            .first_seen_ms = a->first_seen_ms,
            .last_seen_ms = b->now_ms,
            .agency = arena_str(b, a->agency_off, a->agency_len),
            .host = arena_str(b, a->host_off, a->host_len),
        };
        agent_record_encode(buf, &r);
        MDB_val k = mval(a->id, a->id_len);
        MDB_val v = mval(buf, AGENT_HDR_LEN + r.agency.len + r.host.len);
        int rc = mdb_put(b->txn, st->db_agents, &k, &v, 0);
        if (rc)
            return batch_fail(b, rc, "store agent record");
    }
    if (b->next_alert_id != st->next_alert_id) {
        uint8_t nb[8];
        put_be64(nb, b->next_alert_id);
        MDB_val k = mval(META_NEXT_ALERT, sizeof META_NEXT_ALERT - 1), v = mval(nb, 8);
        int rc = mdb_put(b->txn, st->db_meta, &k, &v, 0);
        if (rc)
            return batch_fail(b, rc, "store next alert id");
    }
    if (b->next_agent_no != st->next_agent_no) {
        uint8_t nb[4];
        put_be32(nb, b->next_agent_no);
        MDB_val k = mval(META_NEXT_AGENT, sizeof META_NEXT_AGENT - 1), v = mval(nb, 4);
        int rc = mdb_put(b->txn, st->db_meta, &k, &v, 0);
        if (rc)
            return batch_fail(b, rc, "store next agent number");
    }
    return LF_OK;
}

lf_err_t lf_store_batch_commit(lf_store_batch_t *b, lf_store_agent_cb cb, void *opaque)
{
    if (!b || !b->open)
        return LF_ESTATE;
    lf_store_t *st = b->st;
    if (b->failed) {
        lf_store_batch_abort(b);
        lf_metric_add(metric(st, M_COMMIT_ERRORS), 1);
        return LF_ESTATE;
    }
    lf_err_t err = batch_flush_agents(b);
    if (err != LF_OK) {
        lf_store_batch_abort(b);
        lf_metric_add(metric(st, M_COMMIT_ERRORS), 1);
        return err;
    }
    if (b->events_cur) {
        mdb_cursor_close(b->events_cur);
        b->events_cur = NULL;
    }
    int rc = mdb_txn_commit(b->txn);
    b->txn = NULL;
    b->open = false;
    if (rc) {
        lf_metric_add(metric(st, M_COMMIT_ERRORS), 1);
        return lf_store_mdb_fail(st, rc, "commit");
    }
    st->next_agent_no = b->next_agent_no;
    st->next_alert_id = b->next_alert_id;
    lf_metric_add(metric(st, M_COMMITS), 1);
    lf_metric_add(metric(st, M_ALERTS_WRITTEN), (int64_t)b->alerts_added);
    lf_metric_add(metric(st, M_EVENTS_WRITTEN), (int64_t)b->added);
    lf_metric_add(metric(st, M_DUPLICATES), (int64_t)b->dups);
    update_map_used(st);
    if (cb) {
        for (size_t i = 0; i < b->agent_count; i++) {
            batch_agent_t *a = &b->agents[i];
            cb(opaque, lf_str_n(a->id, a->id_len), a->watermark, a->added, a->batch_dups);
        }
    }
    return LF_OK;
}

void lf_store_batch_abort(lf_store_batch_t *b)
{
    if (!b || !b->open)
        return;
    if (b->events_cur)
        mdb_cursor_close(b->events_cur);
    if (b->txn)
        mdb_txn_abort(b->txn);
    b->events_cur = NULL;
    b->txn = NULL;
    b->open = false;
    b->failed = false;
}

/* ---- read path ----------------------------------------------------------- */

static lf_err_t read_begin(lf_store_t *st, MDB_txn **txn)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc)
        return lf_store_mdb_fail(st, rc, "begin read transaction");
    return LF_OK;
}

/* Looks up an agent's number; LF_ENOTFOUND when unknown. */
static lf_err_t agent_lookup(lf_store_t *st, MDB_txn *txn, lf_str_t id, agent_record_t *r)
{
    MDB_val k = mval(id.ptr, id.len), v;
    int rc = mdb_get(txn, st->db_agents, &k, &v);
    if (rc == MDB_NOTFOUND)
        return LF_ENOTFOUND;
    if (rc)
        return lf_store_mdb_fail(st, rc, "read agent record");
    if (!agent_record_decode(&v, r)) {
        lf_error(LOG_COMP, "agent record of '%.*s' is malformed", (int)id.len, id.ptr);
        return LF_ESTORE;
    }
    return LF_OK;
}

static bool agent_id_ok(lf_str_t id)
{
    return id.len > 0 && id.len <= LF_STORE_MAX_AGENT_ID && id.ptr;
}

lf_err_t lf_store_event_get(lf_store_t *st, lf_str_t agent_id, uint64_t seq, lf_store_event_cb cb,
                            void *opaque)
{
    if (!agent_id_ok(agent_id) || !cb)
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    agent_record_t r;
    err = agent_lookup(st, txn, agent_id, &r);
    if (err == LF_OK) {
        uint8_t kb[EVENT_KEY_LEN];
        event_key(kb, r.agent_no, seq);
        MDB_val k = mval(kb, sizeof kb), v;
        int rc = mdb_get(txn, st->db_events, &k, &v);
        event_value_t ev;
        if (rc == MDB_NOTFOUND)
            err = LF_ENOTFOUND;
        else if (rc)
            err = lf_store_mdb_fail(st, rc, "read event");
        else if (!event_value_decode(&v, &ev))
            err = LF_ESTORE;
        else {
            lf_store_event_out_t out = {
                .agent_id = agent_id,
                .agency = ev.agency,
                .seq = seq,
                .timestamp_ms = ev.timestamp_ms,
                .stored_ms = ev.stored_ms,
                .doc = ev.doc,
                .doc_len = ev.doc_len,
            };
            cb(opaque, &out);
        }
    }
    mdb_txn_abort(txn);
    return err;
}

static bool cursor_decode(const char *s, uint8_t *key)
{
    if (strlen(s) != 2 * TIME_KEY_LEN)
        return false;
    for (size_t i = 0; i < TIME_KEY_LEN; i++) {
        int hi = lf_hex_value(s[2 * i]), lo = lf_hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void cursor_encode(const MDB_val *k, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = k->mv_data;
    for (size_t i = 0; i < TIME_KEY_LEN; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * TIME_KEY_LEN] = '\0';
}

/* Positions cur at the greatest key below `key` (or equal, when inclusive).
 * Returns 0, MDB_NOTFOUND or an LMDB error. */
static int seek_at_or_before(MDB_cursor *cur, const uint8_t *key, bool inclusive, MDB_val *k)
{
    MDB_val v;
    *k = mval(key, TIME_KEY_LEN);
    int rc = mdb_cursor_get(cur, k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(cur, k, &v, MDB_LAST);
    if (rc)
        return rc;
    if (inclusive && k->mv_size == TIME_KEY_LEN && memcmp(k->mv_data, key, TIME_KEY_LEN) == 0)
        return 0;
    return mdb_cursor_get(cur, k, &v, MDB_PREV);
}

typedef struct scan_state {
    lf_store_t *st;
    MDB_txn *txn;
    uint32_t cached_no; /* agent number whose id is cached */
    lf_str_t cached_id;
} scan_state_t;

static lf_str_t scan_agent_id(scan_state_t *s, uint32_t agent_no)
{
    if (s->cached_no == agent_no && s->cached_id.ptr)
        return s->cached_id;
    uint8_t nb[4];
    put_be32(nb, agent_no);
    MDB_val k = mval(nb, 4), v;
    if (mdb_get(s->txn, s->st->db_agent_nos, &k, &v) != 0)
        return lf_str_c("");
    s->cached_no = agent_no;
    s->cached_id = lf_str_n(v.mv_data, v.mv_size);
    return s->cached_id;
}

lf_err_t lf_store_events_scan(lf_store_t *st, const lf_store_query_t *q, lf_store_event_cb cb,
                              void *opaque, char *next_cursor)
{
    /* q->cursor may be the same buffer as next_cursor: decode it first. */
    uint8_t start[TIME_KEY_LEN];
    bool have_cursor = q && q->cursor && q->cursor[0];
    bool cursor_ok = !have_cursor || cursor_decode(q->cursor, start);
    if (next_cursor)
        next_cursor[0] = '\0';
    if (!q || !cb || q->limit < 1 || q->limit > LF_STORE_SCAN_LIMIT_MAX ||
        q->agent_id.len > LF_STORE_MAX_AGENT_ID || q->agency.len > LF_STORE_MAX_LABEL || !cursor_ok)
        return LF_EINVAL;
    bool inclusive = true;
    if (q->to_ms) {
        uint8_t upper[TIME_KEY_LEN] = {0};
        put_be64(upper, time_bits(q->to_ms));
        if (!have_cursor || memcmp(start, upper, TIME_KEY_LEN) >= 0) {
            memcpy(start, upper, TIME_KEY_LEN);
            inclusive = false;
            have_cursor = true;
        }
    }
    if (q->from_ms && q->to_ms && q->to_ms <= q->from_ms)
        return LF_OK;

    scan_state_t s = {.st = st};
    lf_err_t err = read_begin(st, &s.txn);
    if (err != LF_OK)
        return err;
    uint32_t want_agent = 0;
    if (q->agent_id.len) {
        agent_record_t r;
        err = agent_lookup(st, s.txn, q->agent_id, &r);
        if (err != LF_OK) {
            mdb_txn_abort(s.txn);
            return err == LF_ENOTFOUND ? LF_OK : err;
        }
        want_agent = r.agent_no;
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(s.txn, st->db_time, &cur);
    if (rc) {
        mdb_txn_abort(s.txn);
        return lf_store_mdb_fail(st, rc, "open time index cursor");
    }
    MDB_val k, v;
    if (have_cursor)
        rc = seek_at_or_before(cur, start, inclusive, &k);
    else
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);

    size_t delivered = 0, examined = 0;
    uint64_t from_bits = time_bits(q->from_ms);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        if (k.mv_size != TIME_KEY_LEN)
            continue; /* not ours; never written by this build */
        const uint8_t *kp = k.mv_data;
        if (q->from_ms && get_be64(kp) < from_bits)
            break;
        if (examined == LF_STORE_SCAN_MAX_EXAMINED) {
            if (next_cursor)
                cursor_encode(&k, next_cursor);
            break;
        }
        examined++;
        uint32_t agent_no = get_be32(kp + 8);
        if (want_agent && agent_no != want_agent)
            continue;
        uint64_t seq = get_be64(kp + 12);
        event_value_t ev = {0};
        if (q->agency.len || delivered < q->limit) {
            uint8_t ekb[EVENT_KEY_LEN];
            event_key(ekb, agent_no, seq);
            MDB_val ek = mval(ekb, sizeof ekb), evv;
            int grc = mdb_get(s.txn, st->db_events, &ek, &evv);
            if (grc == MDB_NOTFOUND || (grc == 0 && !event_value_decode(&evv, &ev))) {
                lf_warn(LOG_COMP,
                        "time index entry without a readable event (agent %" PRIu32 ", seq %" PRIu64
                        ")",
                        agent_no, seq);
                continue;
            }
            if (grc) {
                err = lf_store_mdb_fail(st, grc, "read event");
                break;
            }
            if (q->agency.len && !lf_str_eq(q->agency, ev.agency))
                continue;
        }
        if (delivered == q->limit) { /* the first event of the next page */
            if (next_cursor)
                cursor_encode(&k, next_cursor);
            break;
        }
        lf_store_event_out_t out = {
            .agent_id = scan_agent_id(&s, agent_no),
            .agency = ev.agency,
            .seq = seq,
            .timestamp_ms = time_from_bits(get_be64(kp)),
            .stored_ms = ev.stored_ms,
            .doc = ev.doc,
            .doc_len = ev.doc_len,
        };
        delivered++;
        if (!cb(opaque, &out)) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
            if (rc == 0 && next_cursor && k.mv_size == TIME_KEY_LEN &&
                !(q->from_ms && get_be64(k.mv_data) < from_bits))
                cursor_encode(&k, next_cursor);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            break;
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND && err == LF_OK)
        err = lf_store_mdb_fail(st, rc, "scan time index");
    mdb_cursor_close(cur);
    mdb_txn_abort(s.txn);
    if (err != LF_OK && next_cursor)
        next_cursor[0] = '\0';
    return err;
}

lf_err_t lf_store_agents_list(lf_store_t *st, lf_store_agent_info_cb cb, void *opaque)
{
    if (!cb)
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->db_agents, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return lf_store_mdb_fail(st, rc, "open agents cursor");
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        agent_record_t r;
        if (!agent_record_decode(&v, &r)) {
            lf_warn(LOG_COMP, "skipping a malformed agent record");
            continue;
        }
        lf_store_agent_info_t info = {
            .agent_id = lf_str_n(k.mv_data, k.mv_size),
            .agency = r.agency,
            .host = r.host,
            .watermark = r.watermark,
            .events_stored = r.events_stored,
            .duplicates = r.duplicates,
            .first_seen_ms = r.first_seen_ms,
            .last_seen_ms = r.last_seen_ms,
        };
        if (!cb(opaque, &info))
            break;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        err = lf_store_mdb_fail(st, rc, "list agents");
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_store_agent_watermark(lf_store_t *st, lf_str_t agent_id, uint64_t *watermark)
{
    *watermark = 0;
    if (!agent_id_ok(agent_id))
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    agent_record_t r;
    err = agent_lookup(st, txn, agent_id, &r);
    if (err == LF_OK)
        *watermark = r.watermark;
    mdb_txn_abort(txn);
    return err == LF_ENOTFOUND ? LF_OK : err;
}

lf_err_t lf_store_agent_get(lf_store_t *st, lf_str_t agent_id, lf_store_agent_info_cb cb,
                            void *opaque)
{
    if (!agent_id_ok(agent_id) || !cb)
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    agent_record_t r;
    err = agent_lookup(st, txn, agent_id, &r);
    if (err == LF_OK) {
        lf_store_agent_info_t info = {
            .agent_id = agent_id,
            .agency = r.agency,
            .host = r.host,
            .watermark = r.watermark,
            .events_stored = r.events_stored,
            .duplicates = r.duplicates,
            .first_seen_ms = r.first_seen_ms,
            .last_seen_ms = r.last_seen_ms,
        };
        cb(opaque, &info);
    }
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_store_offset_get(lf_store_t *st, const char *topic, int32_t partition,
                             int64_t *next_offset)
{
    uint8_t kb[OFFSET_KEY_MAX];
    size_t klen;
    if (offset_key(topic, partition, kb, &klen) != LF_OK)
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    MDB_val k = mval(kb, klen), v;
    int rc = mdb_get(txn, st->db_offsets, &k, &v);
    if (rc == MDB_NOTFOUND)
        err = LF_ENOTFOUND;
    else if (rc)
        err = lf_store_mdb_fail(st, rc, "read consumer offset");
    else if (v.mv_size != 8)
        err = LF_ESTORE;
    else
        *next_offset = (int64_t)get_be64(v.mv_data);
    mdb_txn_abort(txn);
    return err;
}

lf_err_t lf_store_stats(lf_store_t *st, lf_store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    MDB_stat es, as, als;
    int rc = mdb_stat(txn, st->db_events, &es);
    if (rc == 0)
        rc = mdb_stat(txn, st->db_agents, &as);
    if (rc == 0)
        rc = mdb_stat(txn, st->db_alerts, &als);
    MDB_envinfo info;
    if (rc == 0)
        rc = mdb_env_info(st->env, &info);
    mdb_txn_abort(txn);
    if (rc)
        return lf_store_mdb_fail(st, rc, "read statistics");
    out->events = es.ms_entries;
    out->alerts = als.ms_entries;
    out->agents = as.ms_entries;
    out->map_used = (uint64_t)(info.me_last_pgno + 1) * st->page_size;
    out->map_size = info.me_mapsize;
    return LF_OK;
}

/* ---- alerts --------------------------------------------------------------- */

/* Alert value: u8 format (1), i64 timestamp, u8 level, u16 agency length,
 * agency, u16 rule id length, rule id, document. */
#define ALERT_FORMAT  1u
#define ALERT_HDR_LEN 12u

uint64_t lf_store_batch_next_alert_id(const lf_store_batch_t *b)
{
    return b ? b->next_alert_id : 0;
}

lf_err_t lf_store_batch_put_alert(lf_store_batch_t *b, const lf_store_alert_in_t *a)
{
    if (!b || !b->open)
        return LF_ESTATE;
    if (b->failed)
        return LF_ESTATE;
    if (!a || a->level < 0 || a->level > 4 || a->doc_len > LF_STORE_MAX_DOC ||
        check_label(a->agency) != LF_OK || check_label(a->rule_id) != LF_OK)
        return LF_EINVAL;
    uint8_t key[8];
    put_be64(key, b->next_alert_id);
    size_t vlen = ALERT_HDR_LEN + a->agency.len + 2 + a->rule_id.len + a->doc_len;
    MDB_val k = mval(key, 8), v = {.mv_size = vlen, .mv_data = NULL};
    int rc = mdb_put(b->txn, b->st->db_alerts, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc)
        return batch_fail(b, rc, "store alert");
    uint8_t *p = v.mv_data;
    p[0] = ALERT_FORMAT;
    put_be64(p + 1, (uint64_t)a->timestamp_ms);
    p[9] = (uint8_t)a->level;
    put_be16(p + 10, (uint16_t)a->agency.len);
    p += ALERT_HDR_LEN;
    if (a->agency.len)
        memcpy(p, a->agency.ptr, a->agency.len);
    p += a->agency.len;
    put_be16(p, (uint16_t)a->rule_id.len);
    p += 2;
    if (a->rule_id.len)
        memcpy(p, a->rule_id.ptr, a->rule_id.len);
    p += a->rule_id.len;
    if (a->doc_len)
        memcpy(p, a->doc, a->doc_len);
    b->next_alert_id++;
    b->alerts_added++;
    return LF_OK;
}

static bool alert_decode(const MDB_val *k, const MDB_val *v, lf_store_alert_out_t *out)
{
    const uint8_t *p = v->mv_data;
    if (k->mv_size != 8 || v->mv_size < ALERT_HDR_LEN + 2 || p[0] != ALERT_FORMAT)
        return false;
    size_t alen = get_be16(p + 10);
    if (v->mv_size < ALERT_HDR_LEN + alen + 2)
        return false;
    size_t rlen = get_be16(p + ALERT_HDR_LEN + alen);
    if (v->mv_size < ALERT_HDR_LEN + alen + 2 + rlen)
        return false;
    out->id = get_be64(k->mv_data);
    out->timestamp_ms = (int64_t)get_be64(p + 1);
    out->level = p[9];
    out->agency = lf_str_n((const char *)p + ALERT_HDR_LEN, alen);
    out->rule_id = lf_str_n((const char *)p + ALERT_HDR_LEN + alen + 2, rlen);
    out->doc = (const char *)p + ALERT_HDR_LEN + alen + 2 + rlen;
    out->doc_len = v->mv_size - (ALERT_HDR_LEN + alen + 2 + rlen);
    return true;
}

static bool alert_cursor_decode(const char *s, uint64_t *id)
{
    if (strlen(s) != 16)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int h = lf_hex_value(s[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint64_t)h;
    }
    *id = v;
    return true;
}

lf_err_t lf_store_alerts_scan(lf_store_t *st, const lf_store_alert_query_t *q, lf_store_alert_cb cb,
                              void *opaque, char *next_cursor)
{
    if (!st || !q || !cb || !next_cursor || q->limit < 1 || q->limit > LF_STORE_SCAN_LIMIT_MAX)
        return LF_EINVAL;
    uint64_t start = UINT64_MAX;
    if (q->cursor && q->cursor[0] && !alert_cursor_decode(q->cursor, &start))
        return LF_EINVAL;
    next_cursor[0] = '\0';
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->db_alerts, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return lf_store_mdb_fail(st, rc, "open alerts cursor");
    }
    MDB_val k, v;
    uint8_t key[8];
    if (start == UINT64_MAX) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    } else {
        put_be64(key, start);
        k = mval(key, 8);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && get_be64(k.mv_data) > start)
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        else if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    size_t returned = 0, examined = 0;
    while (rc == 0) {
        lf_store_alert_out_t a;
        if (returned == q->limit || examined == LF_STORE_SCAN_MAX_EXAMINED) {
            snprintf(next_cursor, LF_STORE_CURSOR_MAX, "%016" PRIx64, get_be64(k.mv_data));
            break;
        }
        examined++;
        if (alert_decode(&k, &v, &a) && (!q->agency.len || lf_str_eq(a.agency, q->agency)) &&
            (!q->rule_id.len || lf_str_eq(a.rule_id, q->rule_id)) && a.level >= q->min_level) {
            returned++;
            if (!cb(opaque, &a))
                break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lf_store_mdb_fail(st, rc, "scan alerts");
    return LF_OK;
}

lf_err_t lf_store_alert_get(lf_store_t *st, uint64_t id, lf_store_alert_cb cb, void *opaque)
{
    if (!st || !cb)
        return LF_EINVAL;
    MDB_txn *txn;
    lf_err_t err = read_begin(st, &txn);
    if (err != LF_OK)
        return err;
    uint8_t key[8];
    put_be64(key, id);
    MDB_val k = mval(key, 8), v;
    int rc = mdb_get(txn, st->db_alerts, &k, &v);
    lf_store_alert_out_t a;
    if (rc == 0 && alert_decode(&k, &v, &a))
        cb(opaque, &a);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return LF_ENOTFOUND;
    if (rc)
        return lf_store_mdb_fail(st, rc, "read alert");
    return LF_OK;
}
