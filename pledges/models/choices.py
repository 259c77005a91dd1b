"""The choices a signer picks from: professions (one) and guilds (any), staff-edited lists."""

from django.db import models
from django.utils.translation import gettext, gettext_noop

# The names the first migration gives the professions and guilds, here so that makemessages
# finds them: a page shows such a name in the reader's language (one staff add shows as typed).
SEEDED_CHOICE_NAMES = [
    gettext_noop("Actor / performer"),
    gettext_noop("Writer"),
    gettext_noop("Director"),
    gettext_noop("Producer"),
    gettext_noop("Executive"),
    gettext_noop("Below-the-line crew"),
    gettext_noop("Online video creator"),
    gettext_noop("Podcaster"),
    gettext_noop("Newsletter writer / journalist"),
    gettext_noop("Musician"),
    gettext_noop("Visual artist"),
    gettext_noop("Technologist"),
    gettext_noop("Other"),
]


class Choice(models.Model):
    """A named entry of a staff-edited list, in the form's order."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first on the form.")

    class Meta:
        abstract = True
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """The name in the active language (see SEEDED_CHOICE_NAMES)."""
        return gettext(self.name) if self.name else self.name


class Guild(Choice):
    pass


class Profession(Choice):
    pass
