# A table made by an import goes when the import fails: nothing is left of a failed import.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrich", "0004_column_kind_enrichment"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="creates_table",
            field=models.BooleanField(
                default=False,
                help_text="The table was made for this import, so a failed import removes it: "
                "nothing is left of an import that failed.",
            ),
        ),
    ]
