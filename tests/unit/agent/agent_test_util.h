/* Helpers shared by the agent unit tests. */
#ifndef AGENT_TEST_UTIL_H
#define AGENT_TEST_UTIL_H

#include "agent_batch.h"

#include <stddef.h>

/* Creates a fresh temporary directory; returns a malloc'ed path. */
char *test_tmpdir(void);
/* Removes a directory tree (best effort). */
void test_rmtree(const char *path);
/* Writes (or appends) bytes to a file; aborts the test on failure. */
void test_write_file(const char *path, const char *data, size_t len, int append);
/* malloc'ed "dir/name". */
char *test_path(const char *dir, const char *name);

/* Fills out with one wire batch of the records r reads from fd (source and
 * path of jb, numbered from jb->first_seq), sets jb's count and end
 * offset, then rebuilds the batch from the file as a re-send does and
 * asserts both are byte for byte the same. *count gets the records (0:
 * none, out is then not a batch); returns lf_agent_batch_fill's result. */
lf_err_t test_batch_roundtrip(int fd, lf_agent_reader_t *r, const lf_agent_batch_ids_t *ids,
                              lf_agent_jbatch_t *jb, const lf_agent_batch_limits_t *lim,
                              const lf_agent_recfmt_t *fmt, lf_buf_t *out, uint32_t *count);

#endif
