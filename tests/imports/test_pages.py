"""Import pages: upload, map, check, fix, import; who may; the errors CSV; big files polled."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import Account, Deal, DealHistory
from salesops.imports import tasks
from salesops.imports.models import ImportJob, ImportMapping, ImportStatus
from tests.conftest import fresh

HEADER = "Id,Deal,Account,Owner,Stage,Amount,Close date\n"


def csv_file(*lines: str, name: str = "deals.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + "\n".join(lines) + "\n").encode(), "text/csv")


@pytest.fixture
def acme(org):
    return Account.objects.create(name="Acme", owner=org.rep_east, external_id="A-1")


@pytest.fixture
def ops_client(client, org):
    client.force_login(org.ops)
    return client


def upload(client, file, target="deals") -> ImportJob:
    response = client.post("/imports/", {"target": target, "file": file})
    assert response.status_code == 302, response.content.decode()
    job = ImportJob.objects.order_by("-pk").first()
    assert response["Location"] == f"/imports/{job.pk}/"
    return job


def form_data(form, **changes) -> dict:
    """What a browser posts for ``form`` as shown (its initial values), with ``changes``."""
    data = {}
    for bound in form:
        value = bound.value()
        if value in (None, False):
            continue
        data[bound.html_name] = "on" if value is True else value
    data.update(changes)
    return data


def translation_input(form, field: str, value: str) -> str:
    """The name of the "translate values" input of ``field`` for the source ``value``."""
    row = next(r for r in form.rows if r.field.name == field)
    return next(v.translation.html_name for v in row.values if v.value == value)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_upload_map_check_fix_and_import(ops_client, org, pipeline, acme):
    job = upload(
        ops_client,
        csv_file(
            "D-1,Robots,Acme,rep_east,Discovery,1200,2026-12-31",
            "D-2,Arms,A-1,rep_east,Won,500,2026-11-30",
            "D-3,Legs,Acme,rep_east,Discovery,12x5,2026-10-01",
        ),
    )
    # The mapping is guessed from the header: every column matches a field by name or alias.
    assert job.mapping["fields"]["name"] == {"column": "Deal"}
    assert job.mapping["fields"]["close_date"] == {"column": "Close date"}
    page = ops_client.get(f"/imports/{job.pk}/")
    assert page.status_code == 200
    body = text(page)
    assert "1. Match the file" in body and "Not checked yet" in body
    assert '<option value="Deal" selected>Deal — e.g. Robots · Arms · Legs</option>' in body
    assert "disabled" in body.split('id="import"')[1]  # nothing to import before a check
    form = page.context["mapping_form"]
    # The stage column's distinct values are offered for translation, stage names suggested.
    stage_row = next(r for r in form.rows if r.field.name == "stage")
    assert [(v.value, v.count) for v in stage_row.values] == [("Discovery", 2), ("Won", 1)]
    assert ("Closed Won", "") in stage_row.datalist

    # Check as guessed: a row error per bad row, by row number and field; nothing written.
    response = ops_client.post(f"/imports/{job.pk}/mapping/", form_data(form))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.INVALID
    body = text(ops_client.get(f"/imports/{job.pk}/"))
    assert "2 errors on 2 rows — nothing will be imported" in body
    assert '<td class="num">3</td><td>Stage</td>' in body and "has no stage &#x27;Won&#x27;" in body
    assert '<td class="num">4</td><td>Amount</td><td>not a number: &#x27;12x5&#x27;</td>' in body
    assert f'href="/imports/{job.pk}/errors.csv"' in body
    assert Deal.objects.count() == 0

    # Fix the stage in the mapping ("Won" means Closed Won) and save it for the next file.
    changes = {translation_input(form, "stage", "Won"): "Closed Won", "save_as": "CRM deals"}
    ops_client.post(f"/imports/{job.pk}/mapping/", form_data(form, **changes))
    job.refresh_from_db()
    assert job.mapping["fields"]["stage"] == {"column": "Stage", "values": {"Won": "Closed Won"}}
    assert [e["row"] for e in job.report["errors"]] == [4]  # only the bad amount is left
    saved = ImportMapping.objects.get(name="CRM deals", target="deals")

    # Fix the file: upload it again and use the saved mapping.
    fixed = upload(
        ops_client,
        csv_file(
            "D-1,Robots,Acme,rep_east,Discovery,1200,2026-12-31",
            "D-2,Arms,A-1,rep_east,Won,500,2026-11-30",
            "D-3,Legs,Acme,rep_east,Discovery,1250,2026-10-01",
            name="deals-fixed.csv",
        ),
    )
    page = ops_client.get(f"/imports/{fixed.pk}/")
    assert f'<option value="saved:{saved.pk}">CRM deals' in page.content.decode()
    ops_client.post(f"/imports/{fixed.pk}/use-mapping/", {"source": f"saved:{saved.pk}"})
    fixed.refresh_from_db()
    assert fixed.status == ImportStatus.READY, fixed.report
    body = text(ops_client.get(f"/imports/{fixed.pk}/"))
    assert "No errors" in body and "Records to create" in body and "Robots — Discovery" in body
    assert 'class="primary">Import 3 rows' in body  # the button is enabled now

    response = ops_client.post(f"/imports/{fixed.pk}/import/", follow=True)
    fixed.refresh_from_db()
    assert fixed.status == ImportStatus.COMMITTED
    body = text(response)
    assert "created 3 deals" in body and "wrote 3 history rows" in body
    assert 'href="/crm/deals/"' in body
    assert "Save mapping and check" not in body  # an imported job is read-only
    arms = Deal.objects.get(external_id="D-2")
    assert (arms.stage.name, arms.owner, arms.account) == ("Closed Won", org.rep_east, acme)
    assert Deal.objects.count() == 3 and DealHistory.objects.count() == 3
    # A second click imports nothing more.
    ops_client.post(f"/imports/{fixed.pk}/import/")
    assert Deal.objects.count() == 3

    listing = text(ops_client.get("/imports/"))
    assert "deals-fixed.csv" in listing and "Imported" in listing


def test_upload_errors_are_shown_on_the_form(ops_client, org):
    response = ops_client.post(
        "/imports/",
        {"target": "deals", "file": SimpleUploadedFile("deals.pdf", b"%PDF", "application/pdf")},
    )
    assert response.status_code == 200
    assert "Upload a .csv or .xlsx file." in response.content.decode()
    response = ops_client.post(
        "/imports/", {"target": "deals", "file": SimpleUploadedFile("deals.csv", b"Id,Name\n")}
    )
    assert "The file has a header row but no records." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_mapping_that_does_not_fit_is_refused_and_the_input_kept(ops_client, org, pipeline):
    job = upload(ops_client, csv_file("D-1,Robots,Acme,rep_east,Discovery,1200,2026-12-31"))
    form = ops_client.get(f"/imports/{job.pk}/").context["mapping_form"]
    response = ops_client.post(
        f"/imports/{job.pk}/mapping/",
        form_data(form, name__column="", name__template="{Nope} {Deal}"),
    )
    assert response.status_code == 200
    body = text(response)
    assert "The template for Name names columns the file lacks: Nope." in body
    assert 'value="{Nope} {Deal}"' in body
    job.refresh_from_db()
    assert job.mapping["fields"]["name"] == {"column": "Deal"} and job.status == "uploaded"


@pytest.mark.parametrize("who", ["rep_east", "manager_east", "vp_americas", "finance"])
def test_only_roles_that_import_reach_the_pages(client, org, who):
    job = ImportJob.objects.create(
        target="deals", file_name="x.csv", content=b"Id\n1\n", columns=["Id"], row_count=1,
        created_by=org.ops,
    )  # fmt: skip
    client.force_login(getattr(org, who))
    for url in (
        "/imports/", f"/imports/{job.pk}/", f"/imports/{job.pk}/errors.csv",
        f"/imports/{job.pk}/status/",
    ):  # fmt: skip
        assert client.get(url).status_code == 403, url
    assert client.post(f"/imports/{job.pk}/import/").status_code == 403
    assert "Import" not in [i["label"] for i in client.get("/").context["nav_items"]]


def test_ops_and_admins_see_every_import_and_the_menu_entry(client, org):
    job = ImportJob.objects.create(
        target="deals", file_name="ops-file.csv", content=b"Id\n1\n", columns=["Id"],
        row_count=1, created_by=org.ops,
    )  # fmt: skip
    client.force_login(org.admin)
    assert "ops-file.csv" in client.get("/imports/").content.decode()
    assert client.get(f"/imports/{job.pk}/").status_code == 200
    assert "Import" in [i["label"] for i in client.get("/").context["nav_items"]]
    client.logout()
    assert client.get("/imports/").status_code == 302  # to the login page


def test_errors_csv_is_formula_safe(ops_client, org, pipeline, acme):
    evil = '"=HYPERLINK(""http://evil.example"",""click"")"'
    job = upload(
        ops_client,
        csv_file(
            f"D-1,{evil},Acme,rep_east,Discovery,lots,2026-12-31",
            "D-2,+SUM(A1:A9),Acme,rep_east,Discovery,7,someday",
        ),
    )
    ops_client.post(f"/imports/{job.pk}/check/")
    job.refresh_from_db()
    assert job.report["error_count"] == 2
    response = ops_client.get(f"/imports/{job.pk}/errors.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == ["Row", "Field", "Message", *HEADER.strip().split(",")]
    assert rows[1][:3] == ["2", "Amount", "not a number: 'lots'"]
    assert rows[1][4] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[2][4] == "'+SUM(A1:A9)"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_a_big_file_is_checked_and_imported_by_the_worker_while_the_page_polls(
    ops_client, org, pipeline, acme, settings
):
    settings.SALESOPS_IMPORT_INLINE_ROWS = 1
    job = upload(
        ops_client,
        csv_file(
            "D-1,Robots,Acme,rep_east,Discovery,1200,2026-12-31",
            "D-2,Arms,Acme,rep_east,Prospecting,,",
        ),
    )
    ops_client.post(f"/imports/{job.pk}/check/")
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATING
    page = text(ops_client.get(f"/imports/{job.pk}/"))
    assert "Checking…" in page and f'hx-get="/imports/{job.pk}/status/"' in page
    assert 'hx-trigger="every 1s"' in page
    poll = ops_client.get(f"/imports/{job.pk}/status/", headers={"HX-Request": "true"})
    assert "Checking…" in poll.content.decode() and "HX-Refresh" not in poll

    # What the Celery worker runs (the task is queued on commit of the request's transaction).
    assert tasks.validate(job.pk, org.ops.pk) == ImportStatus.READY
    poll = ops_client.get(f"/imports/{job.pk}/status/", headers={"HX-Request": "true"})
    assert poll["HX-Refresh"] == "true"

    ops_client.post(f"/imports/{job.pk}/import/")
    job.refresh_from_db()
    assert job.status == ImportStatus.COMMITTING
    assert "Importing…" in ops_client.get(f"/imports/{job.pk}/").content.decode()
    assert Deal.objects.count() == 0
    assert tasks.commit(job.pk, fresh(org.ops).pk) == ImportStatus.COMMITTED
    assert Deal.objects.count() == 2
    assert "created 2 deals" in text(ops_client.get(f"/imports/{job.pk}/"))
