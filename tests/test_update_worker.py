"""Updates under the real worker process: confirmation emails overtake a large update, and a worker
killed mid-batch sends nothing twice but the one message in flight."""

import asyncio
import signal
from collections import Counter

import pytest
from django.test import Client
from django.utils import timezone

from pledges.models import LetterVersion, Profession, Signature, Update, UpdateDelivery
from tests.servers import start_worker
from tests.test_faults import worker_env
from tests.utils import free_port, start_smtp, wait_for

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def opted_in_signers(count: int, prefix: str) -> list[str]:
    profession, letter = Profession.objects.get(slug="writer"), LetterVersion.objects.current()
    now = timezone.now()
    Signature.objects.bulk_create(
        [
            Signature(
                full_name=f"Signer {i}",
                email=f"{prefix}{i}@example.com",
                mailbox=f"{prefix}{i}@example.com",
                profession=profession,
                letter_version=letter,
                status=Signature.Status.CONFIRMED,
                confirmed_at=now,
                updates_opt_in=True,
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    return [f"{prefix}{i}@example.com" for i in range(count)]


def start_sending(subject: str = "News") -> Update:
    update = Update.objects.create(subject=subject, body="The letter was delivered.")
    assert update.start_sending(by=None)
    return update


@transactional
def test_a_new_signers_confirmation_overtakes_a_large_update(started, valid_form_data):
    port = free_port()
    controller, inbox = start_smtp(port)
    opted_in_signers(5000, "bulk")
    update = start_sending()
    try:
        started(start_worker(worker_env(port)))
        wait_for(lambda: len(inbox.messages) >= 200, what="the update to be under way")

        assert (
            Client().post("/sign/", {**valid_form_data, "email": "newcomer@example.com"}).status_code == 302
        )
        wait_for(lambda: inbox.to("newcomer@example.com"), what="the confirmation email")
        # The confirmation arrived while thousands of updates were still to go.
        update_emails_before = sum(1 for m in inbox.messages if m["Subject"] == "News")
        waiting = UpdateDelivery.objects.filter(update=update, sent_at=None).count()
    finally:
        controller.stop()
    assert update_emails_before < 5000 and waiting > 0
    assert "Confirm" in inbox.to("newcomer@example.com")[0]["Subject"]
    assert inbox.to("newcomer@example.com")[0]["List-Unsubscribe"] is None


@transactional
def test_update_worker_killed_mid_batch_sends_each_once_but_the_one_in_flight(started):
    port = free_port()
    controller, inbox = start_smtp(port)
    original = inbox.handle_DATA

    async def slow_data(server, session, envelope):
        await asyncio.sleep(0.05)  # a slow mail server, so that the kill lands mid-batch
        return await original(server, session, envelope)

    inbox.handle_DATA = slow_data
    addresses = opted_in_signers(40, "kill")
    update = start_sending()
    # A batch holds all 40; the killed worker's claim on the unsent ones runs out after a second.
    env = worker_env(port, UPDATE_CLAIM_SECONDS=1)
    try:
        worker = started(start_worker(env))
        wait_for(lambda: len(inbox.messages) >= 10, what="10 updates before the kill")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert len(inbox.messages) < len(addresses)  # the kill really was mid-batch

        started(start_worker(env))
        wait_for(lambda: {m["To"] for m in inbox.messages} == set(addresses), what="every update")
        wait_for(
            lambda: Update.objects.get(pk=update.pk).status == Update.Status.SENT, what="the update to finish"
        )
    finally:
        controller.stop()
    copies = Counter(m["To"] for m in inbox.messages)
    assert set(copies) == set(addresses)
    # At least once, as for the outbox: only the message in flight at the kill may arrive twice.
    assert sum(copies.values()) - len(addresses) <= 1
    assert UpdateDelivery.objects.filter(update=update, sent_at__isnull=False).count() == len(addresses)
