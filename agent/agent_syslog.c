/* agent_syslog.c - syslog listeners on the agent's libuv loop. See
 * agent_syslog.h. Everything here runs on the loop thread. */
#include "agent_syslog.h"
#include "agent_frame.h"
#include "lf_log.h"
#include "lf_time.h"
#include "lf_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define COMP            "syslog"
#define READ_BUF        (64u * 1024u)
#define UDP_BUF         (16u * 64u * 1024u) /* 16 datagrams per recvmmsg */
#define LOG_WINDOW_MS   10000               /* at most LOG_PER_WINDOW lines of a kind per window */
#define LOG_PER_WINDOW  5
#define SWEEP_MS_MAX    1000
#define TLS_WRITE_CHUNK 16384
#define SENDER_MAX      64

/* Log lines of one kind: at most LOG_PER_WINDOW per LOG_WINDOW_MS. */
typedef struct rate_log {
    int64_t window_ms;
    unsigned lines;
    uint64_t suppressed;
} rate_log_t;

enum {
    RL_MALFORMED,
    RL_TRUNCATED,
    RL_REFUSED,
    RL_STALLED,
    RL_IDLE,
    RL_TLS,
    RL_DROPPED,
    RL_SPOOL,
    RL_READ,
    RL_COUNT
};

typedef struct conn {
    struct conn *prev, *next;
    lf_agent_syslog_t *ls;
    uv_tcp_t tcp;
    lf_agent_framer_t framer;
    char sender[SENDER_MAX];
    size_t sender_len;
    int64_t progress_ms; /* connect, handshake done, or last whole frame */
    int64_t data_ms;     /* last byte received */
    SSL *ssl;
    bool handshake_done;
    bool reading;
    bool closing;
    bool got_frame;
    bool got_bytes;
} conn_t;

struct lf_agent_syslog {
    const lf_agent_listener_config_t *cfg;
    lf_agent_syslog_env_t env;
    char url[320];
    struct sockaddr_storage addr;
    int port;
    union {
        uv_udp_t udp;
        uv_tcp_t tcp;
    } h;
    bool h_init;
    uv_timer_t sweep;
    bool sweep_init;
    SSL_CTX *ssl_ctx;
    conn_t *conns;
    size_t nconns;
    bool paused;
    bool closing;
    char *rbuf;   /* shared read buffer: reads are processed synchronously */
    char *tlsbuf; /* decrypted bytes */
    rate_log_t rl[RL_COUNT];
    /* UDP: the last sender formatted */
    struct sockaddr_storage last_addr;
    char udp_sender[SENDER_MAX];
    size_t udp_sender_len;
    const char *frame_sender; /* sender of the frame being delivered */
    size_t frame_sender_len;
};

static const char *const protocol_names[] = {"udp", "tcp", "tls"};

static bool rate_ok(lf_agent_syslog_t *ls, int kind, uint64_t *suppressed)
{
    rate_log_t *r = &ls->rl[kind];
    int64_t now = lf_time_mono_ms();
    if (r->lines == 0 || now - r->window_ms >= LOG_WINDOW_MS) {
        r->window_ms = now;
        r->lines = 0;
    }
    if (r->lines >= LOG_PER_WINDOW) {
        r->suppressed++;
        return false;
    }
    r->lines++;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

#define RATE_LOG(ls, kind, level, fmt, ...)                                                        \
    do {                                                                                           \
        uint64_t sup_;                                                                             \
        if (rate_ok(ls, kind, &sup_))                                                              \
            lf_log(level, COMP, "%s: " fmt " (%" PRIu64 " suppressed before)", (ls)->url,          \
                   __VA_ARGS__, sup_);                                                             \
    } while (0)

/* ---- addresses ---------------------------------------------------------- */

lf_err_t lf_agent_syslog_parse_address(const char *text, struct sockaddr_storage *out)
{
    if (!text)
        return LF_EINVAL;
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return LF_EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon)
            return LF_EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || errno || p < 0 || p > 65535)
        return LF_EINVAL;
    memset(out, 0, sizeof *out);
    if (host[0] == '\0')
        snprintf(host, sizeof host, "0.0.0.0");
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out) == 0)
        return LF_OK;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) == 0)
        return LF_OK;
    return LF_EINVAL;
}

static size_t format_sender(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    int port = 0;
    int n = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        n = snprintf(out, outlen, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
            n = snprintf(out, outlen, "%s:%d", ip, port);
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
            n = snprintf(out, outlen, "[%s]:%d", ip, port);
        }
    } else {
        n = snprintf(out, outlen, "unknown");
    }
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* ---- records ------------------------------------------------------------ */

