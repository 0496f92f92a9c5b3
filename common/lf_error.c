#include "lf_error.h"

const char *lf_err_name(lf_err_t err)
{
    switch (err) {
#define LF_ERR_NAME(name, code, msg)                                                               \
    case LF_##name:                                                                                \
        return "LF_" #name;
        LF_ERRORS(LF_ERR_NAME)
#undef LF_ERR_NAME
    }
    return "LF_UNKNOWN";
}

const char *lf_strerror(lf_err_t err)
{
    switch (err) {
#define LF_ERR_MSG(name, code, msg)                                                                \
    case LF_##name:                                                                                \
        return msg;
        LF_ERRORS(LF_ERR_MSG)
#undef LF_ERR_MSG
    }
    return "unknown error";
}
