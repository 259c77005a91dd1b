"""The app's settings plus the bench's URLconf; used only by bench/count_api.py, so the bare view
it adds is never mounted in production."""

from ccai.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
