/* agent_yara.c - YARA scans of files on the agent: rule sets from the
 * control topic, scan jobs in the thread pool, match records to the results
 * spool. See agent_yara.h and docs/agent.md ("YARA scans").
 */
#include "agent_yara.h"

#include "lf_bytes.h"
#include "lf_json.h"
#include "lf_kafka.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire_rules.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yara.h>

#define COMP              "yara"
#define EXTERNAL_FIELD    "lf_field" /* the same external variable lianfangd's rules have */
#define FIELD_VALUE       "file.content"
#define CONTROL_TAIL      4 /* messages read back from the end of the control partition */
#define CACHE_SAVE_MS     60000
#define RECORD_MAX        (64u * 1024u)
#define MAX_HITS_PER_FILE 1000

/* ---- configuration ------------------------------------------------------------- */

const lf_config_option_t lf_agent_yara_scan_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_agent_yara_scan_config_t, name),
     .required = true,
     .description = "Name of the scan target, stamped on its match records "
                    "(labels.yara_scan)."},
    {.name = "paths",
     .type = LF_CFG_STRLIST,
     .offset = offsetof(lf_agent_yara_scan_config_t, paths),
     .count_offset = offsetof(lf_agent_yara_scan_config_t, path_count),
     .max_items = 64,
     .required = true,
     .description = "Absolute directories whose regular files are scanned (symbolic links "
                    "are not followed)."},
    LF_CFG_OPT_BOOL("recursive", lf_agent_yara_scan_config_t, recursive, "true",
                    "Scan subdirectories too (down to yara.max_depth)."),
    LF_CFG_OPT_BOOL("watch", lf_agent_yara_scan_config_t, watch, "true",
                    "Scan a file when it is created or changed (inotify; at most "
                    "yara.max_watched_dirs directories in all, the rest wait for the next "
                    "full scan)."),
    LF_CFG_OPT_DURATION("interval", lf_agent_yara_scan_config_t, interval_ms, "6h", 60000,
                        INT64_C(30) * 86400000,
                        "Full rescan of the target; unchanged files are skipped (cache), so "
                        "a rescan reads only what changed or what a new rule set must see."),
    LF_CFG_OPT_SIZE("max_file_bytes", lf_agent_yara_scan_config_t, max_file_bytes, "32MiB", 1,
                    INT64_C(4) << 30,
                    "Larger files are not scanned (counted in yara_files_too_large)."),
    LF_CFG_OPT_STRLIST("exclude", lf_agent_yara_scan_config_t, exclude, exclude_count, 64,
                       "fnmatch(3) patterns; a file or directory whose full path or name "
                       "matches one is skipped, e.g. *.log, /var/www/cache."),
    LF_CFG_OPT_DURATION("timeout", lf_agent_yara_scan_config_t, timeout_ms, "60s", 1000, 3600000,
                        "Longest scan of one file (whole seconds); a scan that hits it keeps "
                        "the matches found so far and is counted in yara_timeouts."),
    LF_CFG_END};

const lf_config_option_t lf_agent_yara_options[] = {
    LF_CFG_OPT_INT("max_concurrent_scans", lf_agent_yara_config_t, max_concurrent_scans, "1", 1, 3,
                   "Scan jobs running at once (one per target at most), in the libuv thread "
                   "pool of 4 threads, which log shipping also uses."),
    LF_CFG_OPT_INT("cpu_percent", lf_agent_yara_config_t, cpu_percent, "50", 1, 100,
                   "Share of one core a scan job may use: after each file it idles "
                   "(100 - cpu_percent) / cpu_percent times as long as the scan took."),
    LF_CFG_OPT_INT("max_cached_files", lf_agent_yara_config_t, max_cached_files, "200000", 1000,
                   10000000,
                   "Files remembered as scanned (about 100 bytes each plus the path); files "
                   "beyond are rescanned every time (counted in yara_cache_full)."),
    LF_CFG_OPT_INT("max_pending_files", lf_agent_yara_config_t, max_pending_files, "10000", 16,
                   1000000,
                   "Changed files waiting for a scan, per target; when more change, the "
                   "target gets a full (cached) scan instead."),
    LF_CFG_OPT_INT("max_watched_dirs", lf_agent_yara_config_t, max_watched_dirs, "1024", 1, 100000,
                   "Directories watched for changes, all targets together (each costs an "
                   "inotify watch); the rest are covered by the full scans (logged once)."),
    LF_CFG_OPT_SIZE("max_rule_set_bytes", lf_agent_yara_config_t, max_rule_set_bytes, "16MiB", 4096,
                    256 << 20, "A larger rule set message is refused (logged, counted)."),
    LF_CFG_OPT_INT("max_matches_per_file", lf_agent_yara_config_t, max_matches_per_file, "16", 1,
                   MAX_HITS_PER_FILE,
                   "Match records per file and scan; further matching rules are counted in "
                   "yara_matches_dropped."),
    LF_CFG_OPT_INT("max_depth", lf_agent_yara_config_t, max_depth, "32", 0, 256,
                   "Directory levels below a configured path that recursive scans enter."),
    LF_CFG_OPT_DURATION("settle", lf_agent_yara_config_t, settle_ms, "2s", 0, 600000,
                        "Wait after a change before the changed files are scanned, so a file "
                        "being written is scanned once it is complete."),
    LF_CFG_END};

static bool is_dir_path(const char *p)
{
    return p && p[0] == '/' && strlen(p) < 2048;
}

lf_err_t lf_agent_yara_config_validate(const char *name, const lf_agent_config_t *cfg, char *errstr,
                                       size_t errlen)
{
    if (!cfg->yara_scan_count)
        return LF_OK;
    for (size_t i = 0; i < cfg->yara_scan_count; i++) {
        const lf_agent_yara_scan_config_t *s = &cfg->yara_scans[i];
        if (!s->name || !*s->name || strlen(s->name) > 128) {
            snprintf(errstr, errlen, "%s: yara_scans[%zu].name: must be 1 to 128 bytes", name, i);
            return LF_ECONFIG;
        }
        if (!s->path_count) {
            snprintf(errstr, errlen, "%s: yara_scans[%zu].paths: name at least one directory", name,
                     i);
            return LF_ECONFIG;
        }
        for (size_t j = 0; j < s->path_count; j++) {
            if (!is_dir_path(s->paths[j])) {
                snprintf(errstr, errlen,
                         "%s: yara_scans[%zu].paths[%zu]: must be an absolute directory path "
                         "of at most 2047 bytes",
                         name, i, j);
                return LF_ECONFIG;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->yara_scans[j].name, s->name)) {
                snprintf(errstr, errlen,
                         "%s: yara_scans[%zu].name: %s is already used by yara_scans[%zu]", name, i,
                         s->name, j);
                return LF_ECONFIG;
            }
        }
    }
    for (size_t i = 0; i < cfg->listener_count; i++) {
        if (cfg->listeners[i].name && !strcmp(cfg->listeners[i].name, LF_AGENT_YARA_SOURCE)) {
            snprintf(errstr, errlen,
                     "%s: listeners[%zu].name: %s is reserved for the YARA match records; "
                     "choose another name",
                     name, i, LF_AGENT_YARA_SOURCE);
            return LF_ECONFIG;
        }
    }
    for (size_t i = 0; i < cfg->source_count; i++) {
        if (cfg->sources[i].name && !strcmp(cfg->sources[i].name, LF_AGENT_YARA_SOURCE)) {
            snprintf(errstr, errlen,
                     "%s: sources[%zu].name: %s is reserved for the YARA match records; "
                     "choose another name",
                     name, i, LF_AGENT_YARA_SOURCE);
            return LF_ECONFIG;
        }
    }
    return LF_OK;
}

