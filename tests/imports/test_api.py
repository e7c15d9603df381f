"""Import API: upload with a preset, check, commit; targets; saved mappings; who may."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from crm.models import Account, Deal
from salesops.imports.models import ImportJob, ImportMapping, ImportStatus
from tests.conftest import fresh

MAVEN = (
    "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
    "M-1,rep_east,GTX Basic,Acme,Won,2016-10-20,2017-03-01,1054\n"
    "M-2,rep_east,MG Special,,Engaging,2017-01-05,,\n"
    "M-3,rep_east,GTX Pro,Betarex,Lost,2016-11-01,2017-02-02,0\n"
)


def maven_file(text: str = MAVEN) -> SimpleUploadedFile:
    return SimpleUploadedFile("sales_pipeline.csv", text.encode(), "text/csv")


@pytest.fixture
def api(org):
    client = APIClient()
    client.force_authenticate(fresh(org.ops))
    return client


@pytest.fixture
def acme(org):
    return Account.objects.create(name="Acme", owner=org.rep_east)


def upload(api, **fields):
    return api.post(
        "/api/v1/imports/", {"target": "deals", "file": maven_file(), **fields}, format="multipart"
    )


def test_create_validate_and_commit_with_a_preset(api, org, pipeline, acme):
    response = upload(api, preset="maven-sales-pipeline")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert (job["target"], job["status"], job["row_count"]) == ("deals", "uploaded", 3)
    assert job["mapping"]["fields"]["stage"]["values"]["Won"] == "Closed Won"
    assert job["columns"][0] == "opportunity_id" and job["report"] == {}

    response = api.post(f"/api/v1/imports/{job['id']}/validate/")
    assert response.status_code == 200
    checked = response.json()
    assert checked["status"] == "ready", checked["report"]
    assert checked["report"]["summary"]["create"] == 3 and checked["error_count"] == 0
    assert "new account: betarex" in [note.lower() for note in checked["report"]["notes"]]
    assert Deal.objects.count() == 0

    response = api.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 200
    done = response.json()
    assert done["status"] == "committed" and done["committed_at"]
    assert done["written"] == {
        "created": 3, "updated": 0, "accounts_created": 2, "history_rows": 3,
    }  # fmt: skip
    won = Deal.objects.get(external_id="M-1")
    assert (won.stage.name, won.account, won.owner) == ("Closed Won", acme, org.rep_east)
    assert Deal.objects.get(external_id="M-2").account.name == "No account (Maven import)"
    # Committing again changes nothing; the list shows the result without the full report.
    assert api.post(f"/api/v1/imports/{job['id']}/commit/").json()["status"] == "committed"
    assert Deal.objects.count() == 3
    listed = api.get("/api/v1/imports/").json()["results"]
    assert [(j["id"], j["written"]["created"]) for j in listed] == [(job["id"], 3)]
    assert "report" not in listed[0]


def test_row_errors_come_back_in_the_report_and_block_the_commit(api, org, pipeline):
    job = upload(api).json()  # the shipped mapping that fits the header is chosen
    mapping = {**job["mapping"], "options": {"pipeline": "New Business"}}  # no account creation
    response = api.post(f"/api/v1/imports/{job['id']}/mapping/", {"mapping": mapping}, "json")
    assert response.status_code == 200 and response.json()["status"] == "uploaded"
    report = api.post(f"/api/v1/imports/{job['id']}/validate/").json()["report"]
    assert report["error_count"] == 3 and report["error_rows"] == 3
    assert report["errors"][0] == {
        "row": 2, "field": "Account", "message": "no account matches 'Acme'",
    }  # fmt: skip
    response = api.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Check the file first: only a file without errors can be imported."
    }
    assert Deal.objects.count() == 0


def test_a_mapping_that_does_not_fit_is_refused_and_leaves_no_job(api, org, pipeline):
    bad = {"fields": {"name": {"column": "Nope"}}, "options": {}}
    response = upload(api, mapping=json.dumps(bad))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Name is mapped to the column 'Nope', which the file lacks.",
        "field": "mapping",
    }
    assert not ImportJob.objects.exists()
    response = upload(api, preset="salesforce-user")
    assert response.status_code == 400
    assert response.json()["field"] == "preset"
    response = api.post("/api/v1/imports/", {"target": "planets", "file": maven_file()})
    assert response.status_code == 400 and "target" in response.json()


def test_a_big_file_is_queued_and_answered_202(api, org, pipeline, acme, settings):
    settings.SALESOPS_IMPORT_INLINE_ROWS = 2
    job = upload(api).json()
    response = api.post(f"/api/v1/imports/{job['id']}/validate/")
    assert response.status_code == 202 and response.json()["status"] == "validating"
    response = api.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 400  # not checked yet: the worker has not run


def test_the_targets_endpoint_lists_every_target_with_fields_options_and_presets(api, org):
    response = api.get("/api/v1/import-targets/")
    assert response.status_code == 200
    targets = {t["key"]: t for t in response.json()}
    assert set(targets) == {
        "users", "accounts", "contacts", "leads", "deals", "deal_history", "activities",
        "territory_rules",
    }  # fmt: skip
    deals = targets["deals"]
    stage = next(f for f in deals["fields"] if f["name"] == "stage")
    assert (stage["label"], stage["kind"], stage["required"]) == ("Stage", "reference", True)
    category = next(f for f in deals["fields"] if f["name"] == "forecast_category")
    assert {"value": "commit", "label": "Commit"} in category["choices"]
    assert {o["name"] for o in deals["options"]} >= {"date_format", "pipeline"}
    assert "maven-sales-pipeline" in {p["key"] for p in deals["presets"]}
    one = api.get("/api/v1/import-targets/deals/")
    assert one.status_code == 200 and one.json()["label"] == "Deals"
    assert api.get("/api/v1/import-targets/planets/").status_code == 404


def test_saved_mappings_are_listed_created_from_a_job_reused_and_deleted(api, org, pipeline):
    job = upload(api).json()
    response = api.post("/api/v1/import-mappings/", {"name": "Maven", "job": job["id"]}, "json")
    assert response.status_code == 201
    saved = response.json()
    assert (saved["target"], saved["name"]) == ("deals", "Maven")
    assert saved["mapping"]["fields"] == job["mapping"]["fields"]
    listed = api.get("/api/v1/import-mappings/?target=deals").json()["results"]
    assert [m["name"] for m in listed] == ["Maven"]
    response = api.post(f"/api/v1/imports/{job['id']}/mapping/", {"saved": saved["id"]}, "json")
    assert response.status_code == 200
    assert api.delete(f"/api/v1/import-mappings/{saved['id']}/").status_code == 204
    assert not ImportMapping.objects.exists()


@pytest.mark.parametrize("who", ["rep_east", "manager_east", "finance"])
def test_roles_that_do_not_import_get_403_everywhere(org, who):
    job = ImportJob.objects.create(
        target="deals", file_name="x.csv", content=b"Id\n1\n", columns=["Id"], row_count=1,
        created_by=org.ops,
    )  # fmt: skip
    client = APIClient()
    client.force_authenticate(fresh(getattr(org, who)))
    for url in (
        "/api/v1/imports/", f"/api/v1/imports/{job.pk}/", "/api/v1/import-targets/",
        "/api/v1/import-mappings/",
    ):  # fmt: skip
        assert client.get(url).status_code == 403, url
    for url in (f"/api/v1/imports/{job.pk}/validate/", f"/api/v1/imports/{job.pk}/commit/"):
        assert client.post(url).status_code == 403, url
    assert (
        client.post("/api/v1/imports/", {"target": "deals", "file": maven_file()}).status_code
        == 403
    )
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.UPLOADED
    assert APIClient().get("/api/v1/imports/").status_code == 401


def test_ops_and_admins_see_each_others_imports(api, org):
    job = ImportJob.objects.create(
        target="deals", file_name="x.csv", content=b"Id\n1\n", columns=["Id"], row_count=1,
        created_by=org.admin,
    )  # fmt: skip
    assert api.get(f"/api/v1/imports/{job.pk}/").json()["created_by"] == org.admin.pk
