from django.urls import path

from enrich.enrichment import views

urlpatterns = [
    path("tables/<id:table_id>/enrichment/new/", views.enrichment_create, name="enrichment_create"),
    path("tables/<id:table_id>/formula/new/", views.formula_create, name="formula_create"),
    path("tables/<id:table_id>/waterfall/new/", views.waterfall_create, name="waterfall_create"),
    path("tables/<id:table_id>/formula/preview/", views.formula_preview, name="formula_preview"),
    path(
        "tables/<id:table_id>/enrichment/auto-update/",
        views.table_auto_update,
        name="table_auto_update",
    ),
    path("enrichment/<id:column_id>/", views.enrichment_edit, name="enrichment_edit"),
    path("enrichment/<id:column_id>/test/", views.enrichment_test, name="enrichment_test"),
    path(
        "enrichment/<id:column_id>/test/rows/",
        views.enrichment_test_rows,
        name="enrichment_test_rows",
    ),
    path("enrichment/<id:column_id>/run/", views.enrichment_run, name="enrichment_run"),
    path(
        "enrichment/<id:column_id>/run/confirm/",
        views.enrichment_run_confirm,
        name="enrichment_run_confirm",
    ),
    path(
        "enrichment/<id:column_id>/progress/",
        views.enrichment_progress,
        name="enrichment_progress",
    ),
    path(
        "enrichment/<id:column_id>/fields/", views.result_field_create, name="result_field_create"
    ),
    path(
        "settings/connections/<id:account_id>/rerun/",
        views.account_columns_rerun,
        name="account_columns_rerun",
    ),
    path("runs/<id:run_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("cells/<id:row_id>/<id:column_id>/", views.cell_detail, name="cell_detail"),
]
