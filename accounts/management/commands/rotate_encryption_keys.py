"""``manage.py rotate_encryption_keys``: re-encrypt every credential under the first key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.key_rotation import encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every account secret, workspace secret and cached token under the first "
        "key of ENRICH_ENCRYPTION_KEYS. Run it after putting a new key first; remove the old "
        "key afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = encryption_keys_rotate()
        self.stdout.write(
            f"Re-encrypted {report.accounts} account(s), {report.secrets} secret(s) and "
            f"{report.tokens} cached token(s); {report.already_current} already used the "
            "current key."
        )
        for failure in report.failures:
            self.stderr.write(failure)
        if report.failures:
            raise CommandError(
                f"{len(report.failures)} value(s) could not be decrypted with the configured "
                "keys and were left unchanged."
            )
