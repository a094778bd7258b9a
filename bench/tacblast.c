/*
 * tacblast: a small TACACS+ (RFC 8907) load generator for the nac benchmarks.
 *
 * One thread, non-blocking TCP sockets (TCP_NODELAY) and epoll.  Each of the
 * --connections connections carries at most one session at a time:
 *
 *   default:           connect, send, read the reply, close, reconnect.
 *   --single-connect:  the first packet of each connection carries
 *                      TAC_PLUS_SINGLE_CONNECT_FLAG; if the server echoes it
 *                      in its first reply, sessions run back to back on that
 *                      connection, otherwise the connection is closed after
 *                      the session and reopened (counted in
 *                      reconnects_no_single_connect).
 *
 * Sessions (--mode), each with a fresh random session_id:
 *   pap    AUTHEN START (action LOGIN, authen_type PAP, service LOGIN, minor
 *          version 1, user + password in data)       -> REPLY PASS
 *   authz  AUTHOR REQUEST (authen_method TACACSPLUS, priv_lvl 1, authen_type
 *          ASCII, service LOGIN, minor version 0, args service=shell cmd=...
 *          cmd-arg=... cmd-arg=<cr>)                  -> PASS_ADD / PASS_REPL
 *   ascii  START without user -> GETUSER, CONTINUE user -> GETPASS, CONTINUE
 *          password -> PASS (seq_no 1..6, one authentication)
 *
 * Every reply is checked: version (major 0xc, minor as sent), type, seq_no
 * (ours + 1), session_id, flags, body length, body lengths adding up exactly
 * after de-obfuscation (RFC 8907 4.5), and the status.  A FAIL or ERROR
 * status completes the session (counted in failed / errors); anything else
 * unexpected is a bad reply and the connection is closed and reopened.  A
 * session without a reply within --timeout (per packet) is lost (timeouts)
 * and its connection is closed and reopened.
 *
 * Latency is from a session's first send to its final reply (connect time
 * excluded).  Output: one JSON line on stdout.  cpu_s is getrusage
 * (RUSAGE_SELF) user+sys spent in the measured run (the --idle setup before
 * it is not counted), taken before the percentiles are sorted.
 *
 * JSON fields: sent (sessions started), completed (= passed + failed +
 * errors), passed, failed (FAIL status), errors (ERROR status), bad_replies,
 * timeouts, conn_lost (peer closed / reset mid-session), peer_closed (between
 * sessions), connects (TCP connects that succeeded), connect_errors,
 * reconnects_no_single_connect, single_connect_established (connections the
 * server echoed the flag on), packets_sent, elapsed_s (to the last completed
 * session), rate_per_s (completed / elapsed_s), p50/p90/p99/max_ms, cpu_s,
 * cpu_user_s, cpu_sys_s, connections, single_connect, mode, unencrypted,
 * idle, idle_established, idle_single_connect, idle_failed, idle_closed,
 * idle_open_at_end, idle_setup_s.
 *
 *   --idle N    before the run, open N more connections, complete one
 *               single-connect PAP session on each, then leave them silent
 *               for the whole run; idle_open_at_end counts those still open.
 *   --respond   a trivial TACACS+ responder (PASS / PASS_ADD / SUCCESS,
 *               honours single-connect), only to find the generator's own
 *               ceiling.
 *   --selftest  MD5 / HMAC-MD5 vectors, a pad vector, codec round trips and
 *               the request bodies it would send (hex, for cross-checking).
 *
 * MD5 comes from md5.h next to this file:  cc -O2 -o tacblast tacblast.c -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "md5.h"
#include "blast.h"

/* ------------------------------------------------------------ protocol */

#define TAC_MAJOR 0xc
#define TAC_VER_DEFAULT 0xc0
#define TAC_VER_ONE 0xc1
#define TAC_AUTHEN 1
#define TAC_AUTHOR 2
#define TAC_ACCT 3
#define FL_UNENCRYPTED 0x01
#define FL_SINGLE_CONNECT 0x04
#define AUTHEN_LOGIN 1
#define AUTHEN_TYPE_ASCII 1
#define AUTHEN_TYPE_PAP 2
#define AUTHEN_SVC_LOGIN 1
#define AUTHEN_METH_TACACSPLUS 6
#define PRIV_LVL_USER 1
#define AUTHEN_PASS 1
#define AUTHEN_FAIL 2
#define AUTHEN_GETUSER 4
#define AUTHEN_GETPASS 5
#define AUTHEN_ERROR 7
#define REPLY_FLAG_NOECHO 1
#define AUTHOR_PASS_ADD 1
#define AUTHOR_PASS_REPL 2
#define AUTHOR_FAIL 0x10
#define AUTHOR_ERROR 0x11
#define ACCT_SUCCESS 1

#define HDR 12
#define MAX_BODY 65536u         /* a longer reply body is not sane here */
#define REQ_MAX 16384           /* our own request bodies */

static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline size_t be16(const uint8_t *p) { return ((size_t)p[0] << 8) | p[1]; }
static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* RFC 8907 4.5: body ^= MD5_1 || MD5_2 || ..., MD5_1 = MD5(session_id, key,
 * version, seq_no), MD5_n = MD5(session_id, key, version, seq_no, MD5_n-1).
 * The same call obfuscates and de-obfuscates. */
static void tac_crypt(uint8_t *body, size_t len, uint32_t sid, const uint8_t *key, size_t klen,
                      uint8_t version, uint8_t seq)
{
    uint8_t pre[4], vs[2] = {version, seq}, pad[16];
    put32(pre, sid);
    md5_ctx base;
    md5_init(&base);
    md5_update(&base, pre, 4);
    md5_update(&base, key, klen);
    md5_update(&base, vs, 2);
    for (size_t off = 0; off < len; off += 16) {
        md5_ctx c = base;
        if (off)
            md5_update(&c, pad, 16);
        md5_final(&c, pad);
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t i = 0; i < n; i++)
            body[off + i] ^= pad[i];
    }
}

