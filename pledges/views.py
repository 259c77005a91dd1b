from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from pledges import pages, shared
from pledges.clients import client_hash, client_key, rate_setting
from pledges.csrf import get_token
from pledges.figures import count_snapshot, live_figures_snapshot
from pledges.forms import SignatoryFilterForm, SignForm
from pledges.languages import language_independent
from pledges.lib.exports import csv_lines
from pledges.lib.graphics import signatures_badge
from pledges.models import SIGNER_DETAILS, AboutPage, Signature, SigningStatus
from pledges.signing import submit as submit_signature
from pledges.snapshots import Snapshot, http_cache_control


def letter_page(request: HttpRequest, status: int = 200) -> HttpResponse:
    """The letter page with an empty form, as every visitor gets it (see pages.py)."""
    return HttpResponse(pages.letter_page.get().with_token(get_token(request)), status=status)


def letter_page_with_errors(request: HttpRequest, form: SignForm) -> HttpResponse:
    return render(request, "pledges/letter.html", pages.letter_context(form), status=400)


@require_GET
def letter(request: HttpRequest) -> HttpResponse:
    return letter_page(request)


def too_many_requests(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "429.html", status=429)


def admin_login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' lockout page: the username is locked for this connection only."""
    ctx = {
        "title": gettext("Too many failed sign-ins"),
        "message": gettext(
            "Too many wrong passwords were tried for this username from your connection, "
            "so it cannot sign in from here for a while. Please try again later, or ask another "
            "administrator to unlock it."
        ),
    }
    return render(request, "request_refused.html", ctx, status=429)


# The hard limit counts every POST, valid or not, and refuses before any database work.
@require_POST
@ratelimit(group="sign-ip-hard", key=client_key, rate=rate_setting("RATELIMIT_SIGN_IP_HARD"))
def sign(request: HttpRequest) -> HttpResponse:
    if shared.signing_status.get().paused:
        return letter_page(request, status=403)
    form = SignForm(request.POST)
    if not form.is_valid():
        return letter_page_with_errors(request, form)
    if form.is_bot():
        return redirect("pledges:thanks")
    # Past the soft limit the signature is still taken (a union hall shares one IP) but held.
    flags = []
    if is_ratelimited(
        request,
        group="sign-ip-soft",
        key=client_key,
        rate=rate_setting("RATELIMIT_SIGN_IP_SOFT"),
        increment=True,
    ):
        flags.append(Signature.Flag.IP_SOFT_LIMIT)
    data = form.cleaned_data
    submit_signature(
        **{field: data[field] for field in SIGNER_DETAILS},
        ip_hash=client_hash(request),
        flags=flags,
        language=translation.get_language(),
    )
    return redirect("pledges:thanks")


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "pledges/thanks.html")


BAD_LINK_STATUS = {"expired": 410, "invalid": 400, "details_changed": 409}


def _signature_or_bad_link(request: HttpRequest, token: str, purpose: str, *, for_update: bool = False):
    try:
        return Signature.from_token(token, purpose, for_update=for_update), None
    except signing.SignatureExpired:
        reason = "expired"
    except (signing.BadSignature, Signature.DoesNotExist):
        reason = "invalid"
    except Signature.DetailsChanged:
        reason = "details_changed"
    ctx = {"reason": reason, "purpose": purpose}
    return None, render(request, "pledges/bad_link.html", ctx, status=BAD_LINK_STATUS[reason])


