from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def bare(request: HttpRequest) -> JsonResponse:
    """The yardstick: a Django request through the same middleware that touches no database."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("bench/bare/", bare),
    path("", include("ccai.urls")),
]
