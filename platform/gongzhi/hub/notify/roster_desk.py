"""The duty desk: what the platform knows about people — the rosters, the link signer and the
maintenance windows — built once from the settings (blocking: it reads files) and shared by the
routes and the re-notification task."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import Request

from gongzhi.core.settings import Settings
from gongzhi.hub.notify.links import LinkSigner, load_or_create_secret
from gongzhi.hub.notify.roster import Rosters, load_rosters
from gongzhi.hub.notify.windows import WindowRepository


@dataclass(frozen=True)
class DutyDesk:
    rosters: Rosters
    links: LinkSigner
    windows: WindowRepository

    @property
    def zone(self) -> ZoneInfo:
        return self.rosters.zone


def build_desk(settings: Settings, windows: WindowRepository) -> DutyDesk:
    rosters = load_rosters(settings.rosters)
    configured = rosters.links.secret.reveal() if rosters.links.secret else None
    secret = load_or_create_secret(settings.data_dir, configured)
    signer = LinkSigner(secret, settings.platform_url, ttl_ms=rosters.links.ttl_ms)
    return DutyDesk(rosters, signer, windows)


def get_desk(request: Request) -> DutyDesk:
    """The desk of the running app (set by the lifespan)."""
    desk: DutyDesk = request.app.state.duty_desk
    return desk
