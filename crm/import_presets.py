"""Shipped column mappings for known exports: Salesforce's standard objects and the public
sample datasets (Maven Analytics CRM Sales Opportunities, IBM Watson Sales Win/Loss).

The Salesforce stage map folds Salesforce's default sales process into the standard New
Business pipeline; an organisation with its own process edits the map on the mapping page.
"""

from __future__ import annotations

from salesops.imports.targets import Preset

SF_NULL = "000000000000000AAA"  # Salesforce's "no record" id
SF_OPTIONS = {
    "null_values": SF_NULL,
    "unknown_owner": "me",  # records owned by Salesforce's system users, which are not imported
    "filter_column": "IsDeleted",
    "filter_values": "0",
}
SF_STAGES = {
    "Prospecting": "Prospecting",
    "Qualification": "Discovery",
    "Needs Analysis": "Discovery",
    "Value Proposition": "Proposal",
    "Id. Decision Makers": "Proposal",
    "Perception Analysis": "Proposal",
    "Proposal/Price Quote": "Proposal",
    "Negotiation/Review": "Negotiation",
    "Closed Won": "Closed Won",
    "Closed Lost": "Closed Lost",
}
SF_FORECAST = {
    "Pipeline": "pipeline",
    "Best Case": "best_case",
    "BestCase": "best_case",
    "Commit": "commit",
    "Forecast": "commit",
    "Closed": "closed",
    "Omitted": "omitted",
}
SF_DEAL_TYPES = {
    "New Customer": "new",
    "Existing Customer - Upgrade": "expansion",
    "Existing Customer - Replacement": "expansion",
    "Existing Customer - Downgrade": "renewal",
}
SF_LEAD_SOURCES = {
    "Web": "web",
    "Phone Inquiry": "other",
    "Partner Referral": "referral",
    "Partner": "partner",
    "Purchased List": "outbound",
    "Trade Show": "event",
    "Employee Referral": "referral",
    "External Referral": "referral",
    "Word of mouth": "referral",
    "Public Relations": "other",
    "Other": "other",
}
SF_LEAD_STATUSES = {
    "Open - Not Contacted": "new",
    "Working - Contacted": "working",
    "Closed - Converted": "converted",
    "Closed - Not Converted": "disqualified",
}

ACCOUNT_PRESETS = (
    Preset(
        key="salesforce-account",
        name="Salesforce: Account export (account.csv)",
        target="accounts",
        headers=("Id", "Name", "ParentId", "BillingCountry", "NumberOfEmployees", "OwnerId"),
        mapping={
            "fields": {
                "external_id": {"column": "Id"},
                "name": {"column": "Name"},
                "website": {"column": "Website"},
                "industry": {"column": "Industry"},
                "employees": {"column": "NumberOfEmployees"},
                "annual_revenue": {"column": "AnnualRevenue"},
                "country": {"column": "BillingCountry"},
                "region": {"column": "BillingState"},
                "city": {"column": "BillingCity"},
                "postal_code": {"column": "BillingPostalCode"},
                "parent": {"column": "ParentId"},
                "owner": {"column": "OwnerId"},
            },
            "options": SF_OPTIONS,
        },
    ),
    Preset(
        key="maven-accounts",
        name="Maven CRM sample: accounts.csv",
        target="accounts",
        headers=("account", "sector", "revenue", "employees", "office_location", "subsidiary_of"),
        help="Revenue is in millions of USD in this file; the mapping scales it.",
        mapping={
            "fields": {
                "external_id": {"column": "account"},
                "name": {"column": "account"},
                "industry": {"column": "sector", "values": {"technolgy": "technology"}},
                "annual_revenue": {"column": "revenue", "scale": "1000000"},
                "revenue_currency": {"default": "USD"},
                "employees": {"column": "employees"},
                "country": {
                    "column": "office_location",
                    "values": {"Philipines": "PH", "Korea": "KR"},
                },
                "parent": {"column": "subsidiary_of"},
            },
            "options": {},
        },
    ),
)

CONTACT_PRESETS = (
    Preset(
        key="salesforce-contact",
        name="Salesforce: Contact export (contact.csv)",
        target="contacts",
        headers=("Id", "AccountId", "FirstName", "LastName", "Email", "OwnerId"),
        mapping={
            "fields": {
                "external_id": {"column": "Id"},
                "account": {"column": "AccountId"},
                "first_name": {"column": "FirstName"},
                "last_name": {"column": "LastName"},
                "email": {"column": "Email"},
                "phone": {"column": "Phone"},
                "title": {"column": "Title"},
                "owner": {"column": "OwnerId"},
            },
            "options": SF_OPTIONS,
        },
    ),
)

LEAD_PRESETS = (
    Preset(
        key="salesforce-lead",
        name="Salesforce: Lead export (lead.csv)",
        target="leads",
        headers=("Id", "Company", "Status", "LeadSource", "IsConverted", "OwnerId"),
        mapping={
            "fields": {
                "external_id": {"column": "Id"},
                "first_name": {"column": "FirstName"},
                "last_name": {"column": "LastName"},
                "company": {"column": "Company"},
                "email": {"column": "Email"},
                "phone": {"column": "Phone"},
                "title": {"column": "Title"},
                "country": {"column": "Country"},
                "employees": {"column": "NumberOfEmployees"},
                "source": {"column": "LeadSource", "values": SF_LEAD_SOURCES, "default": "other"},
                "status": {"column": "Status", "values": SF_LEAD_STATUSES},
                "owner": {"column": "OwnerId"},
                "created_at": {"column": "CreatedDate"},
                "converted_at": {"column": "ConvertedDate"},
                "disqualify_reason": {"default": "Closed - Not Converted in Salesforce"},
            },
            "options": SF_OPTIONS,
        },
    ),
)