void lf_agent_yara_spool_config(const lf_agent_config_t *cfg, lf_agent_listener_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->name = (char *)LF_AGENT_YARA_SOURCE;
    out->max_frame_bytes = cfg->limits.max_record_bytes < (int64_t)RECORD_MAX
                               ? cfg->limits.max_record_bytes
                               : (int64_t)RECORD_MAX;
}

/* ---- scan cache -------------------------------------------------------------------- */

typedef struct cache_slot {
    char *path; /* NULL: empty */
    uint64_t hash;
    lf_agent_yara_file_id_t id;
} cache_slot_t;

struct lf_agent_yara_cache {
    pthread_mutex_t lock;
    pthread_mutex_t save_lock; /* one writer of the cache file at a time */
    cache_slot_t *slots;
    size_t cap, count, max;
    uint64_t full;
    bool dirty;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

lf_agent_yara_cache_t *lf_agent_yara_cache_new(size_t max)
{
    lf_agent_yara_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->save_lock, NULL);
    c->max = max ? max : 1;
    return c;
}

void lf_agent_yara_cache_free(lf_agent_yara_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++)
        free(c->slots[i].path);
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->save_lock);
    free(c);
}

/* The slot of path, or the empty slot where it would go. Lock held. */
static cache_slot_t *cache_find(lf_agent_yara_cache_t *c, const char *path, uint64_t h)
{
    size_t mask = c->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        cache_slot_t *s = &c->slots[i];
        if (!s->path || (s->hash == h && !strcmp(s->path, path)))
            return s;
    }
}

static bool cache_grow(lf_agent_yara_cache_t *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    cache_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    cache_slot_t *old = c->slots;
    size_t oldcap = c->cap;
    c->slots = slots;
    c->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].path)
            *cache_find(c, old[i].path, old[i].hash) = old[i];
    free(old);
    return true;
}

