"""Accounts saved before allowed hosts existed get them proposed, as new accounts do.

Without hosts, an account's credentials went wherever a column pointed; a member could then
write a column (or a row, for a templated host) that sends them elsewhere. The proposal is
where they evidently go today: the account's token endpoint and the fixed hosts of the columns
that use it. An account with neither keeps none, and only an owner may point it somewhere.
"""

from django.db import migrations

from connectors.url_parts import endpoint_host


def propose_allowed_hosts(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    EnrichmentColumn = apps.get_model("enrichment", "EnrichmentColumn")
    for account in Account.objects.exclude(auth_type="none").only("pk", "config"):
        config = dict(account.config or {})
        if config.get("allowed_hosts"):
            continue
        urls = [config.get("token_url"), config.get("token_endpoint")]
        urls += [
            (request or {}).get("endpoint")
            for request in EnrichmentColumn.objects.filter(account_id=account.pk)
            .order_by("pk")
            .values_list("request", flat=True)
        ]
        hosts: list[str] = []
        for url in urls:
            host = endpoint_host(str(url)) if url else None
            # An IPv6 literal is no host name the account's settings could hold.
            if host and ":" not in host and host not in hosts:
                hosts.append(host)
        if hosts:
            Account.objects.filter(pk=account.pk).update(config={**config, "allowed_hosts": hosts})


class Migration(migrations.Migration):
    dependencies = [
        ("enrichment", "0003_token_fields_inherit"),
        ("accounts", "0003_invitations_last_used_workspace"),
    ]

    operations = [migrations.RunPython(propose_allowed_hosts, migrations.RunPython.noop)]
