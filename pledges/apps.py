from django.apps import AppConfig
from django.core import checks


class PledgesConfig(AppConfig):
    name = "pledges"
    verbose_name = "Open letter"

    def ready(self) -> None:
        checks.register(compiled_translations, checks.Tags.translation)


def compiled_translations(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Without its .mo file (git-ignored, compiled by `make install`), a language silently reads
    English: refuse to start instead."""
    from ccai.compile_messages import stale_catalogs

    return [
        checks.Error(
            f"{path.with_suffix('.mo').name} for {path.parent.parent.name} "
            f"is missing or older than {path.name}.",
            hint="Compile the translations: make install (or .venv/bin/python -m ccai.compile_messages).",
            id="pledges.E001",
        )
        for path in stale_catalogs()
    ]