bool lf_agent_yara_cache_hit(lf_agent_yara_cache_t *c, const char *path,
                             const lf_agent_yara_file_id_t *id)
{
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    if (c->cap) {
        cache_slot_t *s = cache_find(c, path, fnv1a(path));
        hit = s->path && !memcmp(&s->id, id, sizeof *id);
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

bool lf_agent_yara_cache_put(lf_agent_yara_cache_t *c, const char *path,
                             const lf_agent_yara_file_id_t *id)
{
    bool ok = true;
    uint64_t h = fnv1a(path);
    pthread_mutex_lock(&c->lock);
    if ((c->count + 1) * 2 > c->cap && c->count < c->max && !cache_grow(c))
        ok = false;
    cache_slot_t *s = ok && c->cap ? cache_find(c, path, h) : NULL;
    if (s && !s->path) {
        if (c->count >= c->max || (c->count + 1) * 2 > c->cap) {
            c->full++;
            ok = false;
        } else if (!(s->path = strdup(path))) {
            ok = false;
        } else {
            s->hash = h;
            c->count++;
        }
    }
    if (ok && s) {
        memcpy(&s->id, id, sizeof *id);
        c->dirty = true;
    }
    pthread_mutex_unlock(&c->lock);
    return ok && s;
}

size_t lf_agent_yara_cache_count(lf_agent_yara_cache_t *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

uint64_t lf_agent_yara_cache_full(lf_agent_yara_cache_t *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->full;
    pthread_mutex_unlock(&c->lock);
    return n;
}

#define CACHE_MAGIC "LFYC1\n"

static bool write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Writes data to path atomically: temporary file, fsync, rename, fsync of
 * the directory. */
static lf_err_t write_atomic(const char *path, const void *a, size_t alen, const void *b,
                             size_t blen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return LF_EIO;
    bool ok = write_all(fd, a, alen) && (!blen || write_all(fd, b, blen)) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return LF_EIO;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return LF_OK;
}

lf_err_t lf_agent_yara_cache_save(lf_agent_yara_cache_t *c, const char *path)
{
    lf_buf_t out;
    lf_buf_init(&out, (size_t)1 << 34);
    pthread_mutex_lock(&c->save_lock);
    lf_err_t rc = lf_buf_append(&out, CACHE_MAGIC, 6);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->cap && rc == LF_OK; i++) {
        const cache_slot_t *s = &c->slots[i];
        if (!s->path)
            continue;
        size_t n = strlen(s->path);
        uint8_t rec[2 + 32 + 8];
        rec[0] = (uint8_t)(n & 0xff);
        rec[1] = (uint8_t)(n >> 8);
        lf_put_le64(rec + 2, s->id.dev);
        lf_put_le64(rec + 10, s->id.ino);
        lf_put_le64(rec + 18, s->id.size);
        lf_put_le64(rec + 26, (uint64_t)s->id.mtime_ns);
        memcpy(rec + 34, s->id.set, 8);
        if (n > 0xffff)
            continue;
        rc = lf_buf_append(&out, rec, sizeof rec);
        if (rc == LF_OK)
            rc = lf_buf_append(&out, s->path, n);
    }
    c->dirty = false;
    pthread_mutex_unlock(&c->lock);
    if (rc == LF_OK)
        rc = write_atomic(path, out.data, out.len, NULL, 0);
    lf_buf_free(&out);
    if (rc != LF_OK) {
        pthread_mutex_lock(&c->lock);
        c->dirty = true;
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&c->save_lock);
    return rc;
}

size_t lf_agent_yara_cache_load(lf_agent_yara_cache_t *c, const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f)
        return 0;
    size_t n = 0;
    char magic[6];
    if (fread(magic, 1, 6, f) != 6 || memcmp(magic, CACHE_MAGIC, 6) != 0) {
        fclose(f);
        return 0;
    }
    char name[65536 + 1];
    uint8_t rec[42];
    while (fread(rec, 1, sizeof rec, f) == sizeof rec) {
        size_t len = (size_t)rec[0] | ((size_t)rec[1] << 8);
        if (len == 0 || fread(name, 1, len, f) != len)
            break;
        name[len] = '\0';
        lf_agent_yara_file_id_t id = {.dev = lf_get_le64(rec + 2),
                                      .ino = lf_get_le64(rec + 10),
                                      .size = lf_get_le64(rec + 18),
                                      .mtime_ns = (int64_t)lf_get_le64(rec + 26)};
        memcpy(id.set, rec + 34, 8);
        if (!lf_agent_yara_cache_put(c, name, &id))
            break;
        n++;
    }
    fclose(f);
    pthread_mutex_lock(&c->lock);
    c->dirty = false;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- match records --------------------------------------------------------------- */

static const char *const severity_names[] = {"informational", "low", "medium", "high", "critical"};

lf_err_t lf_agent_yara_format_hit(const lf_agent_yara_hit_t *hit, lf_buf_t *out)
{
    lf_json_t js;
    lf_json_init(&js, out);
    const char *base = strrchr(hit->path, '/');
    base = base ? base + 1 : hit->path;
    int sev = hit->severity >= 0 && hit->severity <= 4 ? hit->severity : 3;
    lf_json_object_begin(&js);
    lf_json_key(&js, "@timestamp");
    lf_json_timestamp_ms(&js, hit->time_ms);
    lf_json_key(&js, "event");
    lf_json_object_begin(&js);
    lf_json_key(&js, "kind");
    lf_json_cstring(&js, "alert");
    lf_json_key(&js, "module");
    lf_json_cstring(&js, "yara");
    lf_json_key(&js, "dataset");
    lf_json_cstring(&js, "yara.scan");
    lf_json_key(&js, "action");
    lf_json_cstring(&js, "yara-match");
    lf_json_key(&js, "category");
    lf_json_cstring(&js, "malware,file");
    lf_json_key(&js, "type");
    lf_json_cstring(&js, "info");
    lf_json_key(&js, "severity");
    lf_json_int(&js, sev);
    lf_json_object_end(&js);
    lf_json_key(&js, "file");
    lf_json_object_begin(&js);
    lf_json_key(&js, "path");
    lf_json_cstring(&js, hit->path);
    lf_json_key(&js, "name");
    lf_json_cstring(&js, base);
    lf_json_key(&js, "size");
    lf_json_uint(&js, hit->size);
    lf_json_key(&js, "mtime");
    lf_json_timestamp_ms(&js, hit->mtime_ms);
    lf_json_key(&js, "hash");
    lf_json_object_begin(&js);
    lf_json_key(&js, "sha256");
    lf_json_cstring(&js, hit->sha256_hex);
    lf_json_object_end(&js);
    lf_json_object_end(&js);
    lf_json_key(&js, "rule");
    lf_json_object_begin(&js);
    char id[512];
    snprintf(id, sizeof id, "yara:%s:%s", hit->ns, hit->rule);
    lf_json_key(&js, "id");
    lf_json_cstring(&js, id);
    lf_json_key(&js, "name");
    lf_json_cstring(&js, hit->rule);
    lf_json_key(&js, "category");
    lf_json_cstring(&js, hit->ns);
    lf_json_key(&js, "ruleset");
    lf_json_cstring(&js, "yara-agent");
    lf_json_key(&js, "version");
    lf_json_cstring(&js, hit->version);
    if (hit->description) {
        lf_json_key(&js, "description");
        lf_json_cstring(&js, hit->description);
    }
    lf_json_object_end(&js);
    if (hit->tag_count) {
        /* A keyword list travels as one comma-separated value (lf_event). */
        lf_buf_t tags;
        lf_buf_init(&tags, 4096);
        for (size_t i = 0; i < hit->tag_count; i++) {
            if (i)
                lf_buf_append_byte(&tags, ',');
            lf_buf_append_str(&tags, hit->tags[i]);
        }
        lf_json_key(&js, "tags");
        lf_json_string(&js, tags.data, tags.len);
        lf_buf_free(&tags);
    }
    lf_json_key(&js, "labels");
    lf_json_object_begin(&js);
    lf_json_key(&js, "yara_scan");
    lf_json_cstring(&js, hit->scan);
    lf_json_object_end(&js);
    char msg[1024];
    snprintf(msg, sizeof msg, "YARA rule %s (%s) matched %s [%s]", hit->rule, severity_names[sev],
             hit->path, hit->sha256_hex);
    lf_json_key(&js, "message");
    lf_json_cstring(&js, msg);
    lf_json_object_end(&js);
    return lf_json_error(&js);
}

/* ---- rule sets ---------------------------------------------------------------------- */

typedef struct yset {
    _Atomic long refs;
    YR_RULES *rules;
    uint8_t sha[32];
    char version[17];
    size_t rule_count;
} yset_t;

static yset_t *yset_retain(yset_t *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

static void yset_release(yset_t *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        if (s->rules)
            yr_rules_destroy(s->rules);
        free(s);
    }
}

typedef struct compile_log {
    char *buf;
    size_t len, cap;
    int errors;
} compile_log_t;

static void on_compile_message(int level, const char *file, int line, const YR_RULE *rule,
                               const char *message, void *user)
{
    compile_log_t *log = user;
    (void)rule;
    if (level == YARA_ERROR_LEVEL_WARNING) {
        lf_warn(COMP, "rule set: %s:%d: warning: %s", file ? file : "?", line, message);
        return;
    }
    log->errors++;
    if (log->len + 1 >= log->cap)
        return;
    int n = snprintf(log->buf + log->len, log->cap - log->len, "%s%s:%d: %s", log->len ? "; " : "",
                     file ? file : "?", line, message);
    if (n > 0)
        log->len += (size_t)n < log->cap - log->len ? (size_t)n : log->cap - log->len - 1;
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* Parses, verifies and compiles one LFY1 message (thread pool). */
static lf_err_t compile_message(const void *data, size_t len, yset_t **out, char *errstr,
                                size_t errlen)
{
    *out = NULL;
    lf_wire_rules_t rules;
    if (lf_wire_rules_parse(data, len, &rules) != LF_OK) {
        snprintf(errstr, errlen, "not a valid rule set message (LFY1)");
        return LF_EPARSE;
    }
    uint8_t digest[32];
    sha256((const uint8_t *)data + LF_WIRE_RULES_FIXED, len - LF_WIRE_RULES_FIXED, digest);
    if (memcmp(digest, rules.sha256, 32) != 0) {
        snprintf(errstr, errlen, "the rule files do not match the set's SHA-256 (damaged)");
        return LF_EPARSE;
    }
    yset_t *set = calloc(1, sizeof *set);
    YR_COMPILER *compiler = NULL;
    if (!set || yr_compiler_create(&compiler) != ERROR_SUCCESS) {
        free(set);
        snprintf(errstr, errlen, "out of memory compiling the rule set");
        return LF_ENOMEM;
    }
    atomic_init(&set->refs, 1);
    memcpy(set->sha, rules.sha256, 32);
    lf_wire_rules_version(rules.sha256, set->version);
    char logbuf[2048] = "";
    compile_log_t log = {.buf = logbuf, .cap = sizeof logbuf};
    yr_compiler_set_callback(compiler, on_compile_message, &log);
    lf_err_t rc = LF_OK;
    if (yr_compiler_define_string_variable(compiler, EXTERNAL_FIELD, FIELD_VALUE) != ERROR_SUCCESS)
        rc = LF_ENOMEM;
    lf_wire_rules_iter_t it;
    lf_wire_rules_iter(&rules, &it);
    lf_wire_rule_file_t f;
    while (rc == LF_OK && log.errors == 0 && lf_wire_rules_next(&rules, &it, &f) == LF_OK) {
        char name[LF_WIRE_RULES_MAX_NAME + 1], ns[LF_WIRE_RULES_MAX_NAME + 1];
        snprintf(name, sizeof name, "%.*s", (int)f.name.len, f.name.ptr);
        snprintf(ns, sizeof ns, "%.*s", (int)strcspn(name, "."), name);
        /* yr_compiler_add_string needs a terminated string. */
        char *text = malloc(f.text.len + 1);
        if (!text) {
            rc = LF_ENOMEM;
            break;
        }
        memcpy(text, f.text.ptr, f.text.len);
        text[f.text.len] = '\0';
        if (strlen(text) != f.text.len) {
            snprintf(errstr, errlen, "%s: contains a NUL byte", name);
            free(text);
            rc = LF_EPARSE;
            break;
        }
        FILE *mem = fmemopen(text, f.text.len ? f.text.len : 1, "r");
        if (!mem) {
            free(text);
            rc = LF_ENOMEM;
            break;
        }
        yr_compiler_add_file(compiler, mem, ns[0] ? ns : "default", name);
        fclose(mem);
        free(text);
    }
    if (rc == LF_OK && log.errors)
        rc = LF_EPARSE;
    if (rc == LF_EPARSE && logbuf[0])
        snprintf(errstr, errlen, "%s%s", logbuf, log.len + 1 >= log.cap ? "; (more errors)" : "");
    if (rc == LF_OK && yr_compiler_get_rules(compiler, &set->rules) != ERROR_SUCCESS)
        rc = LF_ENOMEM;
    yr_compiler_destroy(compiler);
    if (rc == LF_ENOMEM)
        snprintf(errstr, errlen, "out of memory compiling the rule set");
    if (rc != LF_OK) {
        yset_release(set);
        return rc;
    }
    YR_RULE *rule;
    yr_rules_foreach(set->rules, rule) set->rule_count++;
    *out = set;
    return LF_OK;
}

lf_err_t lf_agent_yara_compile_check(const void *msg, size_t len, size_t *rules, char *errstr,
                                     size_t errlen)
{
    *rules = 0;
    if (yr_initialize() != ERROR_SUCCESS) {
        snprintf(errstr, errlen, "cannot initialise libyara");
        return LF_ENOMEM;
    }
    yset_t *set = NULL;
    lf_err_t rc = compile_message(msg, len, &set, errstr, errlen);
    if (set)
        *rules = set->rule_count;
    yset_release(set);
    yr_finalize();
    return rc;
}

/* ---- runtime state ------------------------------------------------------------------ */

typedef struct ytarget ytarget_t;

typedef struct ywatch {
    uv_fs_event_t h;
    ytarget_t *t;
    char *dir;
    struct ywatch *next;
} ywatch_t;

struct ytarget {
    lf_agent_yara_t *y;
    const lf_agent_yara_scan_config_t *cfg;
    uv_timer_t interval, settle;
    bool busy, full_wanted;
    char **pending;
    size_t npending;
};

typedef struct ycounters {
    uint64_t files_scanned, bytes_scanned, files_cached, files_too_large, files_unreadable, matches,
        matches_dropped, timeouts, scan_errors, rule_sets_loaded, rule_sets_refused,
        results_deferred, full_scans;
} ycounters_t;

typedef struct ycompile {
    uv_work_t req;
    lf_agent_yara_t *y;
    char *data;
    size_t len;
    bool persist; /* write to state_dir/yara/rules.lfy when it compiles */
    yset_t *set;
    lf_err_t rc;
    char err[2048];
} ycompile_t;

struct lf_agent_yara {
    lf_agent_yara_env_t env;
    const lf_agent_config_t *cfg;
    const lf_agent_yara_config_t *lim;
    char dir[4096];
    char rules_path[4200], cache_path[4200];
    _Atomic bool stopping;
    bool started;

    yset_t *set; /* the running set (loop thread) */
    uint8_t refused[32];
    bool have_refused;
    ycompile_t *compiling;
    char *next_data; /* newest message waiting for the compile in flight */
    size_t next_len;

    lf_agent_yara_cache_t *cache;
    bool save_busy, save_again;
    uv_work_t save_req;
    _Atomic int64_t last_save_ms; /* read by jobs */
    size_t max_record;            /* longest match record the results spool reads */

    ytarget_t *targets;
    size_t ntargets;
    size_t running;
    ywatch_t *watches;
    size_t nwatches;
    bool watch_limit_logged;

    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    lf_kafka_queue_watch_t *qwatch;
    bool assigned;
    uv_timer_t status_timer;
    ycounters_t ctr;
};

static void schedule(lf_agent_yara_t *y);
static void install_set(lf_agent_yara_t *y, yset_t *set);

/* ---- compiling in the thread pool -------------------------------------------------- */

static void compile_run(uv_work_t *req)
{
    ycompile_t *c = req->data;
    c->rc = compile_message(c->data, c->len, &c->set, c->err, sizeof c->err);
    if (c->rc == LF_OK && c->persist &&
        write_atomic(c->y->rules_path, c->data, c->len, NULL, 0) != LF_OK)
        lf_warn(COMP, "cannot write %s: %s (the set runs, but a restart needs the broker)",
                c->y->rules_path, strerror(errno));
}

static void start_compile(lf_agent_yara_t *y, char *data, size_t len, bool persist);

static void compile_done(uv_work_t *req, int status)
{
    ycompile_t *c = req->data;
    lf_agent_yara_t *y = c->y;
    y->compiling = NULL;
    if (status == 0 && c->rc == LF_OK) {
        y->ctr.rule_sets_loaded++;
        lf_info(COMP, "rule set %s loaded: %zu rules%s", c->set->version, c->set->rule_count,
                atomic_load(&y->stopping) ? "" : "; every target is scanned again");
        install_set(y, c->set);
    } else {
        lf_wire_rules_t r;
        char version[17] = "?";
        if (lf_wire_rules_parse(c->data, c->len, &r) == LF_OK) {
            lf_wire_rules_version(r.sha256, version);
            memcpy(y->refused, r.sha256, 32);
            y->have_refused = true;
        }
        y->ctr.rule_sets_refused++;
        lf_error(COMP, "rule set %s refused, %s: %s", version,
                 y->set ? "the previous set keeps running" : "no set runs yet",
                 status ? "cancelled" : c->err);
        yset_release(c->set);
    }
    free(c->data);
    free(c);
    if (y->next_data && !atomic_load(&y->stopping)) {
        char *d = y->next_data;
        y->next_data = NULL;
        start_compile(y, d, y->next_len, true);
    }
}

/* Takes ownership of data. */
static void start_compile(lf_agent_yara_t *y, char *data, size_t len, bool persist)
{
    if (y->compiling) {
        free(y->next_data);
        y->next_data = data;
        y->next_len = len;
        return;
    }
    ycompile_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(data);
        return;
    }
    c->y = y;
    c->data = data;
    c->len = len;
    c->persist = persist;
    c->req.data = c;
    if (uv_queue_work(y->env.loop, &c->req, compile_run, compile_done) != 0) {
        free(data);
        free(c);
        return;
    }
    y->compiling = c;
}

/* A rule set message from the control topic (loop thread). */
static void offer_message(lf_agent_yara_t *y, const void *payload, size_t len, int64_t offset)
{
    if (len > (size_t)y->lim->max_rule_set_bytes) {
        y->ctr.rule_sets_refused++;
        lf_error(COMP,
                 "control offset %" PRId64 ": rule set of %zu bytes refused: larger than "
                 "yara.max_rule_set_bytes",
                 offset, len);
        return;
    }
    lf_wire_rules_t r;
    if (lf_wire_rules_parse(payload, len, &r) != LF_OK) {
        if (len >= 4 && !memcmp(payload, LF_WIRE_RULES_MAGIC, 4)) {
            y->ctr.rule_sets_refused++;
            lf_error(COMP, "control offset %" PRId64 ": malformed rule set message ignored",
                     offset);
        }
        return; /* another kind of control message */
    }
    const uint8_t *current = y->set ? y->set->sha : NULL;
    if ((current && !memcmp(current, r.sha256, 32)) ||
        (y->have_refused && !memcmp(y->refused, r.sha256, 32)))
        return;
    if (y->next_data && y->next_len == len && !memcmp(y->next_data, payload, len))
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, payload, len);
    char version[17];
    lf_wire_rules_version(r.sha256, version);
    lf_info(COMP, "rule set %s (%u files) received (control offset %" PRId64 "): compiling",
            version, r.count, offset);
    start_compile(y, copy, len, true);
}

/* ---- control consumer -------------------------------------------------------------- */

static void on_control(void *opaque)
{
    lf_agent_yara_t *y = opaque;
    rd_kafka_message_t *m;
    while (y->consumer && (m = rd_kafka_consumer_poll(y->consumer, 0)) != NULL) {
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                lf_debug(COMP, "control consumer: %s", rd_kafka_message_errstr(m));
        } else if (!atomic_load(&y->stopping)) {
            offer_message(y, m->payload, m->len, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
}

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4)
        lf_warn(COMP, "control consumer: %s: %s", fac, buf);
}

static bool has_property(const lf_kafka_config_t *k, const char *key)
{
    for (size_t i = 0; i < k->property_count; i++)
        if (!strcmp(k->properties[i].key, key))
            return true;
    return false;
}

static lf_err_t control_consumer_create(lf_agent_yara_t *y, char *errstr, size_t errlen)
{
    const lf_agent_config_t *cfg = y->cfg;
    rd_kafka_conf_t *conf = lf_kafka_conf_new(&cfg->kafka, false, errstr, errlen);
    if (!conf)
        return LF_ECONFIG;
    char group[1200], big[32], fetch[32];
    snprintf(group, sizeof group, "lianfang-agent.%s.control", cfg->agent.id);
    snprintf(fetch, sizeof fetch, "%" PRId64, y->lim->max_rule_set_bytes + (1 << 20));
    snprintf(big, sizeof big, "%" PRId64, y->lim->max_rule_set_bytes + (2 << 20));
    lf_err_t rc = lf_kafka_conf_set(conf, "group.id", group, errstr, errlen);
    if (rc == LF_OK)
        rc = lf_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "max.partition.fetch.bytes"))
        rc = lf_kafka_conf_set(conf, "max.partition.fetch.bytes", fetch, errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "fetch.max.bytes"))
        rc = lf_kafka_conf_set(conf, "fetch.max.bytes", fetch, errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "receive.message.max.bytes"))
        rc = lf_kafka_conf_set(conf, "receive.message.max.bytes", big, errstr, errlen);
    if (rc == LF_OK && !has_property(&cfg->kafka, "fetch.wait.max.ms"))
        rc = lf_kafka_conf_set(conf, "fetch.wait.max.ms", "500", errstr, errlen);
    if (rc != LF_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    y->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!y->consumer) {
        rd_kafka_conf_destroy(conf);
        return LF_EKAFKA;
    }
    rd_kafka_poll_set_consumer(y->consumer);
    y->queue = rd_kafka_queue_get_consumer(y->consumer);
    /* The newest messages are enough: the set is whole in one message. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, cfg->kafka.topic_control, 0)->offset =
        RD_KAFKA_OFFSET_TAIL(CONTROL_TAIL);
    rd_kafka_resp_err_t err = rd_kafka_assign(y->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        snprintf(errstr, errlen, "assign %s[0]: %s", cfg->kafka.topic_control,
                 rd_kafka_err2str(err));
        return LF_EKAFKA;
    }
    y->qwatch = calloc(1, sizeof *y->qwatch);
    if (!y->qwatch)
        return LF_ENOMEM;
    rc = lf_kafka_queue_watch_start(y->qwatch, y->env.loop, y->queue, on_control, y);
    if (rc != LF_OK) {
        free(y->qwatch);
        y->qwatch = NULL;
        snprintf(errstr, errlen, "cannot watch the control consumer queue");
        return rc;
    }
    y->assigned = true;
    return LF_OK;
}

/* ---- scan jobs (thread pool) ------------------------------------------------------- */

