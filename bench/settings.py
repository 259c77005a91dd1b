"""The app's settings plus the bare comparison views of bench/urls.py; used only by bench/."""

from ccai.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
