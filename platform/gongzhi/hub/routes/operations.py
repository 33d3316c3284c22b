"""The system's own health for the control room: gateways report theirs, the wall reads what is
wrong (``gongzhi.hub.operations``), and ``/readyz`` answers 503 while the database is away."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from gongzhi.core.config_kit import ID_CHARS
from gongzhi.hub.deps import CurrentParty, GatewayPrincipal, HubDep
from gongzhi.hub.operations import GatewayReport, OperationsBoard
from gongzhi.hub.schemas import NO_NUL, json_number

router = APIRouter(tags=["operations"])

_ID = rf"^{ID_CHARS}$"
MAX_PROBLEMS = 20  # a gateway's problems in one report
MAX_PROBLEM_CHARS = 500
MAX_INT = 2**53 - 1
# JSON numbers only (not true or "3"), and 3.0 is 3 as JSON Schema has it.
Count = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(json_number)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewayStatusIn(_Strict):
    """What a gateway reports about itself every couple of seconds."""

    gateway_id: str = Field(pattern=_ID)
    alarms_waiting: Count = Field(description="alarms in its outbox not yet delivered")
    oldest_waiting_age_ms: Count | None = Field(
        default=None, description="how long the oldest of them has waited")
    alarms_refused: Count = 0
    worker_alive: StrictBool = True
    worker_stalled_ms: Count = Field(
        default=0, description="how long no batch was acknowledged while messages waited")
    mqtt_connected: StrictBool = True
    queue_depth: Count = 0
    messages_rejected: Count = 0
    problems: list[Annotated[str, Field(min_length=1, max_length=MAX_PROBLEM_CHARS,
                                        pattern=NO_NUL)]] = Field(
        default=[], max_length=MAX_PROBLEMS,
        description="what the gateway cannot do as it should, in its words (a banner each)")


class GatewayStatusAccepted(_Strict):
    heard_ms: int


class Problem(_Strict):
    kind: str = Field(description="alarms_waiting, worker_stalled, broker_disconnected, "
                                  "gateway_silent, gateway_problem or database_unreachable")
    message: str
    since_ms: int | None
    gateway_id: str | None = None
    count: int | None = None
    detail: str | None = Field(default=None, description="a gateway_problem in the gateway's "
                                                         "own words")


class GatewayPublic(_Strict):
    gateway_id: str
    heard_ms: int
    alarms_waiting: int
    waiting_since_ms: int | None
    alarms_refused: int
    worker_alive: bool
    worker_stalled_ms: int
    mqtt_connected: bool
    queue_depth: int
    messages_rejected: int
    problems: list[str]


class DatabaseState(_Strict):
    reachable: bool
    since_ms: int


class OperationsStatus(_Strict):
    ok: bool = Field(description="nothing for the control room to worry about")
    now_ms: int
    problems: list[Problem]
    database: DatabaseState
    gateways: list[GatewayPublic]


def get_board(request: Request) -> OperationsBoard:
    board: OperationsBoard = request.app.state.operations
    return board


BoardDep = Annotated[OperationsBoard, Depends(get_board)]


@router.post("/api/gateway-status", response_model=GatewayStatusAccepted)
def gateway_status(body: GatewayStatusIn, _gateway: GatewayPrincipal, hub: HubDep,
                   board: BoardDep) -> dict[str, Any]:
    """A gateway's health (no database involved: it is heard even while the database is
    away)."""
    now = hub.clock.now_ms()
    report = body.model_dump()
    board.heard(GatewayReport(heard_ms=now, **report | {"problems": tuple(report["problems"])}))
    return {"heard_ms": now}


@router.get("/api/operations", response_model=OperationsStatus)
def operations(_party: CurrentParty, board: BoardDep) -> dict[str, Any]:
    """What is wrong with the system itself (alarms held at a gateway, a silent gateway, the
    database away): the wall shows each problem as a banner."""
    return board.snapshot()


@router.get("/readyz", responses={503: {"description": "the database does not answer"}})
async def readyz(hub: HubDep, board: BoardDep) -> JSONResponse:
    """Ready while the database answers (checked now)."""
    reachable = await to_thread.run_sync(hub.store.ping)
    board.database_checked(reachable)
    return JSONResponse({"ready": reachable, "database": "reachable" if reachable else
                         "unreachable"}, status_code=200 if reachable else 503)
