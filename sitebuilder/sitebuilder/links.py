"""The links of the built site: found in each page's HTML, checked against what was built.

A page's links are the site paths its href and src attributes point at; a link is broken when
it reaches neither a page of the site nor a built file. The compressed CSS bundles' url()s
must each reach a collected static file. Both checks return the problems they find, one line
each; the builder decides what a problem means for the build.
"""

import html
import re
import string
from functools import cache
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings

from .pages import display_name, page_url

LINK = re.compile(  # href= and src= from their "r" on: see link_values
    r"""r(?:(?<=\shr)ef|(?<=\ssr)c)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"""
)
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
EXTERNAL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//|#")


def internal_links(url, content):
    """The site paths a page's href and src attributes point at (no fragments or queries)."""
    values = link_values(content)
    found = {site_path("/" if value.startswith("/") else url, value) for value in values}
    found.discard(None)
    return sorted(found)


def link_values(content):
    """The values of the href and src attributes in content (HTML), names in any case.

    The names are matched in a lowercased copy, where the regex engine finds the literal "r"
    they share fast (a pattern spelled case-insensitively is three times slower); only ASCII
    letters are lowered, so every match is where the value is in content.
    """
    folded = content.lower() if content.isascii() else content.translate(ASCII_LOWER)
    spans = (match.span(match.lastindex) for match in LINK.finditer(folded))  # one group matches
    return {content[start:end] for start, end in spans}


@cache
def site_path(url, value):
    """The path a link resolves to from the page at url, None if it leaves the site.

    Pages share most of their links, and an absolute one resolves alike from every page.
    """
    value = html.unescape(value).strip()
    if not value or EXTERNAL.match(value):
        return None
    return unquote(urlsplit(urljoin(url, value)).path)


def broken_links(pages, links, roots, not_found_links):
    """Every internal link ({slug: targets}, and the 404 page's) that reaches neither a page
    nor a file under roots, as a problem naming its page, in order."""
    urls = {page_url(slug) for slug in pages}
    targets = set(not_found_links).union(*links.values())
    dead = {target for target in targets if not reaches(target, urls, roots)}
    if not dead:
        return []
    named = [(display_name, pages[slug], found) for slug, found in links.items()]
    named.append((str, "404.html", not_found_links))
    broken = [
        f'{name(source)}: broken link "{target}"'
        for name, source, found in named
        for target in found
        if target in dead
    ]
    return sorted(broken)


def reaches(target, urls, roots):
    """Whether a link target is a page of the site (by URL) or another built file."""
    if target in urls or target + "/" in urls:
        return True
    if target.endswith("/index.html"):  # a page's file: only if the page still exists
        return target.removesuffix("index.html") in urls
    for root in roots:
        try:
            path = (root / target.lstrip("/")).resolve()
            if path.is_relative_to(root) and path.is_file():
                return True
        except (OSError, ValueError):  # a name too long, or a NUL (%00): no file has it
            continue
    return False


def missing_css_files(static_root):
    """Every url() in the compressed CSS bundles that points at no collected file, as a
    problem ("CACHE/css/...css: missing /static/...")."""
    missing = []
    for css in sorted((static_root / "CACHE").rglob("*.css")):
        for reference in CSS_URL.findall(css.read_text(encoding="utf-8")):
            path = urlsplit(reference).path
            if reference.startswith("data:") or not path.startswith(settings.STATIC_URL):
                continue
            if not (static_root / unquote(path.removeprefix(settings.STATIC_URL))).is_file():
                missing.append(f"{css.relative_to(static_root)}: missing {reference}")
    return missing
