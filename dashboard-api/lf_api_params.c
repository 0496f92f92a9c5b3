/* lf_api_params.c - parsing what clients and operators send: listen
 * addresses, times and numbers. Pure functions, any thread. */
#include "lf_api_internal.h"
#include "lf_time.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool lf_api_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (!s || len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

lf_err_t lf_api_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addr_len,
                             char *errstr, size_t errlen)
{
    char host[LF_API_LISTEN_MAX];
    const char *port_str;
    bool v6 = false;

    if (!listen || !*listen || strlen(listen) >= sizeof host) {
        snprintf(errstr, errlen, "api.listen: '%s' is not host:port (e.g. 127.0.0.1:8080)",
                 listen ? listen : "");
        return LF_ECONFIG;
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') {
            snprintf(errstr, errlen,
                     "api.listen: '%s': an IPv6 address is written [addr]:port (e.g. [::1]:8080)",
                     listen);
            return LF_ECONFIG;
        }
        size_t n = (size_t)(close - listen - 1);
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        port_str = close + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || strchr(listen, ':') != colon) {
            snprintf(errstr, errlen,
                     "api.listen: '%s' is not host:port (IPv4 a.b.c.d:port or [IPv6]:port)",
                     listen);
            return LF_ECONFIG;
        }
        size_t n = (size_t)(colon - listen);
        memcpy(host, listen, n);
        host[n] = '\0';
        port_str = colon + 1;
    }

    uint64_t port;
    if (!lf_api_parse_u64(port_str, strlen(port_str), &port) || port > 65535) {
        snprintf(errstr, errlen, "api.listen: '%s': port must be 0..65535", listen);
        return LF_ECONFIG;
    }

    memset(addr, 0, sizeof *addr);
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(errstr, errlen, "api.listen: '%s': '%s' is not an IPv6 address", listen, host);
            return LF_ECONFIG;
        }
        *addr_len = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            snprintf(errstr, errlen,
                     "api.listen: '%s': '%s' is not an IPv4 address (host names are not "
                     "resolved; write the address)",
                     listen, host);
            return LF_ECONFIG;
        }
        *addr_len = sizeof *sin;
    }
    return LF_OK;
}

bool lf_api_parse_time(const char *s, int64_t *epoch_ms)
{
    return lf_time_parse(s, epoch_ms);
}

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *lf_api_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
            if (strcmp(dot, content_types[i].ext) == 0)
                return content_types[i].type;
    return "application/octet-stream";
}
