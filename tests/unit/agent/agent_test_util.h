/* Helpers shared by the agent unit tests. */
#ifndef AGENT_TEST_UTIL_H
#define AGENT_TEST_UTIL_H

#include <stddef.h>

/* Creates a fresh temporary directory; returns a malloc'ed path. */
char *test_tmpdir(void);
/* Removes a directory tree (best effort). */
void test_rmtree(const char *path);
/* Writes (or appends) bytes to a file; aborts the test on failure. */
void test_write_file(const char *path, const char *data, size_t len, int append);
/* malloc'ed "dir/name". */
char *test_path(const char *dir, const char *name);

#endif
