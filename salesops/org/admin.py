from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from salesops.org.models import ExchangeRate, OrgSettings, RepProfile, Team, User


class RepProfileInline(admin.StackedInline):
    model = RepProfile
    can_delete = False
    autocomplete_fields = ["team"]


@admin.register(User)
class SalesOpsUserAdmin(UserAdmin):
    inlines = [RepProfileInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active", "is_staff"]
    list_filter = ["groups", "is_active", "is_staff"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "manager"]
    search_fields = ["name"]
    autocomplete_fields = ["parent", "manager"]


@admin.register(RepProfile)
class RepProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "sales_role", "employee_id", "hire_date", "active"]
    list_filter = ["sales_role", "active"]
    search_fields = ["user__username", "user__last_name", "employee_id"]
    autocomplete_fields = ["user", "team"]


@admin.register(OrgSettings)
class OrgSettingsAdmin(admin.ModelAdmin):
    list_display = ["company_name", "corporate_currency", "fiscal_year_start_month"]


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "valid_from", "rate"]
    list_filter = ["currency"]
