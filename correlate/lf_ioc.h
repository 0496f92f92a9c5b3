/* lf_ioc.h - compiled indicator sets (IPs with CIDR, domains, URLs, file
 * hashes) matched against the ECS fields of every event.
 *
 * Life cycle:
 *
 *   builder  = lf_ioc_builder_new(&cfg)            one per reload, one thread
 *   lf_stix_import_file/_buffer(builder, ...)      any number of bundles
 *   lf_ioc_set_build(builder, metrics, &set, ...)  versions, revocation, compile
 *   lf_ioc_holder_swap(&holder, set)               publish; old set freed when
 *                                                  its last user releases it
 *   per batch: set = lf_ioc_holder_acquire(&holder);
 *              lf_ioc_match(set, ev, time_ms, cb, ctx) for each event;
 *              lf_ioc_set_release(set);
 *
 * A compiled set (lf_ioc_set_t) is immutable and reference-counted: any
 * number of threads may call lf_ioc_match() on it at once without locks.
 * Matching allocates nothing: exact values go through open-addressing hash
 * sets, IP prefixes through one binary trie per address family, domain
 * suffixes through the same hash set (one lookup per parent label).
 *
 * What is matched against what (ECS paths resolved with lf_field_lookup()
 * when the set is built; a path the event table does not have yet is
 * skipped and reported as a warning):
 *
 *   ipv4-addr, ipv6-addr  source.ip destination.ip client.ip server.ip
 *                         host.ip related.ip
 *   domain-name           url.domain dns.question.name destination.domain
 *                         source.domain client.domain server.domain
 *   url                   url.full url.original
 *   file hashes           file.hash.{md5,sha1,sha256} process.hash.{...}
 *
 * Each list can be replaced in the configuration (lf_ioc_config_options).
 * The semantics (what equals what, case rules, suffixes) are in
 * docs/intel.md.
 */
#ifndef LF_IOC_H
#define LF_IOC_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_event.h"
#include "lf_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The observable kinds an indicator set can hold. */
#define LF_IOC_KINDS(X)                                                                            \
    X(IPV4, "ipv4-addr")                                                                           \
    X(IPV6, "ipv6-addr")                                                                           \
    X(DOMAIN, "domain-name")                                                                       \
    X(URL, "url")                                                                                  \
    X(MD5, "file:hashes.MD5")                                                                      \
    X(SHA1, "file:hashes.SHA-1")                                                                   \
    X(SHA256, "file:hashes.SHA-256")

typedef enum lf_ioc_kind {
#define LF_IOC_KIND_ENUM(id, name) LF_IOC_##id,
    LF_IOC_KINDS(LF_IOC_KIND_ENUM)
#undef LF_IOC_KIND_ENUM
        LF_IOC_KIND_COUNT
} lf_ioc_kind_t;

/* "ipv4-addr", "file:hashes.SHA-256", ...; never NULL. */
const char *lf_ioc_kind_name(lf_ioc_kind_t kind);

/* Traffic Light Protocol level of an indicator, from its object_marking_refs.
 * Ordered from least to most restrictive; when an object carries several
 * TLP markings the most restrictive one is kept. NONE: the indicator
 * carries no TLP marking (the alert layer applies the SOC's default,
 * AMBER in domain.md). TLP 1.0 WHITE is reported as CLEAR. */
#define LF_TLP_LEVELS(X)                                                                           \
    X(NONE, "")                                                                                    \
    X(CLEAR, "TLP:CLEAR")                                                                          \
    X(GREEN, "TLP:GREEN")                                                                          \
    X(AMBER, "TLP:AMBER")                                                                          \
    X(AMBER_STRICT, "TLP:AMBER+STRICT")                                                            \
    X(RED, "TLP:RED")

typedef enum lf_tlp {
#define LF_TLP_ENUM(id, name) LF_TLP_##id,
    LF_TLP_LEVELS(LF_TLP_ENUM)
#undef LF_TLP_ENUM
} lf_tlp_t;

/* "TLP:AMBER+STRICT", ..., "" for NONE; never NULL. */
const char *lf_tlp_name(lf_tlp_t tlp);

#define LF_IOC_TIME_NONE_BEFORE INT64_MIN
#define LF_IOC_TIME_NONE_AFTER  INT64_MAX

/* One indicator as kept in a compiled set. All strings are owned by the set
 * and stay valid while the caller holds a reference to it. When passed to
 * lf_ioc_builder_add() the strings are borrowed and copied. */
typedef struct lf_ioc_indicator {
    const char *id;      /* indicator--<uuid> */
    const char *name;    /* "" when absent */
    const char *pattern; /* the STIX pattern text */
    const char *source;  /* the bundle (file name or API name) it came from */
    const char *const *labels;
    size_t label_count;
    int confidence;         /* 0..100; -1 when absent */
    lf_tlp_t tlp;           /* most restrictive TLP marking; NONE when unmarked */
    int64_t valid_from_ms;  /* inclusive */
    int64_t valid_until_ms; /* exclusive; LF_IOC_TIME_NONE_AFTER when open */
    int64_t modified_ms;    /* version; `created` when `modified` is absent */
    bool revoked;
} lf_ioc_indicator_t;

