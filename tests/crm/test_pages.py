"""CRM pages: the board, moving from it, the deal page and list, all scoped."""

from django.utils import timezone

from crm.models import Deal
from crm.services import deal_create, deal_update
from tests.conftest import fresh
from tests.crm.conftest import stage


def make(org, accounts, rep, name):
    return deal_create(acting_user=fresh(rep), account=accounts[rep], name=name)


def test_manager_board_shows_the_team_and_not_other_teams(client, org, pipeline, accounts):
    make(org, accounts, org.rep_east, "East one")
    make(org, accounts, org.rep_east_2, "East two")
    make(org, accounts, org.rep_london, "London one")
    client.force_login(org.manager_east)
    page = client.get("/crm/board/").content.decode()
    assert "East one" in page and "East two" in page and "London one" not in page


def test_board_counts_totals_and_query_count(
    client, org, pipeline, accounts, django_assert_max_num_queries
):
    for n in range(15):
        make(org, accounts, org.rep_east, f"D{n}")
    client.force_login(org.rep_east)
    with django_assert_max_num_queries(14):
        response = client.get("/crm/board/")
    columns = response.context["columns"]
    assert [(c.stage.name, c.count) for c in columns][:2] == [("Prospecting", 15), ("Discovery", 0)]


def test_move_without_needed_fields_asks_for_them(client, org, pipeline, deal):
    client.force_login(org.rep_east)
    response = client.post(
        f"/crm/deals/{deal.pk}/move/",
        {"stage": stage(pipeline, "Proposal").pk, "version": 1},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "Proposal needs these fields first" in page
    for label in ("Amount (USD)", "Close date", "Next step"):
        assert label in page
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


def test_move_with_fields_moves_and_triggers_a_refresh(client, org, pipeline, deal):
    client.force_login(org.rep_east)
    response = client.post(
        f"/crm/deals/{deal.pk}/move/",
        {
            "stage": stage(pipeline, "Discovery").pk,
            "version": 1,
            "amount": "900",
            "close_date": "2026-12-01",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Trigger"] == "deal-moved"
    assert Deal.objects.get(pk=deal.pk).stage.name == "Discovery"


def test_out_of_scope_deal_pages_are_404(client, org, pipeline, deal):
    client.force_login(org.rep_west)
    assert client.get(f"/crm/deals/{deal.pk}/").status_code == 404
    response = client.post(
        f"/crm/deals/{deal.pk}/move/", {"stage": stage(pipeline, "Discovery").pk, "version": 1}
    )
    assert response.status_code == 404


def test_edit_conflict_keeps_the_persons_input(client, org, deal):
    client.force_login(org.rep_east)
    deal_update(
        deal=deal, acting_user=fresh(org.manager_east), expected_version=1, next_step="Manager's"
    )
    page = client.post(
        f"/crm/deals/{deal.pk}/",
        {
            "name": "Acme robots",
            "currency": "USD",
            "forecast_category": "pipeline",
            "next_step": "Mine",
            "version": 1,
        },
    ).content.decode()
    assert "your changes were not saved" in page
    assert 'value="Mine"' in page
    assert Deal.objects.get(pk=deal.pk).next_step == "Manager's"


def test_deal_page_shows_the_timeline(client, org, pipeline, deal):
    client.force_login(org.rep_east)
    deal_update(deal=deal, acting_user=fresh(org.rep_east), expected_version=1, amount=1200)
    page = client.get(f"/crm/deals/{deal.pk}/").content.decode()
    assert "created the deal in Prospecting" in page
    assert "amount — → 1200.00" in page


def test_deal_list_filters_and_scopes(client, org, pipeline, accounts):
    make(org, accounts, org.rep_east, "Alpha")
    make(org, accounts, org.rep_west, "Beta")
    client.force_login(org.vp_americas)
    response = client.get("/crm/deals/", {"q": "alp"})
    assert [d.name for d in response.context["page"]] == ["Alpha"]
    client.force_login(org.vp_emea)
    assert client.get("/crm/deals/").context["page"].paginator.count == 0


def test_deal_list_owner_pickers_offer_only_the_viewers_scope(client, org, pipeline, accounts):
    client.force_login(org.vp_americas)
    page = client.get("/crm/deals/").content.decode()
    assert f'<option value="{org.rep_east.pk}">' in page
    assert f'<option value="{org.rep_london.pk}">' not in page
    # Filtering by someone outside the scope is refused, not answered with their deals.
    make(org, accounts, org.rep_london, "Gamma")
    make(org, accounts, org.rep_east, "Delta")
    response = client.get("/crm/deals/", {"owner": org.rep_london.pk})
    assert "owner" in response.context["filterset"].errors
    assert "Select a valid choice" in response.content.decode()
    assert [d.name for d in response.context["page"]] == ["Delta"]  # never the other team's deal
    assert (
        client.get("/crm/deals/", {"owner": org.rep_east.pk}).context["page"].paginator.count == 1
    )
    client.force_login(org.rep_east)
    page = client.get("/crm/deals/").content.decode()
    assert f'<option value="{org.rep_east.pk}">' in page
    assert f'<option value="{org.rep_east_2.pk}">' not in page


def test_ops_adds_a_stage_in_the_app_and_the_board_enforces_it(client, org, pipeline, deal):
    client.force_login(org.ops)
    response = client.post(
        f"/crm/pipelines/{pipeline.pk}/stages/new/",
        {
            "name": "Security review",
            "position": 3,
            "probability": "60",
            "forecast_category": "best_case",
            "required_fields": ["amount", "close_date", "primary_contact"],
        },
    )
    assert response.status_code == 302
    assert "Security review" in client.get("/crm/pipelines/").content.decode()
    client.force_login(org.rep_east)
    new_stage = stage(pipeline, "Security review")
    page = client.post(
        f"/crm/deals/{deal.pk}/move/", {"stage": new_stage.pk, "version": 1}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Security review needs these fields first" in page
    assert "Primary contact" in page


def test_stage_form_explains_a_bad_rule(client, org, pipeline):
    client.force_login(org.ops)
    page = client.post(
        f"/crm/pipelines/{pipeline.pk}/stages/new/",
        {"name": "Proposal", "position": 9, "probability": "10", "forecast_category": "pipeline"},
    ).content.decode()
    assert "New Business already has a stage named &#x27;Proposal&#x27;." in page


def test_reps_and_managers_cannot_edit_pipelines(client, org, pipeline):
    for person in (org.rep_east, org.manager_east):
        client.force_login(person)
        assert client.get("/crm/pipelines/").status_code == 403
        assert client.get(f"/crm/pipelines/{pipeline.pk}/stages/new/").status_code == 403


def test_rep_home_shows_their_pipeline_and_tasks(client, org, pipeline, accounts, deal):
    from crm.services import activity_log

    make(org, accounts, org.rep_east_2, "Teammate's")
    activity_log(
        acting_user=fresh(org.rep_east), kind="task", subject="Send pricing", deal=deal, done=False
    )
    client.force_login(org.rep_east)
    response = client.get("/")
    page = response.content.decode()
    assert "My pipeline" in page
    assert "Send pricing" in page
    section = response.context["home_sections"][0]
    assert section["figures"]["count"] == 1
    assert f"Figures as of {timezone.localtime(section['figures_at']):%-d %b %Y, %H:%M}" in page


def test_ops_home_figures_are_cached_and_say_when_they_were_computed(
    client, org, pipeline, accounts
):
    make(org, accounts, org.rep_east, "First")
    client.force_login(org.ops)
    first = client.get("/").context["home_sections"][0]
    assert first["figures"]["count"] == 1
    again = client.get("/").context["home_sections"][0]
    assert again["figures_at"] == first["figures_at"]  # served from the cache
    make(org, accounts, org.rep_west, "Second")  # any deal change makes a new cache key
    fresh_section = client.get("/").context["home_sections"][0]
    assert fresh_section["figures"]["count"] == 2
    assert fresh_section["figures_at"] > first["figures_at"]


def test_finance_home_has_no_pipeline_section(client, org, pipeline):
    client.force_login(org.finance)
    assert client.get("/").context["home_sections"] == []


def test_search_finds_only_what_is_in_scope(client, org, pipeline, accounts):
    make(org, accounts, org.rep_east, "Zebra rollout")
    make(org, accounts, org.rep_west, "Zebra pilot")
    client.force_login(org.rep_east)
    page = client.get("/crm/search/", {"q": "zebra"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Zebra rollout" in page and "Zebra pilot" not in page
    page = client.get("/crm/search/", {"q": "rep_east co"}).content.decode()
    assert "Account · rep_east Corp" in page
    assert "rep_west Corp" not in client.get("/crm/search/", {"q": "corp"}).content.decode()
