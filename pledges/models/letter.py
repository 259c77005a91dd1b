"""The letter: its versions (an edit makes a new one; a signature keeps the one it signed) and
their translations."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pledges.lib.markdown import render_markdown


class LetterVersionQuerySet(models.QuerySet):
    def current(self) -> "LetterVersion | None":
        return self.order_by("-created_at", "-pk").first()


class LetterVersion(models.Model):
    title = models.CharField(max_length=200)
    summary = models.CharField(
        max_length=300,
        help_text="One sentence under the title: what the letter asks, and of whom. "
        "A visitor on a phone reads it before anything else.",
    )
    body = models.TextField(
        help_text="Markdown: a blank line starts a new paragraph; ## starts a section heading; "
        "*emphasis*, **bold**, lists (- or 1.) and [links](https://example.org) work."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = LetterVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.title} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def body_html(self) -> str:
        """The body as sanitised HTML, rendered once per version (render_markdown caches it)."""
        return render_markdown(self.body)

    def revise(self, *, title: str, body: str, summary: str | None = None, by=None) -> "LetterVersion":
        """Editing the letter makes a new version; signatures keep the version they signed.
        Its translations stay with the old version: they translate the old text."""
        summary = self.summary if summary is None else summary
        if (title, summary, body) == (self.title, self.summary, self.body):
            return self
        return LetterVersion.objects.create(title=title, summary=summary, body=body, created_by=by)

    language = settings.LANGUAGE_CODE  # every version is written in English; see LetterTranslation
    is_translation = False

    def in_language(self, language: str) -> "LetterVersion | LetterTranslation":
        """The text to show a reader of `language`: its translation if staff have added one,
        else this original."""
        if language == self.language:
            return self
        return self.translations.filter(language=language).first() or self


# The languages a letter can be translated into: every language of the site but the original's.
TRANSLATION_LANGUAGES = [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


class LetterTranslation(models.Model):
    """A translation of one letter version, added by staff. The English version stays the text
    that counts; the page says so beside a translation."""

    letter_version = models.ForeignKey(LetterVersion, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=10, choices=TRANSLATION_LANGUAGES)
    title = models.CharField(max_length=200)
    summary = models.CharField(
        max_length=400, help_text="The original's one-sentence summary, translated (a little longer is fine)."
    )
    body = models.TextField(help_text="Markdown, as the original's: keep its headings and paragraphs.")
    created_at = models.DateTimeField(default=timezone.now)

    is_translation = True

    class Meta:
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(fields=["letter_version", "language"], name="letter_translation_unique"),
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _ in TRANSLATION_LANGUAGES]),
                name="letter_translation_language_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_language_display()}: {self.title}"

    @property
    def body_html(self) -> str:
        return render_markdown(self.body)

    @property
    def original(self) -> LetterVersion:
        return self.letter_version

    @property
    def created_by(self):
        return self.letter_version.created_by
