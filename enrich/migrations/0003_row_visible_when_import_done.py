# Rows of an import keep their tag once it completes and are visible when its job is done
# (enrich.grid.visible_rows), so completing an import no longer rewrites every row.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrich", "0002_columns_rows_imports"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="row",
            name="row_import_job",
        ),
        migrations.AlterField(
            model_name="row",
            name="import_job",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                help_text="The import that added this row, if any. The row is visible once that "
                "import is done; a failed import deletes its rows, so no import is ever half done.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="enrich.importjob",
            ),
        ),
    ]
