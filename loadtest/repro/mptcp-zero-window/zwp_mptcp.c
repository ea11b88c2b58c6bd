/* Standalone: does an MPTCP receiver that stops reading, then reads again, get its data flowing again at once?
 * server: zwp_mptcp s PORT                       writes 64 KiB chunks until the peer closes
 * client: zwp_mptcp c IP PORT CYCLES PAUSE_MS    per cycle: read for 1 s, stop reading for PAUSE_MS (the receive
 *         window closes), then read again and report the longest wait for data once the bytes queued during the
 *         pause have been read. NO_MPTCP=1 in the environment uses plain TCP for comparison; RCVBUF=N sets SO_RCVBUF. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
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
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static char buf[1 << 16];

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int proto = getenv("NO_MPTCP") ? IPPROTO_TCP : IPPROTO_MPTCP;
  if (argv[1][0] == 's') {
    int l = socket(AF_INET, SOCK_STREAM, proto), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (bind(l, (void *)&a, sizeof a) || listen(l, 16)) { perror("bind/listen"); return 1; }
    for (;;) {
      int c = accept(l, 0, 0);
      if (c < 0) continue;
      if (fork() == 0) { memset(buf, 'x', sizeof buf); while (write(c, buf, sizeof buf) > 0) { } _exit(0); }
      close(c);
    }
  }
  int s = socket(AF_INET, SOCK_STREAM, proto);
  if (getenv("RCVBUF")) { /* a fixed, small receive buffer: the queue drains at once and the window reopens at once */
    int rb = atoi(getenv("RCVBUF"));
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &a.sin_addr);
  if (connect(s, (void *)&a, sizeof a)) { perror("connect"); return 1; }
  int cycles = atoi(argv[4]), pause_ms = atoi(argv[5]);
  double worst = 0;
  for (int c = 0; c < cycles; c++) {
    double end = now() + 1.0; long got = 0; ssize_t n;
    while (now() < end && (n = read(s, buf, sizeof buf)) > 0) got += n;
    usleep(pause_ms * 1000);
    /* Drain what queued up during the pause, then time the waits for new data. */
    int queued = 0; ioctl(s, FIONREAD, &queued);
    long drained = 0;
    while (drained < queued && (n = read(s, buf, sizeof buf)) > 0) drained += n;
    double longest = 0, last = now(), stop = now() + 1.0;
    while (now() < stop && (n = read(s, buf, sizeof buf)) > 0) {
      double t = now(); if (t - last > longest) longest = t - last; last = t;
    }
    if (longest > worst) worst = longest;
    printf("cycle %d: %.0f Mb/s before the pause, %d bytes queued, longest wait for data after it %.1f ms\n",
           c + 1, got * 8 / 1e6, queued, longest * 1e3);
  }
  printf("worst wait after resuming: %.1f ms\n", worst * 1e3);
  return 0;
}
