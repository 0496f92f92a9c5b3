/* lf_sigcorr_int.h - private structures of the correlation engine.
 *
 *   lf_sigcorr_load.c    options, correlation documents → rules, resolution
 *   lf_sigcorr.c         groups, windows, conditions, feed and advance
 *   lf_sigcorr_state.c   serialisation, take/discard/restore/transfer
 */
#ifndef LF_SIGCORR_INT_H
#define LF_SIGCORR_INT_H

#include "lf_sigcorr.h"
#include "lf_sigma_int.h"

#define SC_MAX_REFS     64   /* rules one correlation may list (temporal uses a bit set) */
#define SC_MAX_GROUP_BY 16   /* group-by names of one rule */
#define SC_MAX_VALUE    1024 /* bytes of one group-by value that take part in the group */
#define SC_MAX_CHAIN    16   /* correlations chained on top of each other */
#define SC_MAX_RULE_KEY 200  /* bytes of a rule's persistent key */
#define SC_MAX_CONDS    6

typedef enum sc_op { SC_GT, SC_GTE, SC_LT, SC_LTE, SC_EQ, SC_NEQ } sc_op_t;

typedef struct sc_cond {
    sc_op_t op;
    double v;
} sc_cond_t;

/* One entry of `rules:` */
typedef struct sc_ref {
    const char *written;  /* as written in the rule */
    int32_t corr;         /* correlation index, -1: a base Sigma rule */
    const char *base_key; /* base: subscription key ("i:<id>" or "n:<name>") */
    int line, col;
} sc_ref_t;

typedef struct sc_alias_entry {
    const char *rule, *field;
} sc_alias_entry_t;

typedef struct sc_alias {
    const char *name;
    sc_alias_entry_t *entries;
    size_t n;
} sc_alias_t;

typedef struct sc_rule {
    lf_sigcorr_rule_t pub;
    sc_ref_t *refs;
    uint32_t nrefs;
    sc_alias_t *aliases;
    size_t naliases;
    sc_cond_t conds[SC_MAX_CONDS];
    uint32_t nconds;
    /* field_for[g * nrefs + r]: the field holding group-by value g in hits
     * of reference r (aliases resolved); vfield_for[r]: the value field. */
    const char **field_for;
    const char **vfield_for;
    uint64_t fingerprint;
    bool failed;
    int line, col;
    /* run time */
    size_t live_groups;
    /* correlations that reference this one: (rule, ref) pairs */
    uint32_t *sub_rule, *sub_ref;
    size_t nsubs;
} sc_rule_t;

struct lf_sigcorr_ruleset {
    lf_sigcorr_options_t opts;
    lf_sigma_ruleset_t *meta_set; /* arena and metadata helpers of lf_sigma */
    sc_rule_t **rules;
    size_t nrules, caprules;
    size_t errors, warnings;
};

/* ---- run-time state ------------------------------------------------------------- */

typedef struct sc_entry {
    int64_t ts;
    uint64_t payload; /* value_count: hash of the value; value_*: the double's bits */
    uint32_t ref;     /* index in rules: */
} sc_entry_t;

typedef struct sc_group sc_group_t;
struct sc_group {
    sc_group_t *next; /* hash chain */
    uint64_t hash;
    uint32_t rule;
    uint32_t keylen;
    uint8_t *key; /* group-by values: per value u16 length + bytes */
    uint8_t digest[16];
    int64_t newest;  /* newest hit accepted */
    sc_entry_t *mem; /* allocation: cap entries */
    sc_entry_t *e;   /* the n hits, from mem + (hits dropped at the front) */
    uint32_t n, cap;
    bool tombstone; /* closed; kept until its deletion is taken */
    bool dirty;     /* changed since the last take */
    bool in_undo;   /* snapshot taken in this epoch */
};

typedef struct sc_undo {
    sc_group_t *g;
    bool created; /* the object did not exist before the epoch */
    bool was_tombstone, was_dirty;
    int64_t newest;
    sc_entry_t *e;
    uint32_t n;
} sc_undo_t;

/* A subscription of a base rule: correlations that reference it. */
typedef struct sc_sub {
    const char *key; /* "i:<id>" or "n:<name>" */
    uint32_t *rule, *ref;
    size_t n, cap;
    bool suppress; /* referenced by a rule with generate: false */
} sc_sub_t;

typedef struct sc_bytes {
    uint8_t *p;
    size_t n;
} sc_bytes_t;

struct lf_sigcorr {
    lf_sigcorr_options_t opts;
    lf_sigma_ruleset_t *meta_set; /* owns every rule string */
    lf_sigma_matcher_t *base;
    sc_rule_t **rules;
    size_t nrules;
    sc_sub_t *subs;
    size_t nsubs; /* sorted by key */
    /* groups */
    sc_group_t **table;
    size_t tcap, ngroups; /* ngroups: objects in the table, tombstones included */
    int64_t watermark;
    bool have_watermark;
    /* change tracking */
    sc_group_t **dirty;
    size_t ndirty, capdirty;
    sc_undo_t *undo;
    size_t nundo, capundo;
    int64_t epoch_watermark;
    bool epoch_have_watermark;
    bool taken;
    sc_bytes_t *orphans; /* persisted keys to delete at the next take */
    size_t norphans, caporphans;
    sc_rule_t **rule_ix; /* rules sorted by key (restore), built on first use */
    /* scratch */
    void *scratch; /* capscratch 8-byte slots */
    size_t capscratch;
    lf_str_t values[SC_MAX_GROUP_BY];
    uint8_t *buf; /* serialisation */
    size_t capbuf;
    lf_sigcorr_stats_t stats;
};

/* ---- shared helpers -------------------------------------------------------------- */

uint64_t sc_hash64(const void *data, size_t len, uint64_t seed);
void sc_digest(const uint8_t *key, size_t len, uint8_t out[16]);

sc_group_t *sc_group_find(lf_sigcorr_t *c, uint32_t rule, const uint8_t *key, size_t keylen,
                          uint64_t hash);
uint64_t sc_group_hash(uint32_t rule, const uint8_t *key, size_t keylen);
/* Inserts a new live group (not tracked); NULL on ENOMEM. */
sc_group_t *sc_group_insert(lf_sigcorr_t *c, uint32_t rule, const uint8_t *key, size_t keylen,
                            uint64_t hash);
void sc_group_unlink_free(lf_sigcorr_t *c, sc_group_t *g);
/* Replaces a group's hits by arr (malloc'd, n entries; NULL when 0). */
void sc_group_set_entries(sc_group_t *g, sc_entry_t *arr, uint32_t n);
/* Records a group's state before its first change in the epoch and marks
 * it dirty. false on ENOMEM. */
bool sc_touch(lf_sigcorr_t *c, sc_group_t *g, bool created);
void sc_epoch_begin(lf_sigcorr_t *c);
bool sc_mark_dirty(lf_sigcorr_t *c, sc_group_t *g);
bool sc_add_orphan(lf_sigcorr_t *c, const void *key, size_t klen);
/* Serialised key of a group into out (LF_SIGCORR_MAX_KEY bytes); length. */
size_t sc_group_key(const lf_sigcorr_t *c, const sc_group_t *g, uint8_t *out);

#endif
