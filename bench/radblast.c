/*
 * radblast: a small RADIUS PAP load generator for the nac benchmarks.
 *
 * One thread, several connected UDP sockets, poll + recvmmsg/sendmmsg.
 * Each socket owns the identifiers 0-255; the window of outstanding requests
 * is spread over the sockets.  Every request carries a fresh random Request
 * Authenticator, User-Name, User-Password hidden per RFC 2865 section 5.2,
 * NAS-IP-Address, NAS-Port and a Message-Authenticator (RFC 3579 3.2, placed
 * first as recommended after BlastRADIUS).  Every reply is checked: Response
 * Authenticator (RFC 2865 3) and, when present, its Message-Authenticator.
 *
 * Modes
 *   unpaced (--rate 0): keep --window requests outstanding for --duration s.
 *   paced (--rate R):  open loop, request k is due at t0 + k/R; its latency is
 *                      measured from that due time, so a late sender or a
 *                      full window shows up in the figures (no coordinated
 *                      omission).
 *   --respond:         a trivial Access-Accept responder, used only to find
 *                      the generator's own ceiling.
 *   --selftest:        MD5 / HMAC-MD5 / password-hiding vectors.
 *
 * Output: one JSON line on stdout.  cpu_s is getrusage(RUSAGE_SELF) user+sys
 * taken when the run ends (before the percentiles are sorted).
 *
 * MD5 (RFC 1321) and HMAC (RFC 2104) are built in (md5.h, next to this file)
 * so the build needs nothing but a C compiler:  cc -O2 -o radblast radblast.c -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ MD5 */

#include "md5.h"
#include "blast.h"

/* ------------------------------------------------------------ utilities */

static void die(const char *msg)
{
    fprintf(stderr, "radblast: %s\n", msg);
    exit(2);
}

/* -------------------------------------------------------------- options */

static struct {
    const char *host, *port, *secret, *user, *password;
    double duration, rate, timeout;
    long max_total;
    int window, sockets, respond, selftest, tick_us;
} opt = {"127.0.0.1", "1812", "testing123", "alice", "alice-pass", 10.0, 0.0, 2.0,
         2000000, 128, 0, 0, 0, 100};

static void usage(void)
{
    fprintf(stderr,
            "usage: radblast [--host H] [--port P] [--secret S] [--user U] [--password P]\n"
            "                [--duration SEC] [--max N] [--window W] [--sockets N]\n"
            "                [--rate R (0 = unpaced)] [--tick-us US (100)] [--timeout SEC]\n"
            "       radblast --respond [--host H] [--port P] [--secret S] [--duration SEC]\n"
            "       radblast --selftest\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", required_argument, 0, 'h'},    {"port", required_argument, 0, 'p'},
        {"secret", required_argument, 0, 's'},  {"user", required_argument, 0, 'u'},
        {"password", required_argument, 0, 'P'}, {"duration", required_argument, 0, 'd'},
        {"max", required_argument, 0, 'n'},     {"window", required_argument, 0, 'w'},
        {"sockets", required_argument, 0, 'S'}, {"rate", required_argument, 0, 'r'},
        {"timeout", required_argument, 0, 't'}, {"respond", no_argument, 0, 'R'},
        {"selftest", no_argument, 0, 'T'},      {"tick-us", required_argument, 0, 'k'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = optarg; break;
        case 's': opt.secret = optarg; break;
        case 'u': opt.user = optarg; break;
        case 'P': opt.password = optarg; break;
        case 'd': opt.duration = atof(optarg); break;
        case 'n': opt.max_total = atol(optarg); break;
        case 'w': opt.window = atoi(optarg); break;
        case 'S': opt.sockets = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'R': opt.respond = 1; break;
        case 'T': opt.selftest = 1; break;
        case 'k': opt.tick_us = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    if (opt.duration <= 0 || opt.duration > 3600)
        die("--duration must be in (0, 3600]");
    if (opt.max_total < 1 || opt.max_total > 100000000)
        die("--max must be in [1, 1e8]");
    if (opt.window < 1 || opt.window > 65536)
        die("--window must be in [1, 65536]");
    if (opt.timeout <= 0 || opt.timeout > 4)
        die("--timeout must be in (0, 4] seconds");
    if (opt.rate < 0)
        die("--rate must be >= 0");
    if (opt.tick_us < 0 || opt.tick_us > 10000)
        die("--tick-us must be in [0, 10000]");
    if (strlen(opt.user) > 253 || strlen(opt.password) > 128 || strlen(opt.secret) == 0)
        die("bad user/password/secret length");
}

static struct addrinfo *resolve(int passive)
{
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "radblast: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
        exit(2);
    }
    return ai;
}

