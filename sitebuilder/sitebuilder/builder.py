"""The static build: every page rendered through the live view into an output folder.

A full build writes a fresh tree into a temporary folder beside the output and swaps it in
only when every page rendered and every internal link resolved, so a failed build leaves the
previous output as it was. Builds are incremental: the output keeps a state file recording,
for each page, a digest of its source and of the layout (templates, static sources, this
code); a page whose digests match is hard-linked from the previous output instead of being
rendered, and static files are collected and compressed again only when the layout changed.
Pages render in parallel worker processes forked from the configured parent.
"""

import hashlib
import html
import json
import multiprocessing
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.http import HttpRequest
from django.template import Context, Engine, engines
from django.template.loader import render_to_string

from . import views
from .pages import PageError, display_name, find_pages, page_context, page_url

STATE_FILE = ".sitebuilder.json"
STATE_VERSION = 1
LINK = re.compile(r"""\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
EXTERNAL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//|#")
BATCH = 25  # pages per task sent to a worker


class BuildError(Exception):
    """A build that failed; the output was left as it was. One line per problem."""


@dataclass
class Summary:
    pages: int
    rendered: int
    static_collected: bool
    seconds: float

    def __str__(self):
        static = "static files collected" if self.static_collected else "static files unchanged"
        return (
            f"{self.pages} pages: {self.rendered} rendered, {self.pages - self.rendered} "
            f"unchanged; {static}; {self.seconds:.2f} s"
        )


def build_site(output, jobs=None, force=False, progress=None):
    """Build every page into output (atomically); returns a Summary."""
    started = time.perf_counter()
    output = Path(output).resolve()
    pages = find_source_pages()
    previous = {} if force else load_state(output)
    layout = layout_digest()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging(output)
    try:
        use_static_root(staging / "static")
        collect = previous.get("static") != layout or not (output / "static").is_dir()
        if collect:
            collect_static()
        else:
            link_tree(output / "static", staging / "static")
        digests = {slug: file_digest(path) for slug, path in pages.items()}
        old = previous.get("pages", {})
        unchanged = {
            slug
            for slug in pages
            if not collect
            and old.get(slug, {}).get("digest") == [digests[slug], layout]
            and output_file(output, slug).is_file()
        }
        for slug in unchanged:
            link_file(output_file(output, slug), output_file(staging, slug))
        todo = [slug for slug in pages if slug not in unchanged]
        links = {slug: old[slug]["links"] for slug in unchanged}
        links.update(render_pages(todo, pages, staging, jobs, progress))
        write_extras(staging, pages)
        check_links(pages, links, staging)
        entries = {
            slug: {"digest": [digests[slug], layout], "links": links[slug]} for slug in pages
        }
        save_state(staging, {"static": layout, "pages": entries})
        swap_in(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Summary(len(pages), len(todo), collect, time.perf_counter() - started)


def build_pages(slugs, output, jobs=None, progress=None):
    """Rebuild only the named pages in output, leaving every other file as it was."""
    started = time.perf_counter()
    output = Path(output).resolve()
    pages = find_source_pages()
    invalid = [slug for slug in slugs if slug not in pages]
    if invalid:
        raise BuildError(f"Invalid pages: {', '.join(invalid)}")
    state = load_state(output)
    layout = layout_digest()
    use_static_root(output / "static")
    collect = state.get("static") != layout or not (output / "static").is_dir()
    if collect:  # adds the new layout's files; pages built before keep theirs
        output.mkdir(parents=True, exist_ok=True)
        collect_static()
    staging = make_staging(output)
    try:
        links = render_pages(slugs, pages, staging, jobs, progress)
        check_links(pages, links, output)
        for slug in slugs:
            target = output_file(output, slug)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(output_file(staging, slug), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    entries = state.get("pages", {})
    for slug in slugs:
        entries[slug] = {"digest": [file_digest(pages[slug]), layout], "links": links[slug]}
    entries = {slug: entry for slug, entry in entries.items() if slug in pages}
    write_extras(output, {slug: pages[slug] for slug in entries})
    save_state(output, {"static": layout, "pages": entries})
    return Summary(len(slugs), len(slugs), collect, time.perf_counter() - started)


def find_source_pages():
    try:
        return find_pages()
    except PageError as exc:
        raise BuildError(str(exc)) from exc


def make_staging(output):
    """A fresh folder beside output (same file system, so it can be renamed into place)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-build-", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # as readable as any folder the user makes
    return staging


def output_file(root, slug):
    """Where a page's HTML goes: index.html at the root, <slug>/index.html for the rest."""
    return root / "index.html" if slug == "index" else root / slug / "index.html"


def use_static_root(static_root):
    """Point collectstatic, {% static %} and django-compressor at static_root."""
    settings.STATIC_ROOT = settings.COMPRESS_ROOT = str(static_root)


def collect_static():
    """Collect static files with content-hashed names, then bundle and minify offline."""
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("compress", force=True, verbosity=0)
    check_compressed_css(Path(settings.STATIC_ROOT))


def check_compressed_css(static_root):
    """Every url() in the compressed CSS bundles must point at a collected file."""
    missing = []
    for css in sorted((static_root / "CACHE").rglob("*.css")):
        for reference in CSS_URL.findall(css.read_text(encoding="utf-8")):
            path = urlsplit(reference).path
            if reference.startswith("data:") or not path.startswith(settings.STATIC_URL):
                continue
            if not (static_root / unquote(path.removeprefix(settings.STATIC_URL))).is_file():
                missing.append(f"{css.relative_to(static_root)}: missing {reference}")
    if missing:
        raise BuildError("\n".join(missing))


def layout_digest():
    """A digest of everything every page depends on besides its own source."""
    digest = hashlib.blake2b(settings.STATIC_URL.encode())
    template_dirs = engines["django"].template_dirs
    sources = [path for folder in template_dirs for path in Path(folder).rglob("*")]
    sources += Path(__file__).parent.glob("*.py")
    for finder in get_finders():
        if finder.__class__.__name__ == "CompressorFinder":
            continue  # lists the compressor's output, not a source
        for name, storage in finder.list(["CVS", ".*", "*~"]):
            sources.append(Path(storage.path(name)))
    for path in sorted(set(sources)):
        if path.is_file():
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_digest(path):
    return hashlib.blake2b(path.read_bytes()).hexdigest()


def load_state(output):
    try:
        state = json.loads((output / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if state.get("version") == STATE_VERSION else {}


def save_state(root, state):
    (root / STATE_FILE).write_text(json.dumps({"version": STATE_VERSION, **state}))


def link_file(source, target):
    """Hard-link source to target (a copy where links are not possible)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def link_tree(source, target):
    for folder, _dirs, files in os.walk(source):
        for name in files:
            path = Path(folder, name)
            link_file(path, target / path.relative_to(source))


def swap_in(staging, output):
    """Replace output by the finished staging folder."""
    if output.exists():
        retired = output.with_name(f".{output.name}-old-{os.getpid()}")
        output.rename(retired)
        staging.rename(output)
        shutil.rmtree(retired)
    else:
        staging.rename(output)


def render_pages(slugs, pages, root, jobs=None, progress=None):
    """Render pages into root, in parallel; returns {slug: internal links}, or BuildError."""
    tasks = [(slug, str(pages[slug]), str(root)) for slug in slugs]
    batches = [tasks[start : start + BATCH] for start in range(0, len(tasks), BATCH)]
    jobs = min(jobs or available_cores(), len(batches))
    results, problems = {}, []

    def collect(batch_results):
        for slug, links, problem in batch_results:
            results[slug] = links
            problems.extend([problem] if problem else [])
        if progress:
            progress(len(results), len(tasks))

    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        collect(render_batch(batches.pop(0)))  # warms caches the workers then inherit
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for batch_results in pool.imap_unordered(render_batch, batches):
                collect(batch_results)
    else:
        for batch in batches:
            collect(render_batch(batch))
    if problems:
        raise BuildError("\n".join(sorted(problems)))
    return results


def available_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def render_batch(batch):
    """Render (slug, source, root) tasks; returns (slug, links, problem) for each."""
    return [render_to_file(slug, Path(source), Path(root)) for slug, source, root in batch]


def render_to_file(slug, source, root):
    """Render one page through the view into root; returns (slug, links, problem)."""
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = page_url(slug)
    request.META = {"SERVER_NAME": "localhost", "SERVER_PORT": "80"}
    try:
        response = views.page(request, slug)
    except PageError as exc:
        return slug, [], str(exc)
    except Exception as exc:  # a template tag or filter failing while the page renders
        return slug, [], f"{locate_error(slug, source)}: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return slug, [], f"{display_name(source)}: rendered with status {response.status_code}"
    target = output_file(root, slug)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response.content)
    return slug, internal_links(request.path, response.content.decode()), None


def locate_error(slug, source):
    """The page (and line) a render error comes from, found by rendering it again in debug mode.

    Fast builds parse without positions, so the failing page is parsed and rendered once more
    by a debug twin of the template engine, which annotates the exception with its line.
    """
    try:
        context = page_context(slug, source, debug_engine())
        debug_engine().get_template("page.html").render(Context(context))
    except Exception as exc:
        where = getattr(exc, "template_debug", None)
        if where and where["name"] == str(source):
            return display_name(source, where["line"])
        if where:
            return f"{display_name(source)} (in template {where['name']}, line {where['line']})"
    return display_name(source)


@cache
def debug_engine():
    engine = engines["django"].engine
    return Engine(
        dirs=engine.dirs,
        loaders=engine.loaders,
        context_processors=engine.context_processors,
        libraries=engine.libraries,
        builtins=engine.builtins,
        debug=True,
    )


def internal_links(url, content):
    """The site paths a page's href and src attributes point at (no fragments or queries)."""
    found = set()
    for quoted in LINK.findall(content):
        value = html.unescape(quoted[0] or quoted[1]).strip()
        if value and not EXTERNAL.match(value):
            found.add(unquote(urlsplit(urljoin(url, value)).path))
    return sorted(found)


def check_links(pages, links, root):
    """Every internal link must reach a page or a file in root; BuildError lists the rest."""
    urls = {page_url(slug) for slug in pages}
    broken = []
    for slug, targets in links.items():
        for target in targets:
            if not reaches(target, urls, root):
                broken.append(f'{display_name(pages[slug])}: broken link "{target}"')
    if broken:
        raise BuildError("\n".join(sorted(broken)))


def reaches(target, urls, root):
    if target in urls or target + "/" in urls:
        return True
    path = (root / target.lstrip("/")).resolve()
    return path.is_relative_to(root) and (path.is_file() or (path / "index.html").is_file())


def write_extras(root, pages):
    """The 404 page and sitemap.xml (addresses under SITE_URL, dates from the sources)."""
    (root / "404.html").write_text(render_to_string("404.html"), encoding="utf-8")
    entries = [
        {
            "location": settings.SITE_URL + page_url(slug),
            "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat(),
        }
        for slug, path in sorted(pages.items(), key=lambda item: page_url(item[0]))
    ]
    sitemap = render_to_string("sitebuilder/sitemap.xml", {"pages": entries})
    (root / "sitemap.xml").write_text(sitemap, encoding="utf-8")
