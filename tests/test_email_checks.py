"""Email checks on the sign form. There is no internet here, and tests must not depend on it:
DNS is mocked (a fake resolver), except in the test that points a real resolver at a local port
where nothing answers, to show that an unreachable DNS neither hangs nor blocks signing."""

import time
from types import SimpleNamespace

import dns.name
import dns.resolver
import pytest

from pledges.lib import maildomains
from pledges.models import OutgoingEmail, Signature, Submission
from pledges.signing import process_submissions
from tests.utils import free_port

pytestmark = pytest.mark.django_db

# What the fake DNS knows: a domain → {record type: answer, or the exception DNS raises}.
MX = [SimpleNamespace(exchange=dns.name.from_text("mx.studio.example"), preference=10)]
NULL_MX = [SimpleNamespace(exchange=dns.name.root, preference=0)]
FAKE_DNS = {
    "studio.example": {"MX": MX},
    "addressonly.example": {"MX": dns.resolver.NoAnswer(), "A": ["192.0.2.1"]},
    "v6only.example": {"MX": dns.resolver.NoAnswer(), "A": dns.resolver.NoAnswer(), "AAAA": ["2001:db8::1"]},
    "nomail.example": {"MX": NULL_MX},
    "empty.example": {
        "MX": dns.resolver.NoAnswer(),
        "A": dns.resolver.NoAnswer(),
        "AAAA": dns.resolver.NoAnswer(),
    },
    "timeout.example": {"MX": dns.resolver.LifetimeTimeout(timeout=2.0, errors=[])},
    "servfail.example": {"MX": dns.resolver.NoNameservers()},
}


class FakeResolver:
    queries: list = []

    def __init__(self, *args, **kwargs):
        self.lifetime = self.timeout = None

    def resolve(self, name, rdtype):
        FakeResolver.queries.append((name, rdtype))
        records = FAKE_DNS.get(name)
        if records is None:
            raise dns.resolver.NXDOMAIN()
        answer = records.get(rdtype, dns.resolver.NoAnswer())
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def fake_dns(monkeypatch, settings):
    settings.EMAIL_DOMAIN_CHECK = True
    monkeypatch.setattr(maildomains.dns.resolver, "Resolver", FakeResolver)
    FakeResolver.queries = []
    return FakeResolver


@pytest.mark.parametrize(
    ("domain", "receives"),
    [
        ("studio.example", True),  # MX
        ("addressonly.example", True),  # no MX, but an A record (RFC 5321's implicit MX)
        ("v6only.example", True),
        ("nomail.example", False),  # "null MX": the domain says it takes no mail
        ("empty.example", False),
        ("no-such-domain.example", False),  # NXDOMAIN
        ("timeout.example", True),  # DNS cannot be reached: let the person sign
        ("servfail.example", True),
    ],
)
def test_can_receive_mail_follows_what_dns_says(fake_dns, domain, receives):
    assert maildomains.can_receive_mail(domain) is receives


def test_answers_are_cached_but_unreachable_dns_is_asked_again(fake_dns):
    assert maildomains.can_receive_mail("studio.example")
    assert maildomains.can_receive_mail("studio.example")
    assert maildomains.can_receive_mail("timeout.example")
    assert maildomains.can_receive_mail("timeout.example")
    assert fake_dns.queries.count(("studio.example", "MX")) == 1
    assert fake_dns.queries.count(("timeout.example", "MX")) == 2


def test_a_domain_that_cannot_receive_mail_is_refused_by_the_form(client, fake_dns, valid_form_data):
    response = client.post("/sign/", {**valid_form_data, "email": "ada@no-such-domain.example"})
    assert response.status_code == 400
    assert "no-such-domain.example cannot receive email" in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0 and OutgoingEmail.objects.count() == 0
    assert client.post("/sign/", {**valid_form_data, "email": "ada@studio.example"}).status_code == 302


def test_the_form_still_works_when_dns_cannot_be_reached(client, fake_dns, valid_form_data):
    assert client.post("/sign/", {**valid_form_data, "email": "ada@timeout.example"}).status_code == 302
    process_submissions()
    assert Signature.objects.get().email == "ada@timeout.example"


def test_a_real_resolver_with_no_dns_server_answering_gives_up_quickly_and_accepts(monkeypatch, settings):
    settings.EMAIL_DOMAIN_CHECK_TIMEOUT = 0.5
    dead_port = free_port()  # nothing listens there
    real_resolver = dns.resolver.Resolver

    def local_resolver(*args, **kwargs):
        resolver = real_resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = dead_port
        return resolver

    monkeypatch.setattr(maildomains.dns.resolver, "Resolver", local_resolver)
    started = time.monotonic()
    assert maildomains.can_receive_mail("studio.example") is True
    assert time.monotonic() - started < 3


def test_no_resolver_configuration_accepts(monkeypatch):
    def unconfigured(*args, **kwargs):
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(maildomains.dns.resolver, "Resolver", unconfigured)
    assert maildomains.can_receive_mail("studio.example") is True


def test_the_check_is_off_when_the_setting_says_so(client, fake_dns, settings, valid_form_data):
    settings.EMAIL_DOMAIN_CHECK = False
    assert (
        client.post("/sign/", {**valid_form_data, "email": "ada@no-such-domain.example"}).status_code == 302
    )
    assert fake_dns.queries == []


@pytest.mark.parametrize(
    "email",
    ["someone@mailinator.com", "someone@MAILINATOR.com", "someone@eu.mailinator.com", "x@guerrillamail.com"],
)
def test_disposable_addresses_are_refused(client, valid_form_data, email):
    response = client.post("/sign/", {**valid_form_data, "email": email})
    assert response.status_code == 400
    assert "disposable" in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0 and OutgoingEmail.objects.count() == 0


@pytest.mark.parametrize("domain", ["gmail.com", "example.org", "studio.example", "mail.ru", "bbc.co.uk"])
def test_ordinary_domains_are_not_disposable(domain):
    assert not maildomains.is_disposable(domain)


@pytest.mark.parametrize(
    "name",
    [
        "Visit https://spam.example now",
        "Ada www.spam.example",
        "Ada Lovelace spam.com",
        "Ada bit.ly/xyz",
        "Ada SPAM.NET",
        "Ada spam.shop",
        "Ada ada@spam.example",
        "Ada spam [dot] com",
        "Ada spam(.)com",
        # "Spam.com" in fullwidth letters folds to ASCII before the check.
        "Ada \uff33\uff50\uff41\uff4d\uff0e\uff43\uff4f\uff4d",
        "Ada hxxp http:spam",
    ],
)
def test_names_carrying_web_addresses_are_refused(client, valid_form_data, name):
    response = client.post("/sign/", {**valid_form_data, "full_name": name})
    assert response.status_code == 400
    assert "without a web address" in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0


@pytest.mark.parametrize(
    "name",
    [
        "J. K. Simmons",
        "J.R.R. Tolkien",
        "Mme.de Gaulle",
        "St. John Smith",
        "Lupita Nyong'o",
        "Ng Chin Han",
        "Dr. Ai Weiwei",
    ],
)
def test_names_with_dots_are_still_names(client, valid_form_data, name):
    assert client.post("/sign/", {**valid_form_data, "full_name": name}).status_code == 302
