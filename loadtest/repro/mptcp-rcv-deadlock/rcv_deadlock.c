/*
 * Standalone: an MPTCP receive path that stops for good.  No project code.
 * Build: gcc -O2 -Wall -pthread -o rcv_deadlock rcv_deadlock.c
 *
 *   rcv_deadlock s PORT CONNS           receiver: accepts CONNS connections, reads each to its end
 *   rcv_deadlock c IP PORT CONNS PAR    sender: CONNS connections, PAR at a time, each writes SIZE bytes,
 *                                       half-closes and waits for the receiver's close
 *
 * Receiver knobs (environment): ACCEPT_DELAY_MS  accept pending connections only every this many ms (the
 * accept queue of a busy or descriptor-starved server; 0 = at once), READ_PAUSE_MS  after the accept, leave
 * a connection unread for this long, STALL_MS  a connection silent this long is inspected (default 3000),
 * UNBLOCK  0 = only report a stopped connection, 1 (default) = report it, then raise SO_RCVBUF and re-read,
 * DEADLINE_S  give up (and report) after this many seconds (default 120).
 * Sender knob: SIZE  bytes per connection (default 1 MiB).
 *
 * A connection that reads nothing for STALL_MS is reported with SO_MEMINFO (rmem_alloc against rcvbuf) and
 * SIOCINQ of the MPTCP socket; in the stopped state (or with SHOW_ALL set) also ss's view of its MPTCP socket
 * and its subflows (the subflows' addresses from MPTCP_SUBFLOW_ADDRS).  "rmem_alloc > rcvbuf and SIOCINQ 0" is the stopped receive path: the MPTCP
 * socket holds data beyond a gap at the data level and no longer moves the bytes that would fill the gap up
 * from the subflow that has them.  With UNBLOCK=1 the receiver then sets SO_RCVBUF to twice what is held,
 * asks SIOCINQ again (the MPTCP ioctl moves what the larger buffer admits) and reads on.  The exit status is
 * the number of connections seen in that state (capped at 100); 200 on a setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define MPTCP_SUBFLOW_ADDRS 3 /* include/uapi/linux/mptcp.h, since 5.16 */

struct subflow_data { unsigned size_subflow_data, num_subflows, size_kernel, size_user; } __attribute__((aligned(8)));
struct subflow_addrs { struct sockaddr_storage local, remote; };

static long env(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? atol(v) : fallback;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(200);
}

/* ---------------------------------------------------------------- receiver */

struct conn {
    int fd;
    int open;
    int readable_after; /* READ_PAUSE_MS: not read before this time */
    double accepted_at, last_progress_at;
    long received;
    int reported, stuck;
};

static int inq(int fd) {
    int n = -1;
    if (ioctl(fd, SIOCINQ, &n) < 0) return -1;
    return n;
}

static void meminfo(int fd, unsigned *rmem_alloc, unsigned *rcvbuf) {
    unsigned mem[SK_MEMINFO_VARS + 8] = {0};
    socklen_t len = sizeof mem;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0) die("SO_MEMINFO");
    *rmem_alloc = mem[SK_MEMINFO_RMEM_ALLOC];
    *rcvbuf = mem[SK_MEMINFO_RCVBUF];
}

/* ss's view of this connection: the MPTCP socket (ss -M) and each subflow by its four addresses. */
static void show_state(int fd, int port) {
    struct { struct subflow_data d; struct subflow_addrs a[8]; } s;
    memset(&s, 0, sizeof s);
    s.d.size_subflow_data = sizeof s.d;
    s.d.size_user = sizeof s.a[0];
    socklen_t len = sizeof s;
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    getpeername(fd, (struct sockaddr *) &peer, &plen);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ss -nmiM state established '( sport = :%d and dport = :%d )' | sed 's/^/    /'",
             port, ntohs(peer.sin_port));
    fflush(stdout);
    if (system(cmd) != 0) printf("    (ss -M failed)\n");
    if (getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS, &s, &len) < 0) {
        printf("    MPTCP_SUBFLOW_ADDRS: %s\n", strerror(errno));
        return;
    }
    for (unsigned i = 0; i < s.d.num_subflows && i < 8; i++) {
        struct sockaddr_in *l = (struct sockaddr_in *) &s.a[i].local, *r = (struct sockaddr_in *) &s.a[i].remote;
        char la[32], ra[32];
        inet_ntop(AF_INET, &l->sin_addr, la, sizeof la);
        inet_ntop(AF_INET, &r->sin_addr, ra, sizeof ra);
        snprintf(cmd, sizeof cmd, "ss -tnmi state established 'src %s:%d and dst %s:%d' | sed 's/^/    /'",
                 la, ntohs(l->sin_port), ra, ntohs(r->sin_port));
        fflush(stdout);
        if (system(cmd) != 0) printf("    (ss failed)\n");
    }
}

