import functools
import re
import unicodedata

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import flatatt
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from pledges import shared
from pledges.lib import watchlist
from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.lib.maildomains import can_receive_mail, is_disposable
from pledges.models import CREDIT_MAX_LENGTH, NAME_MAX_LENGTH, Guild, Profession, PublicListKey, Signature

# Control, format (e.g. right-to-left overrides), surrogate, private-use and unassigned characters;
# U+FFFD is what undecodable bytes in the request became.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Web addresses in names: a scheme, "www.", an "@", a host under a common top-level domain
# ("spam.example.com", "bit.ly/x"), or a spelled-out dot ("spam [dot] com", "spam(.)com").
# Short top-level domains that are also name particles (de, da, la, di, do) are left out,
# so that "Mme.de Gaulle" is still a name.
_URL_LIKE = re.compile(
    r"(://|\bwww\.|@|\bhttps?:|"
    r"\b[a-z0-9-]+\.(com|net|org|io|ly|co|xyz|ru|info|biz|me|app|dev|site|online|top|club|shop|store|"
    r"link|click|live|tv|gg|cn|uk|jp|br|au|us|eu|ai|sh|cc|ws|fm|vip|pro|bio|lol|icu|cyou|buzz|tk|ml|"
    r"ga|cf|gq|su|ua|ir|pk|vn|kr|pw|win|bid|loan|work|fun|space|website|tech|email)\b|"
    r"\w\s*[\[(]\s*(\.|dot)\s*[\])]\s*\w)",
    re.I,
)


def clean_text(value: str, *, invisible_characters_message: str) -> str:
    """NFKC-normalise, refuse invisible and control characters, and fold runs of spaces."""
    value = unicodedata.normalize("NFKC", value)
    if "\ufffd" in value or any(
        unicodedata.category(char) in _FORBIDDEN_CATEGORIES and char not in "\t\n\r" for char in value
    ):
        raise ValidationError(invisible_characters_message)
    return " ".join(value.split())


def clean_full_name(value: str) -> str:
    name = clean_text(
        value,
        invisible_characters_message=_(
            "Your name contains invisible or control characters. Please type it plainly."
        ),
    )
    if not name:
        raise ValidationError(_("Please enter your name."))
    if watchlist.is_only_invisible(name):
        raise ValidationError(
            _("Your name is made only of blank or invisible characters. Please type it in letters.")
        )
    # A filler between letters looks like a space, so it becomes one.
    name = " ".join("".join(" " if char in watchlist.INVISIBLE_FILLERS else char for char in name).split())
    if not any(char.isalpha() for char in name):
        raise ValidationError(_("Please enter your name in letters."))
    if name[0] in "=+-@":
        raise ValidationError(_("A name cannot start with =, +, - or @."))
    # No one's name has them, and they are the separator of European spreadsheets and the
    # pipe of DDE formulas ("Bob;=cmd|' /C calc'!A"); exports neutralise them anyway.
    if ";" in name or "|" in name:
        raise ValidationError(_("A name cannot contain ; or |."))
    if _URL_LIKE.search(name):
        raise ValidationError(_("Please enter just your name, without a web address."))
    return name


def clean_email(value: str) -> str:
    """Lower-cased, and refused if its domain is a disposable-address service or cannot receive mail."""
    email = unicodedata.normalize("NFKC", value).strip().lower()
    if len(email) > 254:
        raise ValidationError(_("That email address is too long."))
    try:
        canonical_mailbox(email)
    except InvalidAddress:
        raise ValidationError(_("Please enter a valid email address.")) from None
    domain = email.rpartition("@")[2]
    if is_disposable(domain):
        raise ValidationError(
            _("Please use a permanent email address: we cannot accept disposable addresses.")
        )
    if settings.EMAIL_DOMAIN_CHECK and not can_receive_mail(domain):
        raise ValidationError(
            _("%(domain)s cannot receive email. Please check the address."), params={"domain": domain}
        )
    return email


def clean_credit(value: str) -> str:
    credit = clean_text(
        value,
        invisible_characters_message=_(
            "Your credit contains invisible or control characters. Please type it plainly."
        ),
    )
    if credit and credit[0] in "=+-@":
        raise ValidationError(_("A credit cannot start with =, +, - or @."))
    return credit


def country_choices() -> list[tuple[str, str]]:
    return _country_choices(translation.get_language())


