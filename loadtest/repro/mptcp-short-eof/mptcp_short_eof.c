/*
 * Standalone check: does a bulk transfer both ways at once through MPTCP sockets on loopback end cleanly but
 * short?  No project code.  Build: gcc -O2 -pthread -o mptcp_short_eof mptcp_short_eof.c
 *
 * Modes (first argument):
 *   direct  MPTCP client <-> MPTCP server, each sends SIZE bytes, shuts its write side down, reads to EOF.
 *   relay   plain TCP client -> MPTCP listener | relay | MPTCP connect -> plain TCP backend (the kernel falls
 *           back to TCP on both MPTCP sockets), the relay forwarding each FIN as shutdown(SHUT_WR) and closing
 *           both sockets when the second direction's FIN has been forwarded (the second close without a shutdown).
 *   relay-mp the same, with the client and the backend MPTCP too (no fallback).
 * Second argument: rounds (default 100); third: bytes each way (default 16 MiB).
 * Every byte is checked (a pattern of its offset); a short stream, an error or a mismatch is printed with the
 * socket state (ss) at that moment, and the exit status is the number of failed rounds (capped at 100).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static size_t size = 16u << 20;

static unsigned char pattern(size_t offset, int seed) {
    return (unsigned char) ((offset * 2654435761u >> 13) ^ (offset >> 20) ^ (unsigned) seed);
}

static void die(const char *what) {
    perror(what);
    exit(200);
}

static int listener(int proto, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, proto);
    if (fd < 0) die("socket(listener)");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0) die("bind");
    if (listen(fd, 16) < 0) die("listen");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *) &a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_to(int proto, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, proto);
    if (fd < 0) die("socket(connect)");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *) &a, sizeof a) < 0) die("connect");
    return fd;
}

/* One end: sends its stream and half-closes (in a thread), reads the other stream to EOF and checks it. */
struct end {
    int fd;
    int send_seed, expect_seed;
    const char *name;
    pthread_t sender;
    int send_errno;
    size_t sent;
    size_t received;
    int recv_errno;
    long long first_mismatch;
};

static void *send_all(void *arg) {
    struct end *e = arg;
    static __thread unsigned char buf[1 << 16];
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i, e->send_seed);
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(e->fd, buf + done, n - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                e->send_errno = errno;
                e->sent = off + done;
                return NULL;
            }
            done += (size_t) w;
        }
        off += n;
    }
    e->sent = off;
    if (shutdown(e->fd, SHUT_WR) < 0) e->send_errno = errno;
    return NULL;
}

static void *run_end(void *arg) {
    struct end *e = arg;
    pthread_create(&e->sender, NULL, send_all, e);
    unsigned char buf[1 << 16];
    size_t off = 0;
    e->first_mismatch = -1;
    for (;;) {
        ssize_t r = read(e->fd, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            e->recv_errno = errno;
            break;
        }
        if (r == 0) break;
        for (ssize_t i = 0; i < r && e->first_mismatch < 0; i++) {
            if (off + (size_t) i >= size || buf[i] != pattern(off + (size_t) i, e->expect_seed)) {
                e->first_mismatch = (long long) (off + (size_t) i);
            }
        }
        off += (size_t) r;
    }
    e->received = off;
    pthread_join(e->sender, NULL);
    return NULL;
}

/* The relay: one thread per direction; the FIN is forwarded as shutdown(SHUT_WR), the second one closes both. */
struct relay {
    int client_side, server_side;
    pthread_mutex_t lock;
    int finished;
    size_t up, down;
    int up_errno, down_errno;
};

struct direction {
    struct relay *relay;
    int from, to;
    int upstream;
};