/* Appends one frame to the spool; stream frames are forced (their bytes are
 * already off the socket) and pause the listeners when the budget is gone. */
static void spool_frame(lf_agent_syslog_t *ls, const char *data, size_t len, uint8_t flags,
                        bool stream)
{
    lf_str_t sender = lf_str_n(ls->frame_sender, ls->frame_sender_len);
    lf_err_t rc = lf_agent_spool_append(ls->env.spool, data, (uint32_t)len, flags, sender, stream);
    lf_agent_counters_t *c = ls->env.ctr;
    if (rc == LF_EFULL) {
        c->syslog_udp_dropped++;
        RATE_LOG(ls, RL_DROPPED, LF_LOG_WARN,
                 "spool full (%" PRIu64 " bytes): UDP datagram from %.*s dropped; %" PRIu64
                 " dropped so far",
                 ls->env.budget->used, (int)sender.len, sender.ptr, c->syslog_udp_dropped);
        return;
    }
    if (rc != LF_OK) {
        c->syslog_spool_errors++;
        RATE_LOG(ls, RL_SPOOL, LF_LOG_ERROR,
                 "cannot write the spool in %s: %s (%s); record from %.*s dropped",
                 lf_agent_spool_dir(ls->env.spool), lf_strerror(rc), strerror(errno),
                 (int)sender.len, sender.ptr);
        return;
    }
    c->syslog_received++;
    if (flags & LF_REC_TRUNCATED) {
        c->syslog_truncated++;
        RATE_LOG(ls, RL_TRUNCATED, LF_LOG_WARN,
                 "frame from %.*s longer than max_frame_bytes %" PRId64
                 ": cut and flagged truncated",
                 (int)sender.len, sender.ptr, ls->cfg->max_frame_bytes);
    }
    ls->env.spooled(ls->env.opaque);
    if (stream && ls->env.budget->used >= ls->env.budget->max)
        ls->env.full(ls->env.opaque);
}

/* ---- TCP and TLS connections -------------------------------------------- */

static void conn_on_frame(void *opaque, const char *data, size_t len, uint8_t flags)
{
    conn_t *c = opaque;
    lf_agent_syslog_t *ls = c->ls;
    c->progress_ms = lf_time_mono_ms();
    c->got_frame = true;
    ls->frame_sender = c->sender;
    ls->frame_sender_len = c->sender_len;
    spool_frame(ls, data, len, flags, true);
}

static void conn_on_error(void *opaque, const char *reason, bool fatal)
{
    conn_t *c = opaque;
    lf_agent_syslog_t *ls = c->ls;
    ls->env.ctr->syslog_malformed++;
    RATE_LOG(ls, RL_MALFORMED, LF_LOG_WARN, "malformed frame from %s: %s%s", c->sender, reason,
             fatal ? "; connection closed" : "");
}

static void conn_on_close(uv_handle_t *h)
{
    conn_t *c = h->data;
    lf_agent_framer_free(&c->framer);
    if (c->ssl)
        SSL_free(c->ssl);
    free(c);
}

/* keep_partial: deliver a begun frame before closing (flagged truncated when
 * cut: the connection is dropped by us). */
static void conn_close_ex(conn_t *c, bool keep_partial, bool cut)
{
    if (c->closing)
        return;
    lf_agent_syslog_t *ls = c->ls;
    if (keep_partial)
        lf_agent_framer_finish(&c->framer, cut);
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        ls->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ls->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void conn_close(conn_t *c, bool keep_partial)
{
    conn_close_ex(c, keep_partial, false);
}

typedef struct tls_write {
    uv_write_t req;
    char data[];
} tls_write_t;

static void on_tls_written(uv_write_t *req, int status)
{
    free(req);
}

/* Sends what OpenSSL queued (handshake messages, alerts). */
static void tls_flush(conn_t *c)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    while (!c->closing && BIO_ctrl_pending(wbio) > 0) {
        size_t n = BIO_ctrl_pending(wbio);
        if (n > TLS_WRITE_CHUNK)
            n = TLS_WRITE_CHUNK;
        tls_write_t *w = malloc(sizeof *w + n);
        if (!w)
            return;
        int got = BIO_read(wbio, w->data, (int)n);
        if (got <= 0) {
            free(w);
            return;
        }
        uv_buf_t b = uv_buf_init(w->data, (unsigned)got);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written) != 0)
            free(w);
    }
}

