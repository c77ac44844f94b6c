# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are built in one stage, the runtime image gets only the venv and
# the code, runs as an unprivileged user and reports its health. (No Docker engine runs where this
# project is developed: keep this file correct by reading; see README "Container".)

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
# Tesseract reads the machine-readable zone of identity documents (through stdin/stdout, no temp files);
# Pango and the DejaVu fonts draw the transparency report's PDF (WeasyPrint).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    VAR_DIR=/app/var
WORKDIR /app
COPY --chown=app:app . .
# collectstatic needs a configured project, not real secrets: throwaway values for this one command.
RUN DJANGO_SECRET_KEY=collectstatic-only \
    VAULT_MASTER_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    VAULT_BLIND_INDEX_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var && chown -R app:app /app/var
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
