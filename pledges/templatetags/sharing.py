"""Absolute links for the places a page is read away from the site: share cards, embed snippets
and share links. They start with SITE_URL, not the request's Host header, which a client sets."""

from urllib.parse import quote, urlencode

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

register = template.Library()

SHARE_TEXT = _(
    "I signed the Creators Coalition on AI's open letter asking for enforceable rules on how AI "
    "is trained and used in creative work. Add your name:"
)


@register.simple_tag
def absolute_url(view_name: str, *args) -> str:
    return settings.SITE_URL + reverse(view_name, args=args)


@register.simple_tag
def absolute_static(path: str) -> str:
    url = static(path)
    return url if url.startswith(("http://", "https://")) else settings.SITE_URL + url


def share_links(url: str, text: str = SHARE_TEXT) -> list[dict]:
    """Plain links to each network's own share form: no scripts or pixels from them on our pages."""
    return [
        {
            "name": gettext("Email"),
            "href": "mailto:?"
            + urlencode(
                {"subject": gettext("An open letter on AI"), "body": f"{text} {url}"}, quote_via=quote
            ),
        },
        {
            "name": "Bluesky",
            "href": "https://bsky.app/intent/compose?" + urlencode({"text": f"{text} {url}"}),
        },
        {
            "name": "X (Twitter)",
            "href": "https://twitter.com/intent/tweet?" + urlencode({"text": text, "url": url}),
        },
        {"name": "Facebook", "href": "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})},
        {
            "name": "LinkedIn",
            "href": "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
        },
        {"name": "WhatsApp", "href": "https://wa.me/?" + urlencode({"text": f"{text} {url}"})},
    ]


@register.inclusion_tag("pledges/_share_links.html")
def share_letter() -> dict:
    url = absolute_url("pledges:letter")
    return {"letter_url": url, "links": share_links(url)}
