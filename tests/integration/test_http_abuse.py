# SPDX-License-Identifier: GPL-2.0-only
"""Hostile HTTP clients against the real daemon on loopback.

- malformed requests, each with the right status: huge headers and URLs (431/414), bad methods
  (405 with Allow), bad paths (404), bad query values (400 with a JSON reason), HTTP/0.9 and
  binary garbage, NUL bytes, bodies where none belong, unsupported versions;
- 1000 idle connections from 16 loopback addresses (each under the per-address limit) plus a
  slowloris client dribbling one header byte a second, while a normal scrape still succeeds at
  once and finds every idle connection still held by the server;
- one address opening more connections than the per-address limit: the rest are refused and
  scrapes from other addresses are not affected.
After each part the daemon must still be healthy."""
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import RAWTPD, Checker, Daemon, free_port, require_root  # noqa: E402

IDLE = 1000          # idle connections held open ...
IDLE_ADDRS = 16      # ... from this many source addresses (127.0.1.1 ..)
PER_IP_LIMIT = 64    # daemon/http.c HTTP_PER_IP_LIMIT
SCRAPE_TIMEOUT = 8   # below the daemon's 10 s connection timeout: a scrape queued behind idle
                     # connections would only get through once they time out


def raw(port, data, src="127.0.0.1", timeout=10, limit=1 << 20):
    """Send data, return (status or None, headers dict, body bytes) of the first response."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    out = b""
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        while len(out) < limit:
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                hdrs = parse_headers(head)
                n = int(hdrs.get("content-length", "-1"))
                if n >= 0 and len(body) >= n:
                    break
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = None
    if head.startswith(b"HTTP/1."):
        try:
            status = int(head.split(b" ", 2)[1])
        except ValueError:
            pass
    return status, parse_headers(head), body


def parse_headers(head):
    hdrs = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode(errors="replace")] = v.strip().decode(errors="replace")
    return hdrs


def alive(s):
    """Is a client socket still open at the server's end (no FIN or RST received)?"""
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def get(d, path, src="127.0.0.1", timeout=SCRAPE_TIMEOUT):
    return raw(d.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
               src=src, timeout=timeout)