static const uint8_t *key;
static size_t key_len;

/* header + body into out; obfuscated unless the flags say unencrypted */
static size_t tac_packet(uint8_t *out, uint8_t version, uint8_t type, uint8_t seq, uint8_t flags,
                         uint32_t sid, const uint8_t *body, size_t blen)
{
    out[0] = version;
    out[1] = type;
    out[2] = seq;
    out[3] = flags;
    put32(out + 4, sid);
    put32(out + 8, (uint32_t)blen);
    memcpy(out + HDR, body, blen);
    if (!(flags & FL_UNENCRYPTED))
        tac_crypt(out + HDR, blen, sid, key, key_len, version, seq);
    return HDR + blen;
}

/* Strict body parsers: every length field must add up to exactly n. */
static int parse_authen_reply(const uint8_t *b, size_t n, uint8_t *status, uint8_t *flags)
{
    if (n < 6 || 6 + be16(b + 2) + be16(b + 4) != n)
        return -1;
    *status = b[0];
    *flags = b[1];
    return 0;
}

static int parse_author_reply(const uint8_t *b, size_t n, uint8_t *status)
{
    if (n < 6)
        return -1;
    size_t argc = b[1], need = 6 + argc + be16(b + 2) + be16(b + 4);
    if (need > n)
        return -1;
    for (size_t i = 0; i < argc; i++)
        need += b[6 + i];
    if (need != n)
        return -1;
    *status = b[0];
    return 0;
}

static int parse_authen_start(const uint8_t *b, size_t n, uint8_t *authen_type, size_t *user_len)
{
    if (n < 8 || 8 + (size_t)b[4] + b[5] + b[6] + b[7] != n)
        return -1;
    *authen_type = b[2];
    *user_len = b[4];
    return 0;
}

static int parse_authen_continue(const uint8_t *b, size_t n)
{
    return (n >= 5 && 5 + be16(b) + be16(b + 2) == n) ? 0 : -1;
}

/* AUTHOR REQUEST (fixed part 8) and ACCT REQUEST (fixed part 9, flags first) */
static int parse_args_request(const uint8_t *b, size_t n, size_t fixed)
{
    if (n < fixed)
        return -1;
    const uint8_t *f = b + fixed - 4; /* user_len, port_len, rem_addr_len, arg_cnt */
    size_t argc = f[3], need = fixed + argc + f[0] + f[1] + f[2];
    if (need > n)
        return -1;
    for (size_t i = 0; i < argc; i++)
        need += b[fixed + i];
    return need == n ? 0 : -1;
}

/* ------------------------------------------------------------ utilities */

static void die(const char *msg)
{
    fprintf(stderr, "tacblast: %s\n", msg);
    exit(2);
}

static void raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (need > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)need > rl.rlim_cur) {
        fprintf(stderr, "tacblast: need %ld file descriptors, RLIMIT_NOFILE is %lu\n", need,
                (unsigned long)rl.rlim_cur);
        exit(2);
    }
}

/* -------------------------------------------------------------- options */

enum { M_PAP, M_AUTHZ, M_ASCII };
static const char *const mode_names[] = {"pap", "authz", "ascii"};

static struct {
    const char *host, *port, *key, *user, *password, *cmd, *tty, *rem_addr;
    double duration, timeout;
    long max_total;
    int mode, connections, single, idle, unencrypted, respond, no_single, selftest;
} opt = {"127.0.0.1", "49", "testing123", "alice", "alice-pass", "show running-config", "tty1",
         "127.0.0.1", 10.0, 2.0, 10000000, M_PAP, 1, 0, 0, 0, 0, 0, 0};

