from django.apps import AppConfig


class EnrichConfig(AppConfig):
    name = "enrich"
    verbose_name = "Enrich tables"
    default_auto_field = "django.db.models.BigAutoField"
