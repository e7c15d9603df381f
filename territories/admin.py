"""Admin for support work: look at plans, territories, rules, rule runs and quotas.

Plans, territories, members and rules change through the territory pages and API (which run the
planning checks); runs, moves and spans are written only by the worker, so they are read-only
here.
"""

from django.contrib import admin

from territories.models import (
    AccountTerritory,
    AssignmentMove,
    AssignmentRule,
    AssignmentRun,
    Quota,
    QuotaPlan,
    QuotaReview,
    RampProfile,
    Territory,
    TerritoryMember,
    TerritoryPlan,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TerritoryPlan)
class TerritoryPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "based_on", "effective_date", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    raw_id_fields = ["based_on", "created_by"]
    readonly_fields = ["created_at"]


class TerritoryMemberInline(admin.TabularInline):
    model = TerritoryMember
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "plan", "parent", "type", "manager"]
    list_filter = ["type", "plan__status"]
    search_fields = ["name", "key"]
    raw_id_fields = ["plan", "parent", "manager"]
    list_select_related = ["plan", "parent", "manager"]
    inlines = [TerritoryMemberInline]


@admin.register(TerritoryMember)
class TerritoryMemberAdmin(admin.ModelAdmin):
    list_display = ["territory", "user", "role"]
    list_filter = ["role"]
    search_fields = ["territory__key", "territory__name", "user__username", "user__last_name"]
    raw_id_fields = ["territory", "user"]
    list_select_related = ["territory", "user"]


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ["plan", "position", "__str__", "territory", "catch_all"]
    list_filter = ["catch_all", "plan__status"]
    search_fields = ["name", "territory__key"]
    raw_id_fields = ["plan", "territory"]
    list_select_related = ["plan", "territory"]
    ordering = ["plan", "catch_all", "position", "id"]


@admin.register(AssignmentRun)
class AssignmentRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "plan", "effective_date", "status", "accounts_moved", "owners_changed",
        "created_by", "created_at",
    ]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["plan", "created_by"]
    readonly_fields = [f.name for f in AssignmentRun._meta.fields]


@admin.register(AssignmentMove)
class AssignmentMoveAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "account",
        "from_territory_key",
        "to_territory",
        "from_owner",
        "to_owner",
    ]
    search_fields = ["from_territory_key", "to_territory__key"]
    raw_id_fields = ["run", "account", "to_territory", "from_owner", "to_owner"]
    list_select_related = ["run", "account", "to_territory", "from_owner", "to_owner"]


@admin.register(AccountTerritory)
class AccountTerritoryAdmin(ReadOnlyAdmin):
    list_display = ["account", "territory", "owner", "valid_from", "valid_to"]
    raw_id_fields = ["account", "territory", "owner", "run"]
    list_select_related = ["account", "territory", "owner"]


@admin.register(RampProfile)
class RampProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "percents"]
    search_fields = ["name"]


@admin.register(QuotaPlan)
class QuotaPlanAdmin(admin.ModelAdmin):
    list_display = ["fiscal_year", "target", "currency", "basis", "status", "published_at"]
    list_filter = ["status", "basis"]
    raw_id_fields = ["ramp_profile", "created_by", "published_by"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["plan", "period_key", "user", "team", "territory", "amount", "source"]
    list_filter = ["period_kind", "source"]
    search_fields = ["period_key", "user__username", "team__name", "territory__key"]
    raw_id_fields = ["plan", "user", "team", "territory"]
    list_select_related = ["plan", "user", "team", "territory"]


@admin.register(QuotaReview)
class QuotaReviewAdmin(admin.ModelAdmin):
    list_display = ["plan", "team", "level", "reviewer", "status", "decided_at"]
    list_filter = ["status"]
    raw_id_fields = ["plan", "team", "reviewer"]
    list_select_related = ["plan", "team", "reviewer"]
