"""Enrich's URLs. Every page but sign-in, sign-up and health needs a signed-in user."""

from django.contrib import admin
from django.urls import include, path

from enrich import csv_views, grid_views, range_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("tables/new/", views.table_create, name="table_create"),
    path("tables/import/", csv_views.import_new_table, name="import_new_table"),
    path("tables/<id:table_id>/", views.table_detail, name="table_detail"),
    path("tables/<id:table_id>/rename/", views.table_rename, name="table_rename"),
    path("tables/<id:table_id>/duplicate/", views.table_duplicate, name="table_duplicate"),
    path("tables/<id:table_id>/delete/", views.table_delete, name="table_delete"),
    path("tables/<id:table_id>/export/", csv_views.table_export, name="table_export"),
    path("tables/<id:table_id>/import/", csv_views.import_into_table, name="import_into_table"),
    path("tables/<id:table_id>/columns/add/", grid_views.column_add, name="column_add"),
    path(
        "tables/<id:table_id>/columns/reorder/",
        grid_views.columns_reorder,
        name="columns_reorder",
    ),
    path("tables/<id:table_id>/rows/add/", grid_views.row_add, name="row_add"),
    path("tables/<id:table_id>/rows/delete/", grid_views.rows_delete, name="rows_delete"),
    path("tables/<id:table_id>/cells/paste/", range_views.cells_paste, name="cells_paste"),
    path("tables/<id:table_id>/cells/clear/", range_views.cells_clear, name="cells_clear"),
    path("tables/<id:table_id>/cells/fill/", range_views.cells_fill, name="cells_fill"),
    path("tables/<id:table_id>/undo/", range_views.action_undo_view, name="action_undo"),
    path("tables/<id:table_id>/redo/", range_views.action_redo_view, name="action_redo"),
    path("columns/<id:column_id>/rename/", grid_views.column_rename, name="column_rename"),
    path("columns/<id:column_id>/kind/", grid_views.column_kind, name="column_kind"),
    path("columns/<id:column_id>/move/", grid_views.column_move, name="column_move"),
    path("columns/<id:column_id>/hide/", grid_views.column_hide, name="column_hide"),
    path("columns/<id:column_id>/delete/", grid_views.column_delete, name="column_delete"),
    path(
        "rows/<id:row_id>/columns/<id:column_id>/",
        grid_views.cell_update,
        name="cell_update",
    ),
    path("imports/<id:job_id>/", csv_views.import_detail, name="import_detail"),
    path("health/", views.health_view, name="health"),
    path("admin/", admin.site.urls),
    path("", include("enrich.enrichment.urls")),
    path("", include("accounts.urls")),
]