static void usage(void)
{
    fprintf(stderr,
            "usage: tacblast [--host H] [--port P (49)] [--key K] [--user U] [--password P]\n"
            "                [--mode pap|authz|ascii] [--cmd 'show running-config']\n"
            "                [--connections N] [--single-connect] [--duration SEC] [--max N]\n"
            "                [--timeout SEC] [--idle N] [--unencrypted] [--tty T] [--rem-addr A]\n"
            "       tacblast --respond [--host H] [--port P] [--key K] [--duration SEC]\n"
            "                [--no-single-connect]\n"
            "       tacblast --selftest [--user U] [--password P] [--key K] [--cmd C]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", required_argument, 0, 'h'},        {"port", required_argument, 0, 'p'},
        {"key", required_argument, 0, 'k'},         {"user", required_argument, 0, 'u'},
        {"password", required_argument, 0, 'P'},    {"mode", required_argument, 0, 'm'},
        {"cmd", required_argument, 0, 'c'},         {"connections", required_argument, 0, 'C'},
        {"single-connect", no_argument, 0, 's'},    {"duration", required_argument, 0, 'd'},
        {"max", required_argument, 0, 'n'},         {"timeout", required_argument, 0, 't'},
        {"idle", required_argument, 0, 'i'},        {"unencrypted", no_argument, 0, 'U'},
        {"respond", no_argument, 0, 'R'},           {"no-single-connect", no_argument, 0, 'N'},
        {"selftest", no_argument, 0, 'T'},          {"tty", required_argument, 0, 'y'},
        {"rem-addr", required_argument, 0, 'a'},    {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = optarg; break;
        case 'k': opt.key = optarg; break;
        case 'u': opt.user = optarg; break;
        case 'P': opt.password = optarg; break;
        case 'm':
            if (!strcmp(optarg, "pap"))
                opt.mode = M_PAP;
            else if (!strcmp(optarg, "authz"))
                opt.mode = M_AUTHZ;
            else if (!strcmp(optarg, "ascii"))
                opt.mode = M_ASCII;
            else
                die("--mode must be pap, authz or ascii");
            break;
        case 'c': opt.cmd = optarg; break;
        case 'C': opt.connections = atoi(optarg); break;
        case 's': opt.single = 1; break;
        case 'd': opt.duration = atof(optarg); break;
        case 'n': opt.max_total = atol(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'i': opt.idle = atoi(optarg); break;
        case 'U': opt.unencrypted = 1; break;
        case 'R': opt.respond = 1; break;
        case 'N': opt.no_single = 1; break;
        case 'T': opt.selftest = 1; break;
        case 'y': opt.tty = optarg; break;
        case 'a': opt.rem_addr = optarg; break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    if (opt.duration <= 0 || opt.duration > 86400)
        die("--duration must be in (0, 86400]");
    if (opt.max_total < 1 || opt.max_total > 1000000000)
        die("--max must be in [1, 1e9]");
    if (opt.connections < 1 || opt.connections > 1000000)
        die("--connections must be in [1, 1e6]");
    if (opt.idle < 0 || opt.idle > 1000000)
        die("--idle must be in [0, 1e6]");
    if (opt.timeout <= 0 || opt.timeout > 60)
        die("--timeout must be in (0, 60] seconds");
    if (strlen(opt.user) > 255 || strlen(opt.password) > 255 || strlen(opt.tty) > 255 ||
        strlen(opt.rem_addr) > 255)
        die("--user, --password, --tty and --rem-addr must be at most 255 bytes");
    if (!opt.unencrypted && !opt.respond && strlen(opt.key) == 0)
        die("empty --key (use --unencrypted for no obfuscation)");
}

static struct addrinfo *resolve(int passive)
{
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "tacblast: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
        exit(2);
    }
    return ai;
}

/* ---------------------------------------------------- request bodies */

typedef struct {
    uint8_t b[REQ_MAX];
    size_t n;
} body_t;

static body_t body_pap, body_authz, body_ascii_start, body_cont_user, body_cont_pass;

static void put_str(body_t *x, const char *s, size_t len)
{
    memcpy(x->b + x->n, s, len);
    x->n += len;
}

/* AUTHEN START: action priv_lvl authen_type service user_len port_len
 * rem_addr_len data_len, user port rem_addr data */
static void build_start(body_t *x, uint8_t authen_type, const char *user, const char *data)
{
    size_t ul = strlen(user), pl = strlen(opt.tty), rl = strlen(opt.rem_addr), dl = strlen(data);
    uint8_t *b = x->b;
    b[0] = AUTHEN_LOGIN;
    b[1] = PRIV_LVL_USER;
    b[2] = authen_type;
    b[3] = AUTHEN_SVC_LOGIN;
    b[4] = (uint8_t)ul;
    b[5] = (uint8_t)pl;
    b[6] = (uint8_t)rl;
    b[7] = (uint8_t)dl;
    x->n = 8;
    put_str(x, user, ul);
    put_str(x, opt.tty, pl);
    put_str(x, opt.rem_addr, rl);
    put_str(x, data, dl);
}

/* AUTHEN CONTINUE: user_msg_len(2) data_len(2) flags, user_msg data */
static void build_continue(body_t *x, const char *msg)
{
    size_t ml = strlen(msg);
    put16(x->b, ml);
    put16(x->b + 2, 0);
    x->b[4] = 0;
    x->n = 5;
    put_str(x, msg, ml);
}

#define MAX_ARGS 64

/* AUTHOR REQUEST: authen_method priv_lvl authen_type service user_len
 * port_len rem_addr_len arg_cnt, arg lens, user port rem_addr args */
static void build_authz(body_t *x)
{
    char args[MAX_ARGS][256];
    int argc = 0;
    snprintf(args[argc++], 256, "service=shell");
    char cmd[1024];
    if (strlen(opt.cmd) >= sizeof cmd)
        die("--cmd too long");
    strcpy(cmd, opt.cmd);
    int first = 1;
    for (char *save = NULL, *w = strtok_r(cmd, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (argc >= MAX_ARGS - 1 || strlen(w) > 240)
            die("--cmd has too many or too long words");
        snprintf(args[argc++], 256, "%s=%s", first ? "cmd" : "cmd-arg", w);
        first = 0;
    }
    if (!first)
        snprintf(args[argc++], 256, "cmd-arg=<cr>");
    size_t ul = strlen(opt.user), pl = strlen(opt.tty), rl = strlen(opt.rem_addr);
    uint8_t *b = x->b;
    b[0] = AUTHEN_METH_TACACSPLUS;
    b[1] = PRIV_LVL_USER;
    b[2] = AUTHEN_TYPE_ASCII;
    b[3] = AUTHEN_SVC_LOGIN;
    b[4] = (uint8_t)ul;
    b[5] = (uint8_t)pl;
    b[6] = (uint8_t)rl;
    b[7] = (uint8_t)argc;
    x->n = 8;
    for (int i = 0; i < argc; i++)
        b[x->n++] = (uint8_t)strlen(args[i]);
    put_str(x, opt.user, ul);
    put_str(x, opt.tty, pl);
    put_str(x, opt.rem_addr, rl);
    for (int i = 0; i < argc; i++)
        put_str(x, args[i], strlen(args[i]));
}

static void build_bodies(void)
{
    build_start(&body_pap, AUTHEN_TYPE_PAP, opt.user, opt.password);
    build_start(&body_ascii_start, AUTHEN_TYPE_ASCII, "", "");
    build_continue(&body_cont_user, opt.user);
    build_continue(&body_cont_pass, opt.password);
    build_authz(&body_authz);
}

/* ---------------------------------------------------------- the client */

enum { C_FREE, C_BACKOFF, C_CONNECTING, C_READY, C_WAIT, C_HOLD, C_DEAD };

typedef struct {
    int fd, state, idle, want_single;
    int single;      /* 0 unknown, 1 echoed by the server, -1 not echoed */
    uint32_t gen;    /* bumped on every new socket: stale events are dropped */
    uint32_t events; /* registered epoll events */
    long npkts, nreplies; /* on this connection */
    int kind;        /* mode of the session in progress */
    uint32_t sid;
    uint8_t version, type, seq, step;
    uint64_t t_start, deadline;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *pend; /* unsent tail of a partial write */
    size_t plen, poff;
} conn_t;

static struct {
    long sent, completed, passed, failed, errors, bad_replies, timeouts, conn_lost, peer_closed;
    long connects, connect_errors, reconnects_nosc, packets, sc_established;
    long idle_established, idle_single, idle_failed, idle_closed;
} st;

static conn_t *conns;
static int nconns; /* active connections first, then the idle ones */
static int ep;
static struct addrinfo *server;
static uint64_t timeout_ns, t_end;
static int running, idle_inflight;
static uint64_t *lat, t_last_done;
static long nlat;

static int can_start(void)
{
    return running && !stop_flag && st.sent < opt.max_total && now_ns() < t_end;
}

static void set_events(conn_t *c, uint32_t ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) {
        perror("epoll_ctl");
        exit(2);
    }
    c->events = ev;
}

static void drop_conn(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->pend);
    c->pend = NULL;
    c->plen = c->poff = 0;
    c->rlen = 0;
    c->state = C_FREE;
}

