# One image for every service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .
COPY . .
RUN useradd --create-home app && chown -R app /app
USER app
CMD ["gunicorn", "--chdir", "hello", "--bind", "0.0.0.0:8003", "hello:application"]
