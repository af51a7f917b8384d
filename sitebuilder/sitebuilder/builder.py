"""The static build: every page rendered as the live view renders it, into an output folder.

A build is planned (plan_build: what to render, collect, move and remove), then applied
(apply_plan). Pages render in parallel worker processes forked from the configured parent,
into a temporary folder beside the output; nothing in the output changes until every page
rendered and every internal link resolved, so a failed build leaves the previous output as
it was.

Builds are incremental. A state file beside the output (._build.sitebuilder.json, so it is
not published) records, for each page, its source's size, time and digest, the layout digest
(templates, static sources, the app's code) and its links; it also marks the output as made
by build. When the layout changed (or with --force, or on the first build) everything is
built into the temporary folder, which then replaces the output. Otherwise only pages whose
source changed are rendered (or the named pages, with the new layout's static files added to
the old), and once all succeeded they, sitemap.xml and 404.html are moved into place one
file at a time (each move atomic), and pages whose source is gone are removed.

The pages render through engine.py's template engine; links.py finds and checks the links,
and this module alone turns the problems found into a BuildError.
"""

import contextlib
import filecmp
import functools
import gc
import hashlib
import html
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
from compressor.cache import flush_offline_manifest
from compressor.storage import default_offline_manifest_storage as offline_manifest_storage
from compressor.storage import default_storage as compressor_storage
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.template import Context, engines
from django.utils.functional import empty

from .engine import build_engine, memoize_lookups, render_page
from .links import broken_links, internal_links, missing_css_files
from .pages import PageError, display_name, find_pages, page_url, pages_directory, source_folders

STATE_SUFFIX = ".sitebuilder.json"  # ._build.sitebuilder.json beside _build/
STATE_VERSION = 5
# A page's state entry is a JSON array, [source mtime_ns, source size, source digest, layout
# digest, [links]]: read as 10,000 objects, the state of 10,000 pages took 7 ms longer to load.
MTIME, SIZE, DIGEST, LAYOUT, LINKS = range(5)
DIGEST_SIZE = 16  # bytes of a blake2b digest: enough to tell versions of a file apart
EXTRAS = ("404.html", "sitemap.xml")
MIN_PAGES_PER_JOB = 25  # fewer pages are rendered sooner than a worker starts
BATCHES_PER_JOB = 4  # tasks per worker: few (each costs the parent a round trip), but enough
DAY = 24 * 3600 * 10**9  # nanoseconds, as st_mtime_ns counts
EPOCH = date(1970, 1, 1)
MAX_BATCH = 250  # to even out the workers and show progress; pages per task at most


class BuildError(Exception):
    """A build that failed; the output was left as it was. One line per problem."""


@dataclass
class Summary:
    pages: int
    rendered: int
    removed: int
    static_collected: bool
    seconds: float

    def __str__(self):
        pages = f"{self.pages} page{'' if self.pages == 1 else 's'}"
        if self.rendered == self.pages and not self.removed:
            return f"{pages} rendered; {self.static()}; {self.seconds:.2f} s"
        removed = f", {self.removed} removed" if self.removed else ""
        return (
            f"{pages}: {self.rendered} rendered, {self.pages - self.rendered} "
            f"unchanged{removed}; {self.static()}; {self.seconds:.2f} s"
        )

    def static(self):
        return "static files collected" if self.static_collected else "static files unchanged"


@dataclass
class Plan:
    """What a build does: decided from the sources, the output and its state, before any
    file is written."""

    output: Path  # resolved
    pages: dict  # {slug: source} of every page of the site
    named: list  # the pages asked for, or none: the whole site
    layout: str  # layout_digest()
    collect: bool  # collect the static files anew
    fresh: bool  # build a whole new tree, swapped in for the output at the end
    known: dict  # {slug: state entry} of the previous build, still true of the output
    todo: list  # the pages to render
    removed: list  # the pages whose output goes, their source gone

    def static_root(self, staging):
        """Where this build collects static files to, or finds them if it does not."""
        return (staging if self.fresh or self.collect else self.output) / "static"

    def links_to_check(self, entries):
        """The pages whose links may now be broken: those rendered, unless a page is gone or
        the static files were collected anew (then every page of entries, the build's state).
        The previous build checked the others' links, and what they reach is still there
        (checking every page's links took 7 ms of a one-page rebuild of 10,000 pages, 1.3 ms
        now)."""
        if self.fresh or self.collect or not self.known.keys() <= self.pages.keys():
            return entries
        return self.todo

    def link_roots(self, staging):
        """Where a link of the built site may find its file."""
        return [staging] if self.fresh else [staging, self.output]


