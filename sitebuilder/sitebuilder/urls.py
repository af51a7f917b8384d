"""Every page at /<slug>/ and the index page at /, as in the book; /metrics with METRICS=on."""

from django.conf import settings
from django.urls import path, re_path
from prometheus_client.django import PrometheusDjangoView

from .views import page

urlpatterns = [
    re_path(r"^(?P<slug>[\w./-]+)/$", page, name="page"),
    path("", page, name="homepage"),
]
if settings.SITE_METRICS:
    urlpatterns.append(path("metrics", PrometheusDjangoView.as_view(), name="metrics"))
