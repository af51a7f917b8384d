"""The one view: a page of pages/ rendered inside the site layout (templates/page.html)."""

from django.http import Http404
from django.shortcuts import render

from .pages import find_page, page_context


def page(request, slug="index"):
    """Render the requested page if found; unknown, hidden or escaping paths are 404."""
    path = find_page(slug)
    if path is None:
        raise Http404("Page Not Found")
    return render(request, "page.html", page_context(slug, path))