typedef struct ymatched { /* a file whose matches wait for the spool */
    char *path;
    lf_agent_yara_file_id_t id;
} ymatched_t;

typedef struct yjob {
    uv_work_t req;
    lf_agent_yara_t *y;
    ytarget_t *t;
    yset_t *set;
    bool full;
    char **files; /* change job: the changed paths */
    size_t nfiles;
    /* results, read by the loop thread after the job */
    lf_buf_t records; /* u32 length + JSON, per match */
    ymatched_t *matched;
    size_t nmatched, cap_matched;
    char **dirs; /* directories seen, to watch */
    size_t ndirs, cap_dirs;
    ycounters_t ctr;
    /* per-file scan state */
    YR_SCANNER *scanner;
    const YR_RULE *hits[MAX_HITS_PER_FILE];
    size_t nhits;
    bool saved_cache;
} yjob_t;

static int on_scan_message(YR_SCAN_CONTEXT *context, int message, void *message_data, void *user)
{
    yjob_t *j = user;
    (void)context;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    if (j->nhits >= (size_t)j->y->lim->max_matches_per_file) {
        j->ctr.matches_dropped++;
        return CALLBACK_CONTINUE;
    }
    j->hits[j->nhits++] = message_data;
    return CALLBACK_CONTINUE;
}

