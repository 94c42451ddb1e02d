"""Fixtures for the codec and registry tests: one real embedded registry per session."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from schemas.catalogue import default_catalogue
from schemas.registry.client import RegistryClient
from schemas.registry.server import EmbeddedRegistry


# Session-scoped clients: building an httpx client costs ~50 ms (its TLS context).
@pytest.fixture(scope="session")
def client(registry: EmbeddedRegistry) -> Iterator[RegistryClient]:
    with RegistryClient(registry.url) as registry_client:
        yield registry_client


@pytest.fixture(scope="session")
def http(registry: EmbeddedRegistry) -> Iterator[httpx.Client]:
    """Raw HTTP to the registry, for what the typed client would never send."""
    with httpx.Client(base_url=registry.url) as raw:
        yield raw


@pytest.fixture
def subject() -> str:
    """A subject no other test uses, since the registry lives for the whole session."""
    return f"test.{uuid.uuid4().hex[:12]}-value"


@pytest.fixture
def fresh_schema() -> dict[str, Any]:
    """A record schema no other test registers, so its id and versions start fresh."""
    return {
        "type": "record",
        "name": f"Probe{uuid.uuid4().hex[:12]}",
        "namespace": "vn.lgsp.test",
        "fields": [{"name": "value", "type": "string"}],
    }


@pytest.fixture(scope="session")
def person_schema() -> dict[str, Any]:
    return default_catalogue().dataset("citizen.person").avro_schema()


@pytest.fixture
def person() -> dict[str, Any]:
    return {
        "personal_id": "042190001234",
        "full_name": "Nguyễn Thị Hồng Nhung",
        "date_of_birth": dt.date(1990, 5, 17),
        "gender": "FEMALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18070",
        "permanent_residence": {
            "commune_code": "18070",
            "address": "Số 12, đường Phan Đình Phùng, Phường Thành Sen",
        },
        "current_residence": {
            "commune_code": "18073",
            "address": "Ngõ 5, đường Hà Huy Tập, Phường Trần Phú",
        },
        "father_id": "042160000123",
        "mother_id": None,
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": dt.datetime(2025, 7, 1, 8, 30, 15, 123000, tzinfo=dt.UTC),
    }