DEAL_PRESETS = (
    Preset(
        key="salesforce-opportunity",
        name="Salesforce: Opportunity export (opportunity.csv)",
        target="deals",
        headers=("Id", "AccountId", "StageName", "Amount", "CloseDate", "ForecastCategoryName"),
        help=(
            "Salesforce's default sales process folded into the New Business pipeline. Salesforce "
            "does not require a next step, our Proposal and Negotiation stages do: open deals "
            "without one get 'Not recorded in Salesforce', which the data-quality page lists."
        ),
        mapping={
            "fields": {
                "external_id": {"column": "Id"},
                "name": {"column": "Name"},
                "account": {"column": "AccountId"},
                "owner": {"column": "OwnerId"},
                "stage": {"column": "StageName", "values": SF_STAGES},
                "amount": {"column": "Amount"},
                "close_date": {"column": "CloseDate"},
                "probability": {"column": "Probability"},
                "forecast_category": {"column": "ForecastCategoryName", "values": SF_FORECAST},
                "type": {"column": "Type", "values": SF_DEAL_TYPES},
                "next_step": {"column": "NextStep", "default": "Not recorded in Salesforce"},
                "lost_reason": {"default": "Not recorded in Salesforce"},
                "primary_contact": {"column": "ContactId"},
                "created_at": {"column": "CreatedDate"},
                "stage_entered_at": {"column": "LastStageChangeDate"},
            },
            "options": {**SF_OPTIONS, "pipeline": "New Business"},
        },
    ),
    Preset(
        key="maven-sales-pipeline",
        name="Maven CRM sample: sales_pipeline.csv",
        target="deals",
        headers=("opportunity_id", "sales_agent", "deal_stage", "engage_date", "close_value"),
        help=(
            "Import the sales teams (users) and accounts first. Engaging deals have neither a "
            "value nor a close date, which Discovery and later stages require, so they land in "
            "Prospecting; deals without an account go to one 'No account (Maven import)' account."
        ),
        mapping={
            "fields": {
                "external_id": {"column": "opportunity_id"},
                "name": {"template": "{product} ({opportunity_id})"},
                "account": {"column": "account", "default": "No account (Maven import)"},
                "owner": {"column": "sales_agent"},
                "stage": {
                    "column": "deal_stage",
                    "values": {
                        "Prospecting": "Prospecting",
                        "Engaging": "Prospecting",
                        "Won": "Closed Won",
                        "Lost": "Closed Lost",
                    },
                },
                "amount": {"column": "close_value"},
                "currency": {"default": "USD"},
                "close_date": {"column": "close_date"},
                "created_at": {"column": "engage_date"},
                "lost_reason": {"default": "Not recorded in source"},
            },
            "options": {"pipeline": "New Business", "create_missing_accounts": True},
        },
    ),
    Preset(
        key="ibm-sales-win-loss",
        name="IBM Watson sample: Sales Win/Loss",
        target="deals",
        headers=("Opportunity Number", "Opportunity Result", "Opportunity Amount USD"),
        help=(
            "The file has no dates, reps or accounts: every deal closes on the default close "
            "date (set it), is created that many days earlier (Total Days Identified Through "
            "Closing), belongs to you and to one placeholder account. An opportunity number "
            "that repeats keeps its first row (the repeats are line items or exact copies)."
        ),
        mapping={
            "fields": {
                "external_id": {"column": "Opportunity Number"},
                "name": {"template": "{Supplies Subgroup} ({Opportunity Number})"},
                "account": {"default": "Unattributed (IBM Win/Loss sample)"},
                "stage": {
                    "column": "Opportunity Result",
                    "values": {"Won": "Closed Won", "Loss": "Closed Lost"},
                },
                "amount": {"column": "Opportunity Amount USD"},
                "currency": {"default": "USD"},
                "close_date": {"default": "2015-06-30"},
                "cycle_days": {"column": "Total Days Identified Through Closing"},
                "lost_reason": {"default": "Not recorded in source"},
            },
            "options": {
                "pipeline": "New Business",
                "create_missing_accounts": True,
                "repeated_keys": "first",
            },
        },
    ),
)

HISTORY_PRESETS = (
    Preset(
        key="salesforce-opportunity-history",
        name="Salesforce: OpportunityHistory export (OpportunityHistory.csv)",
        target="deal_history",
        headers=("Id", "OpportunityId", "StageName", "FromOpportunityStageName", "PrevAmount"),
        mapping={
            "fields": {
                "external_id": {"column": "Id"},
                "deal": {"column": "OpportunityId"},
                "changed_at": {"column": "CreatedDate"},
                "changed_by": {"column": "CreatedById"},
                "to_stage": {"column": "StageName", "values": SF_STAGES},
                "from_stage": {"column": "FromOpportunityStageName", "values": SF_STAGES},
                "to_amount": {"column": "Amount"},
                "from_amount": {"column": "PrevAmount"},
                "to_close_date": {"column": "CloseDate"},
                "from_close_date": {"column": "PrevCloseDate"},
                "to_forecast_category": {"column": "ForecastCategory", "values": SF_FORECAST},
                "from_forecast_category": {"column": "FromForecastCategory", "values": SF_FORECAST},
            },
            "options": {**SF_OPTIONS},
        },
    ),
)
