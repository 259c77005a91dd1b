import email
import os
import re
import socket
import threading
import uuid
from email import policy
from email.message import EmailMessage

import hypothesis
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from pledges import snapshots
from pledges.models import Guild, LetterVersion, Profession, Signature

# The live server's request threads would otherwise keep their connections open while a browser
# holds a keep-alive connection, and the test database could not be dropped at the end.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


# Property-based tests: a few hundred examples each, the same ones on every run (stable CI).
hypothesis.settings.register_profile(
    "ccai",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.function_scoped_fixture],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ccai"))


@pytest.fixture(autouse=True)
def no_real_dns(settings):
    """There is no internet here: the email domain check is off unless a test turns it on
    with a mocked resolver."""
    settings.EMAIL_DOMAIN_CHECK = False


@pytest.fixture(autouse=True)
def empty_cache(request, django_db_blocker):
    """Each database test starts with an empty cache, so that rate-limit counts (kept in the
    cache table, which a transactional test's flush does not empty) never leak between tests.
    Rate limits stay on: many tests post from the test client's one IP, well under them."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("django_db_setup")
        with django_db_blocker.unblock():
            cache.clear()


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    # The templates use the production storage (hashed names from a manifest), so build it once.
    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture(autouse=True)
def fresh_count_snapshots(monkeypatch):
    """Each test starts with no count in memory or in the shared cache (whose table outlives the
    transactional tests) by giving it keys of its own."""
    snapshots.SharedSnapshot.forget_all_local()
    monkeypatch.setattr(snapshots, "KEY_PREFIX", f"test-{uuid.uuid4().hex}")
    yield
    snapshots.SharedSnapshot.forget_all_local()


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
    """A signature in the state the overrides describe; pending by default."""
    guilds = overrides.pop("guilds", [])
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
    fields.update(overrides)
    signature = Signature.objects.create(**fields)
    signature.guilds.set(Guild.objects.filter(slug__in=guilds))
    return signature


def token_made_days_ago(signature: Signature, purpose: str, days: float) -> str:
    """A link token as it was made `days` ago (TimestampSigner stamps it with time.time())."""
    from unittest import mock

    with mock.patch("django.core.signing.time.time", return_value=timezone.now().timestamp() - days * 86400):
        return signature.make_token(purpose)


@pytest.fixture
def valid_form_data() -> dict:
    return {
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "profession": "writer",
        "guilds": ["wga", "sag-aftra"],
        "credit": "Notes on the Analytical Engine",
        "country": "GB",
        "show_publicly": "on",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts; `refuse` maps an address to
    the SMTP reply it gets instead (e.g. a 451 or 550)."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp_port(settings) -> int:
    """Point Django's SMTP backend at a port on 127.0.0.1 (pytest-django swaps in the locmem
    backend; these tests want real SMTP)."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_RETRY_BASE_SECONDS = 0
    return port


@pytest.fixture
def smtp_inbox(smtp_port):
    controller, inbox = start_smtp(smtp_port)
    yield inbox
    controller.stop()


def link_in(message: EmailMessage, purpose: str) -> str:
    text = message.get_body(("plain",)).get_content()
    # The link names the signer's language (?lang=), so that it opens in it on any device.
    match = re.search(rf"https?://\S+/{purpose}/[^/\s]+/(\?lang=[a-z-]+)?", text)
    assert match, f"no {purpose} link in:\n{text}"
    return match.group(0)