static void *relay_direction(void *arg) {
    struct direction *d = arg;
    struct relay *r = d->relay;
    unsigned char buf[1 << 16];
    size_t total = 0;
    int err = 0;
    for (;;) {
        ssize_t n = read(d->from, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        if (n == 0) break;
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(d->to, buf + done, (size_t) (n - done));
            if (w < 0) {
                if (errno == EINTR) continue;
                err = errno;
                goto out;
            }
            done += w;
        }
        total += (size_t) n;
    }
out:
    pthread_mutex_lock(&r->lock);
    if (d->upstream) { r->up = total; r->up_errno = err; } else { r->down = total; r->down_errno = err; }
    if (err) {
        struct linger l = {1, 0};   /* a reset on one side becomes a reset on the other, as a relay does */
        setsockopt(d->to, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        shutdown(d->to, SHUT_RDWR);
    } else if (r->finished) {
        close(r->client_side);     /* second FIN: close both, the close sends the FIN after the data */
        close(r->server_side);
    } else {
        shutdown(d->to, SHUT_WR);  /* first FIN: half-close the peer */
    }
    r->finished++;
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void dump_state(int port_a, int port_b) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ss -tanmiM '( sport = :%d or dport = :%d or sport = :%d or dport = :%d )' 1>&2",
             port_a, port_a, port_b, port_b);
    if (system(cmd) != 0) fprintf(stderr, "(ss failed)\n");
}

static int report(const char *name, struct end *e, int port_a, int port_b, int round) {
    int bad = e->received != size || e->first_mismatch >= 0 || e->recv_errno || e->send_errno || e->sent != size;
    if (bad) {
        fprintf(stderr, "round %d: %s: received %zu of %zu (%s), mismatch at %lld, recv errno %d (%s), "
                        "sent %zu, send errno %d (%s)\n",
                round, name, e->received, size, e->received < size ? "SHORT" : "length ok", e->first_mismatch,
                e->recv_errno, strerror(e->recv_errno), e->sent, e->send_errno, strerror(e->send_errno));
        dump_state(port_a, port_b);
    }
    return bad;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "relay";
    int rounds = argc > 2 ? atoi(argv[2]) : 100;
    if (argc > 3) size = strtoull(argv[3], NULL, 0);
    int relay = strncmp(mode, "relay", 5) == 0;
    int ends_proto = strcmp(mode, "relay") == 0 ? IPPROTO_TCP : IPPROTO_MPTCP;
    int failed = 0;
    for (int round = 1; round <= rounds; round++) {
        int backend_port, front_port = 0;
        int backend_listener = listener(ends_proto, &backend_port);
        int front_listener = relay ? listener(IPPROTO_MPTCP, &front_port) : -1;
        int client_fd = connect_to(ends_proto, relay ? front_port : backend_port);
        struct relay r = {.lock = PTHREAD_MUTEX_INITIALIZER};
        pthread_t up_thread, down_thread;
        struct direction up, down;
        int backend_fd;
        if (relay) {
            r.client_side = accept(front_listener, NULL, NULL);
            if (r.client_side < 0) die("accept(front)");
            r.server_side = connect_to(IPPROTO_MPTCP, backend_port);
            backend_fd = accept(backend_listener, NULL, NULL);
            if (backend_fd < 0) die("accept(backend)");
            up = (struct direction) {&r, r.client_side, r.server_side, 1};
            down = (struct direction) {&r, r.server_side, r.client_side, 0};
            pthread_create(&up_thread, NULL, relay_direction, &up);
            pthread_create(&down_thread, NULL, relay_direction, &down);
        } else {
            backend_fd = accept(backend_listener, NULL, NULL);
            if (backend_fd < 0) die("accept");
        }
        struct end client = {.fd = client_fd, .send_seed = 1, .expect_seed = 2, .name = "client"};
        struct end backend = {.fd = backend_fd, .send_seed = 2, .expect_seed = 1, .name = "backend"};
        pthread_t ct, bt;
        pthread_create(&ct, NULL, run_end, &client);
        pthread_create(&bt, NULL, run_end, &backend);
        pthread_join(ct, NULL);
        pthread_join(bt, NULL);
        int bad = report("download (client received)", &client, front_port, backend_port, round);
        bad |= report("upload (backend received)", &backend, front_port, backend_port, round);
        if (relay) {
            pthread_join(up_thread, NULL);
            pthread_join(down_thread, NULL);
            if (bad) {
                fprintf(stderr, "round %d: relay up %zu (errno %d), down %zu (errno %d)\n", round, r.up,
                        r.up_errno, r.down, r.down_errno);
            }
            close(front_listener);
        }
        failed += bad;
        close(client_fd);
        close(backend_fd);
        close(backend_listener);
    }
    printf("%s: %d rounds of %zu bytes each way, %d failed\n", mode, rounds, size, failed);
    return failed > 100 ? 100 : failed;
}
