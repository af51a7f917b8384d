"""The board's static files as `collectstatic` writes them (see scrum.py): hashed names, each
with a gzipped copy, for WhiteNoise to serve and browsers to cache for good."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFiles(CompressedManifestStaticFilesStorage):
    """WhiteNoise's storage, rewriting the references in CSS only: the vendored libraries
    ship as npm has them, and underscore.js names a source map that npm does not ship (a
    collectstatic error); browsers ask for maps under their plain names, which are served."""

    patterns = tuple(
        (kind, rules)
        for kind, rules in CompressedManifestStaticFilesStorage.patterns
        if kind == "*.css"
    )
