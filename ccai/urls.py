from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language
from django_ratelimit.decorators import ratelimit

from pledges.clients import client_key, rate_setting

# Password guessing: login POSTs are limited per client IP here; failed passwords are counted per
# username and IP together by django-axes (settings.AXES_*).
admin_login = ratelimit(
    group="admin-login-ip", key=client_key, rate=rate_setting("RATELIMIT_ADMIN_LOGIN_IP"), method="POST"
)(admin.site.login)

urlpatterns = [
    # Before the admin's own URLs, so that its login view is reached only through the limits.
    path(f"{settings.ADMIN_URL}login/", admin_login),
    path(settings.ADMIN_URL, admin.site.urls),
    # The language switch on every page. Without a CSRF token: forging a visitor's choice of
    # language harms no one, and a token would put a cookie on every page that is otherwise the
    # same for everyone.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("", include("pledges.urls")),
]