static void tls_fail(conn_t *c, const char *what)
{
    lf_agent_syslog_t *ls = c->ls;
    char reason[256] = "";
    unsigned long e = ERR_peek_last_error();
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK)
        snprintf(reason, sizeof reason, "certificate: %s", X509_verify_cert_error_string(vr));
    else if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    else
        snprintf(reason, sizeof reason, "connection closed");
    ERR_clear_error();
    ls->env.ctr->syslog_tls_failures++;
    RATE_LOG(ls, RL_TLS, LF_LOG_WARN, "TLS %s with %s failed: %s", what, c->sender, reason);
    tls_flush(c); /* the alert */
    conn_close(c, false);
}

/* Feeds decrypted or plain bytes to the framer; false when c was closed. */
static bool conn_feed(conn_t *c, const char *data, size_t len)
{
    lf_err_t rc = lf_agent_framer_feed(&c->framer, data, len);
    if (rc == LF_EPARSE) {
        conn_close(c, false);
        return false;
    }
    if (rc != LF_OK) {
        RATE_LOG(c->ls, RL_READ, LF_LOG_ERROR, "%s: %s; connection closed", c->sender,
                 lf_strerror(rc));
        conn_close(c, false);
        return false;
    }
    return true;
}

static void tls_input(conn_t *c, const char *data, size_t len)
{
    lf_agent_syslog_t *ls = c->ls;
    if (BIO_write(SSL_get_rbio(c->ssl), data, (int)len) != (int)len) {
        conn_close(c, false);
        return;
    }
    if (!c->handshake_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                tls_flush(c);
                return;
            }
            tls_fail(c, "handshake");
            return;
        }
        c->handshake_done = true;
        c->progress_ms = lf_time_mono_ms();
        tls_flush(c);
        X509 *peer = SSL_get1_peer_certificate(c->ssl);
        if (peer) {
            char subject[256];
            X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
            lf_debug(COMP, "%s: TLS from %s, client certificate %s", ls->url, c->sender, subject);
            X509_free(peer);
        }
    }
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, ls->tlsbuf, READ_BUF);
        if (n > 0) {
            if (!conn_feed(c, ls->tlsbuf, (size_t)n))
                return;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            tls_flush(c);
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify */
            conn_close(c, true);
            return;
        }
        tls_fail(c, "read");
        return;
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    *buf = uv_buf_init(c->ls->rbuf, READ_BUF);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            RATE_LOG(c->ls, RL_READ, LF_LOG_INFO, "connection from %s: %s", c->sender,
                     uv_strerror((int)nread));
        if (c->ssl && !c->handshake_done && c->got_bytes)
            tls_fail(c, "handshake");
        else
            conn_close(c, true); /* (a port probe that sent nothing is no failure) */
        return;
    }
    if (nread == 0)
        return;
    c->got_bytes = true;
    c->data_ms = lf_time_mono_ms();
    if (c->ssl)
        tls_input(c, buf->base, (size_t)nread);
    else
        conn_feed(c, buf->base, (size_t)nread);
}

