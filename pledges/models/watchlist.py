"""The watchlist: famous names that forgers like to sign with. A signature under one is held for
a person to decide who signed (pledges/lib/watchlist.py folds the disguises)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Func, Min, Q, Value
from django.utils import timezone

from pledges.lib import watchlist
from pledges.lib.names import name_words, normalised_name_sql
from pledges.models.enums import SignatureFlag, SignatureStatus
from pledges.models.signatures import Signature
from pledges.models.signer import NAME_KEY_MAX_LENGTH, NAME_MAX_LENGTH


class WatchedNameQuerySet(models.QuerySet):
    def first_by_key(self, keys):
        """(key, the id of the first watched name with that key) for those of the keys watched.
        Through WatchedNameKey's b-tree index: exact row estimates, so the planner never prefers
        reading the whole watchlist (as it does for a GIN search on an array)."""
        return (
            WatchedNameKey.objects.filter(key__in=keys)
            .values_list("key")
            .annotate(first=Min("watched_name"))
            .order_by()
        )

    def first_matches(self, names: list[str]) -> list[int | None]:
        """For each name, the id of the first watched name it matches (through any of its
        watchlist.match_keys()) on the whole watchlist, or None: one query for any number."""
        keys_of = [watchlist.match_keys(name) for name in names]
        wanted = {key for keys in keys_of for key in keys}
        first_by_key = dict(self.first_by_key(wanted)) if wanted else {}
        return [
            min((first_by_key[key] for key in keys if key in first_by_key), default=None) for keys in keys_of
        ]


def watched_name_key(name: str) -> str:
    """One watched name's identity: its words in any order, any case, any disguise."""
    return " ".join(sorted(watchlist.identifying_words(name.lower())))


class WatchedName(models.Model):
    """A famous name that forgers like to sign with: a signature under it is held for review."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    normalised_name = models.GeneratedField(
        expression=normalised_name_sql(F("name")),
        output_field=models.CharField(max_length=NAME_MAX_LENGTH),
        db_persist=True,
    )
    # watchlist.watched_keys(name) and its words in order, kept by save().
    keys = ArrayField(models.CharField(max_length=NAME_KEY_MAX_LENGTH), default=list, editable=False)
    match_key = models.CharField(max_length=NAME_KEY_MAX_LENGTH, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is watched; staff only.")
    created_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WatchedNameQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "watched name"
        constraints = [
            models.UniqueConstraint(F("normalised_name"), name="watched_name_unique"),
            models.UniqueConstraint(fields=["match_key"], name="watched_name_match_key_unique"),
            models.CheckConstraint(condition=~Q(normalised_name=""), name="watched_name_not_blank"),
            models.CheckConstraint(condition=~Q(keys=[]) & ~Q(match_key=""), name="watched_name_has_keys"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.keys = watchlist.watched_keys(self.name)
        self.match_key = watched_name_key(self.name)
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.key_rows.all().delete()
            WatchedNameKey.objects.bulk_create(
                WatchedNameKey(watched_name=self, key=key) for key in self.keys
            )

    def clean(self) -> None:
        if not name_words(self.name) or not watchlist.identifying_words(self.name):
            raise ValidationError({"name": "Please enter a name with letters in it."})
        # The unique constraints are on derived columns, which form validation cannot see.
        match_key = watched_name_key(self.name)
        same = (
            WatchedName.objects.filter(
                Q(match_key=match_key) | Q(normalised_name=normalised_name_sql(Value(self.name)))
            )
            .exclude(pk=self.pk)
            .first()
        )
        if same is not None:
            raise ValidationError(
                {
                    "name": f"This name already exists on the watchlist, as \u201c{same.name}\u201d "
                    "(case, accents, word order, titles and look-alike letters are all matched)."
                }
            )

    def apply_to_signatures(self) -> tuple[int, int]:
        """Apply this watched name to the signatures already made: unmoderated ones are held,
        approved ones (not verified, not namesakes) are listed for staff to recheck. Returns
        how many of each."""
        matching = Signature.objects.filter(name_keys__overlap=self.keys)
        S = SignatureStatus
        with transaction.atomic():
            held = (
                matching.filter(status__in=S.UNMODERATED)
                .exclude(flags__contains=[SignatureFlag.WATCHLIST])
                .update(
                    flags=Func(F("flags"), Value(SignatureFlag.WATCHLIST), function="array_append"),
                    watchlist_match=self,
                )
            )
            matching.filter(status__in=S.UNMODERATED, watchlist_match__isnull=True).update(
                watchlist_match=self
            )
            recheck = matching.filter(
                status=S.APPROVED, verified_at__isnull=True, namesake=False, watchlist_recheck=False
            ).update(watchlist_recheck=True, watchlist_match=self)
        return held, recheck


class WatchedNameKey(models.Model):
    """One of a watched name's keys (WatchedName.keys), one row each, so that matching a new
    signature is one b-tree lookup per key whatever the watchlist's length."""

    watched_name = models.ForeignKey(WatchedName, on_delete=models.CASCADE, related_name="key_rows")
    key = models.CharField(max_length=NAME_KEY_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "watched_name"], name="watched_name_key_unique")
        ]

    def __str__(self) -> str:
        return self.key