@functools.cache
def _country_choices(language: str) -> list[tuple[str, str]]:
    # Resolved once per language: the names are lazy translations, sorted in the reader's language.
    with translation.override(language):
        return [("", gettext("Prefer not to say")), *((code, str(name)) for code, name in countries)]


class CountryChoiceField(forms.ChoiceField):
    """Checks a country against a set: ChoiceField walks all ~250 choices, normalising each, for
    every submission."""

    def valid_value(self, value) -> bool:
        return str(value) in _country_codes()


@functools.cache
def _country_codes() -> frozenset[str]:
    return frozenset(code for code, _ in country_choices())


class LongSelect(forms.Select):
    """A <select> rendered in one pass: Django's Select renders a template per option, which
    for the ~250 countries was most of the letter page's time."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((key, " selected" if str(key) == selected else "", label) for key, label in self.choices),
        )
        return format_html(
            "<select{}>{}</select>",
            flatatt(self.build_attrs(self.attrs, {**(attrs or {}), "name": name})),
            options,
        )


class NamedChoiceField(forms.ModelChoiceField):
    """A choice of profession or guild, labelled in the reader's language."""

    def label_from_instance(self, obj) -> str:
        return obj.display_name


class RecentProfessionField(NamedChoiceField):
    """A profession by slug, checked against this process's recent copy of the choices
    (shared.choices, at most PUBLIC_CACHE_SECONDS old) rather than a query per submission."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        self.validate_no_null_characters(value)
        profession = shared.choices.get()[0].get(str(value))
        if profession is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return profession


class RecentGuildsField(forms.ModelMultipleChoiceField):
    """Guilds by slug, checked as RecentProfessionField checks a profession."""

    def label_from_instance(self, obj) -> str:
        return obj.display_name

    def _check_values(self, value):
        try:
            slugs = list(dict.fromkeys(str(slug) for slug in value))
        except TypeError:
            raise ValidationError(self.error_messages["invalid_list"], code="invalid_list") from None
        guilds = shared.choices.get()[1]
        for slug in slugs:
            self.validate_no_null_characters(slug)
            if slug not in guilds:
                raise ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": slug}
                )
        return [guilds[slug] for slug in slugs]


class SignForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Please enter your name.")},
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We email you a link to confirm your signature. Never shown publicly."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": _("Please enter your email address."),
            "invalid": _("Please enter a valid email address."),
        },
    )
    profession = RecentProfessionField(
        label=_("Profession"),
        queryset=Profession.objects.all(),
        to_field_name="slug",
        empty_label=_("Choose one…"),
        error_messages={
            "required": _("Please choose your profession."),
            "invalid_choice": _("Please choose a profession from the list."),
        },
    )
    guilds = RecentGuildsField(
        label=_("Guilds and unions"),
        queryset=Guild.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": _("Please choose guilds from the list."),
            "invalid_pk_value": _("Please choose guilds from the list."),
        },
    )
    credit = forms.CharField(
        label=_("Notable credit, company or channel"),
        max_length=CREDIT_MAX_LENGTH,
        required=False,
        help_text=_("Optional. Shown next to your name if you appear on the public list."),
    )
    country = CountryChoiceField(
        label=_("Country"),
        # A callable: the ~250 choices are then not deep-copied for every form instance.
        choices=country_choices,
        widget=LongSelect,
        required=False,
        error_messages={"invalid_choice": _("Please choose a country from the list.")},
    )
    show_publicly = forms.BooleanField(
        label=_("Show my name on the public list of signatories"), required=False, initial=True
    )
    updates_opt_in = forms.BooleanField(
        label=_("The coalition may email me news about this campaign"), required=False, initial=False
    )
    # A honeypot: hidden from people by CSS, filled in by naive bots.
    website = forms.CharField(label=_("Leave this field empty"), required=False, max_length=200)

    # Under "Add details (optional)", closed unless one of them has an error.
    OPTIONAL_DETAILS = ("guilds", "credit", "country")

    def clean_full_name(self) -> str:
        return clean_full_name(self.cleaned_data["full_name"])

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])

    def clean_credit(self) -> str:
        return clean_credit(self.cleaned_data["credit"])

    def error_links(self) -> list[tuple[str, str]]:
        """Each problem, in the form's order, with the id of the control to fix it in: the error
        summary at the top of the form links to it (for a group of checkboxes, the first box)."""
        links = [("", str(error)) for error in self.non_field_errors()]
        for field in self:
            target = f"{field.auto_id}_0" if field.field.widget.use_fieldset else field.id_for_label
            links += [(target, str(error)) for error in field.errors]
        return links

    @property
    def optional_details_have_errors(self) -> bool:
        return any(name in self.errors for name in self.OPTIONAL_DETAILS)

    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class SignatoryFilterForm(forms.Form):
    """The public list's query string: ?q=, ?guild=, ?profession= and the page key ?after=."""

    q = forms.CharField(label=_("Search names"), max_length=100, required=False)
    guild = NamedChoiceField(
        label=_("Guild"),
        queryset=Guild.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label=_("Any guild"),
        error_messages={"invalid_choice": _("There is no such guild.")},
    )
    profession = NamedChoiceField(
        label=_("Profession"),
        queryset=Profession.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label=_("Any profession"),
        error_messages={"invalid_choice": _("There is no such profession.")},
    )
    verified = forms.ChoiceField(
        label=_("Verified"),
        choices=[("", _("Everyone")), ("1", _("Verified signatories only"))],
        required=False,
        error_messages={"invalid_choice": _("Use verified=1 for verified signatories only.")},
    )
    after = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)

    def clean_q(self) -> str:
        return clean_text(
            self.cleaned_data["q"],
            invisible_characters_message=_(
                "The search contains invisible or control characters. Please type it plainly."
            ),
        )

    def clean_after(self):
        token = self.cleaned_data["after"]
        if not token:
            return None
        try:
            return PublicListKey.decode(token)
        except (ValueError, TypeError):
            raise ValidationError(
                _("That page link does not work; start again from the first page.")
            ) from None


