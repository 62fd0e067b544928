#!/usr/bin/env python3
"""Raw TLS clients for tests/integration/test_server_hostile.sh: things curl and s_client cannot
do (stream a never-ending chunk line and watch the server's memory, hang up mid-request or
mid-answer, hold a keep-alive connection across SIGTERM, try session resumption). Every loop is
bounded; every connection goes to 127.0.0.1."""
import os
import socket
import ssl
import sys
import time


def ctx_new(ca, tls=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # the dev certificate names 127.0.0.1, localhost
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif tls == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def connect(port, ca, tls=None, session=None, ctx=None):
    ctx = ctx or ctx_new(ca, tls)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, session=session)


def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def read_answer(s, timeout=10):
    """One HTTP answer as "STATUS BODY" (Content-Length framed), or None if closed."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return head.split(b" ")[1].decode() + " " + body.decode(errors="replace")
    except (OSError, ssl.SSLError):
        return None


def flood(port, ca, pid, mode, mib):
    """Stream `mib` MiB that evhttp can never parse as a line: a chunk-size line ("size") or a
    trailer line ("trailer") without an end. Prints closed=0|1 sent_mib=N rss_growth_kb=N."""
    s = connect(port, ca)
    head = b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    if mode == "trailer":
        head += b"2\r\n{}\r\n0\r\nX-Trailer: "
    s.sendall(head)
    time.sleep(0.2)
    before = rss_kb(pid)
    block = (b"0" if mode == "size" else b"a") * 65536
    sent, closed = 0, 0
    s.settimeout(5)
    try:
        for _ in range(mib * 16):
            s.sendall(block)
            sent += len(block)
    except socket.timeout:
        pass  # the server stopped reading but did not close: not what the check wants
    except (OSError, ssl.SSLError):
        closed = 1
    time.sleep(0.3)
    grown = rss_kb(pid) - before
    if not closed:
        try:
            s.settimeout(2)
            closed = 1 if s.recv(1) == b"" else 0
        except (OSError, ssl.SSLError):
            closed = 0
    print("closed=%d sent_mib=%d rss_growth_kb=%d" % (closed, sent >> 20, grown))


def pipeline(port, ca, size):
    """Two PUTs with Content-Length bodies of `size` bytes in one write: print both statuses."""
    body = b'{"key":"' + b"a" * (size - 10) + b'"}'
    req = (b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    s = connect(port, ca)
    s.sendall(req + req)
    out = []
    for _ in range(2):
        a = read_answer(s)
        out.append(a.split(" ")[0] if a else "closed")
    print(" ".join(out))


def hangup(port, ca, token, body_file, when, n):
    """n requests with body_file to transit/sign/k, each abandoned: "request" closes right after
    sending, "reply" after the first bytes of the answer (RST: SO_LINGER 0)."""
    with open(body_file, "rb") as f:
        body = f.read()
    req = (b"POST /v1/transit/sign/k HTTP/1.1\r\nHost: x\r\nX-Vault-Token: %s\r\n"
           b"Content-Length: %d\r\n\r\n" % (token.encode(), len(body))) + body
    for _ in range(n):
        s = connect(port, ca)
        s.sendall(req)
        if when == "reply":
            s.settimeout(10)
            try:
                s.recv(100)
            except (OSError, ssl.SSLError):
                pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    print("done")


def inflight(port, ca, token, body_file, n, sent):
    """n batch requests on n connections, all sent before `sent` is touched; then print the n
    statuses ("closed" for a connection closed without an answer)."""
    with open(body_file, "rb") as f:
        body = f.read()
    req = (b"POST /v1/transit/sign/k HTTP/1.1\r\nHost: x\r\nX-Vault-Token: %s\r\n"
           b"Content-Length: %d\r\n\r\n" % (token.encode(), len(body))) + body
    conns = [connect(port, ca) for _ in range(n)]
    for s in conns:
        s.sendall(req)
    open(sent, "w").close()
    out = []
    for s in conns:
        a = read_answer(s, 20)
        out.append(a.split(" ")[0] if a else "closed")
    print(" ".join(out))


def keepalive(port, ca, ready, go):
    """A keep-alive client: one health request, touch `ready`, wait (10 s max) for `go` to
    exist, then one more request on the same connection; print its status or "closed"."""
    req = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"
    s = connect(port, ca)
    s.sendall(req)
    first = read_answer(s)
    open(ready, "w").close()
    for _ in range(1000):
        if os.path.exists(go):
            break
        time.sleep(0.01)
    try:
        s.sendall(req)
        a = read_answer(s, 15)
    except (OSError, ssl.SSLError):
        a = None
    print("first=%s second=%s" % (first.split(" ")[0] if first else "closed", a or "closed"))


def resume(port, ca, tls):
    """Two connections offering the first one's session: print reused=0|1."""
    ctx = ctx_new(ca, tls)
    s = connect(port, ca, ctx=ctx)
    s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    read_answer(s)
    sess = s.session
    s.close()
    s = connect(port, ca, session=sess, ctx=ctx)
    print("reused=%d" % (1 if s.session_reused else 0))
    s.close()


def main():
    cmd, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if cmd == "flood":
        flood(port, ca, sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "pipeline":
        pipeline(port, ca, int(sys.argv[4]))
    elif cmd == "hangup":
        hangup(port, ca, sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]))
    elif cmd == "inflight":
        inflight(port, ca, sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7])
    elif cmd == "keepalive":
        keepalive(port, ca, sys.argv[4], sys.argv[5])
    elif cmd == "resume":
        resume(port, ca, sys.argv[4])


if __name__ == "__main__":
    main()
