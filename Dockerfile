# Enrich: one image for the web server and the worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
RUN useradd --create-home --uid 1000 enrich

COPY pyproject.toml README.md ./
COPY enrich ./enrich
COPY accounts ./accounts
COPY connectors ./connectors
RUN pip install .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings but no real keys or database.
RUN DEBUG=0 SECRET_KEY=build ENRICH_ENCRYPTION_KEYS=build ENRICH_VAR_DIR=/tmp/var \
    python manage.py collectstatic --noinput

RUN mkdir -p /data/media && chown enrich /data/media
USER enrich
EXPOSE 8000
CMD ["gunicorn", "enrich.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