static bool excluded(const lf_agent_yara_scan_config_t *cfg, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < cfg->exclude_count; i++)
        if (fnmatch(cfg->exclude[i], path, 0) == 0 || fnmatch(cfg->exclude[i], base, 0) == 0)
            return true;
    return false;
}

static bool push_str(char ***list, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **grown = realloc(*list, c * sizeof *grown);
        if (!grown)
            return false;
        *list = grown;
        *cap = c;
    }
    char *d = strdup(s);
    if (!d)
        return false;
    (*list)[(*n)++] = d;
    return true;
}

static bool file_sha256(int fd, uint64_t size, char hex[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return false;
    }
    char buf[65536];
    uint64_t off = 0;
    bool ok = true;
    while (off < size) {
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = r == 0; /* shrank while hashing: the hash of what is there */
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)r);
        off += (uint64_t)r;
    }
    uint8_t d[32];
    unsigned int n = 32;
    ok = ok && EVP_DigestFinal_ex(md, d, &n) == 1;
    EVP_MD_CTX_free(md);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return ok;
}

/* Rule severity from meta severity/level (names or 0..4); 3 otherwise. */
static int rule_severity(const YR_RULE *rule, const char **description)
{
    int sev = 3;
    const YR_META *meta;
    *description = NULL;
    yr_rule_metas_foreach(rule, meta)
    {
        if (!strcmp(meta->identifier, "description") && meta->type == META_TYPE_STRING)
            *description = meta->string;
        if (strcmp(meta->identifier, "severity") && strcmp(meta->identifier, "level"))
            continue;
        if (meta->type == META_TYPE_INTEGER && meta->integer >= 0 && meta->integer <= 4)
            sev = (int)meta->integer;
        for (int l = 0; meta->type == META_TYPE_STRING && l < 5; l++)
            if (!strcasecmp(meta->string, severity_names[l]))
                sev = l;
    }
    return sev;
}

