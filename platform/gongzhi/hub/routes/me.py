"""Who the caller is and which views it may use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gongzhi.hub.deps import CurrentParty
from gongzhi.hub.parties import SUPERVISORS
from gongzhi.hub.privacy import VIEWS, access_of
from gongzhi.hub.schemas import Me

router = APIRouter(prefix="/api", tags=["parties"])


@router.get("/me", response_model=Me)
def me(party: CurrentParty) -> dict[str, Any]:
    return {"party": party, "views": list(VIEWS.get(party, ())),
            "personal_data": access_of(party).name.lower(),
            "read_only": party in SUPERVISORS}
