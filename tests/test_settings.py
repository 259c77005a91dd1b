import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_settings(*, outside_pytest: bool = False, **env) -> subprocess.CompletedProcess:
    """Django's settings loaded in a child process with `env`; outside_pytest: as a program other
    than the test run would load them (no PYTEST_VERSION, and no DATABASE_URL unless given)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    if outside_pytest:
        clean = {k: v for k, v in clean.items() if k not in ("PYTEST_VERSION", "DATABASE_URL")}
    else:
        # A DATABASE_URL keeps the child from starting the embedded server; nothing connects to it.
        clean["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "ccai.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or is the insecure default" in result.stderr


def test_production_refuses_the_insecure_default_secret_key():
    from ccai.settings import INSECURE_SECRET_KEY

    result = load_settings(DEBUG="false", SECRET_KEY=INSECURE_SECRET_KEY)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_starts_with_a_real_secret_key_or_in_debug():
    assert load_settings(DEBUG="false", SECRET_KEY="x" * 50).stdout.strip() == "False"
    assert load_settings(DEBUG="true").stdout.strip() == "True"


def test_production_refuses_to_start_without_a_database_url():
    result = load_settings(outside_pytest=True, DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
    # With one it starts (nothing connects to it while settings load).
    url = "postgres://nobody@127.0.0.1:1/none"
    result = load_settings(outside_pytest=True, DEBUG="false", SECRET_KEY="x" * 50, DATABASE_URL=url)
    assert result.stdout.strip() == "False", result.stderr


def test_only_postgresql_is_accepted():
    result = load_settings(DEBUG="true", DATABASE_URL="sqlite:///db.sqlite3")
    assert result.returncode != 0 and "PostgreSQL only" in result.stderr
