"""The single-page board at / (book ch. 5-6), sent with a strict Content-Security-Policy."""

from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from .models import DESCRIPTION_LENGTH, NAME_LENGTH
from .urls import api_links


def content_security_policy():
    """Scripts and styles from this origin only, sockets to the configured watercooler.

    'unsafe-eval' is for Underscore's templates (compiled with new Function); no inline
    script, style attribute or event-handler attribute is allowed.
    """
    scheme = "wss" if settings.WATERCOOLER_SECURE else "ws"
    watercooler = getattr(settings, "WATERCOOLER_PUBLIC", settings.WATERCOOLER_SERVER)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-eval'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {scheme}://{watercooler}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


class BoardPage(TemplateView):
    """The board's page; its forms bound each field as the model does, and it carries the API
    root's links, so the board need not ask the root for them before it asks for a list."""

    template_name = "board/index.html"
    extra_context = {"name_length": NAME_LENGTH, "description_length": DESCRIPTION_LENGTH}

    def get_context_data(self, **kwargs):
        links = api_links(reverse("api-root"))  # paths: the board talks to its own origin
        return super().get_context_data(api_links=links, **kwargs)

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = content_security_policy()
        return response