static int receiver(int port, int conns) {
    long accept_delay = env("ACCEPT_DELAY_MS", 0), read_pause = env("READ_PAUSE_MS", 0);
    long stall_ms = env("STALL_MS", 3000), unblock = env("UNBLOCK", 1), deadline_s = env("DEADLINE_S", 120);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_MPTCP), one = 1;
    if (l < 0) die("socket(IPPROTO_MPTCP)");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(l, (struct sockaddr *) &a, sizeof a) < 0 || listen(l, 4096) < 0) die("bind/listen");
    struct conn *c = calloc(conns, sizeof *c);
    struct pollfd *p = calloc(conns + 1, sizeof *p);
    int *index = calloc(conns + 1, sizeof *index);
    int accepted = 0, finished = 0, stalls = 0, stuck = 0, unblocked = 0;
    double next_accept = now_ms() + accept_delay, start = now_ms();
    static char buf[1 << 16];
    printf("receiver: port %d, %d connections, accept every %ld ms, first read %ld ms after accept, "
           "inspect after %ld ms of silence, unblock %s\n", port, conns, accept_delay, read_pause, stall_ms,
           unblock ? "on" : "off");
    fflush(stdout);
    while (finished < conns && now_ms() - start < deadline_s * 1e3) {
        int n = 0;
        double t = now_ms();
        if (accepted < conns && t >= next_accept) {
            p[n] = (struct pollfd) {.fd = l, .events = POLLIN};
            index[n++] = -1;
        }
        for (int i = 0; i < accepted; i++) {
            if (!c[i].open || t < c[i].accepted_at + read_pause) continue;
            p[n] = (struct pollfd) {.fd = c[i].fd, .events = POLLIN};
            index[n++] = i;
        }
        if (poll(p, n, 100) < 0 && errno != EINTR) die("poll");
        t = now_ms();
        for (int k = 0; k < n; k++) {
            if (!p[k].revents) continue;
            if (index[k] < 0) {
                while (accepted < conns) {
                    int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    c[accepted] = (struct conn) {.fd = fd, .open = 1, .accepted_at = t, .last_progress_at = t};
                    accepted++;
                }
                if (accept_delay) next_accept = t + accept_delay;
                continue;
            }
            struct conn *x = &c[index[k]];
            for (;;) {
                ssize_t r = read(x->fd, buf, sizeof buf);
                if (r > 0) {
                    x->received += r;
                    x->last_progress_at = t;
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    if (r < 0) printf("conn %d: read: %s after %ld bytes\n", index[k], strerror(errno), x->received);
                    if (x->stuck)
                        printf("conn %d: finished after unblocking: %ld bytes in %.0f ms\n", index[k], x->received,
                               t - x->accepted_at);
                    close(x->fd);
                    x->open = 0;
                    finished++;
                }
                break;
            }
        }
        /* connections silent for too long: look at their receive path */
        for (int i = 0; i < accepted; i++) {
            struct conn *x = &c[i];
            if (!x->open || t - x->last_progress_at < stall_ms || t < x->accepted_at + read_pause) continue;
            if (x->reported && !unblock) continue;
            unsigned held, rcvbuf;
            meminfo(x->fd, &held, &rcvbuf);
            int readable = inq(x->fd);
            int stopped = held > rcvbuf && readable == 0;
            stalls += !x->reported;
            if (!x->reported) {
                printf("conn %d: silent for %.0f ms after %ld bytes (%.0f ms after accept): SO_MEMINFO rmem_alloc %u "
                       "rcvbuf %u, SIOCINQ %d%s\n", i, t - x->last_progress_at, x->received, t - x->accepted_at,
                       held, rcvbuf, readable, stopped ? " -> STOPPED: held over the buffer, nothing readable" : "");
                if (stopped || getenv("SHOW_ALL")) show_state(x->fd, port);
                x->reported = 1;
                if (stopped) {
                    x->stuck = 1;
                    stuck++;
                }
            }
            if (stopped && unblock) {
                int size = (int) held * 2;
                if (setsockopt(x->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 &&
                    setsockopt(x->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0)
                    perror("SO_RCVBUF");
                int after = inq(x->fd);
                meminfo(x->fd, &held, &rcvbuf);
                printf("conn %d: SO_RCVBUF %d: rcvbuf %u, rmem_alloc %u, SIOCINQ %d%s\n", i, size, rcvbuf, held, after,
                       after > 0 ? " -> readable again" : "");
                unblocked += after > 0;
            }
            x->last_progress_at = t; /* look again after another STALL_MS */
        }
        fflush(stdout);
    }
    if (finished < conns)
        printf("receiver: gave up after %ld s: %d of %d connections accepted, %d finished\n", deadline_s, accepted,
               conns, finished);
    printf("receiver: %d connections in %.1f s, %d went silent for %ld ms, %d of them STOPPED "
           "(rmem_alloc > rcvbuf, SIOCINQ 0), %d readable again after SO_RCVBUF\n",
           conns, (now_ms() - start) / 1e3, stalls, stall_ms, stuck, unblocked);
    return stuck > 100 ? 100 : stuck;
}

/* ---------------------------------------------------------------- sender */

static struct sockaddr_in server;
static long size;
static int per_thread;
static double slowest;
static int failed, slow_ones;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *send_connections(void *arg) {
    (void) arg;
    static __thread char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < per_thread; i++) {
        double t0 = now_ms();
        int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
        struct timeval timeout = {.tv_sec = 300};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *) &server, sizeof server) == 0;
        for (long sent = 0; ok && sent < size;) {
            ssize_t w = write(fd, buf, size - sent < (long) sizeof buf ? (size_t) (size - sent) : sizeof buf);
            if (w < 0 && errno != EINTR) ok = 0;
            if (w > 0) sent += w;
        }
        if (ok) shutdown(fd, SHUT_WR);
        while (ok && read(fd, buf, sizeof buf) > 0) {
        }
        double took = now_ms() - t0;
        pthread_mutex_lock(&lock);
        if (!ok && !failed++) perror("sender: connect/write/read");
        if (took > slowest) slowest = took;
        if (took > 2000) slow_ones++;
        pthread_mutex_unlock(&lock);
        if (fd >= 0) close(fd);
    }
    return NULL;
}

static int sender(const char *ip, int port, int conns, int parallel) {
    size = env("SIZE", 1 << 20);
    server = (struct sockaddr_in) {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &server.sin_addr) != 1) die("address");
    per_thread = conns / parallel;
    pthread_t *t = calloc(parallel, sizeof *t);
    double t0 = now_ms();
    for (int i = 0; i < parallel; i++) pthread_create(&t[i], NULL, send_connections, NULL);
    for (int i = 0; i < parallel; i++) pthread_join(t[i], NULL);
    printf("sender: %d connections of %ld bytes, %d at a time, in %.1f s; %d failed, %d took over 2 s, "
           "slowest %.0f ms\n", per_thread * parallel, size, parallel, (now_ms() - t0) / 1e3, failed, slow_ones,
           slowest);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && argv[1][0] == 's') return receiver(atoi(argv[2]), atoi(argv[3]));
    if (argc == 6 && argv[1][0] == 'c') return sender(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: %s s PORT CONNS | c IP PORT CONNS PARALLEL\n", argv[0]);
    return 200;
}