static void idle_settle(conn_t *c, int state)
{
    if (c->state == C_CONNECTING || c->state == C_WAIT)
        idle_inflight--;
    if (state == C_DEAD)
        drop_conn(c);
    c->state = state;
}

static void open_conn(conn_t *c);

/* Close c and, while the run goes on, open a fresh connection in its place. */
static void restart_conn(conn_t *c)
{
    if (c->idle) {
        idle_settle(c, C_DEAD);
        return;
    }
    drop_conn(c);
    if (can_start())
        open_conn(c);
}

static void backoff(conn_t *c)
{
    st.connect_errors++;
    if (c->idle) {
        st.idle_failed++;
        idle_settle(c, C_DEAD);
        return;
    }
    drop_conn(c);
    c->state = C_BACKOFF;
    c->deadline = now_ns() + 10000000ull; /* 10 ms before the next attempt */
}

static int start_session(conn_t *c);

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
        backoff(c);
        return;
    }
    st.connects++;
    c->state = C_READY;
    c->npkts = c->nreplies = 0;
    c->single = 0;
    set_events(c, EPOLLIN);
    if (c->idle || can_start())
        start_session(c);
    else
        drop_conn(c);
}

static void open_conn(conn_t *c)
{
    c->fd = socket(server->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("socket");
        exit(2);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->gen++;
    c->events = EPOLLOUT;
    struct epoll_event e = {.events = EPOLLOUT, .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) {
        perror("epoll_ctl");
        exit(2);
    }
    c->state = C_CONNECTING;
    c->deadline = now_ns() + timeout_ns;
    if (c->idle)
        idle_inflight++;
    if (connect(c->fd, server->ai_addr, server->ai_addrlen) == 0)
        on_connected(c);
    else if (errno != EINPROGRESS)
        backoff(c);
}

/* Send one packet of the session in progress.  Returns -1 if the connection
 * was given up (and restarted). */
static int conn_send(conn_t *c, const body_t *body)
{
    static uint8_t pkt[HDR + REQ_MAX];
    uint8_t flags = opt.unencrypted ? FL_UNENCRYPTED : 0;
    if (c->npkts == 0 && c->want_single)
        flags |= FL_SINGLE_CONNECT;
    size_t n = tac_packet(pkt, c->version, c->type, c->seq, flags, c->sid, body->b, body->n);
    c->npkts++;
    st.packets++;
    ssize_t w = send(c->fd, pkt, n, MSG_NOSIGNAL);
    if (w == (ssize_t)n)
        return 0;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        if (c->idle)
            st.idle_failed++;
        else
            st.conn_lost++;
        restart_conn(c);
        return -1;
    }
    if (w < 0)
        w = 0;
    c->plen = n - (size_t)w;
    c->poff = 0;
    c->pend = malloc(c->plen);
    if (!c->pend)
        die("out of memory");
    memcpy(c->pend, pkt + w, c->plen);
    set_events(c, EPOLLIN | EPOLLOUT);
    return 0;
}

