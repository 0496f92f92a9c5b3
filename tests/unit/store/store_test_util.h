/* store_test_util.h - helpers shared by the store unit tests: a fresh
 * temporary directory per test, removed afterwards, and short event puts. */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include "lf_store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct test_dir {
    char root[64];        /* mkdtemp directory */
    char store_path[128]; /* root/db/store: exercises mkdir -p */
} test_dir_t;

static inline void test_dir_make(test_dir_t *d)
{
    snprintf(d->root, sizeof d->root, "/tmp/lf-store-test-XXXXXX");
    if (!mkdtemp(d->root)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(d->store_path, sizeof d->store_path, "%s/db/store", d->root);
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void test_dir_remove(test_dir_t *d)
{
    nftw(d->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline lf_store_config_t test_config(const test_dir_t *d, int64_t map_size, bool sync)
{
    lf_store_config_t cfg = {
        .path = (char *)d->store_path,
        .map_size = map_size,
        .max_readers = 126,
        .sync = sync,
    };
    return cfg;
}

static inline lf_err_t test_put(lf_store_batch_t *b, const char *agent, uint64_t seq,
                                uint64_t epoch_seq, int64_t ts, const char *agency)
{
    char doc[256];
    int n = snprintf(doc, sizeof doc, "{\"agent\":\"%s\",\"seq\":%llu}", agent,
                     (unsigned long long)seq);
    lf_store_event_in_t ev = {
        .agent_id = lf_str_c(agent),
        .agency = lf_str_c(agency),
        .host = lf_str_c("host-1"),
        .seq = seq,
        .epoch_seq = epoch_seq,
        .timestamp_ms = ts,
        .doc = doc,
        .doc_len = n > 0 && (size_t)n < sizeof doc ? (size_t)n : 0,
    };
    return lf_store_batch_put(b, &ev);
}

#endif
