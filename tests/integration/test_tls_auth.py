# SPDX-License-Identifier: GPL-2.0-only
"""TLS and HTTP basic auth, checked with curl against the real daemon.

A throwaway self-signed certificate (openssl) and a SHA-512 crypt hash (openssl passwd -6; a
bcrypt one too when Python's crypt module can make it). The right credentials get in over IPv4
and IPv6, wrong or missing ones get 401 with a Basic challenge, /-/healthy stays open, plain
HTTP to the TLS port gets nothing, and no password, nor its base64 form, ever reaches the
daemon's log (run at debug level). A key file readable by others is a warning; a missing,
garbled or mismatched key is a start-up error naming the file."""
import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import RAWTPD, Checker, Daemon, free_port, require_root, skip  # noqa: E402

USER = "prometheus"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def curl(url, *args):
    """(HTTP status or 0, curl exit code, headers text) for one request."""
    r = run(["curl", "-sS", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}",
             "--max-time", "10", *args, url])
    lines = r.stdout.strip().splitlines()
    code = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return code, r.returncode, r.stdout


class Rawtpd(Daemon):
    """The daemon with a config file; ready once /-/healthy answers 200 over TLS (curl)."""

    def __init__(self, tmp, config, port, extra=(), tls=True):
        super().__init__(argv=["--config", config, "--interval", "500ms", "--log-level", "debug",
                               "--listen", f"127.0.0.1:{port}", "--listen", f"[::1]:{port}",
                               *extra],
                         port=port, log_path=os.path.join(tmp, f"rawtpd-{port}.log"))
        self.tls = tls

    def url(self, path, host="127.0.0.1"):
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def wait(self, cacert):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            args = ["--cacert", cacert] if self.tls else []
            if curl(self.url("/-/healthy"), *args)[0] == 200:
                return True
            time.sleep(0.1)
        return False


def write_config(path, cert=None, key=None, hashed=None):
    with open(path, "w") as f:
        f.write("[http]\n")
        if cert:
            f.write(f"tls_cert = {cert}\ntls_key = {key}\n")
        if hashed:
            f.write(f"basic_auth_user = {USER}\nbasic_auth_password_hash = {hashed}\n")


def start_fails(t, tmp, what, config, expect_in_message):
    port = free_port()
    r = run([RAWTPD, "--config", config, "--listen", f"127.0.0.1:{port}", "--interval", "1s"])
    msg = (r.stdout + r.stderr).strip()
    t.check(r.returncode != 0 and expect_in_message in msg,
            f"{what}: exit {r.returncode}, {msg.splitlines()[-1] if msg else '(no message)'}")


