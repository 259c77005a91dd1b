"""What every visitor shares and each process keeps for PUBLIC_CACHE_SECONDS (5 s by default):
whether signing is paused, the current letter version and the form's choices. It imports no
forms or pages, so that both can read it.

A change made in the admin shows at once in the process that saved it (PledgesConfig.ready()
connects post_save and post_delete to Recent.forget_all) and within PUBLIC_CACHE_SECONDS in every
other process and on every other server. The bound holds whatever path made the change (a
queryset update(), a bulk job in the worker, SQL), since nothing has to announce it; re-reading
costs each process a handful of small queries every few seconds, however many visitors it serves."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from pledges.models import AboutPage, Guild, LetterTranslation, LetterVersion, Profession, SigningStatus

# Replaced in tests to move time on.
clock = time.monotonic


@dataclass(frozen=True)
class _Kept:
    value: Any
    until: float


class Recent:
    """A value computed at most once per PUBLIC_CACHE_SECONDS in each process, per key (the
    language, for what is shown in words)."""

    _all: list["Recent"] = []

    def __init__(self, compute: Callable[..., Any]):
        self.compute = compute
        self._kept: dict[Any, _Kept] = {}
        Recent._all.append(self)

    def get(self, key: Any = None, *args) -> Any:
        kept = self._kept.get(key)
        if kept is not None and clock() < kept.until:
            return kept.value
        value = self.compute(*args)
        self._kept[key] = _Kept(value, clock() + settings.PUBLIC_CACHE_SECONDS)
        return value

    def forget(self) -> None:
        self._kept = {}

    @classmethod
    def forget_all(cls, **kwargs) -> None:
        for recent in cls._all:
            recent.forget()


signing_status: Recent = Recent(SigningStatus.current)
current_letter: Recent = Recent(LetterVersion.objects.current)


def _choices() -> tuple[dict[str, Profession], dict[str, Guild]]:
    return (
        {profession.slug: profession for profession in Profession.objects.all()},
        {guild.slug: guild for guild in Guild.objects.all()},
    )


# Professions and guilds by slug, in the form's order: what the sign form offers and accepts.
choices: Recent = Recent(_choices)


# What Recent copies are made of: saving or deleting one drops every process-local copy. Not
# Signature: every new signature would throw the pages away. Featured names change through
# update() anyway, and show within the bound.
SHARED_MODELS = (LetterVersion, LetterTranslation, SigningStatus, Guild, Profession, AboutPage)
