# Enrichment columns and the fields picked from their answers are column kinds too.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrich", "0003_row_visible_when_import_done"),
    ]

    operations = [
        migrations.AlterField(
            model_name="column",
            name="kind",
            field=models.CharField(
                choices=[
                    ("text", "Text"),
                    ("number", "Number"),
                    ("boolean", "Yes / no"),
                    ("url", "URL"),
                    ("email", "Email"),
                    ("date", "Date"),
                    ("json", "JSON"),
                    ("enrichment", "HTTP API enrichment"),
                    ("result_field", "Enrichment field"),
                ],
                default="text",
                help_text="The type values are validated and stored as.",
                max_length=20,
            ),
        ),
    ]
