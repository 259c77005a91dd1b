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
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.template.loader import render_to_string
from django.utils.translation import get_language

from pledges.figures import live_figures
from pledges.lib.graphics import history_chart, signatures_badge
from pledges.models import (
    AboutPage,
    Guild,
    LetterTranslation,
    LetterVersion,
    Profession,
    Signature,
    SigningStatus,
)
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
    letter = current_letter.get()
    return {
        "letter": letter,
        # The reader's translation, or the original (LetterVersion.in_language).
        "text": letter.in_language(get_language()) if letter else None,
        "form": form,
        "counts": live_figures.get().data["count"],
        "featured": list(Signature.objects.featured().select_related("profession")[:12]),
        "signing_status": signing_status.get(),
    }


@dataclass(frozen=True)
class RenderedPage:
    """A page rendered for every visitor, cut where each visitor's CSRF token goes (if any)."""

    parts: list[bytes]  # encoded once, not once per visitor
    figures: Snapshot  # the count it shows

    def with_token(self, csrf_token: str) -> bytes:
        return csrf_token.encode().join(self.parts)


class PageForEveryone:
    """A page rendered once per PUBLIC_CACHE_SECONDS per language, and again as soon as the
    figures it shows are refreshed."""

    def __init__(self, template: str, path: str, context: Callable[[Snapshot], dict]):
        self.template = template
        self.path = path  # for the language switch and the hreflang alternates
        self.context = context
        self._pages = Recent(self._render)

    def _render(self, figures: Snapshot) -> RenderedPage:
        # A token that cannot occur in the page otherwise marks where each visitor's goes.
        marker = f"csrf{secrets.token_hex(16)}"
        context = {**self.context(figures), "csrf_token": marker, "page_path": self.path}
        html = render_to_string(self.template, context)
        return RenderedPage([part.encode() for part in html.split(marker)], figures)

    def get(self) -> RenderedPage:
        figures = live_figures.get()
        page = self._pages.get(get_language(), figures)
        if page.figures is not figures:
            self._pages.forget()
            page = self._pages.get(get_language(), figures)
        return page


def _empty_letter_page_context(figures: Snapshot) -> dict:
    from pledges.forms import SignForm

    return letter_context(SignForm())


letter_page = PageForEveryone("pledges/letter.html", "/", _empty_letter_page_context)

# Bounded, so that the page costs the same however many names staff feature; the public list
# shows them all, first.
PRESS_FEATURED_LIMIT = 100


def _press_context(figures: Snapshot) -> dict:
    counts, history = figures.data["count"], figures.data["history"]
    return {
        "counts": counts,
        "as_of": datetime.strptime(counts["as_of"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        "history": history,
        "chart": history_chart(history),
        "badge": signatures_badge(counts["count"]),
        "featured": list(
            Signature.objects.featured()
            .select_related("profession")
            .order_by("full_name")[:PRESS_FEATURED_LIMIT]
        ),
        "about": AboutPage.current(),
    }


press_page = PageForEveryone("pledges/press.html", "/press/", _press_context)


# Not Signature: every new signature would throw the page away. Featured names change through
# update() anyway, and show within the bound.
for _model in (LetterVersion, LetterTranslation, SigningStatus, Guild, Profession, AboutPage):
    post_save.connect(Recent.forget_all, sender=_model, dispatch_uid=f"pages-forget-{_model.__name__}")
    post_delete.connect(Recent.forget_all, sender=_model, dispatch_uid=f"pages-forget-del-{_model.__name__}")