static int flush_pend(conn_t *c)
{
    while (c->poff < c->plen) {
        ssize_t w = send(c->fd, c->pend + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
        if (w > 0) {
            c->poff += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            if (c->idle)
                st.idle_failed++;
            else
                st.conn_lost++;
            restart_conn(c);
            return -1;
        }
    }
    free(c->pend);
    c->pend = NULL;
    c->plen = c->poff = 0;
    set_events(c, EPOLLIN);
    return 0;
}

static int start_session(conn_t *c)
{
    uint32_t sid;
    do
        sid = (uint32_t)(rng_next() >> 32);
    while (sid == 0);
    c->kind = c->idle ? M_PAP : opt.mode;
    c->sid = sid;
    c->seq = 1;
    c->step = 0;
    c->version = c->kind == M_PAP ? TAC_VER_ONE : TAC_VER_DEFAULT;
    c->type = c->kind == M_AUTHZ ? TAC_AUTHOR : TAC_AUTHEN;
    c->t_start = now_ns();
    c->deadline = c->t_start + timeout_ns;
    c->state = C_WAIT;
    if (!c->idle)
        st.sent++;
    const body_t *b = c->kind == M_PAP ? &body_pap : c->kind == M_AUTHZ ? &body_authz
                                                                        : &body_ascii_start;
    return conn_send(c, b);
}

static int bad_reply(conn_t *c)
{
    if (c->idle)
        st.idle_failed++;
    else
        st.bad_replies++;
    restart_conn(c);
    return -1;
}

/* The session on c ended with a valid final reply.  Returns -1 if c was
 * closed (the rest of its read buffer is then void). */
static int session_done(conn_t *c, int outcome)
{
    uint64_t t = now_ns();
    if (c->idle) {
        st.idle_established++;
        st.idle_single += c->single == 1;
        idle_settle(c, C_HOLD);
        return 0;
    }
    st.completed++;
    if (outcome == AUTHEN_PASS)
        st.passed++;
    else if (outcome == AUTHEN_FAIL)
        st.failed++;
    else
        st.errors++;
    if (nlat < opt.max_total)
        lat[nlat++] = t - c->t_start;
    t_last_done = t;
    if (c->single == 1) {
        c->state = C_READY;
        if (can_start())
            return start_session(c) < 0 ? -1 : 0;
        return 0;
    }
    if (c->want_single && can_start())
        st.reconnects_nosc++;
    restart_conn(c);
    return -1;
}

/* One complete reply packet p (header + len body bytes, body mutable). */
static int handle_reply(conn_t *c, uint8_t *p, size_t len)
{
    if (c->state != C_WAIT || c->pend)
        return bad_reply(c); /* unsolicited, or a reply to a packet not yet fully sent */
    uint8_t ver = p[0], type = p[1], seq = p[2], fl = p[3];
    uint8_t our_unenc = opt.unencrypted ? FL_UNENCRYPTED : 0;
    if (ver != c->version || type != c->type || seq != (uint8_t)(c->seq + 1) ||
        be32(p + 4) != c->sid || (fl & ~(FL_UNENCRYPTED | FL_SINGLE_CONNECT)) ||
        (fl & FL_UNENCRYPTED) != our_unenc || ((fl & FL_SINGLE_CONNECT) && !c->want_single))
        return bad_reply(c);
    if (c->nreplies++ == 0 && c->want_single) {
        c->single = (fl & FL_SINGLE_CONNECT) ? 1 : -1;
        if (!c->idle)
            st.sc_established += c->single == 1;
    }
    uint8_t *b = p + HDR, status, rflags;
    if (!our_unenc)
        tac_crypt(b, len, c->sid, key, key_len, ver, seq);
    if (c->type == TAC_AUTHOR) {
        if (parse_author_reply(b, len, &status) < 0)
            return bad_reply(c);
        if (status == AUTHOR_PASS_ADD || status == AUTHOR_PASS_REPL)
            return session_done(c, AUTHEN_PASS);
        if (status == AUTHOR_FAIL)
            return session_done(c, AUTHEN_FAIL);
        if (status == AUTHOR_ERROR)
            return session_done(c, AUTHEN_ERROR);
        return bad_reply(c);
    }
    if (parse_authen_reply(b, len, &status, &rflags) < 0 || (rflags & ~REPLY_FLAG_NOECHO))
        return bad_reply(c);
    if (status == AUTHEN_FAIL || status == AUTHEN_ERROR)
        return session_done(c, status);
    const body_t *next = NULL;
    if (c->kind == M_ASCII && c->step == 0 && status == AUTHEN_GETUSER)
        next = &body_cont_user;
    else if (c->kind == M_ASCII && c->step == 1 && status == AUTHEN_GETPASS)
        next = &body_cont_pass;
    else if ((c->kind == M_PAP || c->step == 2) && status == AUTHEN_PASS)
        return session_done(c, AUTHEN_PASS);
    else
        return bad_reply(c);
    c->step++;
    c->seq = (uint8_t)(c->seq + 2);
    c->deadline = now_ns() + timeout_ns;
    return conn_send(c, next);
}

static void peer_gone(conn_t *c)
{
    if (c->state == C_HOLD) {
        st.idle_closed++;
        idle_settle(c, C_DEAD);
        return;
    }
    if (c->state == C_WAIT) {
        if (c->idle)
            st.idle_failed++;
        else
            st.conn_lost++;
    } else {
        st.peer_closed++;
    }
    restart_conn(c);
}

/* Parse every complete packet in c's buffer.  Returns -1 if c was closed. */
static int process_buf(conn_t *c)
{
    size_t off = 0;
    while (c->rlen - off >= HDR) {
        uint8_t *p = c->rbuf + off;
        size_t len = be32(p + 8);
        if (len > MAX_BODY)
            return bad_reply(c);
        if (c->rlen - off < HDR + len)
            break;
        if (handle_reply(c, p, len) < 0)
            return -1;
        off += HDR + len;
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->rlen >= HDR) { /* make room for the whole of a long packet */
        size_t need = HDR + be32(c->rbuf + 8);
        if (need > c->rcap) {
            uint8_t *nb = realloc(c->rbuf, need);
            if (!nb)
                die("out of memory");
            c->rbuf = nb;
            c->rcap = need;
        }
    }
    return 0;
}

static void conn_read(conn_t *c)
{
    for (;;) {
        if (!c->rbuf) {
            c->rcap = 512;
            c->rbuf = malloc(c->rcap);
            if (!c->rbuf)
                die("out of memory");
        }
        size_t room = c->rcap - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            peer_gone(c);
            return;
        }
        if (c->state == C_HOLD) { /* an idle connection got data: not expected */
            st.idle_closed++;
            idle_settle(c, C_DEAD);
            return;
        }
        c->rlen += (size_t)n;
        if (process_buf(c) < 0 || (size_t)n < room)
            return;
    }
}

static void on_event(conn_t *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        on_connected(c);
        return;
    }
    if (c->fd < 0)
        return;
    if ((ev & (EPOLLOUT | EPOLLERR)) && c->pend && flush_pend(c) < 0)
        return;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(c);
}

static void scan_deadlines(int from, int to, uint64_t t)
{
    for (int i = from; i < to; i++) {
        conn_t *c = &conns[i];
        if (t < c->deadline)
            continue;
        switch (c->state) {
        case C_WAIT:
            if (c->idle)
                st.idle_failed++;
            else
                st.timeouts++;
            restart_conn(c);
            break;
        case C_CONNECTING:
            backoff(c);
            break;
        case C_BACKOFF:
            c->state = C_FREE;
            if (can_start())
                open_conn(c);
            break;
        default:
            break;
        }
    }
}

