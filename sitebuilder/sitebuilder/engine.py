"""The build's template engine: the site's own, with what every page asks alike done once.

Every page of a build renders through the same layout, so its {% url %}, {% static %} and
{% compress %} tags ask for the same few names on every page. The build engine is a copy of
the site's engine (settings.TEMPLATES) whose tags remember their output for the rest of the
build where it cannot differ between pages; a page that fails to render is rendered once
more by a debug twin of the engine, which finds the file and line of the error.
"""

from functools import cache

from compressor.templatetags.compress import CompressorNode
from django.contrib.staticfiles.storage import staticfiles_storage
from django.template import Context, Engine, Library, Node, Variable, engines
from django.template.base import FilterExpression, TextNode
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as url_tag
from django.templatetags.static import StaticNode

from .pages import PageError, display_name, page_context

ENGINE_OPTIONS = ("dirs", "loaders", "context_processors", "libraries", "builtins", "debug")
ENGINE_OPTIONS += ("string_if_invalid", "file_charset", "autoescape")
MEMOIZED_TAGS = ("static", "compress")  # each the tag of the library of that name
DJANGO_FILTER_CHECK = FilterExpression.args_check
CHECKED_FILTERS = set()  # (filter function, number of arguments) found to fit


def render_page(slug, source, data):
    """The page's HTML as the view renders it (data: its source file's content); PageError
    naming its file (and line where known) if it cannot be rendered."""
    try:
        context = Context(page_context(slug, source, build_engine(), data))
        return build_engine().get_template("page.html").render(context)
    except PageError:
        raise
    except Exception as exc:  # a template tag or filter failing while the page renders
        raise PageError(f"{locate_error(slug, source)}: {type(exc).__name__}: {exc}") from exc


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
    return copy_engine(debug=True)


@cache
def build_engine():
    """The site's template engine for rendering pages, with {% url %}, {% static %} and
    {% compress %} memoized (below), never in debug mode (whatever DEBUG was when the site's
    engine was made: the build's checks make it before the build turns DEBUG off)."""
    engine = copy_engine(builtins=[*engines["django"].engine.builtins, __name__], debug=False)
    libraries = engine.template_libraries
    for name in MEMOIZED_TAGS:
        if name in libraries:
            libraries[name] = memoizing(libraries[name], name)
    return engine


def copy_engine(**options):
    """A template engine like the site's (settings.TEMPLATES), with options changed."""
    engine = engines["django"].engine
    return Engine(**{**{name: getattr(engine, name) for name in ENGINE_OPTIONS}, **options})


def memoize_lookups():
    """{% static %} (and {% compress %}, keying its bundles by their tags) and {% url %} ask for
    the same few names on every page: look each up once per build. Filters are checked once."""
    staticfiles_storage.url = cache(staticfiles_storage.url)
    FilterExpression.args_check = staticmethod(check_filter_once)
    MemoURLNode.urls.clear()
    MemoNode.outputs.clear()


def check_filter_once(name, func, provided):
    """Django's check of a filter's arguments against its signature, made once per filter and
    number of arguments: Django reads the signature (inspect) wherever a page uses a filter,
    and one {{ name|title }} took a tenth of a page's render (20 of 216 us)."""
    key = func, len(provided)
    if key not in CHECKED_FILTERS:
        DJANGO_FILTER_CHECK(name, func, provided)  # TemplateSyntaxError if it does not fit
        CHECKED_FILTERS.add(key)
    return True


def memoizing(library, name):
    """A copy of a tag library whose tag `name` renders once per build where it can."""
    copy = Library()
    copy.tags, copy.filters = {**library.tags}, {**library.filters}
    compile_tag = library.tags[name]
    copy.tags[name] = lambda parser, token: memoized(compile_tag(parser, token))
    return copy


def memoized(node):
    return MemoNode(node) if renders_alike(node) else node


def renders_alike(node):
    """Whether a node renders the same on every page of a build: text, {% static %} of a
    quoted path, or {% compress %} of nothing else."""
    if isinstance(node, TextNode | MemoNode):
        return True
    if isinstance(node, StaticNode):
        path = node.path
        return node.varname is None and not path.filters and not isinstance(path.var, Variable)
    if isinstance(node, CompressorNode):
        return all(renders_alike(child) for child in node.nodelist)
    return False


class MemoNode(Node):
    """A node that renders alike on every page, rendered once per build (and escaping mode).

    Every page's layout bundles the same stylesheets and scripts: each {% compress %} block
    (its content rendered and hashed, then looked up in the offline manifest) renders once.
    """

    outputs = {}
    child_nodelists = ()

    def __init__(self, node):
        self.node = node

    def render(self, context):
        key = self, context.autoescape
        if key not in self.outputs:
            self.outputs[key] = self.node.render(context)
        return self.outputs[key]


register = Library()  # build_engine()'s own tags, replacing the built-in ones of that name


class MemoURLNode(URLNode):
    """{% url %} reversing each distinct view name and arguments once per build.

    Every page links to the same few pages; without a request (as in the build) the result
    depends on nothing else. `{% url ... as var %}` and unhashable arguments take the usual way.
    """

    urls = {}
    compiled = {}  # tag text (without filters) -> its parts: the same few tags on every page

    def __init__(self, view_name, args, kwargs, asvar):
        super().__init__(view_name, args, kwargs, asvar)
        parts = [view_name, *args, *kwargs.values()]
        constant = not asvar and not any(part.is_var or part.filters for part in parts)
        self.constant = self.arguments(None) if constant else None  # quoted names only

    def render(self, context):
        key = None if self.asvar else self.key(context)
        if key is None:
            return super().render(context)
        if key not in self.urls:
            self.urls[key] = super().render(context)
        return self.urls[key]

    def key(self, context):
        """What the URL depends on here, or None if that cannot be a dict key."""
        key = self.constant or self.arguments(context), context.autoescape
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def arguments(self, context):
        return (
            self.view_name.resolve(context),
            tuple(arg.resolve(context) for arg in self.args),
            tuple(sorted((name, value.resolve(context)) for name, value in self.kwargs.items())),
        )


@register.tag
def url(parser, token):
    """{% url %}, each distinct tag compiled once: its parts are quoted names and variables,
    alike on every page (filters are not: they depend on the page's {% load %})."""
    parts = MemoURLNode.compiled.get(token.contents)
    if parts is None:
        node = url_tag(parser, token)
        parts = node.view_name, node.args, node.kwargs, node.asvar
        if "|" not in token.contents:
            MemoURLNode.compiled[token.contents] = parts
    return MemoURLNode(*parts)