def malformed(t, d):
    H = b"Host: localhost\r\nConnection: close\r\n"
    p = d.port
    cases = [
        # (what, request, acceptable statuses)
        ("huge header (70 KiB)",
         b"GET /metrics HTTP/1.1\r\n" + H + b"X-A: " + b"a" * 70000 + b"\r\n\r\n", {431, 400}),
        ("3000 headers",
         b"GET /metrics HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(3000))
         + b"\r\n", {431, 400}),
        ("huge URL (70 KiB)", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n" + H + b"\r\n",
         {414, 431, 400}),
        ("huge query", b"GET /api/v1/processes?comm=" + b"a" * 40000 + b" HTTP/1.1\r\n" + H
         + b"\r\n", {414, 431, 400}),
        ("HTTP/0.9 request line", b"GET /metrics\r\n\r\n", {400}),
        ("request line without a version", b"GET /metrics \r\n" + H + b"\r\n", {400, 505}),
        ("HTTP/2.0 in a 1.1 request line", b"GET /metrics HTTP/2.0\r\n" + H + b"\r\n", {505}),
        ("header line without a colon", b"GET /metrics HTTP/1.1\r\n" + H + b"garbage\r\n\r\n",
         {400}),
        ("negative Content-Length", b"GET /metrics HTTP/1.1\r\n" + H
         + b"Content-Length: -1\r\n\r\n", {400}),
        ("Content-Length past 2^64", b"GET /metrics HTTP/1.1\r\n" + H
         + b"Content-Length: 99999999999999999999999\r\n\r\n", {400, 413}),
        # libmicrohttpd 1.0 (Debian 13) closes the connection without an answer (None);
        # 0.9.75 (Debian 12) answers 400. Either way the path never reaches rawtpd.
        ("NUL in the path", b"GET /met\x00rics HTTP/1.1\r\n" + H + b"\r\n", {400, 404, None}),
        ("NUL in a header value", b"GET /metrics HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
         {200, 400}),
        ("control byte in the path", b"GET /metrics\x01 HTTP/1.1\r\n" + H + b"\r\n", {400, 404}),
        ("POST with a body", b"POST /metrics HTTP/1.1\r\n" + H
         + b"Content-Length: 3\r\n\r\nabc", {405}),
        ("chunked POST", b"POST /metrics HTTP/1.1\r\n" + H
         + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", {405}),
        ("Content-Length and chunked together", b"POST /metrics HTTP/1.1\r\n" + H
         + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400, 405}),
        ("PUT", b"PUT /metrics HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n", {405}),
        ("DELETE", b"DELETE /api/v1/processes HTTP/1.1\r\n" + H + b"\r\n", {405}),
        ("OPTIONS", b"OPTIONS /metrics HTTP/1.1\r\n" + H + b"\r\n", {405}),
        ("TRACE", b"TRACE /-/healthy HTTP/1.1\r\n" + H + b"\r\n", {405}),
        ("PATCH", b"PATCH /api/v1/status HTTP/1.1\r\n" + H + b"\r\n", {405}),
        ("unknown method", b"FROB / HTTP/1.1\r\n" + H + b"\r\n", {405}),
        ("lower-case get (methods are case-sensitive)", b"get /metrics HTTP/1.1\r\n" + H
         + b"\r\n", {405}),
        ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n" + H + b"\r\n", {404, 405, 400}),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", {404, 405, 400}),
        ("path /metricsx", b"GET /metricsx HTTP/1.1\r\n" + H + b"\r\n", {404}),
        ("path /metrics/", b"GET /metrics/ HTTP/1.1\r\n" + H + b"\r\n", {404}),
        ("path //metrics", b"GET //metrics HTTP/1.1\r\n" + H + b"\r\n", {404}),
        ("path /../metrics", b"GET /../metrics HTTP/1.1\r\n" + H + b"\r\n", {404, 400}),
        ("path /api/v1/processes/1", b"GET /api/v1/processes/1 HTTP/1.1\r\n" + H + b"\r\n",
         {404}),
        ("path with 4 KiB of slashes", b"GET /" + b"/" * 4096 + b" HTTP/1.1\r\n" + H + b"\r\n",
         {404}),
        ("path with invalid UTF-8", b"GET /\xff\xfe HTTP/1.1\r\n" + H + b"\r\n", {404, 400}),
    ]
    for what, req, ok in cases:
        status, hdrs, body = raw(p, req)
        t.check(status in ok, f"{what}: {status} (want {sorted(ok, key=str)})")
        if status == 405:
            t.check(hdrs.get("allow", "").replace(" ", "") == "GET,HEAD",
                    f"{what}: Allow: {hdrs.get('allow')}")

    # Bad query values: 400 with a JSON reason naming the parameter.
    for q in ["top=0", "top=-1", "top=abc", "top=1000001", "top=99999999999", "top=1.5",
              "top=", "top", "sort=bogus", "sort=CPU", "pid=0", "pid=4194305", "pid=0x10",
              "comm=%ff", "comm=%00", "comm=" + "a" * 100, "top=1&top=2", "bogus=1",
              "pid=1%00", "=1", "%00=1"]:
        status, hdrs, body = get(d, "/api/v1/processes?" + q)
        try:
            doc = json.loads(body)
            why = doc.get("error")
        except ValueError:
            why = None
        t.check(status == 400 and why and hdrs.get("content-type") == "application/json",
                f"?{q[:40]}: {status} {why!r}")
    for q in ["top=1", "top=1000000", "sort=cpu", "sort=involuntary&top=3", "pid=1",
              "pid=4194304", "comm=rawtpd", "comm=%C3%A9", "comm=%5Cx41", "comm=a+b"]:
        status, _, body = get(d, "/api/v1/processes?" + q)
        ok = status == 200
        if ok:
            try:
                json.loads(body)
            except ValueError:
                ok = False
        t.check(ok, f"?{q}: {status}, JSON")

    # HEAD: headers, no body.
    status, hdrs, body = raw(p, b"HEAD /metrics HTTP/1.1\r\n" + H + b"\r\n")
    t.check(status == 200 and body == b"", f"HEAD /metrics: {status}, {len(body)} body bytes")

    # Garbage that never ends a line (a TLS ClientHello, random bytes) gets no answer but
    # must not take the server down; the connection timeout closes it.
    for junk in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50,
                 bytes(range(256)) * 4]:
        s = socket.create_connection(("127.0.0.1", p))
        s.sendall(junk)
        s.close()
    t.check(d.get("/-/healthy")[0] == 200, "healthy after the malformed requests")


