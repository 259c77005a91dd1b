"""The letter and what the site says around it: the letter's versions and translations, the
signing switch and publication policy, the about page and contacts, the guilds and professions."""

from django.contrib import admin, messages
from django.db.models import Count, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from pledges import bulk
from pledges.admin.common import OneRowAdminMixin
from pledges.models import (
    TRANSLATION_LANGUAGES,
    AboutPage,
    Guild,
    LetterTranslation,
    LetterVersion,
    Profession,
    SigningStatus,
)


class LetterTranslationInline(admin.StackedInline):
    model = LetterTranslation
    fields = ["language", "title", "summary", "body"]
    extra = 0
    max_num = len(TRANSLATION_LANGUAGES)


@admin.register(LetterVersion)
class LetterVersionAdmin(admin.ModelAdmin):
    """Saving an edited letter makes a new version; the old one stays with its signatures.
    Translations belong to a version: a new version starts with those edited in the same save."""

    list_display = ["title", "is_current", "signed", "translated_into", "created_at", "created_by"]
    fields = ["title", "summary", "body"]
    list_select_related = ["created_by"]
    inlines = [LetterTranslationInline]

    @admin.display(description="translations")
    def translated_into(self, obj: LetterVersion) -> str:
        return (
            ", ".join(str(translation.get_language_display()) for translation in obj.translations.all())
            or "—"
        )

    def get_queryset(self, request):
        # One grouped count over the letter_version index for the page (versions are few).
        current = LetterVersion.objects.order_by("-created_at", "-pk").values("pk")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(signature_count=Count("signatures"), current_pk=Subquery(current))
            .prefetch_related("translations")
        )

    @admin.display(description="current", boolean=True)
    def is_current(self, version: LetterVersion) -> bool:
        return version.pk == version.current_pk

    @admin.display(description="signed")
    def signed(self, version: LetterVersion) -> str:
        return f"{version.signature_count:,}"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        original = LetterVersion.objects.get(pk=obj.pk)
        revised = original.revise(title=obj.title, summary=obj.summary, body=obj.body, by=request.user)
        if revised.pk != original.pk:
            obj.revised_from = original
        obj.pk, obj.created_at, obj.created_by = revised.pk, revised.created_at, revised.created_by

    def save_formset(self, request, form, formset, change):
        revised_from = getattr(form.instance, "revised_from", None)
        if formset.model is not LetterTranslation or revised_from is None:
            return super().save_formset(request, form, formset, change)
        # The English changed, so this save made a new version. A translation edited in the same
        # save translates the new text and goes with it; the others stay with the old version,
        # which they translate, and the new one shows English to their readers until staff add them.
        carried = []
        for translated in formset.save(commit=False):
            LetterTranslation.objects.create(
                letter_version=form.instance,
                language=translated.language,
                title=translated.title,
                summary=translated.summary,
                body=translated.body,
            )
            carried.append(str(translated.get_language_display()))
        left = sorted({str(t.get_language_display()) for t in revised_from.translations.all()} - set(carried))
        if left:
            self.message_user(
                request,
                f"The letter changed, so this is a new version. Its translations into {', '.join(left)} "
                "were not carried over: they translate the previous text. Add them to this version.",
                messages.WARNING,
            )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SigningStatus)
class SigningStatusAdmin(OneRowAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "publication", "message", "changed_at", "changed_by"]
    fields = ["paused", "message", "publication"]
    radio_fields = {"publication": admin.VERTICAL}

    def save_model(self, request, obj, form, change):
        obj.changed_at, obj.changed_by = timezone.now(), request.user
        super().save_model(request, obj, form, change)
        if "publication" in form.changed_data and obj.publishes_at_once:
            job = bulk.publish_waiting_queue(request.user)
            url = reverse("admin:pledges_bulkmoderationjob_change", args=[job.pk])
            message = format_html(
                'The unflagged signatures in the queue are being published: <a href="{}">progress</a>.',
                url,
            )
            self.message_user(request, message, messages.SUCCESS)


@admin.register(AboutPage)
class AboutPageAdmin(OneRowAdminMixin, admin.ModelAdmin):
    """What /about/ says, and the contacts that /privacy/ and /press/ show."""

    list_display = ["__str__", "contact_email", "press_email", "changed_at", "changed_by"]
    fieldsets = [
        ("Who is behind the letter", {"fields": ["coalition", "organisers"]}),
        ("Contacts", {"fields": ["contact_email", "press_contact", "press_email", "press_phone"]}),
        ("Privacy notice", {"fields": ["data_controller", "postal_address"]}),
    ]

    def save_model(self, request, obj, form, change):
        obj.changed_at, obj.changed_by = timezone.now(), request.user
        super().save_model(request, obj, form, change)


@admin.register(Guild, Profession)
class ChoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
