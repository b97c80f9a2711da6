from django.apps import AppConfig
from django.conf import settings


class EnrichConfig(AppConfig):
    name = "enrich"
    verbose_name = "Enrich tables"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connectors.sandbox import configure_limits

        configure_limits(
            max_text_chars=settings.ENRICH_TEMPLATE_MAX_VALUE_KB * 1024,
            max_render_seconds=settings.ENRICH_TEMPLATE_MAX_MS / 1000,
        )