def idle_and_slowloris(t, d):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + PER_IP_LIMIT * 3 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    socks = []
    stop = threading.Event()
    slow_sent = [0]
    slow_err = []

    def slowloris():
        """One header byte a second: MHD's timeout is per idle period, so this stays open."""
        try:
            s = socket.socket()
            s.bind(("127.0.2.1", 0))
            s.connect(("127.0.0.1", d.port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            for _ in range(600):
                if stop.wait(1):
                    break
                s.sendall(b"a")
                slow_sent[0] += 1
            s.close()
        except OSError as e:
            slow_err.append(e)

    th = threading.Thread(target=slowloris)
    th.start()
    try:
        for i in range(IDLE):
            s = socket.socket()
            s.bind((f"127.0.1.{1 + i % IDLE_ADDRS}", 0))
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", d.port))
            except BlockingIOError:
                pass
            socks.append(s)
        # Wait until the server has accepted them (counted in its fds), bounded.
        pid = d.proc.pid
        deadline = time.time() + 20
        fds = 0
        while time.time() < deadline:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            if fds >= IDLE:
                break
            time.sleep(0.1)
        print(f"  server holds {fds} fds with {IDLE} idle connections open")
        t.check(fds >= IDLE, f"server accepted all {IDLE} idle connections ({fds} fds)")
        deadline = time.time() + 10
        while slow_sent[0] < 2 and th.is_alive() and time.time() < deadline:
            time.sleep(0.1)
        t0 = time.time()
        status, _, body = get(d, "/metrics")
        dt = time.time() - t0
        print(f"  scrape with {IDLE} idle connections and a slowloris open: {status} "
              f"in {dt:.3f} s")
        t.check(status == 200 and b"rawtpd_build_info" in body,
                f"scrape succeeds while {IDLE} idle connections are held")
        status, _, _ = get(d, "/api/v1/processes?top=1")
        t.check(status == 200, "JSON request succeeds too")
        held = sum(alive(s) for s in socks)
        t.check(held == IDLE, f"every idle connection still open during the scrape ({held})")
        t.check(th.is_alive() and not slow_err,
                f"slowloris still connected ({slow_sent[0]} bytes dribbled)")
        # The connection timeout (10 s without a byte) closes the idle ones; bounded wait.
        deadline = time.time() + 30
        while time.time() < deadline:
            held = sum(alive(s) for s in socks)
            if held == 0:
                break
            time.sleep(0.5)
        t.check(held == 0, f"the server timed out the idle connections ({held} left)")
        # MHD's timeout counts idle time, so a byte every second keeps a slowloris open;
        # the per-address and total connection limits are what bound it.
        print(f"  slowloris after {slow_sent[0]} s: "
              f"{'still open' if th.is_alive() and not slow_err else slow_err}")
    finally:
        stop.set()
        th.join()
        for s in socks:
            s.close()
    t.check(d.get("/-/healthy")[0] == 200, "healthy after the idle connections")


def per_ip_limit(t, d):
    socks = []
    try:
        for _ in range(PER_IP_LIMIT * 2):
            s = socket.socket()
            s.bind(("127.0.3.1", 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", d.port))
            s.setblocking(False)
            socks.append(s)
        deadline = time.time() + 10
        held = len(socks)
        while time.time() < deadline:
            held = sum(alive(s) for s in socks)
            if held <= PER_IP_LIMIT:
                break
            time.sleep(0.1)
        print(f"  one address, {len(socks)} connections: {held} held")
        t.check(held <= PER_IP_LIMIT, f"per-address limit: {held} of {len(socks)} held")
        status, _, _ = get(d, "/metrics")
        t.check(status == 200, "a scrape from another address is unaffected")
    finally:
        for s in socks:
            s.close()


def dual_stack(t):
    """--listen :PORT is every address, IPv6 and IPv4 on one socket."""
    if not socket.has_ipv6:
        print("  no IPv6: dual-stack check skipped")
        return
    port = free_port()
    log = open(f"/tmp/rawtpd-test-{os.getpid()}-{port}.log", "w+")
    p = subprocess.Popen([RAWTPD, "--listen", f":{port}", "--interval", "500ms",
                          "--config", "/dev/null"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        ok4 = ok6 = False
        while time.time() < deadline and p.poll() is None and not (ok4 and ok6):
            for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                try:
                    s = socket.socket(fam)
                    s.settimeout(5)
                    s.connect((host, port))
                    s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        ok4, ok6 = (True, ok6) if fam == socket.AF_INET else (ok4, True)
                    s.close()
                except OSError:
                    pass
            time.sleep(0.1)
        t.check(ok4 and ok6, f"--listen :{port} answers on 127.0.0.1 ({ok4}) and ::1 ({ok6})")
    finally:
        p.terminate()
        p.wait(20)


def main():
    require_root()
    t = Checker()
    with Daemon(interval="500ms") as d:
        malformed(t, d)
        idle_and_slowloris(t, d)
        per_ip_limit(t, d)
        t.check(d.get("/-/healthy")[0] == 200, "healthy at the end")
        rc = d.stop()
        t.check(rc == 0, f"clean stop (exit {rc})")
    dual_stack(t)
    t.done()


main()