class ImportRowForm(forms.Form):
    """One row of a launch-signatory CSV (manage.py import_signatories): the sign form's rules
    for names and credits; profession and guilds by slug or name; featured yes/no."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    email = forms.EmailField(max_length=254)
    profession = forms.CharField(max_length=100)
    guilds = forms.CharField(max_length=500, required=False)
    credit = forms.CharField(max_length=CREDIT_MAX_LENGTH, required=False)
    featured = forms.CharField(max_length=10, required=False)
    verified = forms.CharField(max_length=20, required=False)
    verification_note = forms.CharField(max_length=500, required=False)

    YES, NO = {"yes", "y", "true", "1", "x"}, {"no", "n", "false", "0", ""}

    def clean_name(self) -> str:
        return clean_full_name(self.cleaned_data["name"])

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])

    def clean_credit(self) -> str:
        return clean_credit(self.cleaned_data["credit"])

    def clean_profession(self) -> Profession:
        value = self.cleaned_data["profession"].strip()
        profession = Profession.objects.filter(Q(slug__iexact=value) | Q(name__iexact=value)).first()
        if profession is None:
            raise ValidationError(f"unknown profession {value!r}")
        return profession

    def clean_guilds(self) -> list[Guild]:
        names = [part.strip() for part in re.split(r"[;,]", self.cleaned_data["guilds"]) if part.strip()]
        guilds = []
        for name in names:
            guild = Guild.objects.filter(Q(slug__iexact=name) | Q(name__iexact=name)).first()
            if guild is None:
                raise ValidationError(f"unknown guild {name!r}")
            guilds.append(guild)
        return guilds

    def clean_verified(self) -> str:
        """How staff verified the person (a Signature.VerificationMethod), or blank."""
        value = self.cleaned_data["verified"].strip().lower()
        if value and value not in Signature.VerificationMethod.values:
            methods = ", ".join(Signature.VerificationMethod.values)
            raise ValidationError(f"verified must be blank or one of {methods}, not {value!r}")
        return value

    def clean_verification_note(self) -> str:
        return clean_text(
            self.cleaned_data["verification_note"],
            invisible_characters_message="The verification note contains invisible or control characters. "
            "Please type it plainly.",
        )

    def clean_featured(self) -> bool:
        value = self.cleaned_data["featured"].strip().lower()
        if value not in self.YES | self.NO:
            raise ValidationError(f"featured must be yes or no, not {value!r}")
        return value in self.YES

    def clean(self) -> dict:
        data = super().clean()
        if data.get("featured") and not data.get("verified"):
            raise ValidationError(
                "a featured signatory must be verified: say how in the verified column "
                f"({', '.join(Signature.VerificationMethod.values)})"
            )
        if data.get("featured") and not data.get("credit"):
            raise ValidationError("a featured name needs a credit (a notable credit, company or channel)")
        return data
