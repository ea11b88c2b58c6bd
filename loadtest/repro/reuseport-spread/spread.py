#!/usr/bin/env python3
"""Listeners of one SO_REUSEPORT group, one per would-be event loop: how many connections each accepts.

    spread.py serve MODE PORT N     MODE: plain | transparent | mptcp; prints accepts per listener on stdin EOF
    spread.py connect HOST PORT COUNT [mptcp]
"""
import os
import select
import socket
import sys

IP_TRANSPARENT = 19
IPPROTO_MPTCP = 262


def serve(mode, port, n):
    listeners = []
    for _ in range(n):
        proto = IPPROTO_MPTCP if mode == "mptcp" else 0
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if mode == "transparent":
            s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        s.bind(("0.0.0.0", port))
        s.listen(1024)
        s.setblocking(False)
        listeners.append(s)
    counts = [0] * n
    print("ready", flush=True)
    poller = select.poll()
    for s in listeners:
        poller.register(s.fileno(), select.POLLIN)
    poller.register(sys.stdin.fileno(), select.POLLIN)
    by_fd = {s.fileno(): i for i, s in enumerate(listeners)}
    while True:
        for fd, _ in poller.poll():
            if fd == sys.stdin.fileno():
                print("accepts per listener:", counts, flush=True)
                return
            i = by_fd[fd]
            try:
                c, _ = listeners[i].accept()
                counts[i] += 1
                c.close()
            except BlockingIOError:
                pass


def connect(host, port, count, mptcp):
    for _ in range(count):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP if mptcp else 0)
        c.connect((host, port))
        c.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), len(sys.argv) > 5)
