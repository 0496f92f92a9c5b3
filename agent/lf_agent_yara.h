/* lf_agent_yara.h - configuration of the agent's YARA file scans (part of
 * the public header lf_agent.h). How the scans work: docs/agent.md, "YARA
 * scans".
 */
#ifndef LF_AGENT_YARA_H
#define LF_AGENT_YARA_H

#include "lf_config.h"
#include "lf_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_AGENT_MAX_YARA_SCANS 64
/* The source name of match records; reserved (no file source or listener
 * may use it while yara_scans are configured). */
#define LF_AGENT_YARA_SOURCE "yara-scan"

/* One scan target: directories scanned on a schedule and on change. */
typedef struct lf_agent_yara_scan_config {
    char *name;
    char **paths; /* absolute directories */
    size_t path_count;
    bool recursive;
    bool watch;             /* scan files when they change (inotify) */
    int64_t interval_ms;    /* full rescan */
    int64_t max_file_bytes; /* larger files are skipped, counted */
    char **exclude;         /* fnmatch(3) patterns on the full path and the base name */
    size_t exclude_count;
    int64_t timeout_ms; /* per file; libyara counts whole seconds */
} lf_agent_yara_scan_config_t;

/* Bounds shared by every scan target (the `yara:` section). */
typedef struct lf_agent_yara_config {
    int64_t max_concurrent_scans; /* scan jobs running at once (libuv thread pool) */
    int64_t cpu_percent;          /* a scanning thread idles so it uses at most this share */
    int64_t max_cached_files;     /* files remembered as scanned (dev, inode, size, mtime, set) */
    int64_t max_pending_files;    /* changed files waiting for a scan, per target */
    int64_t max_watched_dirs;     /* directories watched for changes, all targets */
    int64_t max_rule_set_bytes;   /* a larger rule set message is refused */
    int64_t max_matches_per_file; /* match records per file and scan */
    int64_t max_depth;            /* recursion depth below a configured directory */
    int64_t settle_ms;            /* wait after a change before scanning the file */
} lf_agent_yara_config_t;

extern const lf_config_option_t lf_agent_yara_scan_options[];
extern const lf_config_option_t lf_agent_yara_options[];

#endif
