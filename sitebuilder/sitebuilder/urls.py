"""Every page at /<slug>/ and the index page at /, as in the book; /metrics with METRICS=on."""

from django.conf import settings
from django.urls import path, re_path

from .views import page

urlpatterns = [
    re_path(r"^(?P<slug>[\w./-]+)/$", page, name="page"),
    path("", page, name="homepage"),
]
if settings.SITE_METRICS:  # prometheus_client is imported only then: 12 ms of every start
    from prometheus_client.django import PrometheusDjangoView

    urlpatterns.append(path("metrics", PrometheusDjangoView.as_view(), name="metrics"))