static void poll_once(int wait_ms, int scan_from, int scan_to, uint64_t *next_scan)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, wait_ms);
    if (n < 0 && errno != EINTR) {
        perror("epoll_wait");
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[(uint32_t)evs[i].data.u64];
        if ((uint32_t)(evs[i].data.u64 >> 32) != c->gen)
            continue;
        on_event(c, evs[i].events);
    }
    uint64_t t = now_ns();
    if (t >= *next_scan) {
        scan_deadlines(scan_from, scan_to, t);
        *next_scan = t + 2000000ull;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
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
    server = resolve(0);
    int na = opt.connections;
    nconns = na + opt.idle;
    raise_nofile((long)nconns + 16);
    conns = calloc((size_t)nconns, sizeof *conns);
    lat = malloc(sizeof *lat * (size_t)opt.max_total);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !lat || ep < 0)
        die("out of memory / epoll");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].idle = i >= na;
        conns[i].want_single = conns[i].idle || opt.single;
    }
    timeout_ns = (uint64_t)(opt.timeout * 1e9);
    uint64_t next_scan = 0;

    /* idle connections first: at most 256 being set up at a time */
    uint64_t t_idle0 = now_ns();
    int next_idle = na;
    while (!stop_flag && (next_idle < nconns || idle_inflight > 0)) {
        while (next_idle < nconns && idle_inflight < 256)
            open_conn(&conns[next_idle++]);
        poll_once(2, na, nconns, &next_scan);
    }
    double idle_setup_s = (double)(now_ns() - t_idle0) / 1e9;

    double cu0, cs0;
    cpu_seconds(&cu0, &cs0);
    uint64_t t0 = now_ns();
    t_end = t0 + (uint64_t)(opt.duration * 1e9);
    uint64_t t_hard = t_end + timeout_ns + 1000000000ull;
    running = 1;
    t_last_done = t0;
    for (int i = 0; i < na; i++)
        open_conn(&conns[i]);
    next_scan = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (running && (stop_flag || t >= t_end || st.sent >= opt.max_total)) {
            running = 0;
            for (int i = 0; i < na; i++) /* nothing more to start: close what waits */
                if (conns[i].state != C_WAIT && conns[i].state != C_FREE)
                    drop_conn(&conns[i]);
        }
        if (!running) {
            int busy = 0;
            for (int i = 0; i < na && !busy; i++)
                busy = conns[i].state == C_WAIT;
            if (!busy || t >= t_hard || stop_flag)
                break;
        }
        poll_once(running ? 2 : 1, 0, na, &next_scan);
    }
    for (int i = 0; i < na; i++) /* anything left is lost */
        if (conns[i].state == C_WAIT) {
            st.timeouts++;
            drop_conn(&conns[i]);
        }

    double cu, cs;
    cpu_seconds(&cu, &cs);
    cu -= cu0;
    cs -= cs0;
    long idle_open = 0;
    for (int i = na; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->state != C_HOLD)
            continue;
        char ch;
        ssize_t r = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
            idle_open++;
    }
    uint64_t t_stop = t_last_done > t0 ? t_last_done : now_ns();
    double elapsed = (double)(t_stop - t0) / 1e9;
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
    printf("{\"sent\": %ld, \"completed\": %ld, \"passed\": %ld, \"failed\": %ld, "
           "\"errors\": %ld, \"bad_replies\": %ld, \"timeouts\": %ld, \"conn_lost\": %ld, "
           "\"peer_closed\": %ld, \"connects\": %ld, \"connect_errors\": %ld, "
           "\"reconnects_no_single_connect\": %ld, \"single_connect_established\": %ld, "
           "\"packets_sent\": %ld, \"elapsed_s\": %.4f, \"rate_per_s\": %.1f, "
           "\"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.4f, "
           "\"cpu_s\": %.4f, \"cpu_user_s\": %.4f, \"cpu_sys_s\": %.4f, "
           "\"connections\": %d, \"single_connect\": %s, \"mode\": \"%s\", "
           "\"unencrypted\": %s, \"idle\": %d, \"idle_established\": %ld, "
           "\"idle_single_connect\": %ld, \"idle_failed\": %ld, \"idle_closed\": %ld, "
           "\"idle_open_at_end\": %ld, \"idle_setup_s\": %.4f}\n",
           st.sent, st.completed, st.passed, st.failed, st.errors, st.bad_replies, st.timeouts,
           st.conn_lost, st.peer_closed, st.connects, st.connect_errors, st.reconnects_nosc,
           st.sc_established, st.packets, elapsed, elapsed > 0 ? st.completed / elapsed : 0.0,
           pct_ms(0.50), pct_ms(0.90), pct_ms(0.99), nlat ? lat[nlat - 1] / 1e6 : -1.0, cu + cs,
           cu, cs, opt.connections, opt.single ? "true" : "false", mode_names[opt.mode],
           opt.unencrypted ? "true" : "false", opt.idle, st.idle_established, st.idle_single,
           st.idle_failed, st.idle_closed, idle_open, idle_setup_s);
    return 0;
}

/* ------------------------------------------------------------ responder */

/* Answers AUTHEN (PAP and others: PASS; ASCII: GETUSER/GETPASS then PASS),
 * AUTHOR (PASS_ADD) and ACCT (SUCCESS).  Echoes single-connect unless
 * --no-single-connect; without it the connection is closed after each
 * session.  Only for measuring the generator's own ceiling and for tests. */

typedef struct {
    uint8_t *rbuf, *wbuf;
    size_t rlen, rcap, wlen, woff, wcap;
    long npk;
    int single, close_after, wout; /* wout: EPOLLOUT registered */
    uint32_t a_sid;
    int a_active, a_had_user;
} rconn_t;

static struct {
    long answered, sessions, accepted, single, bad;
} rs;

