"""Bulk moderation: small selections change in the request, large ones become a
BulkModerationJob that the worker (manage.py worker) runs in batches.

Each batch is one transaction that holds the job's row lock: it changes up to BULK_BATCH_SIZE
signatures with one conditional UPDATE (SignatureQuerySet.moderate, by the action's row of
TRANSITIONS in pledges/models/moderation.py), writes one ModerationEvent per signature changed
(bulk-inserted, pointing at the job), and moves the job's keyset cursor (last_signature_id). A
crash loses at most the batch in flight, which rolls back whole; running a job twice, or two
workers at once, changes each signature once."""

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from pledges import signing
from pledges.models import BulkModerationJob, Signature

# Query-string keys that say how a changelist page looks, not which rows it holds.
_PAGE_KEYS = {"p", "o", "_changelist_filters", "e"}


def selection_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    for key in _PAGE_KEYS:
        query.pop(key, None)
    return query.urlencode()


def start_job(*, action: str, changelist: str, query: str, description: str, by) -> BulkModerationJob:
    latest = Signature.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return BulkModerationJob.objects.create(
        action=action,
        changelist=changelist,
        query=query,
        description=description[:300],
        max_signature_id=latest,
        created_by=by,
    )


def publish_waiting_queue(by) -> BulkModerationJob:
    """What switching to the automatic policy does: approve the unflagged part of the queue."""
    return start_job(
        action=BulkModerationJob.Action.APPROVE,
        changelist="pledges.queuedsignature",
        query="flag=none",
        description="The moderation queue without flags (publication policy switched to automatic)",
        by=by,
    )


class SelectionGone(Exception):
    """The stored selection can no longer be rebuilt (the user was removed or lost the right)."""


def selection(job: BulkModerationJob):
    """The job's signatures: the admin changelist's own queryset, with its filters and search,
    built for the user who made the job, so that it holds exactly what they selected."""
    user = job.created_by
    if user is None or not user.is_active or not user.has_perm("pledges.moderate_signature"):
        raise SelectionGone("the moderator who started it can no longer moderate")
    model_admin = admin.site.get_model_admin(apps.get_model(job.changelist))
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(job.query)
    request.user = user
    request.selection_only = True  # no page of results, no counts: see SignatureChangeList
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request).filter(pk__lte=job.max_signature_id)


def run_batch(job: BulkModerationJob, batch_size: int) -> None:
    """One step of a job whose row the caller holds locked."""
    now = timezone.now()
    try:
        # A savepoint, so that a failed query leaves the transaction able to record the failure.
        with transaction.atomic():
            signatures = selection(job)
            if job.state == job.State.QUEUED:
                job.state, job.started_at = job.State.RUNNING, now
                job.total = signatures.order_by().count()
            ids = list(
                signatures.filter(pk__gt=job.last_signature_id)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
    except Exception as error:  # any failure to rebuild the selection ends the job, shown on its page
        job.state, job.finished_at, job.error = (
            job.State.FAILED,
            now,
            f"{type(error).__name__}: {error}"[:2000],
        )
        job.save()
        return
    if ids:
        rows = Signature.objects.filter(pk__in=ids)
        if job.action == job.Action.RESEND_CONFIRMATION:
            job.changed += sum(signing.resend_confirmation(signature, job.created_by) for signature in rows)
        else:
            job.changed += len(rows.moderate(job.action, job.created_by, job=job))
        job.processed += len(ids)
        job.last_signature_id = ids[-1]
    if len(ids) < batch_size:
        job.state, job.finished_at = job.State.DONE, timezone.now()
    job.save()


def run_next_batch(batch_size: int | None = None) -> BulkModerationJob | None:
    """Advance the oldest unfinished job by one batch; returns it, or None when there is none.
    skip_locked: another worker busy with a job leaves this one free for the next."""
    with transaction.atomic():
        job = (
            BulkModerationJob.objects.unfinished()
            .order_by("created_at", "pk")
            .select_for_update(skip_locked=True)
            .first()
        )
        if job is None:
            return None
        run_batch(job, batch_size or settings.BULK_BATCH_SIZE)
    return job


def run_all(batch_size: int | None = None) -> int:
    """Run every unfinished job to its end (tests, and `worker --once`)."""
    batches = 0
    while run_next_batch(batch_size) is not None:
        batches += 1
    return batches
