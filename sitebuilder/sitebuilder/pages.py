"""The pages of the site: HTML templates and Markdown files under SITE_PAGES_DIRECTORY.

A page's slug is its path below pages/ without the suffix ("pricing", "docs/intro"); it is
served at /<slug>/, and the "index" page at /. Names starting with "." or "_" are not pages.
An HTML page may start with a {% block context %} of JSON: the block is removed from the page
and its keys join the page's context (description, keywords, title, and anything the page
itself uses). A Markdown page gives the same keys in its meta-data header ("title: ...").
"""

import json
import os
import re
from pathlib import Path

import markdown
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.template import Context, Template, TemplateSyntaxError
from django.template.base import Origin
from django.template.loader_tags import BlockNode
from django.utils._os import safe_join
from django.utils.safestring import mark_safe

SUFFIXES = (".html", ".md")
SLUG = re.compile(r"[\w.-]+(/[\w.-]+)*")  # what the page URL pattern can match


class PageError(Exception):
    """A page that cannot be built; the message names its file (and line where known)."""


def pages_directory():
    return Path(settings.SITE_PAGES_DIRECTORY)


def display_name(path, line=None):
    """A page's file as a designer knows it ("pages/pricing.html"), with the line if given."""
    path = Path(path)
    root = pages_directory()
    name = path.relative_to(root.parent) if path.is_relative_to(root.parent) else path
    return f"{name}, line {line}" if line else str(name)


def page_url(slug):
    """The URL path a page is served at."""
    return "/" if slug == "index" else f"/{slug}/"


def is_hidden(parts):
    return any(part.startswith((".", "_")) for part in parts)


def find_pages():
    """Every page as {slug: path}; raises PageError for names that cannot be served."""
    root = pages_directory()
    found, problems = {}, []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if not is_hidden([name]))
        relative = os.path.relpath(folder, root)
        base = "" if relative == "." else Path(relative).as_posix()
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix not in SUFFIXES or is_hidden([name]):
                continue
            path = Path(folder, name)
            slug = f"{base}/{stem}" if base else stem
            if not SLUG.fullmatch(slug):
                problems.append(
                    f"{display_name(path)}: a page name may only hold letters, digits, -_."
                )
            elif slug in found:
                problems.append(
                    f"{display_name(path)}: {display_name(found[slug])} is the same page"
                )
            else:
                found[slug] = path
    if problems:
        raise PageError("\n".join(problems))
    return dict(sorted(found.items()))


def find_page(slug):
    """The source file of the page at slug, or Http404 (unknown, hidden or outside pages/)."""
    if is_hidden(slug.split("/")):
        raise Http404("Page Not Found")
    for suffix in SUFFIXES:
        try:
            path = Path(safe_join(pages_directory(), slug + suffix))
        except SuspiciousFileOperation:
            raise Http404("Page Not Found") from None
        if path.is_file():
            return path
    raise Http404("Page Not Found")


def page_context(slug, path, engine=None, data=None):
    """page.html's context: the page's own context keys, its slug and the page itself.

    data is the file's content when the caller has read it already.
    """
    source = decode(path, path.read_bytes() if data is None else data)
    name = slug.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    context = {"title": name.capitalize(), "body_id": slug.replace("/", "-")}
    if path.suffix == ".md":
        content, extra = read_markdown(source)
        context.update(extra, slug=slug, markdown=content)
    else:
        template, extra = read_template(path, source, engine)
        context.update(extra, slug=slug, page=template)
    keywords = context.get("keywords")
    if isinstance(keywords, list | tuple):
        context["keywords"] = ", ".join(str(word) for word in keywords)
    return context


def decode(path, data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(f"{display_name(path)}: not UTF-8 text ({exc.reason})") from exc


def read_template(path, source, engine=None):
    """The page as a Template without its context block, and the block's JSON."""
    try:
        template = Template(source, Origin(str(path), display_name(path)), engine=engine)
    except TemplateSyntaxError as exc:
        token = getattr(exc, "token", None)
        raise PageError(f"{display_name(path, token and token.lineno)}: {exc}") from exc
    for index, node in enumerate(template.nodelist):
        if isinstance(node, BlockNode) and node.name == "context":
            del template.nodelist[index]
            return template, parse_context(path, node)
    return template, {}


def parse_context(path, block):
    """The JSON object in a page's {% block context %}, or PageError naming file and line."""
    text = block.nodelist.render(Context())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        line = block.token.lineno + exc.lineno - 1
        message = f"invalid JSON in {{% block context %}}: {exc.msg}"
        raise PageError(f"{display_name(path, line)}: {message}") from exc
    if not isinstance(data, dict):
        line = block.token.lineno
        raise PageError(f"{display_name(path, line)}: {{% block context %}} must be a JSON object")
    return data


def read_markdown(source):
    """A Markdown page as safe HTML, and its meta-data header as context."""
    converter = markdown.Markdown(extensions=["meta", "extra", "sane_lists"])
    content = converter.convert(source)
    meta = {key: " ".join(lines).strip() for key, lines in converter.Meta.items()}
    return mark_safe(content), meta
