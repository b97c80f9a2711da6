from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrichment", "0005_kinds"),
    ]

    operations = [
        migrations.AddField(
            model_name="tableenrichmentsettings",
            name="graph_version",
            field=models.CharField(
                blank=True,
                help_text="Changes (to a new random token) whenever the table's computed "
                "columns do, so every process knows when its cached dependency graph is out of "
                "date; a token, not a counter, so a change rolled back is never mistaken for a "
                "later one.",
                max_length=32,
            ),
        ),
    ]
