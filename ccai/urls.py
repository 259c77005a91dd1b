from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_ratelimit.decorators import ratelimit

from pledges.views import client_key, rate_setting

# Password guessing: login POSTs are limited per client IP here; failed passwords are counted per
# username and IP together by django-axes (settings.AXES_*).
admin_login = ratelimit(
    group="admin-login-ip", key=client_key, rate=rate_setting("RATELIMIT_ADMIN_LOGIN_IP"), method="POST"
)(admin.site.login)

urlpatterns = [
    # Before the admin's own URLs, so that its login view is reached only through the limits.
    path(f"{settings.ADMIN_URL}login/", admin_login),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("pledges.urls")),
]
