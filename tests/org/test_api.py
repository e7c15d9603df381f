"""The kernel API: auth, scoping (out-of-scope ids answer 404), filters and the schema."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import fresh


@pytest.fixture
def api():
    return APIClient()


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_anonymous_gets_401(api, org):
    assert api.get("/api/v1/users/").status_code == 401
    assert api.get("/api/v1/me/").status_code == 401


def test_token_auth_and_me(api, org):
    token = Token.objects.create(user=org.rep_east)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = api.get("/api/v1/me/").json()
    assert body["username"] == "rep_east"
    assert body["role"] == "rep"
    assert body["rep_profile"]["team_name"] == "East"


def test_rep_lists_only_themselves_and_gets_404_for_others(api, org):
    api.force_authenticate(fresh(org.rep_east))
    assert ids(api.get("/api/v1/users/")) == {org.rep_east.pk}
    for other in (org.rep_east_2, org.rep_west, org.manager_east):
        response = api.get(f"/api/v1/users/{other.pk}/")
        assert response.status_code == 404
        assert other.username not in response.content.decode()
    assert api.get(f"/api/v1/teams/{org.west.pk}/").status_code == 404


def test_manager_list_matches_scope_and_other_subtree_is_404(api, org):
    api.force_authenticate(fresh(org.vp_emea))
    assert ids(api.get("/api/v1/users/")) == {
        org.vp_emea.pk,
        org.manager_london.pk,
        org.rep_london.pk,
    }
    assert api.get(f"/api/v1/users/{org.rep_east.pk}/").status_code == 404
    assert ids(api.get("/api/v1/teams/")) == {org.emea.pk, org.london.pk}
    assert api.get(f"/api/v1/teams/{org.americas.pk}/").status_code == 404


def test_leak_sweep_every_detail_endpoint_as_rep_and_manager(api, org):
    """Probe every user and team id as each rep and manager: no out-of-scope row is served."""
    from salesops.org.models import Team, User

    leaks = 0
    viewers = [org.rep_east, org.rep_london, org.manager_east, org.vp_americas, org.vp_emea]
    for viewer in viewers:
        viewer = fresh(viewer)
        api.force_authenticate(viewer)
        visible_users = set(User.objects.visible_to(viewer).values_list("pk", flat=True))
        visible_teams = set(Team.objects.visible_to(viewer).values_list("pk", flat=True))
        for pk in User.objects.values_list("pk", flat=True):
            status = api.get(f"/api/v1/users/{pk}/").status_code
            leaks += (status == 200) != (pk in visible_users)
        for pk in Team.objects.values_list("pk", flat=True):
            status = api.get(f"/api/v1/teams/{pk}/").status_code
            leaks += (status == 200) != (pk in visible_teams)
    assert leaks == 0


def test_ops_filters_users_by_role_and_team(api, org):
    api.force_authenticate(fresh(org.ops))
    reps = api.get("/api/v1/users/", {"role": "rep"}).json()
    assert reps["count"] == 4
    east = api.get("/api/v1/users/", {"team": org.east.pk}).json()
    assert {row["username"] for row in east["results"]} == {"rep_east", "rep_east_2"}
    top = api.get("/api/v1/teams/", {"top_level": "true"}).json()
    assert {row["name"] for row in top["results"]} == {"Americas", "EMEA"}


def test_user_list_query_count_is_constant(api, org, django_assert_max_num_queries):
    from tests.factories import rep

    api.force_authenticate(fresh(org.ops))
    for n in range(15):
        rep(org.west, username=f"bulk{n}")
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/users/")
    assert response.json()["count"] == 4 + 15 + 5 + 3


def test_api_is_paginated(api, org):
    api.force_authenticate(fresh(org.ops))
    body = api.get("/api/v1/users/", {"page": 1}).json()
    assert set(body) == {"count", "next", "previous", "results"}


def test_openapi_schema_is_valid_and_lists_kernel_endpoints(api, org):
    import yaml
    from drf_spectacular.validation import validate_schema

    response = api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/users/", "/api/v1/users/{id}/", "/api/v1/teams/", "/api/v1/me/"):
        assert path in schema["paths"], path


def test_api_docs_are_served_locally(client, org):
    client.force_login(org.ops)
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
