from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgConfig(AppConfig):
    """The org kernel: users and roles, the team tree, rep profiles, fiscal and currency settings."""

    name = "salesops.org"
    label = "org"
    verbose_name = "Organisation"

    def ready(self) -> None:
        from salesops.org.permissions_map import sync_role_groups

        # Groups and permissions are infrastructure: rebuilt after every migrate, idempotently.
        # No sender: it must also run after the apps listed later (crm, …) create their
        # permissions; each run is a handful of queries.
        post_migrate.connect(sync_role_groups, dispatch_uid="sync_role_groups")
