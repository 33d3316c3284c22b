"""Request dependencies: the caller's principal from the bearer token, the service, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gongzhi.core.clock import Clock
from gongzhi.devices.registry import Registry
from gongzhi.devices.registry_watch import RegistryWatch
from gongzhi.hub.auth_limit import AuthFailureLimiter, client_key
from gongzhi.hub.escalator import Escalator
from gongzhi.hub.feed import EventFeed
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.parties import GATEWAY
from gongzhi.hub.service import TicketService
from gongzhi.hub.store.base import Store
from gongzhi.hub.tokens import TokenBook
from gongzhi.hub.webhooks import WebhookSender


@dataclass
class Hub:
    """Everything the routes use; built in the app's lifespan."""

    tokens: TokenBook
    registry: RegistryWatch
    store: Store
    service: TicketService
    feed: EventFeed
    escalator: Escalator
    webhooks: WebhookSender
    metrics: Metrics
    clock: Clock
    keepalive_s: float
    auth_limiter: AuthFailureLimiter


_bearer = HTTPBearer(auto_error=False, description="a party's token, or the gateway's")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_principal(request: Request, hub: HubDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(_bearer)]) -> str:
    """The principal of a valid token (always accepted); otherwise 401, or 429 with Retry-After
    once the client's address has failed too often (``AuthFailureLimiter``). The address is the
    peer's, or the one a trusted proxy forwarded (the server resolves that)."""
    principal = hub.tokens.principal(credentials.credentials) if credentials else None
    if principal is not None:
        return principal
    retry_after = hub.auth_limiter.fail(client_key(request.client.host if request.client
                                                   else None))
    if retry_after is not None:
        hub.metrics.inc("gongzhi_auth_failures_total", answer="429")
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "too many failed authentications from this address; retry later",
                            headers={"Retry-After": str(retry_after)})
    hub.metrics.inc("gongzhi_auth_failures_total", answer="401")
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown bearer token",
                        headers={"WWW-Authenticate": "Bearer"})


def get_party(principal: Annotated[str, Depends(get_principal)]) -> str:
    if principal == GATEWAY:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "gateway_token",
            "message": "the gateway token may only deliver alarms and device states"})
    return principal


def get_gateway(principal: Annotated[str, Depends(get_principal)]) -> str:
    if principal != GATEWAY:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "not_gateway", "message": "only the gateway delivers this"})
    return principal


def get_service(hub: HubDep) -> TicketService:
    return hub.service


def get_clock(hub: HubDep) -> Clock:
    return hub.clock


def get_registry(hub: HubDep) -> Registry:
    return hub.registry()


def get_store(hub: HubDep) -> Store:
    return hub.store


CurrentParty = Annotated[str, Depends(get_party)]
GatewayPrincipal = Annotated[str, Depends(get_gateway)]
ServiceDep = Annotated[TicketService, Depends(get_service)]
ClockDep = Annotated[Clock, Depends(get_clock)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[Store, Depends(get_store)]
