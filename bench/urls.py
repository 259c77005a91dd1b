"""The app's URLs plus two bare views the benchmarks compare against: one that touches no
database, and one that makes a single INSERT."""

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from ccai.urls import urlpatterns as app_urlpatterns


def bare(request):
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def bare_insert(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_insert (payload) VALUES (%s)", [request.POST.get("email", "")])
    return HttpResponse(status=302, headers={"Location": "/sign/thanks/"})


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/insert/", bare_insert),
    *app_urlpatterns,
]
