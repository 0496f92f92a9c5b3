/* syslog_loadgen: sends N syslog messages from one connection, paced or as
 * fast as the receiver takes them, and prints how many it sent and how long
 * it took. A benchmark tool: it reports figures, never pass/fail.
 *
 *   syslog_loadgen --tcp 127.0.0.1:PORT --count N [--rate R] [--format 3164|5424]
 *   syslog_loadgen --udp 127.0.0.1:PORT --count N [--rate R]
 *   syslog_loadgen --file PATH --count N [--rate R]     (appends lines to a file)
 *
 * TCP uses newline framing (accepted by lianfang-agent, rsyslog imtcp and
 * syslog-ng network()); UDP sends one message per datagram (sendmmsg); file
 * mode appends the same lines without the PRI. --rate 0 (the default) is
 * unpaced; otherwise messages are released every --tick-ms milliseconds
 * (default 1: one write or sendmmsg per millisecond) so that the average is
 * R per second. Every message carries its number (seq=N), so a
 * receiver's output can be checked for gaps.
 *
 * Output (one line each, key=value): sent, bytes, seconds, rate, and the
 * wall-clock start and end (start_unix, end_unix) for drivers that time a
 * receiver from the first message sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG   512
#define TCP_CHUNK (256u * 1024u)
#define UDP_VLEN  64

enum mode { M_NONE, M_TCP, M_UDP, M_FILE };

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_addr(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    uint64_t port;
    if (!colon || (size_t)(colon - s) >= sizeof host || !parse_u64(colon + 1, &port) || port == 0 ||
        port > 65535)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

/* One message without the trailing newline; returns its length. The PRI is
 * left out in file mode (a local log file has none). */
static int format_msg(char *out, size_t cap, uint64_t i, int format, bool pri)
{
    unsigned sec = (unsigned)(i % 60), min = (unsigned)((i / 60) % 60);
    unsigned pid = 1000u + (unsigned)(i % 900), user = (unsigned)(i % 97);
    unsigned ip = (unsigned)(i % 250), port = 40000u + (unsigned)(i % 20000);
    if (format == 5424)
        return snprintf(out, cap,
                        "%s1 2026-03-10T09:%02u:%02u.000000+08:00 web01 sshd %u - - "
                        "Failed password for invalid user u%u from 203.0.113.%u port %u ssh2 "
                        "seq=%010llu",
                        pri ? "<38>" : "", min, sec, pid, user, ip, port, (unsigned long long)i);
    return snprintf(out, cap,
                    "%sMar 10 09:%02u:%02u web01 sshd[%u]: Failed password for invalid user u%u "
                    "from 203.0.113.%u port %u ssh2 seq=%010llu",
                    pri ? "<38>" : "", min, sec, pid, user, ip, port, (unsigned long long)i);
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("syslog_loadgen: write");
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* How many messages may have been sent by now at `rate` per second,
 * released in steps of `tick_ms`; `total` when unpaced. */
static uint64_t allowed(uint64_t rate, uint64_t tick_ms, uint64_t total, double t0)
{
    if (rate == 0)
        return total;
    uint64_t ticks = (uint64_t)((now_mono() - t0) * 1000.0) / tick_ms + 1u;
    uint64_t n = (uint64_t)((double)rate * (double)(ticks * tick_ms) / 1000.0);
    return n < total ? n : total;
}

static void wait_tick(void)
{
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: syslog_loadgen (--tcp IPV4:PORT | --udp IPV4:PORT | --file PATH) "
                 "--count N\n"
                 "                      [--rate MSGS_PER_S (0 = unpaced)] [--format 3164|5424]\n"
                 "                      [--tick-ms MS (pacing step, default 1)] [--start SEQ]\n");
}

