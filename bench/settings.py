"""The app's settings plus the bench's URLconf; used only by bench/, so the bare views it adds
are never mounted in production."""

from ccai.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
