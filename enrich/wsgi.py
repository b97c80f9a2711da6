"""WSGI entry point (gunicorn ``enrich.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enrich.settings")
application = get_wsgi_application()
