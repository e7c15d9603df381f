"""Import fixtures: the New Business pipeline, the real datasets beside the checkout, a runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salesops.imports.engine import run_import
from salesops.imports.targets import get_preset
from tests.conftest import fresh
from tests.crm.conftest import pipeline, stage  # noqa: F401 - fixtures and helper re-used here

# ../shared/data beside the checkout (the datasets are not ours to copy into the repository);
# SALESOPS_SHARED_DATA points elsewhere, e.g. for a checkout that does not sit beside it.
DATA = Path(
    os.environ.get("SALESOPS_SHARED_DATA")
    or Path(__file__).resolve().parents[3] / "shared" / "data"
)


def dataset(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.fail(f"The shared dataset {path} is missing: it must sit beside the checkout.")
    return path


def import_file(user, path: Path | str, *, preset: str | None = None, target: str | None = None,
                mapping: dict | None = None, content: bytes | None = None, commit: bool = True,
                **option_overrides) -> dict:  # fmt: skip
    """Run an import (commit by default) and return its report."""
    if preset is not None:
        chosen = get_preset(preset)
        target = chosen.target
        mapping = {
            "fields": dict(chosen.mapping["fields"]),
            "options": {**chosen.mapping["options"], **option_overrides},
        }
    name = Path(path).name
    data = content if content is not None else Path(path).read_bytes()
    outcome = run_import(
        content=data, file_name=name, target_key=target, mapping=mapping,
        acting_user=fresh(user), commit=commit,
    )  # fmt: skip
    return outcome.report


@pytest.fixture
def ops(org):
    return fresh(org.ops)


@pytest.fixture
def admin(org):
    return fresh(org.admin)