static void idle_for(yjob_t *j, int64_t ms)
{
    while (ms > 0 && !atomic_load(&j->y->stopping)) {
        int64_t step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void record_hits(yjob_t *j, const char *path, int fd, const struct stat *st,
                        const lf_agent_yara_file_id_t *id)
{
    char hex[65];
    if (!file_sha256(fd, (uint64_t)st->st_size, hex)) {
        j->ctr.files_unreadable++;
        return;
    }
    lf_buf_t rec;
    lf_buf_init(&rec, j->y->max_record);
    size_t written = 0;
    for (size_t i = 0; i < j->nhits; i++) {
        const YR_RULE *rule = j->hits[i];
        const char *tags[64];
        size_t ntags = 0;
        const char *tag;
        yr_rule_tags_foreach(rule, tag)
        {
            if (ntags < 64)
                tags[ntags++] = tag;
        }
        lf_agent_yara_hit_t hit = {
            .path = path,
            .size = (uint64_t)st->st_size,
            .mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000,
            .sha256_hex = hex,
            .rule = rule->identifier,
            .ns = rule->ns->name,
            .tags = tags,
            .tag_count = ntags,
            .version = j->set->version,
            .scan = j->t->cfg->name,
            .time_ms = lf_time_now_ms(),
        };
        hit.severity = rule_severity(rule, &hit.description);
        lf_buf_reset(&rec);
        if (lf_agent_yara_format_hit(&hit, &rec) != LF_OK ||
            lf_buf_append_u32le(&j->records, (uint32_t)rec.len) != LF_OK ||
            lf_buf_append(&j->records, rec.data, rec.len) != LF_OK) {
            j->ctr.matches_dropped++;
            lf_warn(COMP,
                    "%s: match of rule %s not recorded: its record is longer than %zu bytes "
                    "(limits.max_record_bytes)",
                    path, rule->identifier, j->y->max_record);
            continue;
        }
        written++;
        j->ctr.matches++;
    }
    lf_buf_free(&rec);
    if (!written)
        return;
    if (j->nmatched == j->cap_matched) {
        size_t c = j->cap_matched ? j->cap_matched * 2 : 8;
        ymatched_t *grown = realloc(j->matched, c * sizeof *grown);
        if (!grown)
            return;
        j->matched = grown;
        j->cap_matched = c;
    }
    char *p = strdup(path);
    if (p)
        j->matched[j->nmatched++] = (ymatched_t){.path = p, .id = *id};
}

static void scan_file(yjob_t *j, const char *path, const struct stat *lst)
{
    const lf_agent_yara_scan_config_t *cfg = j->t->cfg;
    if ((int64_t)lst->st_size > cfg->max_file_bytes) {
        j->ctr.files_too_large++;
        return;
    }
    lf_agent_yara_file_id_t id = {.dev = (uint64_t)lst->st_dev,
                                  .ino = (uint64_t)lst->st_ino,
                                  .size = (uint64_t)lst->st_size,
                                  .mtime_ns = (int64_t)lst->st_mtim.tv_sec * 1000000000 +
                                              lst->st_mtim.tv_nsec};
    memcpy(id.set, j->set->sha, sizeof id.set);
    if (lf_agent_yara_cache_hit(j->y->cache, path, &id)) {
        j->ctr.files_cached++;
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != lst->st_ino) {
        if (fd >= 0)
            close(fd);
        j->ctr.files_unreadable++;
        return;
    }
    int64_t t0 = lf_time_mono_ms();
    j->nhits = 0;
    int yrc = st.st_size ? yr_scanner_scan_fd(j->scanner, fd) : ERROR_SUCCESS;
    if (!st.st_size)
        yrc = yr_scanner_scan_mem(j->scanner, (const uint8_t *)"", 0);
    j->ctr.files_scanned++;
    j->ctr.bytes_scanned += (uint64_t)st.st_size;
    if (yrc == ERROR_SCAN_TIMEOUT) {
        j->ctr.timeouts++;
        lf_warn(COMP, "%s: scan stopped after %" PRId64 " s (yara_scans.timeout)", path,
                (cfg->timeout_ms + 999) / 1000);
    } else if (yrc != ERROR_SUCCESS) {
        j->ctr.scan_errors++;
        lf_warn(COMP, "%s: libyara error %d while scanning", path, yrc);
    }
    /* The identity the file had when it was read. */
    id.size = (uint64_t)st.st_size;
    id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (j->nhits)
        record_hits(j, path, fd, &st, &id);
    else if (yrc == ERROR_SUCCESS)
        lf_agent_yara_cache_put(j->y->cache, path, &id);
    close(fd);
    int64_t pct = j->y->lim->cpu_percent;
    if (pct < 100)
        idle_for(j, (lf_time_mono_ms() - t0) * (100 - pct) / pct);
}

static void walk(yjob_t *j, const char *dir, int depth);

static void scan_path(yjob_t *j, const char *path, int depth)
{
    if (atomic_load(&j->y->stopping) || excluded(j->t->cfg, path))
        return;
    struct stat st;
    if (lstat(path, &st) != 0)
        return; /* gone */
    if (S_ISREG(st.st_mode))
        scan_file(j, path, &st);
    else if (S_ISDIR(st.st_mode) && j->t->cfg->recursive && depth <= j->y->lim->max_depth)
        walk(j, path, depth);
}

static void walk(yjob_t *j, const char *dir, int depth)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        j->ctr.files_unreadable++;
        return;
    }
    if (j->t->cfg->watch)
        push_str(&j->dirs, &j->ndirs, &j->cap_dirs, dir);
    struct dirent *de;
    char path[4096];
    while ((de = readdir(dp)) && !atomic_load(&j->y->stopping)) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        if (de->d_type == DT_DIR && (!j->t->cfg->recursive || depth + 1 > j->y->lim->max_depth))
            continue;
        scan_path(j, path, depth + 1);
    }
    closedir(dp);
}

static void job_run(uv_work_t *req)
{
    yjob_t *j = req->data;
    if (yr_scanner_create(j->set->rules, &j->scanner) != ERROR_SUCCESS) {
        j->scanner = NULL;
        j->ctr.scan_errors++;
        return;
    }
    yr_scanner_set_callback(j->scanner, on_scan_message, j);
    yr_scanner_set_timeout(j->scanner, (int)((j->t->cfg->timeout_ms + 999) / 1000));
    yr_scanner_define_string_variable(j->scanner, EXTERNAL_FIELD, FIELD_VALUE);
    if (j->full) {
        for (size_t i = 0; i < j->t->cfg->path_count && !atomic_load(&j->y->stopping); i++) {
            const char *root = j->t->cfg->paths[i];
            struct stat st;
            if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
                lf_warn(COMP, "scan %s: %s is not a readable directory; skipped", j->t->cfg->name,
                        root);
                continue;
            }
            walk(j, root, 0);
        }
    } else {
        for (size_t i = 0; i < j->nfiles; i++) {
            /* Depth of a changed path: counted from its configured root. */
            int depth = 1;
            for (const char *p = j->files[i]; *p; p++)
                depth += *p == '/';
            for (size_t r = 0; r < j->t->cfg->path_count; r++) {
                size_t rl = strlen(j->t->cfg->paths[r]);
                if (!strncmp(j->files[i], j->t->cfg->paths[r], rl)) {
                    depth = 0;
                    for (const char *p = j->files[i] + rl; *p; p++)
                        depth += *p == '/';
                    break;
                }
            }
            scan_path(j, j->files[i], depth);
        }
    }
    yr_scanner_destroy(j->scanner);
    j->scanner = NULL;
    /* The cache of files without matches is saved now and then from here,
     * off the loop thread. */
    if (lf_time_mono_ms() - j->y->last_save_ms >= CACHE_SAVE_MS) {
        lf_agent_yara_cache_save(j->y->cache, j->y->cache_path);
        j->saved_cache = true;
    }
}

static void save_run(uv_work_t *req)
{
    lf_agent_yara_t *y = req->data;
    if (lf_agent_yara_cache_save(y->cache, y->cache_path) != LF_OK)
        lf_warn(COMP, "cannot write %s: %s", y->cache_path, strerror(errno));
}

static void save_done(uv_work_t *req, int status)
{
    lf_agent_yara_t *y = req->data;
    (void)status;
    y->save_busy = false;
    y->last_save_ms = lf_time_mono_ms();
    if (y->save_again) {
        y->save_again = false;
        y->save_busy = uv_queue_work(y->env.loop, &y->save_req, save_run, save_done) == 0;
    }
}

