from django.apps import AppConfig


class CrmConfig(AppConfig):
    """Accounts, contacts, leads, pipelines, deals and their history (issue: CRM pipeline)."""

    name = "crm"
    verbose_name = "CRM"