def build(output, slugs=(), jobs=None, force=False, progress=None):
    """Build the site into output, or only the pages named in slugs; returns a Summary."""
    started = time.perf_counter()
    # What is loaded by now stays for good, and so does the plan (the state of 10,000 pages
    # alone is 100,000 objects): collections walking them again and again cost a rebuild of
    # one page of 10,000 20 ms, then 8 ms while the plan was made. Planning makes no cycles,
    # so the collector is off meanwhile. Forked workers share it all, never touched by it.
    gc.freeze()
    try:
        with collector_off():
            plan = plan_build(Path(output).resolve(), list(dict.fromkeys(slugs)), force)
            gc.freeze()
        apply_plan(plan, jobs, progress)
    finally:
        gc.unfreeze()
    count = len(plan.named) or len(plan.pages)
    seconds = time.perf_counter() - started
    return Summary(count, len(plan.todo), len(plan.removed), plan.collect, seconds)


def plan_build(output, named, force):
    """The Plan of a build of the named pages (none: all) into output; BuildError if a named
    page does not exist or build must not write into output."""
    pages = find_source_pages(named)
    state, built = previous_build(output, pages, force)
    layout = layout_digest()
    static_built = (output / "static" / "staticfiles.json").is_file()
    collect = state.get("static") != layout or not static_built
    fresh = not built or (collect and not named)
    known = {} if fresh else state.get("pages", {})
    todo = named or stale_pages(pages, known, output, layout)
    removed = [] if named else [slug for slug in known if slug not in pages]
    return Plan(output, pages, named, layout, collect, fresh, known, todo, removed)


def previous_build(output, pages, force):
    """The state of the build that made output (empty if it cannot be built on) and whether
    build made output; BuildError if build must not write there."""
    state = read_state(output)
    built = check_output(output, pages, state)
    if force or not built or state.get("version") != STATE_VERSION:
        return {}, built
    return state, built


def stale_pages(pages, known, output, layout):
    """The pages whose output the previous build ({slug: state entry}) left out of date.

    Sources and outputs are looked up from their open top folders (dir_fd), so the kernel
    walks only the names below them, and an output only for whether it is there (os.access
    makes no stat result): at 10,000 pages those 20,000 lookups took 36 ms instead of 53.
    """
    if not known:
        return list(pages)
    folder = pages_directory()
    prefix = os.path.join(folder, "")
    with open_folder(folder) as sources, open_folder(output) as built:
        return [
            slug
            for slug, source in pages.items()
            if changed(
                known.get(slug),
                layout,
                (sources, source.removeprefix(prefix)),
                (built, output_name(slug)),
            )
        ]


def apply_plan(plan, jobs=None, progress=None):
    """Render the plan's pages into a staging folder, check the site's links, then put the
    result in place and record the build's state; BuildError leaves the output as it was."""
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging(plan.output)
    try:
        prepare_static(plan, staging)
        memoize_lookups()
        kept = [slug for slug in plan.known if slug in plan.pages and slug not in plan.todo]
        entries = {slug: plan.known[slug] for slug in kept}
        entries.update(render_pages(plan.todo, plan.pages, staging, plan.layout, jobs, progress))
        check_site(plan, staging, entries)
        put_in_place(plan, staging)
        save_state(plan.output, {"static": plan.layout, "pages": entries})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_static(plan, staging):
    """Point the static pipeline at where the plan's static files go, and collect them if the
    plan says so (named pages with a new layout: added to a copy of the old ones, which the
    other pages still link to)."""
    use_static_root(plan.static_root(staging))
    if not plan.collect:
        return
    if not plan.fresh and (plan.output / "static").is_dir():
        shutil.copytree(plan.output / "static", staging / "static")
    collect_static()


def check_site(plan, staging, entries):
    """Write the 404 page and sitemap.xml into staging; BuildError naming every broken link
    of the site as built ({slug: state entry} of every page)."""
    links = {slug: entries[slug][LINKS] for slug in plan.links_to_check(entries)}
    not_found_links = write_extras(staging, entries)
    broken = broken_links(plan.pages, links, plan.link_roots(staging), not_found_links)
    if broken:
        raise BuildError("\n".join(broken))


def put_in_place(plan, staging):
    """Move what the build made from staging into the output: the whole new tree at once, or
    each rendered page (with the extras, and the static files if collected), removing the
    pages whose source is gone."""
    if plan.fresh:
        swap_in(staging, plan.output)
        return
    if plan.collect:
        swap_in(staging / "static", plan.output / "static", staging / "old-static")
    move_into(staging, plan.output, [output_file(Path(), slug) for slug in plan.todo])
    remove_pages(plan.output, plan.removed)


