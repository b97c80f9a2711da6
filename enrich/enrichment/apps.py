from django.apps import AppConfig
from django.db.models.signals import post_save, pre_delete


class EnrichmentConfig(AppConfig):
    name = "enrich.enrichment"
    label = "enrichment"
    verbose_name = "Enrichment columns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enrich import computed
        from enrich.enrichment import auto_update
        from enrich.enrichment.grid import ComputedCells
        from enrich.signals import cell_written, cells_written, table_duplicated

        computed.register(ComputedCells())

        cell_written.connect(auto_update.on_cell_written, dispatch_uid="enrichment-auto-update")
        cells_written.connect(auto_update.on_cells_written, dispatch_uid="enrichment-ranges")
        table_duplicated.connect(_copy_enrichments, dispatch_uid="enrichment-duplicate")
        pre_delete.connect(
            _delete_result_field_columns,
            sender="enrichment.EnrichmentColumn",
            dispatch_uid="enrichment-delete-fields",
        )
        # A change of a table's computed columns changes its dependency graph (in every
        # process: the version is in the database). Deletes are seen before the cascade.
        for sender in ("enrichment.EnrichmentColumn", "enrichment.ResultField"):
            post_save.connect(_graph_changed, sender=sender, dispatch_uid=f"graph-save-{sender}")
            pre_delete.connect(_graph_changed, sender=sender, dispatch_uid=f"graph-del-{sender}")


def _graph_changed(*, instance, signal, **_: object) -> None:
    from enrich.enrichment.dependencies import graph_changed
    from enrich.models import Column

    table_id = (
        Column.objects.filter(pk=instance.column_id).values_list("table_id", flat=True).first()
    )
    if table_id is not None:
        # A delete may be the table's own cascade: bump a version that exists, create none.
        graph_changed(table_id=table_id, create=signal is post_save)


def _delete_result_field_columns(*, instance, **_: object) -> None:
    """Deleting an enrichment column deletes the columns that showed its fields."""
    from enrich.models import Column

    Column.objects.filter(result_field__source=instance).delete()


def _copy_enrichments(*, source, copy, **_: object) -> None:
    """A duplicated table gets its computed columns' settings (same accounts), not their
    results: the copy's enrichment cells run when the user runs them; its formulas now."""
    from enrich.enrichment.models import ColumnAccount, EnrichmentColumn, ResultField

    new_ids = dict(copy.columns.values_list("key", "pk"))
    for enrichment in EnrichmentColumn.objects.filter(column__table=source).select_related(
        "column"
    ):
        EnrichmentColumn.objects.create(
            column_id=new_ids[enrichment.column.key],
            kind=enrichment.kind,
            config=enrichment.config,
            account_id=enrichment.account_id,
            only_run_if=enrichment.only_run_if,
            auto_update=enrichment.auto_update,
            dependencies=enrichment.dependencies,
        )
    ColumnAccount.objects.bulk_create(
        [
            ColumnAccount(column_id=new_ids[use.column.key], account_id=use.account_id)
            for use in ColumnAccount.objects.filter(column__table=source).select_related("column")
        ]
    )
    for field in ResultField.objects.filter(column__table=source).select_related(
        "column", "source__column"
    ):
        ResultField.objects.create(
            column_id=new_ids[field.column.key],
            source_id=new_ids[field.source.column.key],
            path=field.path,
        )
    # Formulas are computed for the copy's rows (their errors with them); the copied values of
    # formulas that read an enrichment's results go blank, as those results are not copied.
    formulas = EnrichmentColumn.objects.filter(column__table=copy, kind="formula")
    keys = set(formulas.values_list("column__key", flat=True))
    if keys:
        from enrich.enrichment.formulas import recompute

        recompute(table=copy, keys=keys)
