from django.apps import AppConfig
from django.core import checks


class PledgesConfig(AppConfig):
    name = "pledges"
    verbose_name = "Open letter"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from pledges.shared import SHARED_MODELS, Recent

        checks.register(compiled_translations, checks.Tags.translation)
        for model in SHARED_MODELS:
            post_save.connect(Recent.forget_all, sender=model, dispatch_uid=f"shared-forget-{model.__name__}")
            post_delete.connect(
                Recent.forget_all, sender=model, dispatch_uid=f"shared-forget-del-{model.__name__}"
            )


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
