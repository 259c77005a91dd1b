"""Why a signature in the queue needs a person, in words, for a page of the changelist at once:
one query for the whole page (the burst sizes), however many rows it has, and none when nothing
on it is in a burst. The watched name matched comes with the row (watchlist_match)."""

import typing
from datetime import timedelta
from urllib.parse import urlencode

from django.db.models.expressions import RawSQL
from django.urls import reverse

from pledges.models import Signature

# Bursts are counted up to here: enough to tell a handful from a flood, cheap at any size.
BURST_COUNT_CAP = 200
BURST_WINDOW = timedelta(hours=1)

# Counted only for rows with the flag (CASE runs the subquery for those alone).
_OTHERS_SQL = """CASE WHEN pledges_signature.flags && %s::varchar[] THEN (SELECT count(*) FROM (
    SELECT 1 FROM pledges_signature other
    WHERE {same} AND other.id <> pledges_signature.id
      AND other.created_at >= pledges_signature.created_at - interval '1 hour'
      AND other.created_at < pledges_signature.created_at + interval '1 hour'
    LIMIT %s) AS capped) END"""
_SAME_ADDRESS = "pledges_signature.ip_hash <> '' AND other.ip_hash = pledges_signature.ip_hash"
# The same expression as the signature_domain_created index, so that the index serves it.
_SAME_DOMAIN = "split_part(other.email, '@', 2) = split_part(pledges_signature.email, '@', 2)"


class Reason(typing.NamedTuple):
    text: str
    url: str = ""


def _others(count: int, what: str) -> str:
    many = f"more than {BURST_COUNT_CAP - 1:,}" if count >= BURST_COUNT_CAP else f"{count:,}"
    other = "other" if count == 1 else "others"
    return f"{many} {other} {what} within an hour"


def _burst_reason(label: str, count: int, source: str, url: str) -> Reason:
    if not count:  # the others were withdrawn (erased) or rejected and purged since
        return Reason(f"{label} (no others {source} remain)")
    return Reason(f"{label}: {_others(count, source)}", url)


def _window(signature: Signature) -> dict:
    return {
        "created_at__gte": (signature.created_at - BURST_WINDOW).isoformat(),
        "created_at__lt": (signature.created_at + BURST_WINDOW).isoformat(),
    }


def reasons_for(signatures: list[Signature]) -> dict[int, list[Reason]]:
    flagged = [s for s in signatures if s.flags]
    if not flagged:
        return {}
    F = Signature.Flag
    bursts = {}
    if any({F.IP_BURST, F.DOMAIN_BURST, F.IP_SOFT_LIMIT} & set(s.flags) for s in flagged):
        # Constant SQL; the flags and the cap are passed as parameters.
        address_sql, domain_sql = (
            _OTHERS_SQL.format(same=_SAME_ADDRESS),
            _OTHERS_SQL.format(same=_SAME_DOMAIN),
        )
        address_flags = [F.IP_BURST.value, F.IP_SOFT_LIMIT.value]
        address_others = RawSQL(address_sql, [address_flags, BURST_COUNT_CAP])  # noqa: S611
        domain_others = RawSQL(domain_sql, [[F.DOMAIN_BURST.value], BURST_COUNT_CAP])  # noqa: S611
        rows = Signature.objects.filter(pk__in=[s.pk for s in flagged]).annotate(
            address_others=address_others, domain_others=domain_others
        )
        bursts = {row["pk"]: row for row in rows.values("pk", "address_others", "domain_others")}
    changelist = reverse("admin:pledges_signature_changelist")
    reasons = {}
    for signature in flagged:
        listed = []
        for flag in signature.flags:
            if flag == F.WATCHLIST:
                # The watched name it matched, as stored when it was flagged (the trust issue);
                # the changelist selects it with the row.
                name = signature.watchlist_match.name if signature.watchlist_match_id else ""
                text = (
                    f"Matches the watched name “{name}”"
                    if name
                    else f"{F(flag).label} (no watched name matches it now)"
                )
                listed.append(Reason(text))
            elif flag in {F.IP_BURST, F.IP_SOFT_LIMIT}:
                count = bursts[signature.pk]["address_others"]
                query = urlencode({"ip": signature.ip_hash, **_window(signature)})
                url = f"{changelist}?{query}"
                listed.append(_burst_reason(F(flag).label, count, "from this address", url))
            elif flag == F.DOMAIN_BURST:
                count = bursts[signature.pk]["domain_others"]
                domain = (signature.email or "").rpartition("@")[2]
                query = urlencode({"domain": domain, **_window(signature)})
                url = f"{changelist}?{query}"
                listed.append(_burst_reason(F(flag).label, count, f"from @{domain}", url))
            else:
                listed.append(Reason(F(flag).label))
        reasons[signature.pk] = listed
    return reasons