def main():
    require_root()
    for tool in ("curl", "openssl"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed")
    if not socket.has_ipv6:
        skip("no IPv6")
    t = Checker()
    tmp = tempfile.mkdtemp(prefix="rawtpd-tls-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
             "1", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"])
    if r.returncode != 0:
        skip(f"openssl req failed: {r.stderr}")
    os.chmod(key, 0o600)
    password = "pw-" + secrets.token_hex(12)
    wrong = "wrong-" + secrets.token_hex(12)
    hashed = run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n").stdout.strip()
    t.check(hashed.startswith("$6$"), "openssl passwd -6 made a SHA-512 crypt hash")
    secrets_to_hide = [password, wrong,
                       base64.b64encode(f"{USER}:{password}".encode()).decode(),
                       base64.b64encode(f"{USER}:{wrong}".encode()).decode()]

    config = os.path.join(tmp, "tls-auth.conf")
    write_config(config, cert, key, hashed)
    d = Rawtpd(tmp, config, free_port())
    try:
        t.check(d.wait(cert), "daemon with TLS and basic auth became healthy (curl, HTTPS)")
        ca = ["--cacert", cert]
        good = ["-u", f"{USER}:{password}"]
        for path in ["/metrics", "/api/v1/processes", "/api/v1/status", "/"]:
            code, _, _ = curl(d.url(path), *ca, *good)
            t.check(code == 200, f"right credentials: {path} -> {code}")
        code, _, _ = curl(d.url("/metrics", "[::1]"), "-g", *ca, *good)
        t.check(code == 200, f"right credentials over IPv6 [::1] -> {code}")
        code, _, _ = curl(d.url("/metrics", "localhost"), *ca, *good, "--resolve",
                          f"localhost:{d.port}:127.0.0.1")
        t.check(code == 200, f"certificate verifies by name (localhost) -> {code}")
        for what, args in [("wrong password", ["-u", f"{USER}:{wrong}"]),
                           ("wrong user", ["-u", f"someone:{password}"]),
                           ("empty password", ["-u", f"{USER}:"]),
                           ("no credentials", []),
                           ("user with a colon", ["-u", f"{USER}:{password}:x"]),
                           ("bearer token", ["-H", f"Authorization: Bearer {password}"]),
                           ("garbled basic", ["-H", "Authorization: Basic !!!notbase64"])]:
            code, _, hdrs = curl(d.url("/metrics"), *ca, *args)
            challenge = any(line.lower().startswith("www-authenticate: basic")
                            for line in hdrs.splitlines())
            t.check(code == 401 and challenge, f"{what}: {code}, Basic challenge {challenge}")
        code, _, _ = curl(d.url("/api/v1/status"), *ca)
        t.check(code == 401, f"/api/v1/status without credentials -> {code}")
        code, _, _ = curl(d.url("/nope"), *ca)
        t.check(code == 401, f"an unknown path without credentials -> {code} (no probing)")
        code, _, _ = curl(d.url("/-/healthy"), *ca)
        t.check(code == 200, f"/-/healthy stays open without credentials -> {code}")
        code, _, _ = curl(d.url("/metrics"), *ca, *good, "-X", "POST")
        t.check(code == 405, f"POST with the right credentials -> {code}")
        code, rc, _ = curl(f"http://127.0.0.1:{d.port}/metrics", *good)
        t.check(code not in (200, 401), f"plain HTTP to the TLS port: no answer (curl exit "
                f"{rc}, status {code})")
        code, rc, _ = curl(d.url("/metrics"), *good)
        t.check(code == 0 and rc != 0, f"self-signed certificate refused without --cacert "
                f"(curl exit {rc})")
        code, rc, _ = curl(d.url("/metrics"), *ca, *good, "--tlsv1.0", "--tls-max", "1.1")
        print(f"  TLS 1.0/1.1 only: curl exit {rc}, status {code}")
        t.check(d.proc.poll() is None, "still running")
        d.stop()
        logs = d.logs()
        t.check("401" in logs and "/metrics" in logs, "debug log records the requests")
        leaked = [s for s in secrets_to_hide if s in logs]
        t.check(not leaked, f"no password nor its base64 in the log ({len(logs)} bytes read)")
        t.check(hashed not in logs, "the password hash is not in the log either")
        t.check("can be read by" not in logs, "no warning for a key of mode 0600")
    finally:
        d.stop()

    # bcrypt, basic auth over plain HTTP, and a key readable by everyone (a warning).
    bcrypt_hash = None
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
        bcrypt_hash = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    except (ImportError, ValueError, AttributeError):
        pass
    if bcrypt_hash and bcrypt_hash.startswith("$2"):
        plain = os.path.join(tmp, "bcrypt.conf")
        write_config(plain, hashed=bcrypt_hash)
        d = Rawtpd(tmp, plain, free_port(), tls=False)
        try:
            t.check(d.wait(cert), "daemon with a bcrypt hash, plain HTTP")
            code, _, _ = curl(d.url("/metrics"), "-u", f"{USER}:{password}")
            t.check(code == 200, f"bcrypt: right password -> {code}")
            code, _, _ = curl(d.url("/metrics"), "-u", f"{USER}:{wrong}")
            t.check(code == 401, f"bcrypt: wrong password -> {code}")
            d.stop()
            t.check(not [s for s in secrets_to_hide if s in d.logs()], "bcrypt: nothing leaked")
        finally:
            d.stop()
    else:
        print("  (no bcrypt hash could be made here: skipped that part)")

    os.chmod(key, 0o644)
    d = Rawtpd(tmp, config, free_port())
    try:
        t.check(d.wait(cert), "starts with a key readable by everyone")
        d.stop()
        t.check("can be read by" in d.logs(), "... and warns about its mode")
    finally:
        d.stop()
    os.chmod(key, 0o600)

    # Start-up errors name the file.
    missing = os.path.join(tmp, "missing.conf")
    write_config(missing, cert, os.path.join(tmp, "nope.pem"), hashed)
    start_fails(t, tmp, "missing key file", missing, "nope.pem")
    junk_key = os.path.join(tmp, "junk.pem")
    with open(junk_key, "w") as f:
        f.write("this is not a key\n")
    os.chmod(junk_key, 0o600)
    junk = os.path.join(tmp, "junk.conf")
    write_config(junk, cert, junk_key, hashed)
    start_fails(t, tmp, "key file not in PEM", junk, "junk.pem")
    other_key = os.path.join(tmp, "other.pem")
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-out", other_key])
    os.chmod(other_key, 0o600)
    mismatch = os.path.join(tmp, "mismatch.conf")
    write_config(mismatch, cert, other_key, hashed)
    start_fails(t, tmp, "key of another certificate", mismatch, "tls")
    half = os.path.join(tmp, "half.conf")
    with open(half, "w") as f:
        f.write(f"[http]\ntls_cert = {cert}\n")
    r = run([RAWTPD, "--check-config", "--config", half])
    t.check(r.returncode == 2, f"tls_cert without tls_key: --check-config exit {r.returncode}")
    badhash = os.path.join(tmp, "badhash.conf")
    with open(badhash, "w") as f:
        f.write(f"[http]\nbasic_auth_user = {USER}\nbasic_auth_password_hash = {password}\n")
    r = run([RAWTPD, "--check-config", "--config", badhash])
    t.check(r.returncode == 2 and password not in r.stdout + r.stderr,
            f"a plain password as the hash: exit {r.returncode}, not echoed")
    shutil.rmtree(tmp)
    t.done()


main()
