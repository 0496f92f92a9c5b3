/* lf_error.h - the one error convention of Lianfang.
 *
 * Every fallible function returns an lf_err_t: LF_OK (0) or a negative code.
 * The codes, their names and their messages come from one X-macro, so the
 * three can never drift apart. Constructors and loaders additionally fill a
 * caller-supplied `char *errstr, size_t errlen` with the context (file,
 * line, key, value) so an operator knows what to fix.
 *
 * Library code never calls exit(); only main() decides to stop.
 */
#ifndef LF_ERROR_H
#define LF_ERROR_H

#define LF_ERRORS(X)                                                                               \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(ECONFIG, -3, "invalid configuration")                                                        \
    X(EIO, -4, "input/output error")                                                               \
    X(ENOTFOUND, -5, "not found")                                                                  \
    X(EDUPLICATE, -6, "duplicate")                                                                 \
    X(EFULL, -7, "limit reached")                                                                  \
    X(EKAFKA, -8, "kafka error")                                                                   \
    X(ESTORE, -9, "storage error")                                                                 \
    X(EPARSE, -10, "malformed input")                                                              \
    X(ETRUNCATED, -11, "input truncated")                                                          \
    X(EAGAIN, -12, "try again later")                                                              \
    X(ESTATE, -13, "object is in a failed state")

typedef enum lf_err {
#define LF_ERR_ENUM(name, code, msg) LF_##name = (code),
    LF_ERRORS(LF_ERR_ENUM)
#undef LF_ERR_ENUM
} lf_err_t;

/* Returns the symbolic name ("LF_EIO") of an error code; never NULL. */
const char *lf_err_name(lf_err_t err);
/* Returns a human message ("input/output error") of an error code; never NULL. */
const char *lf_strerror(lf_err_t err);

#endif
