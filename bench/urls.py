"""The app's URLs plus the two bare views the benchmarks compare against."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def bare(request: HttpRequest) -> JsonResponse:
    """The yardstick for reads: a Django request through the same middleware that touches no database."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
def bare_insert(request: HttpRequest) -> HttpResponse:
    """The yardstick for signing: one INSERT, then the same redirect."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_insert (payload) VALUES (%s)", [request.POST.get("email", "")])
    return HttpResponse(status=302, headers={"Location": "/sign/thanks/"})


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/insert/", bare_insert),
    path("", include("ccai.urls")),
]
