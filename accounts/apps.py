from django.apps import AppConfig
from django.urls import register_converter


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspaces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.object_ids import ObjectIdConverter

        # Before any URL conf is read: they all write ``<id:…>`` for object ids.
        register_converter(ObjectIdConverter, "id")
