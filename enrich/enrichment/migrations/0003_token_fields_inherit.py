"""Columns keep only the token settings they override.

Columns used to store all three token settings, filled with the defaults when nobody typed
them, and those defaults won over the account's own settings. A stored value equal to the
old default is taken as never chosen: dropping it lets the column inherit the account's.
"""

from django.db import migrations

OLD_DEFAULTS = {
    "token_location": "access_token",
    "token_type": "Bearer",
    "auth_header_name": "Authorization",
}


def inherit_defaults(apps, schema_editor):
    EnrichmentColumn = apps.get_model("enrichment", "EnrichmentColumn")
    for enrichment in EnrichmentColumn.objects.exclude(token_fields={}).only("pk", "token_fields"):
        kept = {
            name: value
            for name, value in (enrichment.token_fields or {}).items()
            if OLD_DEFAULTS.get(name) != value
        }
        if kept != enrichment.token_fields:
            EnrichmentColumn.objects.filter(pk=enrichment.pk).update(token_fields=kept)


class Migration(migrations.Migration):
    dependencies = [("enrichment", "0002_resumable_runs")]

    operations = [migrations.RunPython(inherit_defaults, migrations.RunPython.noop)]
