"""The language switch and the `hreflang` alternates that every page carries (see languages.py)."""

from types import SimpleNamespace

from django import template
from django.conf import settings
from django.http import QueryDict
from django.urls import Resolver404, resolve, reverse
from django.utils import translation

from pledges.languages import url_in_language

register = template.Library()


def _page_to_return_to(request) -> str:
    """Where the switch comes back to: this page in the new language. A page that answered a POST
    is read again with GET, except the sign form's, which has no GET: that goes back to the form."""
    if request.method not in ("GET", "HEAD"):
        try:
            if resolve(request.path_info).view_name == "pledges:sign":
                return reverse("pledges:letter") + "#sign"
        except Resolver404:
            return reverse("pledges:letter")
    return url_in_language(request, None).removeprefix(settings.SITE_URL)


def _request_or_page(context):
    """The request, or for a page rendered once for every visitor (pages.py), a stand-in that
    knows only the page's path (`page_path` in its context)."""
    request = context.get("request")
    if request is None and context.get("page_path"):
        path = context["page_path"]
        return SimpleNamespace(path=path, path_info=path, method="GET", GET=QueryDict())
    return request


@register.inclusion_tag("pledges/_language_switch.html", takes_context=True)
def language_switch(context) -> dict:
    current = translation.get_language()
    request = _request_or_page(context)
    return {
        "next": _page_to_return_to(request) if request else "/",
        "languages": [
            {
                "code": code,
                "name": translation.get_language_info(code)["name_local"],
                "current": code == current,
            }
            for code, _ in settings.LANGUAGES
        ],
    }


@register.inclusion_tag("pledges/_language_alternates.html", takes_context=True)
def language_alternates(context) -> dict:
    request = _request_or_page(context)
    if request is None:  # a page rendered without its request has no address to give
        return {"alternates": [], "default": None}
    return {
        "alternates": [(code, url_in_language(request, code)) for code, _ in settings.LANGUAGES],
        "default": url_in_language(request, None),
    }
