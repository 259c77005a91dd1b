"""The pages that are the same for every visitor in a language (the letter page with its empty
form, the press page), rendered once per PUBLIC_CACHE_SECONDS per process and language, and again
as soon as the figures they show are refreshed. The values they share with the sign form and the
worker (the signing status, the current letter, the choices) are in pledges/shared.py."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.template.loader import render_to_string
from django.utils.translation import get_language

from pledges import shared
from pledges.figures import live_figures
from pledges.forms import SignForm
from pledges.lib.graphics import history_chart, signatures_badge
from pledges.models import AboutPage, Signature
from pledges.snapshots import Snapshot


def letter_context(form) -> dict:
    letter = shared.current_letter.get()
    return {
        "letter": letter,
        # The reader's translation, or the original (LetterVersion.in_language).
        "text": letter.in_language(get_language()) if letter else None,
        "form": form,
        "counts": live_figures.get().data["count"],
        "featured": list(Signature.objects.featured().select_related("profession")[:12]),
        "signing_status": shared.signing_status.get(),
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
        self._pages = shared.Recent(self._render)

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
