"""The ceiling: a one-file Django app with no middleware, no templates and no apps, on the same
database as the app. A request to it is what any Django view must at least cost; bench/ceiling.py
serves it with the same gunicorn settings as the app and compares.

    gunicorn bench.ceiling_app --config gunicorn.conf.py   (DATABASE_URL set, as for the app)
"""

import os

import environ
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-ceiling-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    # The app's connection settings: a persistent connection, checked as the app checks it.
    DATABASES={
        "default": {
            **environ.Env.db_url_config(os.environ["DATABASE_URL"]),
            "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
        }
    },
    USE_TZ=True,
)


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def bare_insert(request: HttpRequest) -> HttpResponse:
    """One INSERT of what was posted, then the redirect a signature answers with."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_insert (payload) VALUES (%s)", [request.POST.get("email", "")])
    return HttpResponse(status=302, headers={"Location": "/sign/thanks/"})


urlpatterns = [path("", bare), path("insert/", bare_insert)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings.configure)

application = get_wsgi_application()
