"""Skip markers for the tests that need a system program: a machine with only Python runs the
rest (`.ci/run` installs these where it can)."""

import shutil
from pathlib import Path

import pytest


def program(name: str, package: str | None = None) -> pytest.MarkDecorator:
    """Skip unless `name` is on PATH or in /usr/sbin (Debian puts haproxy and nginx there)."""
    found = shutil.which(name) or (Path("/usr/sbin") / name).exists()
    return pytest.mark.skipif(
        not found, reason=f"{name} is not installed (apt-get install {package or name})"
    )


chromium = program("chromium")
haproxy = program("haproxy")
nginx = program("nginx")
xgettext = program("xgettext", "gettext")
