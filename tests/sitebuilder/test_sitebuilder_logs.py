"""sitebuilder's live server: a server error logged with its traceback with DEBUG off, in the
services' format (time, level, service, logger: message), each request too."""

import re

import requests
from harness import LOG_LINE, log_line, runserver, with_failing_view


def test_a_server_error_is_logged_with_debug_off(start, site, prototypes, tmp_path):
    prototypes("build")  # with DEBUG off the live pages use the build's bundles
    broken = with_failing_view(tmp_path, "prototypes", "sitebuilder.urls")
    service = start(runserver(broken, site, {"DEBUG": "off"}))
    assert requests.get(service.url + "/boom", timeout=10).status_code == 500
    service.stop()
    output = service.output()
    log_line(output, "sitebuilder", "django.request", "Internal Server Error: /boom")
    assert "RuntimeError: a bug in a view" in output
    request = LOG_LINE + r'sitebuilder django\.server: "GET / HTTP/1\.1" 200'  # readiness
    assert re.search(request, output, re.MULTILINE)
