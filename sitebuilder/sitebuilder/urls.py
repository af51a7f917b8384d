"""Every page at /<slug>/ and the index page at /, as in the book."""

from django.urls import path, re_path

from .views import page

urlpatterns = [
    re_path(r"^(?P<slug>[\w./-]+)/$", page, name="page"),
    path("", page, name="homepage"),
]
