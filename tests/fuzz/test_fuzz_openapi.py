"""Schema-driven fuzzing of the platform's HTTP API with Schemathesis: requests generated from
the OpenAPI document the platform serves, sent to the real application (SQLite, registry and
tokens in a temporary directory), each answer checked against the document with every check
Schemathesis has: no 5xx, a declared status code, a body matching its declared schema, declared
content type and headers, schema-violating requests refused, valid ones accepted, answers without
or with a wrong token refused, undeclared methods refused.

Every operation is called with a valid token (a party's; the gateway's for the gateway's own
operations), so the run explores the operations; the authentication checks probe without it.
``GET /api/stream`` (server push, an endless response) is read until its first event or for
half a second. ``FUZZ_EXAMPLES`` sets the cases per operation (150 here; ``make fuzz`` runs
more); an operation without parameters has one case."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.deps import get_gateway
from gongzhi.hub.openapi_guards import REFUSING, refusals
from gongzhi.hub.tokens import new_tokens, write_tokens

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
# The event stream never ends: each case reads it until its first event or for this long.
STREAM_READ_S = 0.5
PARTY = "property_office"
DEVICES = [
    DeviceRecord("smk-1", DeviceType.SMOKE, Location("e1", "B1", "U1", "3", "301"),
                 elderly_alone=True, household="H301", phone="13812341234"),
    DeviceRecord("wp-1", DeviceType.WATER_PRESSURE, Location("e1", "B1", "U1", "1", "pump"),
                 riser="R1"),
    DeviceRecord("el-1", DeviceType.ELECTRICAL, Location("e1", "B2", "U1", "2", "201"),
                 household="H201"),
]
# Valid data is expected to be accepted, but some refusals depend on facts no schema states:
# an alarm of a device the registry lacks (422), a metric the device does not measure or a
# window longer than a day (422), a maintenance window that ends before it starts or in the
# past (422), and free-form parts (an alarm's evidence, a batch's entries) holding what no
# store keeps (NUL, nesting past 64 levels: 422; every typed string declares it), a resident's
# photo that is no picture (422). Everywhere else a valid request must not get 422.
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
# The principals' tokens: written to the app's tokens file by the fixture, and given to
# Schemathesis as the credentials of each operation (the gateway's for its own operations), so
# its authentication checks know what a valid token is and probe without it.
TOKENS = new_tokens()


def config(principal: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "auth": {"openapi": {"HTTPBearer": {"bearer": TOKENS[principal]}}},
        "operations": [
            {"include-path": path,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}}}
            for path in ("/api/alarms", "/api/alarms/batch", "/api/trends/series",
                         "/api/windows", "/api/reports")
        ] + [{"include-path": "/api/stream", "max-stream-events": 1,
              "request-timeout": STREAM_READ_S}]})


# The application the cases go to, in process. Declaring it does no I/O: its files are written
# and its store opened by the fixture (the app's lifespan), in a directory of its own.
DATA_DIR = Path(tempfile.gettempdir()) / f"gongzhi-fuzz-openapi-{os.getpid()}"
# The checks probe every operation without a token thousands of times from one address: with
# the limit of 10 failures a minute they would meet 429 (declared, and tested in tests/hub)
# instead of the 401 they look for.
# FUZZ_DATABASE_URL: an empty PostgreSQL database instead of SQLite.
DATABASE_URL = os.environ.get("FUZZ_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'p.db'}"
APP = create_app(Settings(data_dir=DATA_DIR, database_url=DATABASE_URL),
                 background=False, auth_failure_limit=10**9)


def schema_as(principal: str) -> Any:
    """The document's operations, called with ``principal``'s token."""
    loaded = schemathesis.openapi.from_dict(APP.openapi(), config=config(principal))
    loaded.config.update(base_url=f"http://{asgi.HOST}")
    loaded.app = APP  # every case, and every probe of the checks, goes to APP (ASGI transport)
    return loaded


schema = schema_as(PARTY)
gateway_schema = schema_as("gateway")
# The operations only the gateway's token may call (alarms, device states, its status).
GATEWAY_PATHS = sorted({path for (path, _), why in refusals(APP).items()
                        if why == REFUSING[get_gateway]})


@pytest.fixture(scope="module")
def tokens() -> Iterator[dict[str, str]]:
    DATA_DIR.mkdir()
    try:
        write_registry(DATA_DIR / "registry.csv", DEVICES)
        found = TOKENS
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


# The suite's run draws the same cases every time: it passes or fails by the code, not by the
# draw, and what it shows is reproduced by running it again. ``make fuzz`` (FUZZ_EXAMPLES set)
# draws new cases at every run, to find what the fixed draw does not.
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                         derandomize="FUZZ_EXAMPLES" not in os.environ,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                HealthCheck.function_scoped_fixture])


@pytest.mark.timeout(600 + EXAMPLES * STREAM_READ_S)
@schema.exclude(path=GATEWAY_PATHS).parametrize()
@FUZZ_SETTINGS
def test_every_party_operation_honours_its_declared_responses(
        case: Any, tokens: dict[str, str]) -> None:
    del tokens  # the fixture wrote them and started the app; Schemathesis sends them
    case.call_and_validate()


# (exclude, not include: Schemathesis 4.32 ignores include() once a config has [[operations]])
@gateway_schema.exclude(path_regex=f"^(?!({'|'.join(map(re.escape, GATEWAY_PATHS))})$)"
                        ).parametrize()
@FUZZ_SETTINGS
def test_every_gateway_operation_honours_its_declared_responses(
        case: Any, tokens: dict[str, str]) -> None:
    del tokens
    case.call_and_validate()


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