static int resp_packet(rconn_t *k, uint8_t *p, size_t len)
{
    uint8_t ver = p[0], type = p[1], seq = p[2], fl = p[3];
    uint32_t sid = be32(p + 4);
    if ((ver >> 4) != TAC_MAJOR || (ver & 0xf) > 1 || !(seq & 1) ||
        (fl & ~(FL_UNENCRYPTED | FL_SINGLE_CONNECT)))
        return -1;
    int first = k->npk++ == 0;
    if (first) {
        k->single = !opt.no_single && (fl & FL_SINGLE_CONNECT);
        rs.single += k->single;
    }
    uint8_t *b = p + HDR;
    if (!(fl & FL_UNENCRYPTED))
        tac_crypt(b, len, sid, key, key_len, ver, seq);
    uint8_t out[8] = {0};
    size_t olen = 6;
    int final = 1;
    if (type == TAC_AUTHEN && seq == 1) {
        uint8_t atype;
        size_t ulen;
        if (parse_authen_start(b, len, &atype, &ulen) < 0)
            return -1;
        out[0] = AUTHEN_PASS;
        if (atype == AUTHEN_TYPE_ASCII) {
            k->a_sid = sid;
            k->a_active = 1;
            k->a_had_user = ulen > 0;
            out[0] = ulen ? AUTHEN_GETPASS : AUTHEN_GETUSER;
            out[1] = ulen ? REPLY_FLAG_NOECHO : 0;
            final = 0;
        }
    } else if (type == TAC_AUTHEN) {
        if (parse_authen_continue(b, len) < 0)
            return -1;
        if (!k->a_active || sid != k->a_sid) {
            out[0] = AUTHEN_ERROR;
        } else if (seq == 3 && !k->a_had_user) {
            out[0] = AUTHEN_GETPASS;
            out[1] = REPLY_FLAG_NOECHO;
            final = 0;
        } else {
            out[0] = AUTHEN_PASS;
            k->a_active = 0;
        }
    } else if (type == TAC_AUTHOR && seq == 1) {
        if (parse_args_request(b, len, 8) < 0)
            return -1;
        out[0] = AUTHOR_PASS_ADD;
    } else if (type == TAC_ACCT && seq == 1) {
        if (parse_args_request(b, len, 9) < 0)
            return -1;
        out[4] = ACCT_SUCCESS; /* server_msg_len(2) data_len(2) status */
        olen = 5;
    } else {
        return -1;
    }
    if (k->wcap - k->wlen < HDR + olen) {
        size_t cap = k->wcap ? k->wcap * 2 : 1024;
        uint8_t *nb = realloc(k->wbuf, cap);
        if (!nb)
            die("out of memory");
        k->wbuf = nb;
        k->wcap = cap;
    }
    uint8_t rfl = (fl & FL_UNENCRYPTED) | (first && k->single ? FL_SINGLE_CONNECT : 0);
    k->wlen += tac_packet(k->wbuf + k->wlen, ver, type, (uint8_t)(seq + 1), rfl, sid, out, olen);
    rs.answered++;
    if (final) {
        rs.sessions++;
        if (!k->single)
            k->close_after = 1;
    }
    return 0;
}

static void resp_close(int epfd, rconn_t *k, int fd)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(k->rbuf);
    free(k->wbuf);
    memset(k, 0, sizeof *k);
}

/* Returns -1 if the connection should be closed now. */
static int resp_flush(int epfd, rconn_t *k, int fd)
{
    while (k->woff < k->wlen) {
        ssize_t w = send(fd, k->wbuf + k->woff, k->wlen - k->woff, MSG_NOSIGNAL);
        if (w > 0)
            k->woff += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!k->wout) {
                struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
                k->wout = 1;
            }
            return 0;
        } else
            return -1;
    }
    if (k->wout) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
        k->wout = 0;
    }
    k->wlen = k->woff = 0;
    return k->close_after ? -1 : 0;
}

static int resp_read(rconn_t *k, int fd)
{
    for (;;) {
        if (k->rcap - k->rlen < 256) {
            size_t cap = k->rcap ? k->rcap * 2 : 1024;
            uint8_t *nb = realloc(k->rbuf, cap);
            if (!nb)
                die("out of memory");
            k->rbuf = nb;
            k->rcap = cap;
        }
        size_t room = k->rcap - k->rlen;
        ssize_t n = recv(fd, k->rbuf + k->rlen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        k->rlen += (size_t)n;
        size_t off = 0;
        while (!k->close_after && k->rlen - off >= HDR) {
            size_t len = be32(k->rbuf + off + 8);
            if (len > MAX_BODY) {
                rs.bad++;
                return -1;
            }
            if (k->rlen - off < HDR + len) {
                if (HDR + len > k->rcap - off) { /* grow for a long packet */
                    memmove(k->rbuf, k->rbuf + off, k->rlen - off);
                    k->rlen -= off;
                    off = 0;
                    uint8_t *nb = realloc(k->rbuf, HDR + len + 256);
                    if (!nb)
                        die("out of memory");
                    k->rbuf = nb;
                    k->rcap = HDR + len + 256;
                }
                break;
            }
            if (resp_packet(k, k->rbuf + off, len) < 0) {
                rs.bad++;
                return -1;
            }
            off += HDR + len;
        }
        memmove(k->rbuf, k->rbuf + off, k->rlen - off);
        k->rlen -= off;
        if (k->close_after || (size_t)n < room)
            return 0;
    }
}

static int run_responder(void)
{
    struct addrinfo *ai = resolve(1);
    raise_nofile(0);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t maxfd = rl.rlim_cur > 4000000 ? 4000000 : (size_t)rl.rlim_cur;
    rconn_t *rc = calloc(maxfd, sizeof *rc);
    int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (!rc || lfd < 0)
        die("out of memory / socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 4096) < 0) {
        perror("bind/listen");
        return 2;
    }
    freeaddrinfo(ai);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
    uint64_t t_end_r = now_ns() + (uint64_t)(opt.duration * 1e9);
    struct epoll_event evs[256];
    while (!stop_flag && now_ns() < t_end_r) {
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break;
                    if ((size_t)cfd >= maxfd) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ce);
                    rs.accepted++;
                }
                continue;
            }
            rconn_t *k = &rc[fd];
            int bad = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                bad = resp_read(k, fd) < 0;
            if (!bad)
                bad = resp_flush(epfd, k, fd) < 0;
            if (bad)
                resp_close(epfd, k, fd);
        }
    }
    double cu, cs, cpu = cpu_seconds(&cu, &cs);
    for (size_t fd = 0; fd < maxfd; fd++)
        if (rc[fd].rbuf || rc[fd].wbuf)
            resp_close(epfd, &rc[fd], (int)fd);
    free(rc);
    close(lfd);
    close(epfd);
    printf("{\"answered\": %ld, \"sessions\": %ld, \"accepted\": %ld, "
           "\"single_connect\": %ld, \"bad\": %ld, \"cpu_s\": %.4f, \"cpu_user_s\": %.4f, "
           "\"cpu_sys_s\": %.4f}\n",
           rs.answered, rs.sessions, rs.accepted, rs.single, rs.bad, cpu, cu, cs);
    return 0;
}

