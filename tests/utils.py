"""What the tests share besides fixtures: signatures in a given state, threads released at once,
a real SMTP server (aiosmtpd) and the links in the mail it receives."""

import email
import http.client
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.message import EmailMessage
from urllib.parse import urlencode

from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from pledges.models import Guild, LetterVersion, Profession, Signature
from tests import servers
from tests.servers import ROOT, free_port

__all__ = [
    "CSRF",
    "Inbox",
    "Server",
    "at_once",
    "database_url",
    "free_port",
    "link_href",
    "link_in",
    "make_signature",
    "start_smtp",
    "token_made_days_ago",
]

CSRF = secrets.token_hex(16)  # a CSRF secret (32 characters), sent as cookie and form field


def wait_for(condition, timeout: float = 45, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def at_once(function, arguments) -> list:
    """Call function(argument) for every argument, each in its own thread, all released at the
    same moment; return the results in the arguments' order. Each thread closes its own database
    connections, and an exception in any thread is raised here."""
    from django.db import connections

    arguments = list(arguments)
    start = threading.Barrier(len(arguments))
    results, errors = [None] * len(arguments), []

    def run(index, argument):
        try:
            start.wait()
            results[index] = function(argument)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return results


def make_signature(**overrides) -> Signature:
    """A signature in the state the overrides describe; pending by default. verified=True
    makes it verified by staff (which a featured signature must be)."""
    guilds = overrides.pop("guilds", [])
    if overrides.pop("verified", False):
        overrides.update(verified_at=timezone.now(), verification_method=Signature.VerificationMethod.OTHER)
    status = overrides.get("status", Signature.Status.PENDING)
    fields = {
        "full_name": "Test Signer",
        "email": f"signer{Signature.objects.count()}-{timezone.now().timestamp()}@example.com",
        "profession": Profession.objects.get(slug="writer"),
        "letter_version": LetterVersion.objects.current(),
        "status": status,
    }
    if status in (Signature.Status.CONFIRMED, Signature.Status.APPROVED, Signature.Status.REJECTED):
        fields["confirmed_at"] = timezone.now()
    if status == Signature.Status.WITHDRAWN:
        fields.update(email=None, full_name="", withdrawn_at=timezone.now())
    if overrides.get("featured"):
        fields["credit"] = "A notable credit"  # the database requires one of a featured name
    fields.update(overrides)
    signature = Signature.objects.create(**fields)
    signature.guilds.set(Guild.objects.filter(slug__in=guilds))
    return signature


def token_made_days_ago(signature: Signature, purpose: str, days: float) -> str:
    """A link token as it was made `days` ago (TimestampSigner stamps it with time.time())."""
    from unittest import mock

    with mock.patch("django.core.signing.time.time", return_value=timezone.now().timestamp() - days * 86400):
        return signature.make_token(purpose)


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts; `refuse` maps an address to
    the SMTP reply it gets instead (e.g. a 451 or 550)."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}
        self.connections: set[tuple] = set()  # the client's (host, port) of each message

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.connections.add(session.peer)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


def link_in(message: EmailMessage, purpose: str) -> str:
    text = message.get_body(("plain",)).get_content()
    # The link names the signer's language (?lang=), so that it opens in it on any device.
    match = re.search(rf"https?://\S+/{purpose}/[^/\s]+/(\?lang=[a-z-]+)?", text)
    assert match, f"no {purpose} link in:\n{text}"
    return match.group(0)


def database_url() -> str:
    """The test database's URL, for a server process of its own."""
    return servers.database_url(connection.settings_dict)


class Server:
    def __init__(self, env: dict):
        self.env = env
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(
        self, method: str, path: str, form: dict | None = None, client: str = "", headers: dict | None = None
    ) -> tuple:
        headers = {"Cookie": f"csrftoken={CSRF}", "Host": "127.0.0.1", **(headers or {})}
        headers = {name: value for name, value in headers.items() if value is not None}
        if client:
            headers["X-Forwarded-For"] = client
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": CSRF}, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            conn.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def link_href(html: str, text: str) -> str:
    """The href of the one link whose text is `text` (so that a check of one link cannot pass on
    another page link, such as the footer's)."""
    hrefs = re.findall(rf'<a href="([^"]*)"[^>]*>\s*{re.escape(text)}\s*</a>', html)
    assert len(hrefs) == 1, f"{len(hrefs)} links reading {text!r}"
    return hrefs[0]
