from datetime import timedelta

import pytest
from django.utils import timezone

from pledges.lib.ip_hashing import hash_ip
from pledges.models import Guild, Profession, Signature
from pledges.review import looks_machine_made
from pledges.signing import review_flags, sign
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

F = Signature.Flag

REAL_NAMES = [
    "Lupita Nyong'o",
    "Chiwetel Ejiofor",
    "Ng Chin Han",
    "Siân Phillips",
    "Bong Joon-ho",
    "Björk",
    "J. K. Simmons",
    "Mahershala Ali",
    "Florence Pugh",
    "Arsinée Khanjian",
    "Mkrtchyan Armen",  # six consonants running: M-k-r-t-c-h
    "Friedrich Nietzsche",
    "Krzysztof Kieślowski",
    "Schwarzschild",
    "Rhys Ifans",
    "Llŷr Evans",
    "Nguyễn Thị Minh Khai",
    "Þórdís Elva Þorvaldsdóttir",
    "Ryūichi Sakamoto",
    "李安",
    "Александр Пушкин",
    "Shohreh Aghdashloo",
    "Saoirse Ronan",
    "Lin-Manuel Miranda",
    "DeShawn McDonald",
    "Leonardo DiCaprio",
    "Mxolisi Mgxashe",
    "Taika Waititi",
    "Priyanka Chopra Jonas",
    "Dwayne Johnson",
    "Zoë Kravitz",
    "Ngũgĩ wa Thiong'o",
    "Aaron Sorkin",
]

MACHINE_NAMES = [
    "asdfghjkl",
    "Xkcdqz Brtvwp",
    "user12345",
    "John Smith 2",
    "Jo4n Sm1th",
    "aaaaaa",
    "Annnnna Smith",
    "hJkLmNoP",
    "qwrtpsdfgh lkjh",
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_of_many_cultures_are_not_flagged(name):
    assert not looks_machine_made(name)


@pytest.mark.parametrize("name", MACHINE_NAMES)
def test_machine_made_names_are_flagged(name):
    assert looks_machine_made(name)


def signed(email: str, ip: str = "192.0.2.1", name: str = "Ada Lovelace") -> Signature:
    return sign(
        full_name=name,
        email=email,
        profession=Profession.objects.get(slug="writer"),
        guilds=Guild.objects.none(),
        ip_hash=hash_ip(ip),
    )


def test_a_machine_made_name_is_held_and_does_not_count_until_approved():
    signature = signed("bot@example.org", name="xkcdqz brtvwp")
    assert signature.flags == [F.MACHINE_NAME]
    signature.confirm()
    assert signature not in Signature.objects.counted()


def test_an_ip_burst_holds_signatures_past_the_threshold_within_the_hour(settings):
    settings.BURST_IP_PER_HOUR = 5
    first = [signed(f"p{n}@example.org") for n in range(5)]
    later = [signed(f"q{n}@example.org") for n in range(2)]
    assert all(F.IP_BURST not in s.flags for s in first)
    assert all(F.IP_BURST in s.flags for s in later)
    assert F.IP_BURST not in signed("other@example.org", ip="192.0.2.2").flags


def test_signatures_older_than_an_hour_are_not_a_burst(settings):
    settings.BURST_IP_PER_HOUR = 2
    settings.BURST_DOMAIN_PER_HOUR = 2
    for n in range(3):
        make_signature(
            email=f"old{n}@studio.example",
            ip_hash=hash_ip("192.0.2.1"),
            created_at=timezone.now() - timedelta(minutes=61),
        )
    assert (
        review_flags(full_name="Ada Lovelace", email="new@studio.example", ip_hash=hash_ip("192.0.2.1"))
        == set()
    )


def test_a_signature_without_an_ip_hash_is_never_an_ip_burst(settings):
    settings.BURST_IP_PER_HOUR = 1
    make_signature(ip_hash="")
    assert F.IP_BURST not in review_flags(full_name="Ada Lovelace", email="a@b.example", ip_hash="")


def test_a_domain_burst_holds_signatures_but_big_webmail_domains_are_exempt(settings):
    settings.BURST_DOMAIN_PER_HOUR = 3
    studio = [signed(f"p{n}@studio.example", ip=f"192.0.2.{n}") for n in range(5)]
    assert [F.DOMAIN_BURST in s.flags for s in studio] == [False, False, False, True, True]
    webmail = [signed(f"p{n}@gmail.com", ip=f"198.51.100.{n}") for n in range(5)]
    assert all(F.DOMAIN_BURST not in s.flags for s in webmail)
    # A look-alike that merely ends in the same letters is another domain.
    assert F.DOMAIN_BURST not in signed("x@notstudio.example", ip="203.0.113.1").flags