/* ------------------------------------------------------------- selftest */

static void hexs(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
}

static int check_hex(const char *what, const uint8_t *got, size_t n, const char *want)
{
    char h[2 * 64 + 1];
    hexs(got, n, h);
    int ok = strcmp(h, want) == 0;
    fprintf(stderr, "%s %s: %s\n", ok ? "ok  " : "FAIL", what, h);
    return ok;
}

static int check_true(const char *what, int cond)
{
    fprintf(stderr, "%s %s\n", cond ? "ok  " : "FAIL", what);
    return cond;
}

static void print_body(const char *name, const body_t *x)
{
    static char h[2 * REQ_MAX + 1];
    hexs(x->b, x->n, h);
    fprintf(stderr, "body %s %s\n", name, h);
}

static int run_selftest(void)
{
    int ok = 1;
    uint8_t d[64];
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
        ok &= check_hex("md5", d, 16, v[i].out);
    }
    hmac_key hk; /* RFC 2202 test case 2 */
    hmac_md5_key(&hk, (const uint8_t *)"Jefe", 4);
    hmac_md5(&hk, (const uint8_t *)"what do ya want for nothing?", 28, d);
    ok &= check_hex("hmac-md5", d, 16, "750c783e6ab0b503eaa86e310a5db738");

    /* RFC 8907 4.5 pad: session_id 0x3f5a9c21, key "testing123", version
     * 0xc1, seq_no 1, 40 bytes (three MD5 blocks chained).  The expected
     * value was computed with Python's hashlib; the test recomputes it. */
    const uint8_t *k0 = (const uint8_t *)"testing123";
    memset(d, 0, 40);
    tac_crypt(d, 40, 0x3f5a9c21u, k0, 10, 0xc1, 1);
    ok &= check_hex("tacacs pad sid=3f5a9c21 key=testing123 version=c1 seq=1 len=40", d, 40,
                    "18812da43db064767f2771758d800468085ab9fad76612c544ee7b700e40dcfe"
                    "96c3ed34acb93870");
    uint8_t rt[40];
    for (int i = 0; i < 40; i++)
        rt[i] = (uint8_t)i;
    tac_crypt(rt, 40, 7, k0, 10, 0xc0, 2);
    tac_crypt(rt, 40, 7, k0, 10, 0xc0, 2);
    int same = 1;
    for (int i = 0; i < 40; i++)
        same &= rt[i] == i;
    ok &= check_true("obfuscation round trip", same);

    /* strict parsers */
    uint8_t st_, fl_;
    static const uint8_t ar_ok[] = {1, 0, 0, 2, 0, 1, 'h', 'i', 'x'};
    static const uint8_t ar_short[] = {1, 0, 0, 2, 0, 1, 'h', 'i'};
    ok &= check_true("authen reply exact", parse_authen_reply(ar_ok, sizeof ar_ok, &st_, &fl_) == 0 &&
                                               st_ == 1);
    ok &= check_true("authen reply short", parse_authen_reply(ar_short, sizeof ar_short, &st_, &fl_) < 0);
    ok &= check_true("authen reply long", parse_authen_reply(ar_ok, sizeof ar_ok - 3, &st_, &fl_) < 0);
    static const uint8_t zr_ok[] = {2, 2, 0, 1, 0, 0, 3, 1, 'm', 'a', '=', 'b', 'c'};
    ok &= check_true("author reply exact", parse_author_reply(zr_ok, sizeof zr_ok, &st_) == 0 &&
                                               st_ == 2);
    ok &= check_true("author reply trailing byte", parse_author_reply(zr_ok, sizeof zr_ok - 1, &st_) < 0);
    uint8_t zr_long[sizeof zr_ok + 1];
    memcpy(zr_long, zr_ok, sizeof zr_ok);
    zr_long[sizeof zr_ok] = 'x';
    ok &= check_true("author reply extra byte", parse_author_reply(zr_long, sizeof zr_long, &st_) < 0);

    /* the request bodies and one whole packet, for the Python cross-check */
    build_bodies();
    size_t ul;
    uint8_t at;
    ok &= check_true("pap start parses", parse_authen_start(body_pap.b, body_pap.n, &at, &ul) == 0 &&
                                             at == AUTHEN_TYPE_PAP);
    ok &= check_true("author request parses", parse_args_request(body_authz.b, body_authz.n, 8) == 0);
    ok &= check_true("continue parses", parse_authen_continue(body_cont_pass.b, body_cont_pass.n) == 0);
    print_body("pap", &body_pap);
    print_body("authz", &body_authz);
    print_body("ascii-start", &body_ascii_start);
    print_body("ascii-user", &body_cont_user);
    print_body("ascii-pass", &body_cont_pass);
    static uint8_t pkt[HDR + REQ_MAX];
    static char h[2 * (HDR + REQ_MAX) + 1];
    size_t n = tac_packet(pkt, TAC_VER_ONE, TAC_AUTHEN, 1, 0, 0x01020304u, body_pap.b, body_pap.n);
    hexs(pkt, n, h);
    fprintf(stderr, "packet pap sid=01020304 %s\n", h);
    fprintf(stderr, "%s\n", ok ? "selftest passed" : "selftest FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    md5_tables();
    key = (const uint8_t *)opt.key;
    key_len = strlen(opt.key);
    if (opt.selftest)
        return run_selftest();
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (opt.respond)
        return run_responder();
    rng_seed();
    build_bodies();
    return run_client();
}
