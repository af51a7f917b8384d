"""The pages of the site: HTML templates and Markdown files under SITE_PAGES_DIRECTORY.

A page's slug is its path below pages/ without the suffix ("pricing", "docs/intro"); it is
served at /<slug>/, the "index" page at /, and a folder's index page at the folder's URL
(pages/docs/index.html is "docs", at /docs/). Names starting with "." or "_" are not pages.
An HTML page may start with a {% block context %} of JSON: the block is removed from the page
and its keys join the page's context (description, keywords, title, and anything the page
itself uses; not the names page.html fills in, RESERVED). A Markdown page gives the same keys
in its meta-data header ("title: ...").
"""

import json
import os
import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.template import Context, Template, TemplateSyntaxError, engines
from django.template.base import Origin
from django.template.loader_tags import BlockNode
from django.utils.safestring import mark_safe

SUFFIXES = (".html", ".md")
SLUG = re.compile(r"[\w.-]+(/[\w.-]+)*")  # what the page URL pattern can match
RESERVED = ("body_id", "markdown", "page", "slug")  # set by page_context for page.html


class PageError(Exception):
    """A page that cannot be built; the message names its file (and line where known)."""


def pages_directory():
    return Path(settings.SITE_PAGES_DIRECTORY)


def display_name(path, line=None):
    """A page's file as a designer knows it ("pages/pricing.html"), with the line if given."""
    name, folder = str(path), project_prefix(settings.SITE_PAGES_DIRECTORY)
    name = name.removeprefix(folder) if folder != os.path.join(".", "") else name
    return f"{name}, line {line}" if line else name


@cache
def project_prefix(pages):
    """The folder holding the pages folder, as the start of the paths inside it."""
    return os.path.join(Path(pages).parent, "")


def page_url(slug):
    """The URL path a page is served at."""
    return "/" if slug == "index" else f"/{slug}/"


def is_hidden(parts):
    return any(part.startswith((".", "_")) for part in parts)


def project_directory():
    """The folder holding pages/: symlinks under pages/ may lead anywhere inside it."""
    return pages_directory().resolve().parent


def source_folders():
    """The folders the site is made from: pages, templates and static files (resolved)."""
    folders = [Path(settings.SITE_PAGES_DIRECTORY), *map(Path, engines["django"].template_dirs)]
    for finder in get_finders():
        storages = getattr(finder, "storages", {})
        if finder.__class__.__name__ != "CompressorFinder":  # that one holds build output
            folders += [Path(storage.location) for storage in storages.values()]
    return sorted({folder.resolve() for folder in folders})


def walk_pages(folder=None, base="", seen=frozenset()):
    """(slug, path) of every file under pages/ with a page suffix, in name order; the path is
    a string (a Path for each of 10,000 pages took a rebuild 30 ms).

    Symlinks are followed when their target is inside the project, never into a folder the
    walk is already inside (a loop); hidden names and anything else are skipped.
    """
    folder = str(folder or pages_directory())
    seen = seen | {Path(folder).resolve()}
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        name = entry.name
        if name.startswith((".", "_")):
            continue
        if entry.is_symlink() and not reachable(entry.path, seen):
            continue  # (what is not a symlink is where its folder is)
        if entry.is_dir():
            yield from walk_pages(entry.path, f"{base}{name}/", seen)
        elif name.endswith(SUFFIXES) and entry.is_file():
            stem = name.rpartition(".")[0]  # (os.path.splitext: 5 ms longer at 10,000 pages)
            yield (base.rstrip("/") if base and stem == "index" else base + stem), entry.path


def reachable(path, seen):
    """Whether a file or folder under pages/ may hold pages: it really is inside the project
    and is not a folder the walk already went through."""
    real = Path(path).resolve()
    return real.is_relative_to(project_directory()) and real not in seen


def find_pages():
    """Every page as {slug: path}; raises PageError for names that cannot be served."""
    found, problems = {}, []
    for slug, path in walk_pages():
        if not SLUG.fullmatch(slug):
            problems.append(f"{display_name(path)}: a page name may only hold letters, digits, -_.")
        elif slug in found:
            problems.append(f"{display_name(path)}: {display_name(found[slug])} is the same page")
        else:
            found[slug] = path
    if problems:
        raise PageError("\n".join(problems))
    return dict(sorted(found.items()))


