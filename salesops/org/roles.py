"""The five roles. Each is a Django group; a user's role decides what they see and may change."""

from django.db import models


class Role(models.TextChoices):
    REP = "rep", "Rep"
    MANAGER = "manager", "Manager"
    OPS = "ops", "Sales-ops analyst"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Admin"


# When a user is in several groups, the broadest role wins.
ROLE_PRECEDENCE = [Role.ADMIN, Role.OPS, Role.FINANCE, Role.MANAGER, Role.REP]

# Roles that see every row of the models their permissions allow (no ownership scoping).
ORG_WIDE_ROLES = frozenset({Role.ADMIN, Role.OPS, Role.FINANCE})
