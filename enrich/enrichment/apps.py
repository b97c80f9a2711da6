from django.apps import AppConfig
from django.db.models.signals import pre_delete


class EnrichmentConfig(AppConfig):
    name = "enrich.enrichment"
    label = "enrichment"
    verbose_name = "Enrichment columns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enrich.enrichment import auto_update
        from enrich.signals import cell_written

        cell_written.connect(auto_update.on_cell_written, dispatch_uid="enrichment-auto-update")
        pre_delete.connect(
            _delete_result_field_columns,
            sender="enrichment.EnrichmentColumn",
            dispatch_uid="enrichment-delete-fields",
        )


def _delete_result_field_columns(*, instance, **_: object) -> None:
    """Deleting an enrichment column deletes the columns that showed its fields."""
    from enrich.models import Column

    Column.objects.filter(result_field__source=instance).delete()
