# One image for every service; the command picks the service (see docker-compose.yml).
# Two stages: the build stage installs the dependencies into /venv, the runtime stage copies
# only /venv and the code, and runs as an unprivileged user.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Optional: extra CA certificates (e.g. a TLS-inspecting proxy's) placed in deploy/certs/
# before building are trusted by pip; with none there this is a no-op.
COPY deploy/certs/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates >/dev/null
# Optional: the package index to install from (build arguments, empty = PyPI).
ARG PIP_INDEX_URL="" PIP_EXTRA_INDEX_URL=""
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Only the lock of the runtime dependencies (exact versions and hashes, as CI tested them):
# editing the code or the README does not reinstall them.
COPY requirements/app.txt /src/
RUN [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; \
    [ -n "$PIP_EXTRA_INDEX_URL" ] || unset PIP_EXTRA_INDEX_URL; \
    python -m venv /venv && /venv/bin/pip install --quiet --require-hashes -r /src/app.txt \
    && /venv/bin/pip uninstall --quiet --yes pip setuptools \
    && find /venv -name '*.po' -delete  # translation sources: only the compiled .mo are used

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH DEBUG=off
RUN useradd --system --create-home --uid 10001 app && mkdir /site && chown app /site
COPY --from=build /venv /venv
WORKDIR /app
COPY . .
# The board's static files under hashed names with gzipped copies (scrum/static_collected/).
RUN cd scrum && DEBUG=on python scrum.py collectstatic --noinput --verbosity 0
# The code byte-compiled once: with PYTHONDONTWRITEBYTECODE (and /app not the app user's to
# write) every process would compile it again at its start (sitebuilder's build: 8 ms).
RUN python -m compileall -q /app
USER app
CMD ["sh", "-c", "cd hello && exec gunicorn --bind 0.0.0.0:8003 hello:application"]
