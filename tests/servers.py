"""Real processes for the production tests and the benchmarks: gunicorn app servers, the email
worker, haproxy. Everything listens on 127.0.0.1 and is stopped by the code that started it."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# Under pytest-xdist each test process takes its ports from a range of its own, below the
# kernel's ephemeral ports: a port the kernel hands one process can otherwise be handed to
# another in the seconds before the first process's server binds it (seen: an HTTP test talking
# to another process's SMTP server).
PORTS_PER_TEST_PROCESS = 500
# A checkout's 2 test processes take 1,000 ports from TEST_PORT_BASE; checkouts whose tests run at
# the same time take bases 1,000 apart, all below 32768, where the kernel's ephemeral ports start.
FIRST_TEST_PORT = int(os.environ.get("TEST_PORT_BASE", "20000"))
_handed_out: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and that this process has not handed out before."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit() and int(worker[2:]) < 8:
        low = FIRST_TEST_PORT + PORTS_PER_TEST_PROCESS * int(worker[2:])
        candidates = [port for port in range(low, low + PORTS_PER_TEST_PROCESS) if port not in _handed_out]
    else:
        candidates = [0] * 100  # the kernel's choice
    for candidate in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue  # in use
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port left for this test process")


def database_url(settings_dict: dict, name: str | None = None) -> str:
    """A DATABASE_URL for a child process, from a Django connection's settings."""
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    host = settings_dict.get("HOST") or settings_dict.get("OPTIONS", {}).get("host") or ""
    port = settings_dict.get("PORT") or ""
    name = name or settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgres://{user}:{password}@/{name}?host={host}"
    return f"postgres://{user}:{password}@{host}:{port}/{name}"


def app_env(**overrides) -> dict:
    """The environment of a production-like app process."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DEBUG")}
    env.update(
        DEBUG="false",
        SECRET_KEY="production-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        GUNICORN_ACCESS_LOG="",
        # This sandbox has no working DNS (every name is "no such domain"); the MX check has its
        # own tests with a mocked resolver in tests/test_maildomains.py.
        EMAIL_DOMAIN_CHECK="false",
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def wait_until_up(url: str, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_gunicorn(env: dict, port: int, workers: int = 2, log=subprocess.DEVNULL) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            BIN / "gunicorn",
            "ccai.wsgi",
            "--config",
            ROOT / "gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process=process)
    return process


def start_worker(env: dict, *args: str, log=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--poll-seconds", "0.2", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@contextmanager
def haproxy(backend_ports: list[int], workdir: Path):
    """haproxy on 127.0.0.1, round-robin over the app servers, naming the server that answered
    in X-Served-By and appending the client address to X-Forwarded-For."""
    port = free_port()
    servers = "\n".join(
        f"    server app{i} 127.0.0.1:{p} check inter 500ms" for i, p in enumerate(backend_ports, start=1)
    )
    config = workdir / "haproxy.cfg"
    config.write_text(
        f"""global
    maxconn 512

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    # A health check may take longer than its 500 ms interval on a busy machine (the tests run in
    # parallel): without this, one slow answer marks an app server down and the round robin skips it.
    timeout check 5s
    option forwardfor

frontend web
    bind 127.0.0.1:{port}
    # As docs/deploy.md: no form here is larger than 64 KB, and none is sent in chunks.
    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt 65536 }}
    http-request deny deny_status 413 if {{ req.hdr(transfer-encoding) -m found }}
    default_backend apps

backend apps
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header X-Served-By %[srv_name]
{servers}
"""
    )
    process = subprocess.Popen(
        [HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process=process)
        _wait_until_every_server_is_in_rotation(port, len(backend_ports))
        yield port
    finally:
        stop(process)


def _wait_until_every_server_is_in_rotation(port: int, count: int, timeout: float = 30) -> None:
    """haproxy takes a server out of the rotation after failed health checks and back after good
    ones; on a loaded machine an app server still starting can fail its first few. Wait until
    each has answered through haproxy, so that what follows starts with all of them in it."""
    names, seen = {f"app{i}" for i in range(1, count + 1)}, set()
    deadline = time.monotonic() + timeout
    while seen != names:
        if time.monotonic() > deadline:
            raise TimeoutError(f"haproxy had only {sorted(seen)} of {sorted(names)} after {timeout}s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            seen.add(response.headers["X-Served-By"])
        time.sleep(0.05)


class Browserless:
    """A cookie-keeping HTTP client that posts forms the way a browser does (CSRF cookie and
    token from the page) and does not follow redirects, so the status of each answer is seen."""

    def __init__(self, base_url: str, client_ip: str | None = None):
        import http.cookiejar

        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.headers = {"X-Forwarded-For": client_ip} if client_ip else {}

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, "Message", str]:
        from urllib.parse import urlencode

        body = urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, headers=self.headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def csrf_token(self, path: str = "/") -> str:
        import re

        status, _, html = self.request(path)
        assert status == 200, status
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def post_form(self, path: str, data: dict, token_from: str = "/") -> int:
        return self.request(path, {**data, "csrfmiddlewaretoken": self.csrf_token(token_from)})[0]