/* ------------------------------------------------------------ requests */

#define BATCH 64
#define PKT_MAX 512

typedef struct {
    uint64_t t_ns;     /* send time (unpaced) or due time (paced) */
    uint8_t ra[16];
    uint8_t busy;
} slot_t;

typedef struct {
    int fd;
    int cap, out;
    uint8_t freeq[256]; /* FIFO of free identifiers: a freed id is reused last */
    int fq_head, fq_n;
    slot_t slot[256];
} sock_t;

static uint8_t tmpl[PKT_MAX];
static size_t tmpl_len, off_ma, off_pw, off_nasport;
static size_t pw_len; /* padded */
static uint8_t pw_plain[128];
static const uint8_t *secret;
static size_t secret_len;
static hmac_key mac_key;

static void put_attr(size_t *off, uint8_t type, const void *val, size_t len)
{
    tmpl[*off] = type;
    tmpl[*off + 1] = (uint8_t)(len + 2);
    memcpy(tmpl + *off + 2, val, len);
    *off += len + 2;
}

static void build_template(void)
{
    size_t off = 20;
    uint8_t zero[16] = {0};
    size_t plen = strlen(opt.password);
    pw_len = plen == 0 ? 16 : (plen + 15) / 16 * 16;
    memset(pw_plain, 0, sizeof pw_plain);
    memcpy(pw_plain, opt.password, plen);
    tmpl[0] = 1; /* Access-Request */
    off_ma = off + 2;
    put_attr(&off, 80, zero, 16); /* Message-Authenticator first */
    put_attr(&off, 1, opt.user, strlen(opt.user));
    off_pw = off + 2;
    put_attr(&off, 2, pw_plain, pw_len);
    uint8_t ip[4] = {127, 0, 0, 1};
    put_attr(&off, 4, ip, 4);
    off_nasport = off + 2;
    put_attr(&off, 5, zero, 4);
    tmpl_len = off;
    tmpl[2] = (uint8_t)(tmpl_len >> 8);
    tmpl[3] = (uint8_t)tmpl_len;
}

/* RFC 2865 5.2: c(i) = p(i) xor MD5(S + c(i-1)), c(0) = Request Authenticator. */
static void hide_password(uint8_t *dst, const uint8_t *plain, size_t len, const uint8_t ra[16])
{
    const uint8_t *prev = ra;
    for (size_t i = 0; i < len; i += 16) {
        md5_ctx c;
        uint8_t b[16];
        md5_init(&c);
        md5_update(&c, secret, secret_len);
        md5_update(&c, prev, 16);
        md5_final(&c, b);
        for (int j = 0; j < 16; j++)
            dst[i + j] = plain[i + j] ^ b[j];
        prev = dst + i;
    }
}

static void make_request(uint8_t *pkt, uint8_t id, const uint8_t ra[16], uint32_t nas_port)
{
    memcpy(pkt, tmpl, tmpl_len);
    pkt[1] = id;
    memcpy(pkt + 4, ra, 16);
    hide_password(pkt + off_pw, pw_plain, pw_len, ra);
    pkt[off_nasport] = (uint8_t)(nas_port >> 24);
    pkt[off_nasport + 1] = (uint8_t)(nas_port >> 16);
    pkt[off_nasport + 2] = (uint8_t)(nas_port >> 8);
    pkt[off_nasport + 3] = (uint8_t)nas_port;
    hmac_md5(&mac_key, pkt, tmpl_len, pkt + off_ma); /* MA field is zero in the template */
}

/* ------------------------------------------------------------- counters */

static struct {
    long sent, received, accepts, rejects, timeouts, bad_replies, stray, accepts_vlan;
    long send_errors, window_full;
    uint64_t max_lag_ns;
} st;

static uint32_t *lat; /* latency samples in ns, saturating */
static long nlat;