def check_output(output, pages, state):
    """Whether output is a folder build made (of pages, with the state read beside it);
    BuildError if build must not write there.

    Build never writes into a file, a source folder of the site (nor a folder holding one or
    inside one), or a folder with files in it that build did not make.
    """
    if output.exists() and not output.is_dir():
        raise BuildError(f"{output} is a file, not a folder to build into")
    for source in source_folders():
        clash = source_clash(output, source)
        if clash:
            raise BuildError(f"Not building into {output}: {clash}; choose another --output")
    built = made_by_build(output, pages, state)
    if output.is_dir() and not built and any(output.iterdir()):
        raise BuildError(
            f"{output} is not empty and was not made by build; not replacing it "
            "(delete it, or choose another --output)"
        )
    return built


def source_clash(output, source):
    """Why output must not be built into because of a source folder, or None."""
    if output == source:
        return "it is a source folder of the site"
    if output.is_relative_to(source):
        return f"it is inside {source}, a source folder of the site"
    if source.is_relative_to(output):
        return f"it holds {source}, a source folder of the site"
    return None


def changed(entry, layout, source, target):
    """Whether a page must be rendered again: new, new layout, output gone or source edited
    (source and target: its files, as (folder descriptor, path inside))."""
    (sources, source), (built, target) = source, target
    if not entry or entry[LAYOUT] != layout or not os.access(target, os.F_OK, dir_fd=built):
        return True
    try:
        status = os.stat(source, dir_fd=sources)
        if entry[MTIME] == status.st_mtime_ns and entry[SIZE] == status.st_size:
            return False
        with open(os.open(source, os.O_RDONLY, dir_fd=sources), "rb") as file:
            return entry[DIGEST] != content_digest(file.read())
    except OSError:  # gone since it was found: rendering it says so
        return True


@contextlib.contextmanager
def open_folder(path):
    """A descriptor of the folder at path, to look files up from (dir_fd), while in use."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def find_source_pages(named=()):
    """Every page as {slug: source}; BuildError for a page that cannot be served or a named
    page that does not exist."""
    try:
        pages = find_pages()
    except PageError as exc:
        raise BuildError(str(exc)) from exc
    invalid = [slug for slug in named if slug not in pages]
    if invalid:
        raise BuildError(f"Invalid pages: {', '.join(invalid)}")
    return pages


def make_staging(output):
    """A fresh folder beside output (same file system, so it can be renamed into place)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-build-", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # as readable as any folder the user makes
    return staging


def output_file(root, slug):
    """Where a page's HTML goes: index.html at the root, <slug>/index.html for the rest."""
    return root / output_name(slug)


def output_name(slug):
    return "index.html" if slug == "index" else f"{slug}/index.html"


def use_static_root(static_root):
    """Point collectstatic, {% static %} and django-compressor at static_root."""
    settings.STATIC_ROOT = settings.COMPRESS_ROOT = str(static_root)
    for storage in (staticfiles_storage, compressor_storage, offline_manifest_storage):
        storage._wrapped = empty  # made again from the new settings when next used
    flush_offline_manifest()


def collect_static():
    """Collect static files with content-hashed names, then bundle and minify offline."""
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("compress", force=True, verbosity=0)
    missing = missing_css_files(Path(settings.STATIC_ROOT))
    if missing:
        raise BuildError("\n".join(missing))


def layout_digest():
    """A digest of everything every page depends on besides its own source."""
    digest = hashlib.blake2b(settings.STATIC_URL.encode(), digest_size=DIGEST_SIZE)
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


def content_digest(data):
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


def state_file(output):
    """The build state lives beside the output folder, so it is never published with it."""
    return output.with_name(f".{output.name}{STATE_SUFFIX}")


def read_state(output):
    """The state of the build that made output, {} if there is none to read (orjson: json
    took 30 ms longer at 10,000 pages)."""
    try:
        state = orjson.loads(state_file(output).read_bytes())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