int main(int argc, char **argv)
{
    enum mode mode = M_NONE;
    const char *target = NULL;
    uint64_t count = 0, rate = 0, format = 3164, start = 0, tick_ms = 1;
    static const struct option opts[] = {
        {"tcp", required_argument, 0, 't'},   {"udp", required_argument, 0, 'u'},
        {"file", required_argument, 0, 'f'},  {"count", required_argument, 0, 'n'},
        {"rate", required_argument, 0, 'r'},  {"format", required_argument, 0, 'F'},
        {"start", required_argument, 0, 's'}, {"tick-ms", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:u:f:n:r:F:s:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
        case 'u':
        case 'f':
            mode = c == 't' ? M_TCP : c == 'u' ? M_UDP : M_FILE;
            target = optarg;
            break;
        case 'n':
        case 'r':
        case 'F':
        case 'T':
        case 's': {
            uint64_t v;
            if (!parse_u64(optarg, &v)) {
                fprintf(stderr, "syslog_loadgen: not a number: %s\n", optarg);
                return 2;
            }
            if (c == 'n')
                count = v;
            else if (c == 'r')
                rate = v;
            else if (c == 'F')
                format = v;
            else if (c == 'T')
                tick_ms = v;
            else
                start = v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (mode == M_NONE || count == 0 || tick_ms == 0 || (format != 3164 && format != 5424)) {
        usage(stderr);
        return 2;
    }

    int fd = -1;
    struct sockaddr_in sa;
    if (mode == M_FILE) {
        fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            perror(target);
            return 1;
        }
    } else {
        if (!parse_addr(target, &sa)) {
            fprintf(stderr, "syslog_loadgen: bad address %s (IPV4:PORT)\n", target);
            return 2;
        }
        fd = socket(AF_INET, mode == M_TCP ? SOCK_STREAM : SOCK_DGRAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("syslog_loadgen: connect");
            return 1;
        }
        if (mode == M_UDP) {
            int sndbuf = 4 * 1024 * 1024;
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        }
    }

    static char chunk[TCP_CHUNK];
    static char dgrams[UDP_VLEN][MAX_MSG];
    struct mmsghdr mm[UDP_VLEN];
    struct iovec iov[UDP_VLEN];
    uint64_t sent = 0, bytes = 0, udp_errors = 0;
    double t_real = now_real();
    double t0 = now_mono();
    bool ok = true;
    while (ok && sent < count) {
        uint64_t may = allowed(rate, tick_ms, count, t0);
        if (may <= sent) {
            wait_tick();
            continue;
        }
        if (mode == M_UDP) {
            unsigned n = 0;
            while (n < UDP_VLEN && sent + n < may) {
                int len = format_msg(dgrams[n], MAX_MSG, start + sent + n, (int)format, true);
                iov[n].iov_base = dgrams[n];
                iov[n].iov_len = (size_t)len;
                memset(&mm[n], 0, sizeof mm[n]);
                mm[n].msg_hdr.msg_iov = &iov[n];
                mm[n].msg_hdr.msg_iovlen = 1;
                n++;
            }
            int r = sendmmsg(fd, mm, n, 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
                    errno == ECONNREFUSED) {
                    udp_errors++;
                    continue;
                }
                perror("syslog_loadgen: sendmmsg");
                ok = false;
                break;
            }
            for (int k = 0; k < r; k++)
                bytes += iov[k].iov_len;
            sent += (uint64_t)r;
        } else {
            size_t used = 0;
            while (sent < may && used + MAX_MSG + 1 <= sizeof chunk) {
                int len =
                    format_msg(chunk + used, MAX_MSG, start + sent, (int)format, mode == M_TCP);
                used += (size_t)len;
                chunk[used++] = '\n';
                sent++;
            }
            ok = write_all(fd, chunk, used);
            bytes += used;
        }
    }
    double secs = now_mono() - t0;
    double t_end = now_real();
    if (mode == M_TCP)
        shutdown(fd, SHUT_WR);
    close(fd);
    printf("sent=%llu bytes=%llu seconds=%.6f rate=%.0f udp_send_errors=%llu "
           "start_unix=%.6f end_unix=%.6f\n",
           (unsigned long long)sent, (unsigned long long)bytes, secs,
           secs > 0 ? (double)sent / secs : 0.0, (unsigned long long)udp_errors, t_real, t_end);
    return ok ? 0 : 1;
}
