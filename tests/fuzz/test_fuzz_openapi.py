"""Schema-driven fuzzing of the platform's HTTP API with Schemathesis: requests generated from
the OpenAPI document the platform serves, sent to the real application (SQLite, registry and
tokens in a temporary directory), each answer checked against the document: no 5xx, a declared
status code, a body matching its declared schema, declared content type and headers.

Every operation is called with a valid token (a party's; the gateway's for the gateway's own
operations), so the run explores the operations rather than the authentication, which the
platform's own tests cover. ``GET /api/stream`` (server push, an endless response) is left out.
Bounded: 14 generated cases per operation, some 200 in all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens

# Left to other tests, with the reason:
# - ignored_auth probes without a token; the platform answers repeated failures from one address
#   with 429 (by design, see docs/security.md), which this check does not expect; tests/hub
#   covers authentication.
# - negative_data_rejection wants undeclared query parameters and headers refused (the platform
#   ignores them, as HTTP services do), and counts a case whose token this test put back as
#   "accepted without authentication". Invalid data still runs through every other check: no
#   5xx, a declared status, a body matching its schema.
NOT_CHECKED = [ignored_auth, negative_data_rejection]
GATEWAY_PATHS = frozenset({"/api/alarms", "/api/device-states"})
PARTY = "property_office"
DEVICES = [
    DeviceRecord("smk-1", DeviceType.SMOKE, Location("e1", "B1", "U1", "3", "301"),
                 elderly_alone=True, household="H301", phone="13812341234"),
    DeviceRecord("wp-1", DeviceType.WATER_PRESSURE, Location("e1", "B1", "U1", "1", "pump"),
                 riser="R1"),
    DeviceRecord("el-1", DeviceType.ELECTRICAL, Location("e1", "B2", "U1", "2", "201"),
                 household="H201"),
]


# The application the cases go to, in process. Declaring it does no I/O: its files are written
# and its store opened by the fixture (the app's lifespan), in a directory of its own.
DATA_DIR = Path(tempfile.gettempdir()) / f"gongzhi-fuzz-openapi-{os.getpid()}"
APP = create_app(Settings(data_dir=DATA_DIR, database_url=f"sqlite:///{DATA_DIR / 'p.db'}"),
                 background=False)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.config.update(base_url=f"http://{asgi.HOST}")
schema.app = APP  # every case, and every probe of the checks, goes to APP (ASGI transport)


@pytest.fixture(scope="module")
def tokens() -> Iterator[dict[str, str]]:
    DATA_DIR.mkdir()
    try:
        write_registry(DATA_DIR / "registry.csv", DEVICES)
        found = new_tokens()
        write_tokens(DATA_DIR / "tokens.json", found)
        with asgi.get_client(APP) as client:  # starts the app's lifespan: store opened
            seed_tickets(client, found)
        yield found
    finally:
        asgi.shutdown_lifespans()  # the store is closed, as when the process exits
        shutil.rmtree(DATA_DIR, ignore_errors=True)


def seed_tickets(client: Any, tokens: dict[str, str]) -> None:
    """A few tickets, so ids 1-3 exist and actions meet real states."""
    for n, (kind, device) in enumerate([(AlarmKind.SMOKE_ALARM, "smk-1"),
                                        (AlarmKind.WATER_PRESSURE_LOW, "wp-1"),
                                        (AlarmKind.ELECTRICAL_LEAKAGE, "el-1")]):
        body = Alarm(f"al-fuzz-{n}", kind, device, "e1", 1_767_225_600_000 + n,
                     evidence={"rule": "fuzz"}).to_dict()
        answer = client.post("/api/alarms", json=body,
                             headers={"Authorization": f"Bearer {tokens['gateway']}"})
        assert answer.status_code == 200, answer.text


@schema.exclude(path="/api/stream").parametrize()
@settings(max_examples=14, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation_honours_its_declared_responses(case: Any,
                                                        tokens: dict[str, str]) -> None:
    token = tokens["gateway" if case.operation.path in GATEWAY_PATHS else PARTY]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=NOT_CHECKED)


def test_the_document_declares_every_operation() -> None:
    """The run above covers the API: the gateway's and the parties' operations are declared."""
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert ("POST", "/api/alarms") in operations
    assert ("POST", "/api/tickets/{ticket_id}/actions") in operations
    assert len(operations) >= 15


# Found by this run (each once answered 500, or 200 to a boolean for a number): kept as examples.
@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/alarms", {"alarm_id": "a", "kind": "tamper", "device_id": "smk-1",
                             "estate_id": "e1", "ts_ms": 2**64}),
    ("POST", "/api/alarms", {"alarm_id": "a", "kind": "tamper", "device_id": "smk-1",
                             "estate_id": "e1", "ts_ms": False}),
    ("POST", "/api/device-states", {"devices": [{"device_id": "wp-1", "last_seen_ms": 2**63}]}),
    ("POST", "/api/device-states", {"devices": [{"device_id": "wp-1",
                                                 "values": {"pressure_mpa": True}}]}),
    ("GET", f"/api/tickets/{2**63}", None),
    ("POST", f"/api/tickets/{2**63}/actions", {"action": "ack"}),
    ("GET", f"/api/tickets?since={2**64}", None),
])
def test_numbers_beyond_the_stores_are_refused_as_invalid(
        tokens: dict[str, str], method: str, path: str, body: Any) -> None:
    token = tokens["gateway" if path in GATEWAY_PATHS else PARTY]
    with asgi.get_client(APP) as client:
        answer = client.request(method, path, json=body,
                                headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422, answer.text
