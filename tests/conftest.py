import fcntl
import os
import uuid

import hypothesis
import pytest
from django.conf import settings
from django.contrib.staticfiles import handlers as staticfiles_handlers
from django.core.cache import cache
from django.core.management import call_command
from django.utils import translation

from pledges import shared, snapshots
from tests.servers import free_port
from tests.utils import start_smtp

# The live server's request threads would otherwise keep their connections open while a browser
# holds a keep-alive connection, and the test database could not be dropped at the end.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0

# Django's default hasher spends about 0.4 s of CPU on each password by design, and about 200 tests
# make a staff user. Servers started as separate processes keep the production hashers; a test that
# logs in on one makes its user with them (`production_password_hashers`).
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Property-based tests: a few hundred examples each, the same ones on every run (stable CI).
hypothesis.settings.register_profile(
    "ccai",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.function_scoped_fixture],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ccai"))


@pytest.fixture(autouse=True)
def no_real_dns(settings):
    """There is no internet here: the email domain check is off unless a test turns it on
    with a mocked resolver."""
    settings.EMAIL_DOMAIN_CHECK = False


@pytest.fixture(autouse=True)
def site_language():
    """Each test starts in the site's language. A request activates its language for the rest of
    the thread (as each new request does in production), so a French request in one test would
    otherwise make the next test's command speak French, depending on which tests ran before."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def empty_cache(request, django_db_blocker):
    """Each database test starts with an empty cache, so that rate-limit counts (kept in the
    cache table, which a transactional test's flush does not empty) never leak between tests.
    Rate limits stay on: many tests post from the test client's one IP, well under them."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("django_db_setup")
        with django_db_blocker.unblock():
            cache.clear()


class _WhiteNoiseServesStatic(staticfiles_handlers.StaticFilesHandler):
    """pytest-django's live server puts Django's static handler in front of the app. It looks files
    up by their source names, so the hashed names our templates link to were 404s and browser tests
    saw pages without their stylesheet or script. Passing /static/ on lets WhiteNoise serve the
    collected files, as in production."""

    def _should_handle(self, path) -> bool:
        return False


staticfiles_handlers.StaticFilesHandler = _WhiteNoiseServesStatic


@pytest.fixture(scope="session", autouse=True)
def collected_static(request, tmp_path_factory):
    """The templates use the production storage (hashed names from a manifest), so build it once.
    Under pytest-xdist (`-n`) every worker asks for it at the same moment, and a second
    collectstatic deletes and rewrites the manifest and the stylesheets while other workers' tests
    read them: the first worker to take the lock builds it, the others wait and then use it."""
    if not hasattr(request.config, "workerinput"):
        call_command("collectstatic", "--noinput", verbosity=0)
        return
    # The workers' temporary folders share a parent that is new for each run.
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "collectstatic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / "collectstatic.done"
        if not done.exists():
            call_command("collectstatic", "--noinput", verbosity=0)
            done.touch()


@pytest.fixture(autouse=True)
def fresh_count_snapshots(monkeypatch):
    """Each test starts with no count in memory or in the shared cache (whose table outlives the
    transactional tests) by giving it keys of its own."""
    snapshots.SharedSnapshot.forget_all_local()
    monkeypatch.setattr(snapshots, "KEY_PREFIX", f"test-{uuid.uuid4().hex}")
    yield
    snapshots.SharedSnapshot.forget_all_local()


@pytest.fixture(autouse=True)
def fresh_public_caches():
    """Each test starts with nothing kept in this process's page and choice caches."""
    shared.Recent.forget_all()
    yield
    shared.Recent.forget_all()


@pytest.fixture
def valid_form_data() -> dict:
    return {
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "profession": "writer",
        "guilds": ["wga", "sag-aftra"],
        "credit": "Notes on the Analytical Engine",
        "country": "GB",
        "show_publicly": "on",
    }


@pytest.fixture
def smtp_port(settings) -> int:
    """Point Django's SMTP backend at a port on 127.0.0.1 (pytest-django swaps in the locmem
    backend; these tests want real SMTP)."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_RETRY_BASE_SECONDS = 0
    return port


@pytest.fixture
def smtp_inbox(smtp_port):
    controller, inbox = start_smtp(smtp_port)
    yield inbox
    controller.stop()


@pytest.fixture
def production_password_hashers(settings):
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


@pytest.fixture
def moderator():
    """A member of the Moderators group, with just the permissions that group has."""
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("mo", "mo@coalition.example", "a-long-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


@pytest.fixture
def mod_client(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def started():
    """Call it on every process a test starts: they are all stopped when the test ends, pass or fail."""
    from tests.servers import stop

    processes = []

    def track(process):
        processes.append(process)
        return process

    yield track
    for process in processes:
        stop(process)