/* Saves the cache soon, off the loop thread. */
static void save_cache(lf_agent_yara_t *y)
{
    if (y->save_busy) {
        y->save_again = true;
        return;
    }
    y->save_req.data = y;
    y->save_busy = uv_queue_work(y->env.loop, &y->save_req, save_run, save_done) == 0;
}

static void add_watches(lf_agent_yara_t *y, ytarget_t *t, char **dirs, size_t n);

static void counters_add(ycounters_t *to, const ycounters_t *from)
{
    const uint64_t *f = (const uint64_t *)from;
    uint64_t *d = (uint64_t *)to;
    for (size_t i = 0; i < sizeof *from / sizeof(uint64_t); i++)
        d[i] += f[i];
}

static void job_free(yjob_t *j)
{
    for (size_t i = 0; i < j->nfiles; i++)
        free(j->files[i]);
    free(j->files);
    for (size_t i = 0; i < j->nmatched; i++)
        free(j->matched[i].path);
    free(j->matched);
    for (size_t i = 0; i < j->ndirs; i++)
        free(j->dirs[i]);
    free(j->dirs);
    lf_buf_free(&j->records);
    yset_release(j->set);
    free(j);
}

/* Loop thread: the job's matches go to the spool, then their files into
 * the cache. */
static void job_done(uv_work_t *req, int status)
{
    yjob_t *j = req->data;
    lf_agent_yara_t *y = j->y;
    y->running--;
    j->t->busy = false;
    if (j->saved_cache)
        y->last_save_ms = lf_time_mono_ms();
    counters_add(&y->ctr, &j->ctr);
    if (status == 0 && j->records.len) {
        bool spooled = true;
        const uint8_t *p = (const uint8_t *)j->records.data, *end = p + j->records.len;
        while (p + 4 <= end) {
            uint32_t n = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                         ((uint32_t)p[3] << 24);
            p += 4;
            lf_err_t rc =
                lf_agent_spool_append(y->env.spool, (const char *)p, n, 0, LF_STR_NULL, false);
            p += n;
            if (rc != LF_OK) {
                spooled = false;
                y->ctr.results_deferred++;
                lf_warn(COMP,
                        "match record not spooled (%s): the file is scanned again later "
                        "(limits.spool_max_bytes)",
                        lf_strerror(rc));
            }
        }
        if (spooled && lf_agent_spool_flush(y->env.spool, false) != LF_OK) {
            spooled = false;
            lf_error(COMP, "cannot write the match records to the spool: %s; retrying",
                     strerror(errno));
        }
        /* Only now is a match safe: its file may be remembered as scanned. */
        for (size_t i = 0; spooled && i < j->nmatched; i++)
            lf_agent_yara_cache_put(y->cache, j->matched[i].path, &j->matched[i].id);
        if (spooled && j->nmatched)
            save_cache(y);
        if (y->env.spooled)
            y->env.spooled(y->env.opaque);
    }
    if (!atomic_load(&y->stopping))
        add_watches(y, j->t, j->dirs, j->ndirs);
    if (j->full)
        lf_info(COMP,
                "scan %s with rule set %s done: %" PRIu64 " files scanned, %" PRIu64
                " unchanged, %" PRIu64 " matches",
                j->t->cfg->name, j->set->version, j->ctr.files_scanned, j->ctr.files_cached,
                j->ctr.matches);
    job_free(j);
    schedule(y);
}

static yjob_t *job_new(lf_agent_yara_t *y, ytarget_t *t, bool full)
{
    yjob_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->y = y;
    j->t = t;
    j->full = full;
    j->set = yset_retain(y->set);
    j->req.data = j;
    lf_buf_init(&j->records, (size_t)256 << 20);
    return j;
}

/* Starts jobs while there is room: full scans first, then changed files
 * whose settle time has passed. */
static void schedule(lf_agent_yara_t *y)
{
    if (atomic_load(&y->stopping) || !y->set || !y->set->rule_count)
        return;
    for (size_t i = 0; i < y->ntargets && y->running < (size_t)y->lim->max_concurrent_scans; i++) {
        ytarget_t *t = &y->targets[i];
        if (t->busy)
            continue;
        bool changes = t->npending && !uv_is_active((uv_handle_t *)&t->settle);
        if (!t->full_wanted && !changes)
            continue;
        yjob_t *j = job_new(y, t, t->full_wanted);
        if (!j)
            return;
        if (t->full_wanted) {
            t->full_wanted = false;
            y->ctr.full_scans++;
            for (size_t k = 0; k < t->npending; k++)
                free(t->pending[k]);
            t->npending = 0; /* a full scan covers them */
        } else {
            j->files = t->pending;
            j->nfiles = t->npending;
            t->pending = NULL;
            t->npending = 0;
        }
        if (uv_queue_work(y->env.loop, &j->req, job_run, job_done) != 0) {
            job_free(j);
            return;
        }
        t->busy = true;
        y->running++;
    }
}

static void install_set(lf_agent_yara_t *y, yset_t *set)
{
    yset_release(y->set);
    y->set = set;
    for (size_t i = 0; i < y->ntargets; i++)
        y->targets[i].full_wanted = true;
    schedule(y);
}

/* ---- change watches ---------------------------------------------------------------- */

static void on_settle(uv_timer_t *h)
{
    ytarget_t *t = h->data;
    schedule(t->y);
}

static void on_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
    ywatch_t *w = h->data;
    ytarget_t *t = w->t;
    lf_agent_yara_t *y = t->y;
    (void)events;
    if (status < 0 || !filename || atomic_load(&y->stopping))
        return;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", w->dir, filename);
    if (n < 0 || (size_t)n >= sizeof path)
        return;
    bool known = false;
    for (size_t i = 0; i < t->npending && !known; i++)
        known = !strcmp(t->pending[i], path);
    if (!known) {
        if (t->npending >= (size_t)y->lim->max_pending_files) {
            t->full_wanted = true;
        } else {
            size_t cap = t->npending; /* grown one at a time; bounded above */
            char **grown = realloc(t->pending, (cap + 1) * sizeof *grown);
            char *d = grown ? strdup(path) : NULL;
            if (grown)
                t->pending = grown;
            if (d)
                t->pending[t->npending++] = d;
        }
    }
    uv_timer_start(&t->settle, on_settle, (uint64_t)y->lim->settle_ms, 0);
}

static void add_watches(lf_agent_yara_t *y, ytarget_t *t, char **dirs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        for (ywatch_t *w = y->watches; w && !have; w = w->next)
            have = w->t == t && !strcmp(w->dir, dirs[i]);
        if (have)
            continue;
        if (y->nwatches >= (size_t)y->lim->max_watched_dirs) {
            if (!y->watch_limit_logged)
                lf_warn(COMP,
                        "yara.max_watched_dirs (%" PRId64 ") reached: further directories "
                        "(first %s) are covered by the scheduled scans only",
                        y->lim->max_watched_dirs, dirs[i]);
            y->watch_limit_logged = true;
            return;
        }
        ywatch_t *w = calloc(1, sizeof *w);
        if (!w || !(w->dir = strdup(dirs[i]))) {
            free(w);
            return;
        }
        w->t = t;
        uv_fs_event_init(y->env.loop, &w->h);
        w->h.data = w;
        if (uv_fs_event_start(&w->h, on_change, w->dir, 0) != 0) {
            lf_warn(COMP, "cannot watch %s for changes; it is covered by the scheduled scans",
                    w->dir);
            uv_close((uv_handle_t *)&w->h, NULL);
            /* freed with the others at the end (the handle must close first) */
        }
        w->next = y->watches;
        y->watches = w;
        y->nwatches++;
    }
}