static void conn_read(conn_t *c, bool on)
{
    if (c->closing || c->reading == on)
        return;
    c->reading = on;
    if (on) {
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
        /* Time spent paused by us is not the sender's stall. */
        c->progress_ms = c->data_ms = lf_time_mono_ms();
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void refused_on_close(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    lf_agent_syslog_t *ls = server->data;
    if (status < 0) {
        RATE_LOG(ls, RL_READ, LF_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    if (ls->nconns >= (size_t)ls->cfg->max_connections) {
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t)
            return;
        uv_tcp_init(server->loop, t);
        char who[SENDER_MAX] = "?";
        if (uv_accept(server, (uv_stream_t *)t) == 0) {
            struct sockaddr_storage sa;
            int salen = sizeof sa;
            if (uv_tcp_getpeername(t, (struct sockaddr *)&sa, &salen) == 0)
                format_sender((struct sockaddr *)&sa, who, sizeof who);
        }
        uv_close((uv_handle_t *)t, refused_on_close);
        ls->env.ctr->syslog_refused++;
        RATE_LOG(ls, RL_REFUSED, LF_LOG_WARN,
                 "connection from %s refused: max_connections (%" PRId64 ") reached", who,
                 ls->cfg->max_connections);
        return;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->ls = ls;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    lf_agent_framer_init(&c->framer, (size_t)ls->cfg->max_frame_bytes, conn_on_frame, conn_on_error,
                         c);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_on_close);
        return;
    }
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0)
        c->sender_len = format_sender((struct sockaddr *)&sa, c->sender, sizeof c->sender);
    else
        c->sender_len = (size_t)snprintf(c->sender, sizeof c->sender, "unknown");
    c->progress_ms = c->data_ms = lf_time_mono_ms();
    c->next = ls->conns;
    if (ls->conns)
        ls->conns->prev = c;
    ls->conns = c;
    ls->nconns++;
    ls->env.ctr->syslog_connections++;
    if (ls->ssl_ctx) {
        c->ssl = SSL_new(ls->ssl_ctx);
        BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
        if (!c->ssl || !rb || !wb) {
            BIO_free(rb);
            BIO_free(wb);
            conn_close(c, false);
            return;
        }
        SSL_set_bio(c->ssl, rb, wb);
        SSL_set_accept_state(c->ssl);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    lf_debug(COMP, "%s: connection from %s", ls->url, c->sender);
    if (!ls->paused)
        conn_read(c, true);
}

static void on_sweep(uv_timer_t *t)
{
    lf_agent_syslog_t *ls = t->data;
    int64_t now = lf_time_mono_ms();
    for (conn_t *c = ls->conns, *n; c; c = n) {
        n = c->next;
        if (!c->reading)
            continue; /* paused by us: not the sender's fault */
        bool inside = (c->ssl && !c->handshake_done) || lf_agent_framer_pending(&c->framer);
        if (inside && now - c->progress_ms >= ls->cfg->stall_timeout_ms) {
            ls->env.ctr->syslog_stalled++;
            RATE_LOG(ls, RL_STALLED, LF_LOG_WARN,
                     "%s stalled for %" PRId64 " ms inside a %s: connection dropped%s", c->sender,
                     now - c->progress_ms, c->ssl && !c->handshake_done ? "TLS handshake" : "frame",
                     lf_agent_framer_pending(&c->framer)
                         ? " (the partial frame is kept, flagged truncated)"
                         : "");
            if (c->ssl && !c->handshake_done)
                conn_close(c, false);
            else
                conn_close_ex(c, true, true);
            continue;
        }
        if (!inside && ls->cfg->idle_timeout_ms > 0 &&
            now - c->data_ms >= ls->cfg->idle_timeout_ms) {
            ls->env.ctr->syslog_idle_closed++;
            RATE_LOG(ls, RL_IDLE, LF_LOG_INFO, "%s sent nothing for %" PRId64 " ms: closed",
                     c->sender, now - c->data_ms);
            conn_close(c, false);
        }
    }
}

/* ---- UDP ---------------------------------------------------------------- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lf_agent_syslog_t *ls = h->data;
    *buf = uv_buf_init(ls->rbuf, UDP_BUF);
}

static void udp_datagram(lf_agent_syslog_t *ls, char *data, size_t n, const struct sockaddr *addr)
{
    size_t salen =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (ls->udp_sender_len == 0 || memcmp(&ls->last_addr, addr, salen) != 0) {
        memcpy(&ls->last_addr, addr, salen);
        ls->udp_sender_len = format_sender(addr, ls->udp_sender, sizeof ls->udp_sender);
    }
    ls->frame_sender = ls->udp_sender;
    ls->frame_sender_len = ls->udp_sender_len;
    uint8_t rflags;
    size_t len = lf_agent_frame_datagram(data, n, (size_t)ls->cfg->max_frame_bytes, &rflags);
    if (len == 0) {
        ls->env.ctr->syslog_malformed++;
        RATE_LOG(ls, RL_MALFORMED, LF_LOG_WARN, "malformed datagram from %s: empty",
                 ls->udp_sender);
        return;
    }
    spool_frame(ls, data, len, rflags, false);
}

/* libuv hands over at most 32 datagrams per wake-up; at high rates the
 * socket is drained here, UDP_BATCH at a time, until it is empty or
 * UDP_DRAIN_MAX datagrams were read, so that a loop iteration's fixed costs
 * (spool write, journal) are shared by many datagrams and the kernel's
 * receive buffer does not overflow meanwhile. */
#define UDP_BATCH     16
#define UDP_DRAIN_MAX 4096
static void udp_drain(lf_agent_syslog_t *ls)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&ls->h.udp, &fd) != 0)
        return;
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage from[UDP_BATCH];
    const size_t per = UDP_BUF / UDP_BATCH;
    for (int total = 0; total < UDP_DRAIN_MAX;) {
        for (int i = 0; i < UDP_BATCH; i++) {
            iov[i] = (struct iovec){ls->rbuf + (size_t)i * per, per};
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                              .msg_namelen = sizeof from[i],
                                              .msg_iov = &iov[i],
                                              .msg_iovlen = 1};
            msgs[i].msg_len = 0;
        }
        int n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                RATE_LOG(ls, RL_READ, LF_LOG_WARN, "receive: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                msgs[i].msg_len = (unsigned)per; /* cut like an oversized frame */
            udp_datagram(ls, iov[i].iov_base, msgs[i].msg_len, (const struct sockaddr *)&from[i]);
        }
        total += n;
        if (n < UDP_BATCH)
            return;
    }
}