@contextlib.contextmanager
def collector_off():
    """The garbage collector disabled (if it was enabled) while in use."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def made_by_build(output, pages, state):
    """Whether build made the output folder: its state is beside it and the folder holds only
    names build puts there for these pages or those of the state."""
    if not state or not output.is_dir():
        return False
    others = set(os.listdir(output)).difference(EXTRAS, ("index.html", "static"), pages)
    slugs = [*pages, *map(str, state.get("pages", ()))] if others else []
    return others <= {slug.split("/")[0] for slug in slugs}


def save_state(output, state):
    """Record the state of a build of output beside it (all at once: written, then renamed)."""
    target = state_file(output)
    temporary = target.with_name(f"{target.name}.{os.getpid()}")
    temporary.write_bytes(orjson.dumps({"version": STATE_VERSION, **state}))
    os.replace(temporary, target)


def move_into(staging, output, names):
    """Move the named files and the extras from staging into output.

    A file whose content did not change is left as it was, modification time included.
    """
    for name in [*names, *EXTRAS]:
        source, target = staging / name, output / name
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def remove_pages(output, slugs):
    """Delete the output of pages whose source is gone, and the folders left empty."""
    for slug in slugs:
        target = output_file(output, slug)
        target.unlink(missing_ok=True)
        for folder in target.parents:
            if folder == output or any(folder.iterdir()):
                break
            folder.rmdir()


def swap_in(staging, output, retired=None):
    """Replace output by the finished staging folder (the old one goes to retired, then away;
    by default beside output)."""
    if output.exists():
        retired = retired or output.with_name(f".{output.name}-old-{os.getpid()}")
        output.rename(retired)
        staging.rename(output)
        shutil.rmtree(retired)
    else:
        staging.rename(output)


def render_pages(slugs, pages, root, layout, jobs=None, progress=None):
    """Render pages into root, in parallel; returns {slug: state entry}, or BuildError."""
    tasks = [(slug, str(pages[slug]), str(root), layout) for slug in slugs]
    jobs = max(1, min(jobs or available_cores(), -(-len(tasks) // MIN_PAGES_PER_JOB)))
    size = max(1, min(MAX_BATCH, -(-len(tasks) // (jobs * BATCHES_PER_JOB))))
    batches = [tasks[start : start + size] for start in range(0, len(tasks), size)]
    results, problems = {}, []

    def collect(batch_results):
        for slug, entry, problem in batch_results:
            results[slug] = entry
            problems.extend([problem] if problem else [])
        if progress:
            progress(len(results), len(tasks))

    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        collect(render_batch([batches[0].pop(0)]))  # warms caches the workers inherit
        gc.freeze()  # the collector leaves what they inherit untouched, so it stays shared
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
    """Render (slug, source, root, layout) tasks; returns (slug, entry, problem) for each."""
    return [
        render_to_file(slug, Path(source), root, layout) for slug, source, root, layout in batch
    ]


def render_to_file(slug, source, root, layout):
    """Render one page into root, as the view does; returns (slug, state entry, problem)."""
    try:
        with open(source, "rb") as file:
            status, data = os.fstat(file.fileno()), file.read()
    except OSError as exc:
        return slug, [], f"{display_name(source)}: {exc.strerror}"
    try:
        content = render_page(slug, source, data)
    except PageError as exc:
        return slug, [], str(exc)
    write_page(os.path.join(root, output_name(slug)), content)
    return (
        slug,
        [
            status.st_mtime_ns,
            status.st_size,
            content_digest(data),
            layout,
            internal_links(page_url(slug), content),
        ],
        None,
    )


def write_page(path, content):
    """Write a page's HTML to path (a string), making its folder if need be.

    Plain os calls on strings: pathlib's mkdir(parents=True) and write_text took 33 us of a
    page's 450, these 21.
    """
    folder = os.path.dirname(path)
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except FileNotFoundError:  # a page in a folder (docs/intro): make the folders above
        os.makedirs(folder, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        data = memoryview(content.encode())
        while data:
            data = data[os.write(descriptor, data) :]
    finally:
        os.close(descriptor)


def write_extras(root, entries):
    """The 404 page and sitemap.xml (under SITE_URL, dates from the sources); the 404's links."""
    not_found = build_engine().get_template("404.html").render(Context())
    (root / "404.html").write_text(not_found, encoding="utf-8")
    slugs = sorted(entries, key=page_url)
    site = html.escape(settings.SITE_URL, quote=False)  # a quoted path has nothing to escape
    # A page's URL holds no newline (pages.SLUG): one quote() does them all (a call for each
    # of 10,000 pages took 9 ms).
    paths = quote("\n".join(map(page_url, slugs)), safe="/\n").split("\n")
    sitemap = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
        *(
            f"  <url><loc>{site}{path}</loc>"
            f"<lastmod>{utc_date(entries[slug][MTIME] // DAY)}</lastmod></url>"
            for slug, path in zip(slugs, paths, strict=True)
        ),
        "</urlset>\n",
    ]
    (root / "sitemap.xml").write_text("\n".join(sitemap), encoding="utf-8")
    return internal_links("/404.html", not_found)


@functools.cache
def utc_date(day):
    """The date of a day counted from 1970-01-01 (UTC); most pages share a few."""
    return (EPOCH + timedelta(days=day)).isoformat()
