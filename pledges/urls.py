from django.urls import path

from pledges import views

app_name = "pledges"

urlpatterns = [
    path("", views.letter, name="letter"),
    path("sign/", views.sign, name="sign"),
    path("sign/thanks/", views.thanks, name="thanks"),
    path("verify/<str:token>/", views.verify, name="verify"),
    path("withdraw/<str:token>/", views.withdraw, name="withdraw"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("signatories/", views.signatories, name="signatories"),
    path("signatories.csv", views.signatories_csv, name="signatories-csv"),
    path("api/count/", views.api_count, name="api-count"),
    path("api/history/", views.api_history, name="api-history"),
    path("press/", views.press, name="press"),
    path("badge.svg", views.badge, name="badge"),
    path("privacy/", views.privacy, name="privacy"),
    path("about/", views.about, name="about"),
    path("healthz", views.healthz, name="healthz"),
]
