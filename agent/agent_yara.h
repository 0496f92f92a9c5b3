/* agent_yara.h - YARA scans of files on the agent (private to agent/).
 *
 * Rule set: lianfangd publishes it on the control topic (LFY1,
 * common/lf_wire_rules.h). The agent reads the last messages of partition
 * 0, takes the newest set it does not run yet, verifies its SHA-256 and
 * compiles it once in the libuv thread pool. A set that does not compile
 * is refused (logged with file:line: reason, counted) and the previous one
 * keeps running; a set that compiles is written to state_dir/yara/rules.lfy
 * so a restart scans without the broker.
 *
 * Scans: every target (yara_scans[]) is scanned in full at start, every
 * `interval` and whenever the rule set changes; with `watch` its
 * directories are watched (inotify through uv_fs_event) and changed files
 * are scanned after `yara.settle`. Scan jobs run in the libuv thread pool,
 * at most yara.max_concurrent_scans at once, each idling so that it uses
 * at most yara.cpu_percent of a core. A cache of (path: dev, inode, size,
 * mtime, rule set) skips unchanged files; it is kept in
 * state_dir/yara/cache.bin.
 *
 * Matches: one JSON line per (file, rule), ECS-shaped, appended to the
 * results spool (agent_spool.h, state_dir/spool/yara-scan) which agent.c
 * reads like a syslog listener's spool: journalled, produced, re-sent until
 * lianfangd has stored it. A file's cache entry is written only after its
 * match records are in the spool (fsynced by the spool's sync policy), so a
 * match found is never lost; a kill -9 between the two costs at most a
 * second record of the same match.
 *
 * Threads: everything here runs on the loop thread except the job bodies
 * (thread pool), which touch only their job, the retained rule set and the
 * cache (under its lock).
 */
#ifndef LF_AGENT_YARA_PRIV_H
#define LF_AGENT_YARA_PRIV_H

#include "agent_spool.h"
#include "lf_agent.h"
#include "lf_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ---- configuration -------------------------------------------------------- */

/* Checks yara_scans and yara (absolute directories, names, the reserved
 * source name). errstr: "file: yara_scans[i].key: what is wrong". */
lf_err_t lf_agent_yara_config_validate(const char *name, const lf_agent_config_t *cfg, char *errstr,
                                       size_t errlen);
/* The listener configuration agent.c reads the results spool with. */
void lf_agent_yara_spool_config(const lf_agent_config_t *cfg, lf_agent_listener_config_t *out);

/* ---- scan cache (thread-safe) ------------------------------------------------- */

typedef struct lf_agent_yara_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint8_t set[8]; /* the first bytes of the rule set's SHA-256 */
} lf_agent_yara_file_id_t;

typedef struct lf_agent_yara_cache lf_agent_yara_cache_t;

/* max: entries kept; further files are not remembered (rescanned each
 * time) and counted in lf_agent_yara_cache_full(). */
lf_agent_yara_cache_t *lf_agent_yara_cache_new(size_t max);
void lf_agent_yara_cache_free(lf_agent_yara_cache_t *c);
/* True when path was scanned with exactly this identity. */
bool lf_agent_yara_cache_hit(lf_agent_yara_cache_t *c, const char *path,
                             const lf_agent_yara_file_id_t *id);
/* Remembers path's identity (replacing the previous one). False when full
 * or out of memory. */
bool lf_agent_yara_cache_put(lf_agent_yara_cache_t *c, const char *path,
                             const lf_agent_yara_file_id_t *id);
size_t lf_agent_yara_cache_count(lf_agent_yara_cache_t *c);
uint64_t lf_agent_yara_cache_full(lf_agent_yara_cache_t *c);
/* Writes the cache to path (a temporary file, fsync, rename). LF_EIO. */
lf_err_t lf_agent_yara_cache_save(lf_agent_yara_cache_t *c, const char *path);
/* Loads entries from path; a missing file is empty, a damaged one is
 * read up to the damage. Returns the entries loaded. */
size_t lf_agent_yara_cache_load(lf_agent_yara_cache_t *c, const char *path);

/* ---- match records -------------------------------------------------------------- */

typedef struct lf_agent_yara_hit {
    const char *path;
    uint64_t size;
    int64_t mtime_ms;
    const char *sha256_hex; /* 64 hex digits */
    const char *rule;
    const char *ns;
    const char *const *tags;
    size_t tag_count;
    int severity;            /* 0 informational .. 4 critical */
    const char *description; /* meta description, or NULL */
    const char *version;     /* the rule set's version */
    const char *scan;        /* the scan target's name */
    int64_t time_ms;
} lf_agent_yara_hit_t;

/* Appends the JSON record of one match (no newline) to out: @timestamp,
 * event.{kind,module,dataset,action,category,type,severity}, file.{path,
 * name,size,mtime,hash.sha256}, rule.{id,name,category,ruleset,version,
 * description}, tags, labels.yara_scan, message. */
lf_err_t lf_agent_yara_format_hit(const lf_agent_yara_hit_t *hit, lf_buf_t *out);

/* Parses, verifies (SHA-256) and compiles one LFY1 message as the agent
 * does, then drops the result: *rules gets the rule count. LF_EPARSE with
 * errstr ("file:line: reason", or what is wrong with the message). For
 * tests and checks; calls yr_initialize()/yr_finalize() itself. */
lf_err_t lf_agent_yara_compile_check(const void *msg, size_t len, size_t *rules, char *errstr,
                                     size_t errlen);

/* ---- runtime ------------------------------------------------------------------------- */

typedef struct lf_agent_yara lf_agent_yara_t;

typedef struct lf_agent_yara_env {
    uv_loop_t *loop;
    const lf_agent_config_t *cfg;
    lf_agent_spool_t *spool;       /* the results spool; borrowed */
    void (*spooled)(void *opaque); /* records were appended: read the spool */
    void *opaque;
} lf_agent_yara_env_t;

lf_err_t lf_agent_yara_new(const lf_agent_yara_env_t *env, lf_agent_yara_t **out, char *errstr,
                           size_t errlen);
/* Creates the control consumer, loads the persisted rule set, starts the
 * timers and watches. */
lf_err_t lf_agent_yara_start(lf_agent_yara_t *y, char *errstr, size_t errlen);
/* Stops scanning: running jobs end at the next file, handles are closed
 * (run the loop to let them close and the jobs finish). */
void lf_agent_yara_stop(lf_agent_yara_t *y);
/* After the loop has run dry. */
void lf_agent_yara_free(lf_agent_yara_t *y);

#endif
