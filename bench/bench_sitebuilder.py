"""sitebuilder's `build` against django-distill and the book's own build loop, 1,000 pages.

All three render the same 1,000 pages (996 generated plus the book's four) through the same
view and templates, with the same static pipeline: collectstatic (hashed names), then
django-compressor offline. Each run is a fresh process building into an empty folder:

- sitebuilder: `build` (parallel workers, all cores); also shown with --jobs 1, for what a
  single process does (no target);
- distill: collectstatic + compress, then django-distill's DistillRenderer over a
  distill_path for the page view (its default, one page at a time);
- book: collectstatic + compress, then the book's loop: Django's test Client, one page at a
  time, each response written to <slug>/index.html.

Pages per second count the whole build (static pipeline included) and, separately, the
rendering phase alone. Then one page of the 1,000 is edited and `python prototypes.py build`
runs again: its wall time minus that of a no-op command (`version`, same process start) is
the work done for the rebuild. Targets: full build >= 2x distill and >= 2x book in pages/s;
rebuild < 0.5 s beyond process start.

The machine's cores may be shared with other work, which decides what parallel rendering
can gain: before each round the benchmark times CPU loops in one process and in one process
per core, and prints the median speedup next to the figures (2.0 on an idle 2-core machine).
CPU-seconds per build are printed too; they depend far less on that load than wall time.

    .venv/bin/python bench/bench_sitebuilder.py [--repeat N]
"""

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITEBUILDER = ROOT / "sitebuilder"
PAGES = 1000
BOOK_PAGES = ("index", "login", "contact", "pricing")
PEERS = ("sitebuilder", "sitebuilder-1job", "distill", "book")
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
    count = PAGES - len(BOOK_PAGES)
    for n in range(count):
        rows = "\n    ".join(
            f"<tr><td>Plan {k}</td><td>{k * 5}</td><td>${k * 9}</td></tr>" for k in range(1, 6)
        )
        source = PAGE.format(
            n=n,
            lorem=LOREM,
            features=", ".join(f'"feature {k}"' for k in range(3)),
            rows=rows,
            next=f"product-{(n + 1) % count:04d}",
            previous=f"product-{(n - 1) % count:04d}",
        )
        (pages / f"product-{n:04d}.html").write_text(source)


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
    if peer.startswith("sitebuilder"):
        from django.core.management import call_command

        jobs = 1 if peer == "sitebuilder-1job" else None
        call_command("build", output=str(output), jobs=jobs, verbosity=0)
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
        (render_with_distill if peer == "distill" else render_like_the_book)(slugs, output)
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


def wall(command, cwd):
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def rebuild_after_edit(site, repeat):
    """Median wall times of an incremental build after editing one page, and of `version`."""
    output = site / "_build"
    subprocess.run(
        [sys.executable, "prototypes.py", "build"], cwd=site, check=True, stdout=subprocess.DEVNULL
    )
    page = site / "pages" / "product-0500.html"
    original, rebuild, start = page.read_text(), [], []
    for n in range(repeat):
        page.write_text(original.replace("<h1>Product", f"<h1>Edit {n} Product", 1))
        rebuild.append(wall([sys.executable, "prototypes.py", "build"], site))
        start.append(wall([sys.executable, "prototypes.py", "version"], site))
    assert f"Edit {repeat - 1} Product" in (output / "product-0500" / "index.html").read_text()
    return statistics.median(rebuild), statistics.median(start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per peer (median)")
    parser.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        peer, site, output = args.driver
        return driver(peer, Path(site), Path(output))
    with tempfile.TemporaryDirectory(prefix="bench-sitebuilder-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        generate_site(site)
        runs, samples, speedups = {peer: [] for peer in PEERS}, set(), []
        for n in range(args.repeat):  # interleaved, so load on the machine hits all alike
            speedups.append(parallel_speedup(len(os.sched_getaffinity(0))))
            for peer in PEERS:
                output = Path(tmp) / f"{peer}-{n}"
                timings, sample = run_driver(peer, site, output)
                runs[peer].append(timings)
                samples.add(sample)
                shutil.rmtree(output)
        if len(samples) != 1:
            sys.exit(f"the peers built {SAMPLE} differently")
        report(runs, speedups)
        rebuild, start = rebuild_after_edit(site, args.repeat)
    work = rebuild - start
    print(
        f"\nrebuild after editing 1 page of {PAGES}: {rebuild:.3f} s wall, process start "
        f"(`version`) {start:.3f} s, work {work:.3f} s  target < 0.5 s: "
        f"{'met' if work < 0.5 else 'NOT met'}"
    )
    return 0


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


def report(runs, speedups):
    medians = {
        peer: {
            key: statistics.median(run[key] for run in results)
            for key in ("total", "render", "cpu")
        }
        for peer, results in runs.items()
    }
    cores, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    print(
        f"full build of {PAGES} pages, medians of {len(runs['sitebuilder'])} runs each "
        f"({cores} cores, load average {load:.1f} at the end; {cores} processes ran CPU loops "
        f"{statistics.median(speedups):.2f}x as fast as one, median of the checks between runs):"
    )
    for peer, median in medians.items():
        line = f"  {peer:16} {median['total']:6.2f} s {PAGES / median['total']:6.0f} pages/s"
        line += f"  {median['cpu']:5.2f} CPU-s"
        if not peer.startswith("sitebuilder"):
            line += f"  (rendering alone {PAGES / median['render']:4.0f} pages/s)"
        print(line)
    ours = medians["sitebuilder"]["total"]
    for peer in ("distill", "book"):
        ratio = medians[peer]["total"] / ours
        verdict = "met" if ratio >= 2 else "NOT met"
        print(f"  sitebuilder / {peer}: {ratio:.2f}x pages/s  (target >= 2x: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