/* ---- life cycle ------------------------------------------------------------------------ */

static void on_interval(uv_timer_t *h)
{
    ytarget_t *t = h->data;
    t->full_wanted = true;
    schedule(t->y);
}

static void on_status(uv_timer_t *h)
{
    lf_agent_yara_t *y = h->data;
    const ycounters_t *c = &y->ctr;
    lf_info(COMP,
            "rule_set=%s files_scanned=%" PRIu64 " bytes_scanned=%" PRIu64
            " files_unchanged=%" PRIu64 " files_too_large=%" PRIu64 " files_unreadable=%" PRIu64
            " matches=%" PRIu64 " matches_dropped=%" PRIu64 " timeouts=%" PRIu64
            " scan_errors=%" PRIu64 " rule_sets_loaded=%" PRIu64 " rule_sets_refused=%" PRIu64
            " results_deferred=%" PRIu64 " cache_files=%zu cache_full=%" PRIu64 " watched_dirs=%zu",
            y->set ? y->set->version : "none", c->files_scanned, c->bytes_scanned, c->files_cached,
            c->files_too_large, c->files_unreadable, c->matches, c->matches_dropped, c->timeouts,
            c->scan_errors, c->rule_sets_loaded, c->rule_sets_refused, c->results_deferred,
            lf_agent_yara_cache_count(y->cache), lf_agent_yara_cache_full(y->cache), y->nwatches);
}

lf_err_t lf_agent_yara_new(const lf_agent_yara_env_t *env, lf_agent_yara_t **out, char *errstr,
                           size_t errlen)
{
    *out = NULL;
    const lf_agent_config_t *cfg = env->cfg;
    lf_agent_yara_t *y = calloc(1, sizeof *y);
    if (!y)
        return LF_ENOMEM;
    y->env = *env;
    y->cfg = cfg;
    y->lim = &cfg->yara;
    lf_agent_listener_config_t spool_cfg;
    lf_agent_yara_spool_config(cfg, &spool_cfg);
    y->max_record = (size_t)spool_cfg.max_frame_bytes;
    snprintf(y->dir, sizeof y->dir, "%s/yara", cfg->agent.state_dir);
    snprintf(y->rules_path, sizeof y->rules_path, "%s/rules.lfy", y->dir);
    snprintf(y->cache_path, sizeof y->cache_path, "%s/cache.bin", y->dir);
    if (mkdir(y->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errstr, errlen, "%s: cannot create: %s", y->dir, strerror(errno));
        free(y);
        return LF_EIO;
    }
    if (yr_initialize() != ERROR_SUCCESS) {
        snprintf(errstr, errlen, "cannot initialise libyara");
        free(y);
        return LF_ENOMEM;
    }
    y->cache = lf_agent_yara_cache_new((size_t)cfg->yara.max_cached_files);
    y->targets = calloc(cfg->yara_scan_count ? cfg->yara_scan_count : 1, sizeof *y->targets);
    if (!y->cache || !y->targets) {
        lf_agent_yara_cache_free(y->cache);
        free(y->targets);
        yr_finalize();
        free(y);
        return LF_ENOMEM;
    }
    y->ntargets = cfg->yara_scan_count;
    for (size_t i = 0; i < y->ntargets; i++) {
        ytarget_t *t = &y->targets[i];
        t->y = y;
        t->cfg = &cfg->yara_scans[i];
        uv_timer_init(env->loop, &t->interval);
        uv_timer_init(env->loop, &t->settle);
        t->interval.data = t->settle.data = t;
    }
    uv_timer_init(env->loop, &y->status_timer);
    y->status_timer.data = y;
    *out = y;
    return LF_OK;
}

/* Reads the persisted rule set; NULL when there is none. */
static char *read_rules_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *data = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= max &&
        (data = malloc((size_t)st.st_size))) {
        size_t off = 0;
        while (off < (size_t)st.st_size) {
            ssize_t r = read(fd, data + off, (size_t)st.st_size - off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            off += (size_t)r;
        }
        if (off != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        *len = off;
    }
    close(fd);
    return data;
}

lf_err_t lf_agent_yara_start(lf_agent_yara_t *y, char *errstr, size_t errlen)
{
    y->started = true;
    size_t cached = lf_agent_yara_cache_load(y->cache, y->cache_path);
    y->last_save_ms = lf_time_mono_ms();
    size_t len = 0;
    char *data = read_rules_file(y->rules_path, (size_t)y->lim->max_rule_set_bytes, &len);
    lf_info(COMP, "%zu scan targets; %zu files remembered as scanned; %s", y->ntargets, cached,
            data ? "loading the rule set kept from the last run"
                 : "no rule set yet: waiting for lianfangd to publish one");
    if (data)
        start_compile(y, data, len, false);
    for (size_t i = 0; i < y->ntargets; i++) {
        ytarget_t *t = &y->targets[i];
        uv_timer_start(&t->interval, on_interval, (uint64_t)t->cfg->interval_ms,
                       (uint64_t)t->cfg->interval_ms);
        /* Watch the configured directories now; the scans add subdirectories. */
        if (t->cfg->watch)
            add_watches(y, t, t->cfg->paths, t->cfg->path_count);
    }
    int64_t si = y->cfg->agent.status_interval_ms;
    uv_timer_start(&y->status_timer, on_status, (uint64_t)si, (uint64_t)si);
    return control_consumer_create(y, errstr, errlen);
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

void lf_agent_yara_stop(lf_agent_yara_t *y)
{
    if (!y || atomic_load(&y->stopping))
        return;
    atomic_store(&y->stopping, true);
    for (size_t i = 0; i < y->ntargets; i++) {
        close_handle((uv_handle_t *)&y->targets[i].interval);
        close_handle((uv_handle_t *)&y->targets[i].settle);
    }
    close_handle((uv_handle_t *)&y->status_timer);
    for (ywatch_t *w = y->watches; w; w = w->next)
        close_handle((uv_handle_t *)&w->h);
    if (y->qwatch)
        lf_kafka_queue_watch_stop(y->qwatch);
    if (y->started)
        on_status(&y->status_timer);
}

void lf_agent_yara_free(lf_agent_yara_t *y)
{
    if (!y)
        return;
    if (y->started && lf_agent_yara_cache_save(y->cache, y->cache_path) != LF_OK)
        lf_warn(COMP, "cannot write %s: %s", y->cache_path, strerror(errno));
    if (y->consumer) {
        rd_kafka_consumer_close(y->consumer);
        if (y->queue)
            rd_kafka_queue_destroy(y->queue);
        rd_kafka_destroy(y->consumer);
    }
    free(y->qwatch);
    for (ywatch_t *w = y->watches, *n; w; w = n) {
        n = w->next;
        free(w->dir);
        free(w);
    }
    for (size_t i = 0; i < y->ntargets; i++) {
        for (size_t k = 0; k < y->targets[i].npending; k++)
            free(y->targets[i].pending[k]);
        free(y->targets[i].pending);
    }
    free(y->targets);
    free(y->next_data);
    yset_release(y->set);
    lf_agent_yara_cache_free(y->cache);
    yr_finalize();
    free(y);
}