static void udp_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    lf_agent_syslog_t *ls = h->data;
    if (nread < 0) {
        RATE_LOG(ls, RL_READ, LF_LOG_WARN, "receive: %s", uv_strerror((int)nread));
        return;
    }
    if (!addr) {
        /* The buffer of a recvmmsg batch coming back (libuv's read ends
         * after 32 datagrams without telling whether more wait): read on
         * while datagrams wait. nread 0 without it: the socket is empty. */
        if (flags & UV_UDP_MMSG_FREE)
            udp_drain(ls);
        return;
    }
    udp_datagram(ls, buf->base, (size_t)nread, addr);
}

/* ---- life cycle ----------------------------------------------------------- */

static lf_err_t tls_setup(lf_agent_syslog_t *ls, char *errstr, size_t errlen)
{
    const lf_agent_listener_config_t *cfg = ls->cfg;
    ls->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (!ls->ssl_ctx) {
        snprintf(errstr, errlen, "listener %s: cannot create a TLS context", cfg->name);
        return LF_EIO;
    }
    SSL_CTX_set_min_proto_version(ls->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ls->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
    const char *what = NULL, *file = NULL;
    if (SSL_CTX_use_certificate_chain_file(ls->ssl_ctx, cfg->tls_cert) != 1) {
        what = "tls_cert";
        file = cfg->tls_cert;
    } else if (SSL_CTX_use_PrivateKey_file(ls->ssl_ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        what = "tls_key";
        file = cfg->tls_key;
    } else if (SSL_CTX_check_private_key(ls->ssl_ctx) != 1) {
        what = "tls_key";
        file = cfg->tls_key;
    } else if (cfg->tls_ca && *cfg->tls_ca &&
               SSL_CTX_load_verify_locations(ls->ssl_ctx, cfg->tls_ca, NULL) != 1) {
        what = "tls_ca";
        file = cfg->tls_ca;
    }
    if (what) {
        char reason[256] = "unknown error";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, reason, sizeof reason);
        ERR_clear_error();
        snprintf(errstr, errlen, "listener %s: %s %s: %s", cfg->name, what, file, reason);
        return LF_ECONFIG;
    }
    int mode = SSL_VERIFY_NONE;
    if (cfg->tls_client_auth == LF_AGENT_TLS_CLIENT_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    else if (cfg->tls_client_auth == LF_AGENT_TLS_CLIENT_REQUIRED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ls->ssl_ctx, mode, NULL);
    if (cfg->tls_ca && *cfg->tls_ca && mode != SSL_VERIFY_NONE) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ls->ssl_ctx, names);
    }
    return LF_OK;
}