def find_page(slug):
    """The source file of the page at slug, found as find_pages finds it, or None."""
    parts = slug.split("/")
    if not SLUG.fullmatch(slug) or is_hidden(parts):
        return None
    try:
        return next((path for path in candidates(parts) if path.is_file()), None)
    except OSError:  # a name too long for the file system...
        return None


def candidates(parts):
    """The files that can be the page at parts (<parts>.html, <parts>/index.html, .md), each
    with every folder on its way reachable as walk_pages would reach it."""
    places = [(parts[:-1], parts[-1]), (parts, "index")]
    if parts[-1] == "index" and len(parts) > 1:
        del places[0]  # pages/docs/index.html is the page docs, not docs/index
    for folders, stem in places:
        folder = pages_directory()
        seen = {folder.resolve()}
        for part in folders:
            folder = folder / part
            if not (folder.is_dir() and reachable(folder, seen)):
                break
            seen.add(folder.resolve())
        else:
            paths = [folder / (stem + suffix) for suffix in SUFFIXES]
            yield from (path for path in paths if reachable(path, seen))


def page_context(slug, path, engine=None, data=None):
    """page.html's context: the page's own context keys, its slug and the page itself.

    data is the file's content when the caller has read it already.
    """
    source = decode(path, path.read_bytes() if data is None else data)
    name = slug.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    context = {"title": name.capitalize(), "body_id": slug.replace("/", "-"), "slug": slug}
    if path.suffix == ".md":
        content, extra, lines = read_markdown(source)
        context["markdown"] = content
    else:
        context["page"], extra, lines = read_template(path, source, engine)
    clashes = [name for name in RESERVED if name in extra]
    if clashes:
        name = clashes[0]
        message = f"{name!r} is a name the layout sets; call it something else"
        raise PageError(f"{display_name(path, lines.get(name))}: {message}")
    context.update(extra)
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
    """The page as a Template without its context block, the block's JSON, and the line of
    each reserved name in it."""
    try:
        template = Template(source, Origin(str(path), display_name(path)), engine=engine)
    except TemplateSyntaxError as exc:
        token = getattr(exc, "token", None)
        raise PageError(f"{display_name(path, token and token.lineno)}: {exc}") from exc
    top = next((node for node in template.nodelist if is_context_block(node)), None)
    if top:  # then there is no other: Django refuses a block name used twice
        template.nodelist.remove(top)
        return template, *parse_context(path, top)
    blocks = template.nodelist.get_nodes_by_type(BlockNode)
    nested = [node for node in blocks if is_context_block(node)]
    if nested:
        line = nested[0].token.lineno
        message = "{% block context %} must be at the top level of the page, not inside a tag"
        raise PageError(f"{display_name(path, line)}: {message}")
    return template, {}, {}


def is_context_block(node):
    return isinstance(node, BlockNode) and node.name == "context"


def parse_context(path, block):
    """The JSON object in a page's {% block context %} and the line of each reserved name in
    it, or PageError naming file and line."""
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
    lines = {name: block.token.lineno + key_line(text, name) for name in RESERVED if name in data}
    return data, lines


def key_line(text, name):
    """How many lines into text the JSON key name first appears (0 if not found)."""
    found = re.search(rf'"{re.escape(name)}"\s*:', text)
    return text.count("\n", 0, found.start()) if found else 0


def read_markdown(source):
    """A Markdown page as safe HTML, its meta-data header as context, and the line of each
    reserved name in it."""
    import markdown  # here, not at the top: most sites have no Markdown page, and it costs start-up

    converter = markdown.Markdown(extensions=["meta", "extra", "sane_lists"])
    content = converter.convert(source)
    meta = {key: " ".join(lines).strip() for key, lines in converter.Meta.items()}
    heads = [line.split(":", 1)[0].strip().lower() for line in source.splitlines()]
    lines = {key: heads.index(key) + 1 for key in RESERVED if key in meta and key in heads}
    return mark_safe(content), meta, lines