static void record_latency(uint64_t ns)
{
    if (nlat < opt.max_total)
        lat[nlat++] = ns > 0xffffffffull ? 0xffffffffu : (uint32_t)ns;
}

/* Check one reply against its slot.  Returns 1 if valid (slot completes). */
static int check_reply(uint8_t *p, size_t n, const slot_t *s, int *is_accept, int *has_vlan)
{
    if (n < 20)
        return 0;
    size_t len = ((size_t)p[2] << 8) | p[3];
    if (len < 20 || len > n)
        return 0;
    md5_ctx c;
    uint8_t want[16];
    md5_init(&c);
    md5_update(&c, p, 4);
    md5_update(&c, s->ra, 16);
    md5_update(&c, p + 20, len - 20);
    md5_update(&c, secret, secret_len);
    md5_final(&c, want);
    if (!ct_equal(want, p + 4, 16))
        return 0;
    size_t off = 20, ma = 0;
    *has_vlan = 0;
    while (off < len) {
        if (off + 2 > len || p[off + 1] < 2 || off + p[off + 1] > len)
            return 0;
        if (p[off] == 80) {
            if (p[off + 1] != 18)
                return 0;
            ma = off + 2;
        } else if (p[off] == 81) {
            *has_vlan = 1;
        }
        off += p[off + 1];
    }
    if (ma) {
        uint8_t got[16], calc[16];
        memcpy(got, p + ma, 16);
        memcpy(p + 4, s->ra, 16);
        memset(p + ma, 0, 16);
        hmac_md5(&mac_key, p, len, calc);
        if (!ct_equal(got, calc, 16))
            return 0;
    }
    if (p[0] == 2)
        *is_accept = 1;
    else if (p[0] == 3)
        *is_accept = 0;
    else
        return 0;
    return 1;
}

static void free_id(sock_t *k, uint8_t id)
{
    k->slot[id].busy = 0;
    k->freeq[(k->fq_head + k->fq_n) & 255] = id;
    k->fq_n++;
    k->out--;
}

static void drain_socket(sock_t *k)
{
    static uint8_t bufs[BATCH][PKT_MAX];
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = PKT_MAX;
            memset(&mm[i].msg_hdr, 0, sizeof mm[i].msg_hdr);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(k->fd, mm, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0)
            return;
        uint64_t t = now_ns();
        for (int i = 0; i < r; i++) {
            uint8_t *p = bufs[i];
            size_t n = mm[i].msg_len;
            if (n < 20) {
                st.bad_replies++;
                continue;
            }
            slot_t *s = &k->slot[p[1]];
            if (!s->busy) {
                st.stray++; /* late reply after a timeout, or a duplicate */
                continue;
            }
            int acc = 0, vlan = 0;
            if (!check_reply(p, n, s, &acc, &vlan)) {
                st.bad_replies++;
                continue;
            }
            st.received++;
            if (acc) {
                st.accepts++;
                st.accepts_vlan += vlan;
            } else {
                st.rejects++;
            }
            record_latency(t - s->t_ns);
            free_id(k, p[1]);
        }
        if (r < BATCH)
            return;
    }
}

/* Send up to `want` requests on socket k; due_ns is the time stamp to record
 * (the due time when paced, 0 = now).  Returns how many went out. */