lf_err_t lf_agent_syslog_new(const lf_agent_listener_config_t *cfg,
                             const lf_agent_syslog_env_t *env, lf_agent_syslog_t **out,
                             char *errstr, size_t errlen)
{
    *out = NULL;
    lf_agent_syslog_t *ls = calloc(1, sizeof *ls);
    if (!ls)
        return LF_ENOMEM;
    ls->cfg = cfg;
    ls->env = *env;
    snprintf(ls->url, sizeof ls->url, "%s://%s", protocol_names[cfg->protocol], cfg->listen);
    *out = ls;
    bool udp = cfg->protocol == LF_AGENT_SYSLOG_UDP;
    ls->rbuf = malloc(udp ? UDP_BUF : READ_BUF);
    if (!ls->rbuf)
        return LF_ENOMEM;
    if (cfg->protocol == LF_AGENT_SYSLOG_TLS) {
        ls->tlsbuf = malloc(READ_BUF);
        if (!ls->tlsbuf)
            return LF_ENOMEM;
        lf_err_t rc = tls_setup(ls, errstr, errlen);
        if (rc != LF_OK)
            return rc;
    }
    if (lf_agent_syslog_parse_address(cfg->listen, &ls->addr) != LF_OK) {
        snprintf(errstr, errlen, "listener %s: listen: '%s' is not host:port", cfg->name,
                 cfg->listen);
        return LF_ECONFIG;
    }
    int rc;
    const struct sockaddr *sa = (const struct sockaddr *)&ls->addr;
    if (udp) {
        rc = uv_udp_init_ex(env->loop, &ls->h.udp, (unsigned)sa->sa_family | UV_UDP_RECVMMSG);
        ls->h_init = rc == 0;
        ls->h.udp.data = ls;
        if (rc == 0)
            rc = uv_udp_bind(&ls->h.udp, sa, UV_UDP_REUSEADDR);
        if (rc == 0 && cfg->receive_buffer > 0) {
            int v = (int)cfg->receive_buffer;
            if (uv_recv_buffer_size((uv_handle_t *)&ls->h.udp, &v) != 0)
                lf_warn(COMP, "%s: cannot set the receive buffer to %" PRId64 " bytes", ls->url,
                        cfg->receive_buffer);
        }
    } else {
        rc = uv_tcp_init(env->loop, &ls->h.tcp);
        ls->h_init = rc == 0;
        ls->h.tcp.data = ls;
        if (rc == 0)
            rc = uv_tcp_bind(&ls->h.tcp, sa, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&ls->h.tcp, 511, on_connection);
        if (rc == 0) {
            uv_timer_init(env->loop, &ls->sweep);
            ls->sweep_init = true;
            ls->sweep.data = ls;
        }
    }
    if (rc != 0) {
        snprintf(errstr, errlen, "listener %s: %s: %s", cfg->name, ls->url, uv_strerror(rc));
        return LF_EIO;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    int grc = udp ? uv_udp_getsockname(&ls->h.udp, (struct sockaddr *)&bound, &blen)
                  : uv_tcp_getsockname(&ls->h.tcp, (struct sockaddr *)&bound, &blen);
    if (grc == 0)
        ls->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    return LF_OK;
}

lf_err_t lf_agent_syslog_start(lf_agent_syslog_t *ls, char *errstr, size_t errlen)
{
    int rc = 0;
    if (!ls)
        return LF_OK;
    if (ls->cfg->protocol == LF_AGENT_SYSLOG_UDP) {
        rc = uv_udp_recv_start(&ls->h.udp, udp_alloc, udp_on_recv);
    } else {
        int64_t every = ls->cfg->stall_timeout_ms / 4;
        if (ls->cfg->idle_timeout_ms > 0 && ls->cfg->idle_timeout_ms / 4 < every)
            every = ls->cfg->idle_timeout_ms / 4;
        if (every > SWEEP_MS_MAX)
            every = SWEEP_MS_MAX;
        if (every < 50)
            every = 50;
        rc = uv_timer_start(&ls->sweep, on_sweep, (uint64_t)every, (uint64_t)every);
    }
    if (rc != 0) {
        snprintf(errstr, errlen, "listener %s: %s", ls->cfg->name, uv_strerror(rc));
        return LF_EIO;
    }
    lf_info(COMP, "listening on %s (port %d) for source %s", ls->url, ls->port, ls->cfg->name);
    return LF_OK;
}

void lf_agent_syslog_pause(lf_agent_syslog_t *ls, bool pause)
{
    if (!ls || ls->cfg->protocol == LF_AGENT_SYSLOG_UDP || ls->paused == pause)
        return;
    ls->paused = pause;
    for (conn_t *c = ls->conns; c; c = c->next)
        conn_read(c, !pause);
}

const char *lf_agent_syslog_url(const lf_agent_syslog_t *ls)
{
    return ls->url;
}

int lf_agent_syslog_port(const lf_agent_syslog_t *ls)
{
    return ls->port;
}

void lf_agent_syslog_close(lf_agent_syslog_t *ls)
{
    if (!ls || ls->closing)
        return;
    ls->closing = true;
    while (ls->conns)
        conn_close_ex(ls->conns, true, true);
    if (ls->sweep_init)
        uv_close((uv_handle_t *)&ls->sweep, NULL);
    if (ls->h_init)
        uv_close((uv_handle_t *)&ls->h, NULL);
}

void lf_agent_syslog_free(lf_agent_syslog_t *ls)
{
    if (!ls)
        return;
    if (ls->ssl_ctx)
        SSL_CTX_free(ls->ssl_ctx);
    free(ls->rbuf);
    free(ls->tlsbuf);
    free(ls);
}
