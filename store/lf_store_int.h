/* lf_store_int.h - private to store/: the store's state shared by its
 * source files (lf_store.c: events, agents, offsets, alerts;
 * lf_store_tables.c: the keyed tables of correlation and incidents). */
#ifndef LF_STORE_INT_H
#define LF_STORE_INT_H

#include "lf_buf.h"
#include "lf_store.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- byte helpers ------------------------------------------------------- */

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
    return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

/* Signed timestamps sort correctly as unsigned big-endian once the sign bit
 * is flipped. */
static inline uint64_t time_bits(int64_t ts)
{
    return (uint64_t)ts ^ 0x8000000000000000ull;
}
static inline int64_t time_from_bits(uint64_t bits)
{
    return (int64_t)(bits ^ 0x8000000000000000ull);
}

/* ---- types --------------------------------------------------------------- */

enum store_metric {
    M_EVENTS_WRITTEN,
    M_DUPLICATES,
    M_COMMITS,
    M_COMMIT_ERRORS,
    M_MAP_USED,
    M_ALERTS_WRITTEN,
    M_COUNT,
};

/* A write transaction on the keyed tables (lf_store_tables.c). */
struct lf_store_wtx {
    lf_store_t *st;
    MDB_txn *txn;
    lf_store_batch_t *batch; /* the batch whose transaction this is; NULL = standalone */
};

/* Per-agent state of the open batch. */
typedef struct batch_agent {
    char id[LF_STORE_MAX_AGENT_ID];
    size_t id_len;
    uint32_t agent_no;
    uint64_t watermark;
    uint64_t events_stored;
    uint64_t duplicates;
    int64_t first_seen_ms;
    uint64_t added;                /* this batch */
    uint64_t batch_dups;           /* this batch */
    size_t agency_off, agency_len; /* in the batch arena */
    size_t host_off, host_len;
} batch_agent_t;

struct lf_store_batch {
    lf_store_t *st;
    MDB_txn *txn;
    MDB_cursor *events_cur; /* for watermark advance, opened lazily */
    bool open;
    bool failed;
    int64_t now_ms;
    uint32_t next_agent_no;
    uint64_t next_alert_id;
    uint64_t alerts_added;
    uint64_t added, dups;
    batch_agent_t *agents;
    size_t agent_count, agent_cap;
    int32_t *slots; /* open addressing: index into agents or -1 */
    size_t slot_count;
    lf_buf_t arena; /* agency / host strings of touched agents */
    struct lf_store_wtx wtx;
};

struct lf_store {
    MDB_env *env;
    MDB_dbi db_events, db_time, db_agents, db_agent_nos, db_offsets, db_meta, db_alerts;
    MDB_dbi db_tables[LF_TABLE_COUNT];
    uint64_t next_alert_id;
    char *path;
    int64_t map_size;
    uint32_t next_agent_no;
    uint32_t page_size;
    lf_metric_t metrics[M_COUNT];
    lf_metrics_t *registry;
    struct lf_store_batch batch;
};

/* Maps an LMDB result to an lf_err_t, logging the failure (lf_store.c). */
lf_err_t lf_store_mdb_fail(lf_store_t *st, int rc, const char *what);

#endif
