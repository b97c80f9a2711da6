"""Computed columns get a registered kind and a config: HTTP API columns become the
``http_api`` kind, their request and token fields its config, with no change of behaviour.

Accounts a column uses are listed in ``ColumnAccount`` (so a waterfall's step accounts are
protected from deletion like an HTTP column's account), and results get ``details``.
"""

import django.db.models.deletion
from django.db import migrations, models


def to_kinds(apps, schema_editor):
    EnrichmentColumn = apps.get_model("enrichment", "EnrichmentColumn")
    ColumnAccount = apps.get_model("enrichment", "ColumnAccount")
    for enrichment in EnrichmentColumn.objects.all().only(
        "pk", "request", "token_fields", "account_id"
    ):
        config = {"request": enrichment.request or {}}
        if enrichment.token_fields:
            config["token_fields"] = enrichment.token_fields
        EnrichmentColumn.objects.filter(pk=enrichment.pk).update(kind="http_api", config=config)
        if enrichment.account_id:
            ColumnAccount.objects.get_or_create(
                column_id=enrichment.pk, account_id=enrichment.account_id
            )


def from_kinds(apps, schema_editor):
    EnrichmentColumn = apps.get_model("enrichment", "EnrichmentColumn")
    for enrichment in EnrichmentColumn.objects.filter(kind="http_api").only("pk", "config"):
        config = enrichment.config or {}
        EnrichmentColumn.objects.filter(pk=enrichment.pk).update(
            request=config.get("request") or {}, token_fields=config.get("token_fields") or {}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_invitations_last_used_workspace"),
        ("enrichment", "0004_propose_allowed_hosts"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrichmentcolumn",
            name="kind",
            field=models.CharField(
                default="http_api",
                help_text="The registered kind that computes the cells: http_api, waterfall, "
                "formula.",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="enrichmentcolumn",
            name="config",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="The kind's settings, validated by its config model (for http_api: "
                "the request config and the token fields the column overrides).",
            ),
        ),
        migrations.CreateModel(
            name="ColumnAccount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="columns",
                        to="accounts.account",
                    ),
                ),
                (
                    "column",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="account_uses",
                        to="enrich.column",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("column", "account"), name="one_use_per_account"
                    )
                ]
            },
        ),
        migrations.AlterField(
            model_name="enrichmentcolumn",
            name="account",
            field=models.ForeignKey(
                blank=True,
                help_text="The workspace account of an http_api column; none for open APIs and "
                "for kinds whose steps name their own.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.account",
            ),
        ),
        migrations.RunPython(to_kinds, from_kinds),
        migrations.RemoveField(model_name="enrichmentcolumn", name="request"),
        migrations.RemoveField(model_name="enrichmentcolumn", name="token_fields"),
        migrations.AddField(
            model_name="cellresult",
            name="details",
            field=models.JSONField(
                blank=True,
                help_text="What the kind adds to the outcome (a waterfall: the step that "
                "answered and every step's status, value and requests).",
                null=True,
            ),
        ),
    ]
