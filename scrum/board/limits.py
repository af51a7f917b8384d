"""Limits on what one request may send: its body's size and its JSON's nesting, each refused
with a JSON answer (413, 400) instead of a server error or Django's HTML page."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError

DRAIN_LIMIT = 16 * 1024 * 1024  # bytes of a refused body read and dropped (see drain)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; nesting too deep for Python to parse is a 400, not a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


def too_large():
    """Return the 413 answer to a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse({"detail": f"Request body too large (at most {limit} bytes)."}, status=413)


def declared_length(request):
    """Return the body's length its Content-Length declares (0 when absent or unreadable)."""
    value = request.META.get("CONTENT_LENGTH") or "0"
    return int(value) if value.isascii() and value.isdecimal() else 0


def drain(request, length):
    """Read and drop a refused body of up to DRAIN_LIMIT bytes, a chunk at a time: a client
    still sending when the server closes would see a reset connection instead of the 413."""
    if length > DRAIN_LIMIT:
        return
    body = request.META["wsgi.input"]
    while length > 0:
        chunk = body.read(min(length, 64 * 1024))
        if not chunk:
            return
        length -= len(chunk)


def body_size_limit(get_response):
    """Return middleware answering a body declared too large with 413, without keeping it."""

    def middleware(request):
        length = declared_length(request)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            drain(request, length)
            return too_large()
        return get_response(request)

    return middleware


def bad_request(request, exception=None):
    """Return handler400's answer: JSON instead of Django's HTML page."""
    if isinstance(exception, RequestDataTooBig):
        return too_large()
    if isinstance(exception, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return JsonResponse({"detail": f"Too many fields (at most {limit})."}, status=400)
    return JsonResponse({"detail": "Bad request."}, status=400)