# GET only shows a button: mail scanners fetch links in emails, and must not confirm or withdraw.
@require_http_methods(["GET", "POST"])
@ratelimit(group="verify-ip", key=client_key, rate=rate_setting("RATELIMIT_VERIFY_IP"), method="POST")
def verify(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        # The row stays locked from checking the link's details to confirming, so that signing
        # again in between (which locks it too) cannot slip other details under the button.
        with transaction.atomic():
            signature, bad_link = _signature_or_bad_link(request, token, "verify", for_update=True)
            just_confirmed = bad_link is None and signature.confirm()
        if bad_link:
            return bad_link
        ctx = {"signature": signature, "just_confirmed": just_confirmed, "counts": count_snapshot()}
        return render(request, "pledges/confirmed.html", ctx)
    signature, bad_link = _signature_or_bad_link(request, token, "verify")
    if bad_link:
        return bad_link
    return render(request, "pledges/verify.html", {"signature": signature})


@require_http_methods(["GET", "POST"])
@ratelimit(group="withdraw-ip", key=client_key, rate=rate_setting("RATELIMIT_WITHDRAW_IP"), method="POST")
def withdraw(request: HttpRequest, token: str) -> HttpResponse:
    signature, bad_link = _signature_or_bad_link(request, token, "withdraw")
    if bad_link:
        return bad_link
    # A link acts only on the signature it was made for: once that is withdrawn, the page says
    # so, even if the same address has signed again since.
    if request.method == "POST" and signature.withdraw():
        return render(request, "pledges/withdrawn.html")
    return render(request, "pledges/withdraw.html", {"signature": signature})


# No CSRF token: a mail provider's one-click POST (RFC 8058) carries none, and the signed token in
# the URL is the authority. No per-IP limit either: those POSTs come from a few provider addresses.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    signature, bad_link = _signature_or_bad_link(request, token, "unsubscribe")
    if bad_link:
        return bad_link
    if request.method == "POST":
        signature.unsubscribe()
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse("Unsubscribed.", content_type="text/plain; charset=utf-8")
        return render(request, "pledges/unsubscribed.html", {"signature": signature})
    return render(request, "pledges/unsubscribe.html", {"signature": signature})


def _open_to_other_sites(response: HttpResponse, snapshot: Snapshot) -> HttpResponse:
    # Other sites read the count from their own scripts and embed the badge in their own pages.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Cache-Control"] = http_cache_control(snapshot)
    return response


@language_independent
@require_safe
def api_count(request: HttpRequest) -> HttpResponse:
    snapshot = live_figures_snapshot()
    response = HttpResponse(snapshot.data["count_json"], content_type="application/json")
    return _open_to_other_sites(response, snapshot)


@language_independent
@require_safe
def api_history(request: HttpRequest) -> HttpResponse:
    snapshot = live_figures_snapshot()
    response = HttpResponse(snapshot.data["history_json"], content_type="application/json")
    return _open_to_other_sites(response, snapshot)


@require_safe
def badge(request: HttpRequest) -> HttpResponse:
    snapshot = live_figures_snapshot()
    svg = render_to_string("pledges/badge.svg", {"badge": signatures_badge(snapshot.data["count"]["count"])})
    return _open_to_other_sites(HttpResponse(svg, content_type="image/svg+xml"), snapshot)


@require_safe
def press(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"".join(pages.press_page.get().parts))


SIGNATORIES_PER_PAGE = 50
# A search says how many names match, counting up to this many.
MATCH_COUNT_CAP = 1000


def _list_filters(form: SignatoryFilterForm) -> dict:
    """The public list's filters (Signature.objects.public_list's arguments) from the form."""
    data = form.cleaned_data
    return {
        "q": data["q"],
        "guild": data["guild"],
        "profession": data["profession"],
        "verified": data["verified"] == "1",
    }


@require_GET
def signatories(request: HttpRequest) -> HttpResponse:
    form = SignatoryFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "pledges/signatories.html", {"form": form}, status=400)
    after = form.cleaned_data["after"]
    page = Signature.objects.public_page(
        _list_filters(form), after, SIGNATORIES_PER_PAGE, count_cap=MATCH_COUNT_CAP
    )
    filters = {
        key: request.GET[key] for key in ("q", "guild", "profession", "verified") if request.GET.get(key)
    }
    next_url = None
    if page.next_key is not None:
        next_url = f"{request.path}?{urlencode({**filters, 'after': page.next_key.encode()})}"
    ctx = {
        "form": form,
        "signatures": page.rows,
        "next_url": next_url,
        "first_url": f"{request.path}?{urlencode(filters)}" if filters else request.path,
        "is_first_page": not after,
        "is_filtered": bool(filters),
        "match_count": page.match_count,
        "match_count_cap": MATCH_COUNT_CAP,
        "csv_url": f"/signatories.csv?{urlencode(filters)}" if filters else "/signatories.csv",
        "counts": count_snapshot(),
    }
    return render(request, "pledges/signatories.html", ctx)


@language_independent
@require_GET
def signatories_csv(request: HttpRequest) -> HttpResponse:
    form = SignatoryFilterForm(request.GET)
    if not form.is_valid():
        errors = " ".join(error for errors in form.errors.values() for error in errors)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    rows = (
        (
            signature.full_name,
            signature.profession.name,
            "; ".join(guild.name for guild in signature.guilds.all()),
            signature.credit,
            "yes" if signature.featured else "no",
            "yes" if signature.is_verified else "no",
        )
        for signature in Signature.objects.public_list(**_list_filters(form))
        .select_related("profession")
        .prefetch_related("guilds")
        .iterator(chunk_size=2000)
    )
    header = ["name", "profession", "guilds", "credit", "featured", "verified"]
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="signatories.csv"'
    return response


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    ctx = {
        "unconfirmed_days": settings.UNCONFIRMED_EXPIRY_DAYS,
        "outbox_days": settings.OUTBOX_RETENTION_DAYS,
        "verify_days": settings.VERIFY_LINK_MAX_AGE_DAYS,
        "emails_per_day": settings.EMAILS_PER_ADDRESS_PER_DAY,
        "publishes_at_once": SigningStatus.current().publishes_at_once,
        "about": AboutPage.current(),
    }
    return render(request, "pledges/privacy.html", ctx)


@require_GET
def about(request: HttpRequest) -> HttpResponse:
    return render(request, "pledges/about.html", {"about": AboutPage.current()})


@language_independent
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "not answering"}, status=503)
    return JsonResponse({"status": "ok"})