/* One hit, passed to the lf_ioc_match() callback. Valid during the call. */
typedef struct lf_ioc_match {
    const lf_ioc_indicator_t *indicator; /* valid while the set is held */
    lf_ioc_kind_t kind;                  /* the observable that matched */
    lf_field_id_t field;                 /* the event field it matched in */
    lf_str_t value;                      /* the event's value (or one element of a list value) */
} lf_ioc_match_t;

/* ---- configuration ---------------------------------------------------- */

typedef enum lf_ioc_domain_match {
    LF_IOC_DOMAIN_EXACT = 0, /* STIX: domain-name:value = 'x' matches x only */
    LF_IOC_DOMAIN_SUFFIX,    /* also every subdomain of x */
} lf_ioc_domain_match_t;

typedef struct lf_ioc_config {
    int64_t max_bundle_bytes;  /* a larger bundle is refused before parsing */
    int64_t max_indicators;    /* indicator objects in one builder (all bundles) */
    int64_t max_pattern_bytes; /* a longer pattern is reported and skipped */
    int domain_match;          /* lf_ioc_domain_match_t */
    /* ECS paths checked per observable; empty = the built-in lists above. */
    char **ip_fields;
    size_t ip_field_count;
    char **domain_fields;
    size_t domain_field_count;
    char **url_fields;
    size_t url_field_count;
    char **md5_fields;
    size_t md5_field_count;
    char **sha1_fields;
    size_t sha1_field_count;
    char **sha256_fields;
    size_t sha256_field_count;
} lf_ioc_config_t;

/* The option table of the `intel` configuration section; docs/config is
 * generated from it. Free a loaded config with lf_config_free(). */
extern const lf_config_option_t lf_ioc_config_options[];

/* Fills cfg with the defaults of lf_ioc_config_options (cfg zeroed first);
 * release with lf_config_free(lf_ioc_config_options, cfg). */
void lf_ioc_config_defaults(lf_ioc_config_t *cfg);

/* ---- load report -------------------------------------------------------- */

typedef enum lf_ioc_problem_kind {
    LF_IOC_PROBLEM_WARNING,     /* loaded, but something was ignored */
    LF_IOC_PROBLEM_UNSUPPORTED, /* valid STIX outside the supported subset: skipped */
    LF_IOC_PROBLEM_INVALID,     /* malformed object or pattern: skipped */
    LF_IOC_PROBLEM_ERROR,       /* the whole bundle was refused */
} lf_ioc_problem_kind_t;

/* "warning", "unsupported", "invalid", "error"; never NULL. */
const char *lf_ioc_problem_kind_name(lf_ioc_problem_kind_t kind);

typedef struct lf_ioc_problem {
    lf_ioc_problem_kind_t kind;
    char source[128];    /* bundle file or API name */
    char object_id[128]; /* STIX id, "" for bundle-level problems */
    char reason[256];
} lf_ioc_problem_t;

#define LF_IOC_REPORT_MAX_PROBLEMS 1000

/* What loading did. Counters add up over every import and build that was
 * given the same report. problems holds the first LF_IOC_REPORT_MAX_PROBLEMS
 * entries; `problems_omitted` counts the rest. */
typedef struct lf_ioc_report {
    size_t bundles;         /* imported successfully */
    size_t bundles_refused; /* refused as a whole (LF_IOC_PROBLEM_ERROR) */
    size_t indicators;      /* indicator objects accepted into the builder */
    size_t unsupported;     /* indicators skipped: pattern outside the subset */
    size_t invalid;         /* indicators skipped: malformed */
    size_t revoked;         /* ids dropped at build: revoked */
    size_t superseded;      /* older versions dropped at build */
    size_t compiled;        /* indicators in the built set */
    size_t warnings;
    lf_ioc_problem_t *problems;
    size_t problem_count;
    size_t problems_omitted;
} lf_ioc_report_t;

void lf_ioc_report_init(lf_ioc_report_t *report);
void lf_ioc_report_free(lf_ioc_report_t *report);
/* Records one problem (and counts it when it is a warning). report may be
 * NULL. Never fails: past the cap the problem is only counted. */