static int send_batch(sock_t *k, int want, uint64_t first_due, double step_ns)
{
    static uint8_t bufs[BATCH][PKT_MAX];
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    uint8_t ids[BATCH];
    if (want > BATCH)
        want = BATCH;
    if (want > k->cap - k->out)
        want = k->cap - k->out;
    if (want <= 0)
        return 0;
    for (int i = 0; i < want; i++) {
        uint8_t id = k->freeq[k->fq_head];
        k->fq_head = (k->fq_head + 1) & 255;
        k->fq_n--;
        ids[i] = id;
        slot_t *s = &k->slot[id];
        uint64_t r0 = rng_next(), r1 = rng_next();
        memcpy(s->ra, &r0, 8);
        memcpy(s->ra + 8, &r1, 8);
        make_request(bufs[i], id, s->ra, (uint32_t)(st.sent + i));
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = tmpl_len;
        memset(&mm[i].msg_hdr, 0, sizeof mm[i].msg_hdr);
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t t = now_ns();
    for (int i = 0; i < want; i++) {
        slot_t *s = &k->slot[ids[i]];
        s->busy = 1;
        s->t_ns = first_due ? first_due + (uint64_t)(step_ns * i) : t;
        k->out++;
    }
    int r = sendmmsg(k->fd, mm, (unsigned)want, MSG_DONTWAIT);
    if (r < 0) {
        st.send_errors++;
        r = 0;
    }
    for (int i = r; i < want; i++) /* not sent: give the ids back */
        free_id(k, ids[i]);
    st.sent += r;
    return r;
}

static void expire(sock_t *ks, int nk, uint64_t t, uint64_t timeout_ns)
{
    for (int j = 0; j < nk; j++) {
        sock_t *k = &ks[j];
        if (!k->out)
            continue;
        for (int id = 0; id < 256; id++) {
            slot_t *s = &k->slot[id];
            if (s->busy && t > s->t_ns && t - s->t_ns > timeout_ns) {
                st.timeouts++;
                free_id(k, (uint8_t)id);
            }
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double q)
{
    if (nlat == 0)
        return -1;
    long i = (long)ceil(q * (double)nlat) - 1;
    if (i < 0)
        i = 0;
    if (i >= nlat)
        i = nlat - 1;
    return lat[i] / 1e6;
}

static int run_client(void)
{
    struct addrinfo *ai = resolve(0);
    int nk = opt.sockets > 0 ? opt.sockets : (opt.window + 127) / 128;
    if (nk > opt.window)
        nk = opt.window;
    if (opt.window > nk * 256)
        die("--window exceeds 256 per socket; raise --sockets");
    sock_t *ks = calloc((size_t)nk, sizeof *ks);
    struct pollfd *pf = calloc((size_t)nk, sizeof *pf);
    lat = malloc(sizeof *lat * (size_t)opt.max_total);
    if (!ks || !pf || !lat)
        die("out of memory");
    for (int j = 0; j < nk; j++) {
        sock_t *k = &ks[j];
        k->fd = socket(ai->ai_family, SOCK_DGRAM, 0);
        if (k->fd < 0 || connect(k->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            perror("socket/connect");
            return 2;
        }
        int sz = 4 << 20;
        setsockopt(k->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        setsockopt(k->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        k->cap = opt.window / nk + (j < opt.window % nk);
        for (int id = 0; id < 256; id++)
            k->freeq[id] = (uint8_t)id;
        k->fq_n = 256;
        pf[j].fd = k->fd;
        pf[j].events = POLLIN;
    }
    freeaddrinfo(ai);

    uint64_t timeout_ns = (uint64_t)(opt.timeout * 1e9);
    uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)(opt.duration * 1e9);
    uint64_t t_hard = t_end + timeout_ns + 100000000ull; /* drain bound */
    uint64_t next_expire = t0 + 5000000ull, t_last_reply = t0;
    double step_ns = opt.rate > 0 ? 1e9 / opt.rate : 0;
    int rr = 0; /* round-robin start for paced sends */

    for (;;) {
        uint64_t t = now_ns();
        int sending = !stop_flag && t < t_end && st.sent < opt.max_total;
        long outstanding = 0;
        for (int j = 0; j < nk; j++)
            outstanding += ks[j].out;
        if (!sending && (outstanding == 0 || t >= t_hard || stop_flag))
            break;

        int64_t wait_ns = 5000000; /* at most 5 ms between timeout scans */
        if (sending) {
            if (step_ns == 0) {
                for (int j = 0; j < nk; j++)
                    while (st.sent < opt.max_total && ks[j].out < ks[j].cap &&
                           send_batch(&ks[j], (int)(opt.max_total - st.sent), 0, 0) > 0)
                        ;
            } else {
                long due = (long)((double)(t - t0) / step_ns) + 1;
                if (due > opt.max_total)
                    due = opt.max_total;
                int stalled = 0;
                while (st.sent < due && !stalled) {
                    stalled = 1;
                    for (int c = 0; c < nk && st.sent < due; c++) {
                        sock_t *k = &ks[(rr + c) % nk];
                        uint64_t first = t0 + (uint64_t)(step_ns * (double)st.sent);
                        long n = due - st.sent;
                        if (n > 8) /* spread a backlog over the sockets */
                            n = 8;
                        if (send_batch(k, (int)n, first, step_ns) > 0)
                            stalled = 0;
                    }
                    rr = (rr + 1) % nk;
                }
                if (st.sent < due) {
                    st.window_full++;
                } else {
                    /* sleep until the next request is due, but at least one tick:
                     * requests due within the tick go out together (latency is
                     * still counted from each one's due time) */
                    uint64_t next = t0 + (uint64_t)(step_ns * (double)st.sent);
                    wait_ns = next > t ? (int64_t)(next - t) : 0;
                    if (wait_ns < (int64_t)opt.tick_us * 1000)
                        wait_ns = (int64_t)opt.tick_us * 1000;
                    if (wait_ns > 5000000)
                        wait_ns = 5000000;
                }
                uint64_t lag = t - (t0 + (uint64_t)(step_ns * (double)(due - 1)));
                if (st.sent < due && lag > st.max_lag_ns)
                    st.max_lag_ns = lag;
            }
        } else {
            int64_t left = (int64_t)(t_hard - t);
            if (left < wait_ns)
                wait_ns = left > 0 ? left : 0;
        }

        struct timespec ts = {wait_ns / 1000000000, wait_ns % 1000000000};
        int pr = ppoll(pf, (nfds_t)nk, &ts, NULL);
        if (pr < 0 && errno != EINTR) {
            perror("ppoll");
            break;
        }
        if (pr > 0) {
            long before = st.received;
            for (int j = 0; j < nk; j++)
                if (pf[j].revents & POLLIN)
                    drain_socket(&ks[j]);
            if (st.received != before)
                t_last_reply = now_ns();
        }
        t = now_ns();
        if (t >= next_expire) {
            expire(ks, nk, t, timeout_ns);
            next_expire = t + 5000000ull;
        }
    }
    for (int j = 0; j < nk; j++) /* anything left is lost */
        st.timeouts += ks[j].out;

    double cu, cs, cpu = cpu_seconds(&cu, &cs);
    uint64_t t_stop = t_last_reply > t0 ? t_last_reply : now_ns();
    double elapsed = (double)(t_stop - t0) / 1e9;
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_u32);
    printf("{\"sent\": %ld, \"received\": %ld, \"accepts\": %ld, \"rejects\": %ld, "
           "\"timeouts\": %ld, \"bad_replies\": %ld, \"stray_replies\": %ld, "
           "\"accepts_with_vlan\": %ld, \"send_errors\": %ld, "
           "\"elapsed_s\": %.4f, \"rate_per_s\": %.1f, "
           "\"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.4f, "
           "\"cpu_s\": %.4f, \"cpu_user_s\": %.4f, \"cpu_sys_s\": %.4f, "
           "\"window\": %d, \"sockets\": %d, \"target_rate\": %.1f, "
           "\"window_full_events\": %ld, \"max_send_lag_ms\": %.4f}\n",
           st.sent, st.received, st.accepts, st.rejects, st.timeouts, st.bad_replies, st.stray,
           st.accepts_vlan, st.send_errors, elapsed, elapsed > 0 ? st.received / elapsed : 0.0,
           pct_ms(0.50), pct_ms(0.90), pct_ms(0.99), nlat ? lat[nlat - 1] / 1e6 : -1.0, cpu, cu,
           cs, opt.window, nk, opt.rate, st.window_full, st.max_lag_ns / 1e6);
    return 0;
}

/* ------------------------------------------------------------ responder */

/* Answers every Access-Request with a bare Access-Accept (valid Response
 * Authenticator).  Only for measuring the generator's own ceiling. */
static int run_responder(void)
{
    struct addrinfo *ai = resolve(1);
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    int one = 1, sz = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        perror("socket/bind");
        return 2;
    }
    freeaddrinfo(ai);
    static uint8_t in[BATCH][PKT_MAX], out[BATCH][20];
    struct sockaddr_storage from[BATCH];
    struct mmsghdr mi[BATCH], mo[BATCH];
    struct iovec ii[BATCH], io[BATCH];
    uint64_t t_end = now_ns() + (uint64_t)(opt.duration * 1e9);
    long answered = 0;
    struct pollfd pf = {fd, POLLIN, 0};
    while (!stop_flag && now_ns() < t_end) {
        if (poll(&pf, 1, 100) <= 0)
            continue;
        for (int i = 0; i < BATCH; i++) {
            ii[i].iov_base = in[i];
            ii[i].iov_len = PKT_MAX;
            memset(&mi[i].msg_hdr, 0, sizeof mi[i].msg_hdr);
            mi[i].msg_hdr.msg_iov = &ii[i];
            mi[i].msg_hdr.msg_iovlen = 1;
            mi[i].msg_hdr.msg_name = &from[i];
            mi[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int r = recvmmsg(fd, mi, BATCH, MSG_DONTWAIT, NULL);
        int m = 0;
        for (int i = 0; i < r; i++) {
            if (mi[i].msg_len < 20 || in[i][0] != 1)
                continue;
            uint8_t *o = out[m];
            o[0] = 2;
            o[1] = in[i][1];
            o[2] = 0;
            o[3] = 20;
            md5_ctx c;
            md5_init(&c);
            md5_update(&c, o, 4);
            md5_update(&c, in[i] + 4, 16);
            md5_update(&c, secret, secret_len);
            md5_final(&c, o + 4);
            io[m].iov_base = o;
            io[m].iov_len = 20;
            memset(&mo[m].msg_hdr, 0, sizeof mo[m].msg_hdr);
            mo[m].msg_hdr.msg_iov = &io[m];
            mo[m].msg_hdr.msg_iovlen = 1;
            mo[m].msg_hdr.msg_name = &from[i];
            mo[m].msg_hdr.msg_namelen = mi[i].msg_hdr.msg_namelen;
            m++;
        }
        if (m > 0 && sendmmsg(fd, mo, (unsigned)m, 0) > 0)
            answered += m;
    }
    double cu, cs, cpu = cpu_seconds(&cu, &cs);
    printf("{\"answered\": %ld, \"cpu_s\": %.4f}\n", answered, cpu);
    return 0;
}

/* ------------------------------------------------------------- selftest */

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int check(const char *what, const uint8_t *got, const char *want)
{
    char h[33];
    hex(got, 16, h);
    int ok = strcmp(h, want) == 0;
    fprintf(stderr, "%s %s: %s\n", ok ? "ok  " : "FAIL", what, h);
    return ok;
}

static int run_selftest(void)
{
    int ok = 1;
    uint8_t d[16];
    md5_ctx c;
    /* RFC 1321 appendix A.5 */
    static const struct { const char *in, *out; } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        md5_init(&c);
        md5_update(&c, v[i].in, strlen(v[i].in));
        md5_final(&c, d);
        ok &= check("md5", d, v[i].out);
    }
    /* RFC 2104 / RFC 2202 test case 1 and 2 */
    hmac_key k;
    uint8_t key1[16];
    memset(key1, 0x0b, 16);
    hmac_md5_key(&k, key1, 16);
    hmac_md5(&k, (const uint8_t *)"Hi There", 8, d);
    ok &= check("hmac-md5", d, "9294727a3638bb1c13f48ef8158bfc9d");
    hmac_md5_key(&k, (const uint8_t *)"Jefe", 4);
    hmac_md5(&k, (const uint8_t *)"what do ya want for nothing?", 28, d);
    ok &= check("hmac-md5", d, "750c783e6ab0b503eaa86e310a5db738");
    /* RFC 2865 7.1: "arctangent" under secret "xyzzy5461" */
    static const uint8_t ra[16] = {0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57,
                                   0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a};
    uint8_t plain[16] = "arctangent";
    secret = (const uint8_t *)"xyzzy5461";
    secret_len = 9;
    hide_password(d, plain, 16, ra);
    ok &= check("rfc2865 7.1 password", d, "0dbe708d93d413ce3196e43f782a0aee");
    fprintf(stderr, "%s\n", ok ? "selftest passed" : "selftest FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    md5_tables();
    if (opt.selftest)
        return run_selftest();
    secret = (const uint8_t *)opt.secret;
    secret_len = strlen(opt.secret);
    hmac_md5_key(&mac_key, secret, secret_len);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: paced sends wake on time */
    if (opt.respond)
        return run_responder();
    rng_seed();
    build_template();
    return run_client();
}
