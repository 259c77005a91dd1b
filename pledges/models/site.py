"""The site's settings that staff change in the admin, one row each: whether signing is open and
how signatures are published, and who is behind the letter."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from pledges.lib.markdown import render_markdown


# SigningStatus.Publication; out here so that its Meta's constraint can name it (a nested Meta cannot
# see the names of the class around it).
class SigningPublication(models.TextChoices):
    MODERATED = "moderated", "Every name waits for a moderator"
    AT_ONCE = "at_once", "A confirmed signature without flags is published at once; flagged ones wait"


class SigningStatus(models.Model):
    """One row: whether staff have paused signing, and what the letter page then says."""

    DEFAULT_MESSAGE = gettext_noop("Signing is paused for the moment. Please come back later.")

    Publication = SigningPublication

    paused = models.BooleanField(default=False)
    message = models.CharField(
        "message shown while paused",
        max_length=300,
        default=DEFAULT_MESSAGE,
        help_text="Shown on the letter page instead of the form while signing is paused.",
    )
    publication = models.CharField(
        "publication policy",
        max_length=20,
        choices=Publication.choices,
        default=Publication.MODERATED,
        help_text="Switching to publishing at once also publishes the unflagged signatures waiting "
        "in the queue, in the background.",
    )
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "signing status"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="signing_status_single_row"),
            models.CheckConstraint(
                condition=Q(publication__in=SigningPublication.values),
                name="signing_status_publication_valid",
            ),
        ]

    def __str__(self) -> str:
        return "Signing is paused" if self.paused else "Signing is open"

    @property
    def public_message(self) -> str:
        """The message for the letter page: the default one in the reader's language, one that
        staff wrote as they wrote it."""
        return gettext(self.message) if self.message == self.DEFAULT_MESSAGE else self.message

    @property
    def publishes_at_once(self) -> bool:
        return self.publication == self.Publication.AT_ONCE

    @classmethod
    def current(cls) -> "SigningStatus":
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class AboutPage(models.Model):
    """One row: who is behind the letter and how to reach them, as /about/, /privacy/ and /press/
    show it. Staff edit it in the admin, so that a new organiser or address needs no release."""

    coalition = models.TextField(help_text="Markdown: who the coalition is and why it wrote the letter.")
    organisers = models.TextField(help_text="Markdown: the people and organisations who run it.")
    contact_email = models.EmailField(help_text="For signatories and the public.")
    press_contact = models.CharField(max_length=200, help_text="The name (and role) of the press contact.")
    press_email = models.EmailField()
    press_phone = models.CharField(max_length=50, blank=True)
    data_controller = models.CharField(
        max_length=300,
        help_text="Who holds the signatories' data (the data controller), as /privacy/ names it.",
    )
    postal_address = models.TextField(blank=True, help_text="The data controller's postal address.")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "about page and contacts"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="about_page_single_row")]

    def __str__(self) -> str:
        return "Who is behind the letter, and contacts"

    @classmethod
    def current(cls) -> "AboutPage | None":
        return cls.objects.filter(pk=1).first()

    @property
    def coalition_html(self) -> str:
        return render_markdown(self.coalition)

    @property
    def organisers_html(self) -> str:
        return render_markdown(self.organisers)
