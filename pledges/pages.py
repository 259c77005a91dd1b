"""What does not change between requests is not recomputed per request: the letter page's
markup (the letter, the form with its choice lists, the featured names, the pause switch) and the
facts a signature needs (whether signing is paused, the current letter version, the choices).

Each process keeps them in memory for PUBLIC_CACHE_SECONDS (5 s by default) and then reads them
again. A change made in the admin shows at once in the process that saved it (the post_save and
post_delete signals below drop its copies) and within PUBLIC_CACHE_SECONDS in every other
process and on every other server. The bound holds whatever path made the change (a queryset
update(), a bulk job in the worker, SQL), since nothing has to announce it; re-reading costs each
process a handful of small queries every few seconds, however many visitors it serves."""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.template.loader import render_to_string
from django.utils.translation import get_language

from pledges.models import Guild, LetterVersion, Profession, Signature, SigningStatus, live_figures
from pledges.snapshots import Snapshot

# Replaced in tests to move time on.
clock = time.monotonic


@dataclass(frozen=True)
class _Kept:
    value: Any
    until: float


class Recent:
    """A value computed at most once per PUBLIC_CACHE_SECONDS in each process, per key (the
    language, for what is shown in words)."""

    _all: list["Recent"] = []

    def __init__(self, compute: Callable[..., Any]):
        self.compute = compute
        self._kept: dict[Any, _Kept] = {}
        Recent._all.append(self)

    def get(self, key: Any = None, *args) -> Any:
        kept = self._kept.get(key)
        if kept is not None and clock() < kept.until:
            return kept.value
        value = self.compute(*args)
        self._kept[key] = _Kept(value, clock() + settings.PUBLIC_CACHE_SECONDS)
        return value

    def forget(self) -> None:
        self._kept = {}

    @classmethod
    def forget_all(cls, **kwargs) -> None:
        for recent in cls._all:
            recent.forget()


signing_status: Recent = Recent(SigningStatus.current)
current_letter: Recent = Recent(LetterVersion.objects.current)


def _choices() -> tuple[dict[str, Profession], dict[str, Guild]]:
    return (
        {profession.slug: profession for profession in Profession.objects.all()},
        {guild.slug: guild for guild in Guild.objects.all()},
    )


# Professions and guilds by slug, in the form's order: what the sign form offers and accepts.
choices: Recent = Recent(_choices)


def letter_context(form) -> dict:
    return {
        "letter": current_letter.get(),
        "form": form,
        "counts": live_figures.get().data["count"],
        "featured": list(Signature.objects.featured().select_related("profession")[:12]),
        "signing_status": signing_status.get(),
    }


@dataclass(frozen=True)
class RenderedPage:
    """A page rendered for every visitor, cut where each visitor's CSRF token goes."""

    parts: list[bytes]  # encoded once, not once per visitor
    figures: Snapshot  # the count it shows

    def with_token(self, csrf_token: str) -> bytes:
        return csrf_token.encode().join(self.parts)


def _render_letter_page(figures: Snapshot) -> RenderedPage:
    from pledges.forms import SignForm

    # A token that cannot occur in the page otherwise marks where each visitor's goes.
    marker = f"csrf{secrets.token_hex(16)}"
    html = render_to_string("pledges/letter.html", {**letter_context(SignForm()), "csrf_token": marker})
    return RenderedPage([part.encode() for part in html.split(marker)], figures)


_letter_pages: Recent = Recent(_render_letter_page)


def letter_page(csrf_token: str) -> bytes:
    """The letter page with an empty form: rendered once per PUBLIC_CACHE_SECONDS per language,
    and again as soon as the count it shows is refreshed."""
    figures = live_figures.get()
    page = _letter_pages.get(get_language(), figures)
    if page.figures is not figures:
        _letter_pages.forget()
        page = _letter_pages.get(get_language(), figures)
    return page.with_token(csrf_token)


# Not Signature: every new signature would throw the page away. Featured names change through
# update() anyway, and show within the bound.
for _model in (LetterVersion, SigningStatus, Guild, Profession):
    post_save.connect(Recent.forget_all, sender=_model, dispatch_uid=f"pages-forget-{_model.__name__}")
    post_delete.connect(Recent.forget_all, sender=_model, dispatch_uid=f"pages-forget-del-{_model.__name__}")