void lf_ioc_report_add(lf_ioc_report_t *report, lf_ioc_problem_kind_t kind, const char *source,
                       const char *object_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- metrics ------------------------------------------------------------ */

#define LF_IOC_METRICS(X)                                                                          \
    X(EVENTS, "lianfang_ioc_events_total", COUNTER, "Events checked against indicators")           \
    X(MATCHES, "lianfang_ioc_matches_total", COUNTER, "Indicator matches reported")                \
    X(OUTSIDE_VALIDITY, "lianfang_ioc_outside_validity_total", COUNTER,                            \
      "Value matches dropped because the event time was outside valid_from/valid_until")           \
    X(INDICATORS, "lianfang_ioc_indicators", GAUGE, "Indicators in the last set built")

enum {
#define LF_IOC_METRIC_ENUM(id, name, kind, help) LF_IOC_M_##id,
    LF_IOC_METRICS(LF_IOC_METRIC_ENUM)
#undef LF_IOC_METRIC_ENUM
        LF_IOC_M_COUNT
};

typedef struct lf_ioc_metrics {
    lf_metric_t m[LF_IOC_M_COUNT];
} lf_ioc_metrics_t;

/* Fills names and help; the caller registers m->m with its registry
 * (lf_metrics_register(reg, m->m, LF_IOC_M_COUNT)). */
void lf_ioc_metrics_init(lf_ioc_metrics_t *m);

/* ---- builder ------------------------------------------------------------ */

typedef struct lf_ioc_builder lf_ioc_builder_t;
typedef struct lf_stix_pattern lf_stix_pattern_t; /* lf_stix.h */

/* Creates a builder; cfg is copied (its field lists too). NULL on ENOMEM. */
lf_ioc_builder_t *lf_ioc_builder_new(const lf_ioc_config_t *cfg);
void lf_ioc_builder_free(lf_ioc_builder_t *b);
/* The builder's configuration (limits used by lf_stix import). */
const lf_ioc_config_t *lf_ioc_builder_config(const lf_ioc_builder_t *b);
/* Adds one indicator version. meta's strings are copied; the compiled
 * pattern is taken over (and freed) whatever the result.
 * LF_EFULL past max_indicators, LF_ENOMEM. */
lf_err_t lf_ioc_builder_add(lf_ioc_builder_t *b, const lf_ioc_indicator_t *meta,
                            lf_stix_pattern_t *pattern);
/* Number of indicator versions added so far, and rollback to an earlier
 * count (used to undo a bundle that is refused half-way). */
size_t lf_ioc_builder_count(const lf_ioc_builder_t *b);
void lf_ioc_builder_truncate(lf_ioc_builder_t *b, size_t count);

/* ---- compiled set ------------------------------------------------------- */

typedef struct lf_ioc_set lf_ioc_set_t;

/* Compiles what the builder holds into an immutable set with one reference.
 * Per id the version with the newest `modified` is kept; an id any version
 * of which is revoked is dropped. The builder stays usable (it can be built
 * again after more imports). metrics (may be NULL) is borrowed and must
 * outlive the set. The report (may be NULL) gets revoked/superseded counts
 * and a warning per configured field path the event table does not know.
 * LF_ENOMEM (errstr says where). */
lf_err_t lf_ioc_set_build(lf_ioc_builder_t *b, lf_ioc_metrics_t *metrics, lf_ioc_set_t **out,
                          lf_ioc_report_t *report, char *errstr, size_t errlen);
/* Takes another reference; returns set. Thread-safe. */
lf_ioc_set_t *lf_ioc_set_retain(lf_ioc_set_t *set);
/* Drops a reference; the last one frees the set. NULL is ignored. */
void lf_ioc_set_release(lf_ioc_set_t *set);
size_t lf_ioc_set_indicator_count(const lf_ioc_set_t *set);
/* Looks an indicator up by STIX id (linear; for tools and tests). */
const lf_ioc_indicator_t *lf_ioc_set_find(const lf_ioc_set_t *set, const char *id);

/* Called once per (indicator, event); return false to stop matching. */
typedef bool (*lf_ioc_match_cb)(const lf_ioc_match_t *match, void *ctx);

/* Checks every configured field of ev against the set. An indicator
 * matches only when time_ms (the event's time, epoch ms) is within
 * [valid_from, valid_until). Each indicator is reported at most once per
 * event (the first field that matched, in the order of the field lists).
 * Returns the number of matches reported. Thread-safe on a shared set;
 * allocates nothing. */
size_t lf_ioc_match(const lf_ioc_set_t *set, const lf_event_t *ev, int64_t time_ms,
                    lf_ioc_match_cb cb, void *ctx);

/* ---- holder: the current set, swapped atomically on reload ---------------- */

typedef struct lf_ioc_holder {
    pthread_mutex_t lock; /* guards set; held only to swap or take a reference */
    lf_ioc_set_t *set;
    _Atomic uint64_t generation; /* +1 per swap */
} lf_ioc_holder_t;

void lf_ioc_holder_init(lf_ioc_holder_t *h);
/* Releases the current set. */
void lf_ioc_holder_destroy(lf_ioc_holder_t *h);
/* Publishes set (taking over the caller's reference; NULL clears) and
 * releases the previous one; users holding it finish with it undisturbed. */
void lf_ioc_holder_swap(lf_ioc_holder_t *h, lf_ioc_set_t *set);
/* A new reference to the current set (NULL when none); release it with
 * lf_ioc_set_release(). Thread-safe. */
lf_ioc_set_t *lf_ioc_holder_acquire(lf_ioc_holder_t *h);

/* ---- small helpers shared with lf_stix.c and the tests -------------------- */

/* Parses an RFC 3339 timestamp ("2026-03-10T01:02:03.456Z", offsets
 * allowed) into epoch ms. LF_EPARSE when malformed. */
lf_err_t lf_ioc_parse_time(const char *s, size_t len, int64_t *out_ms);

#endif
