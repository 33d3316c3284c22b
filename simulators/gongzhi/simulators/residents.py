"""A stream of residents' reports for the demo: simulated residents scan their building's QR code
and report what they see (a blocked fire exit, an e-bike charging in a corridor, a leak, a broken
light, illegal construction), at random intervals, sometimes with a photo or a phone number,
through the platform's report API as the phone page does. Every choice comes from the injected
random source: the same seed gives the same reports."""

from __future__ import annotations

import base64
import io
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gongzhi.core.stopping import StopFlag

log = logging.getLogger(__name__)

# What residents write, per category (the platform's category ids).
TEXTS: dict[str, tuple[str, ...]] = {
    "fire_exit": ("楼梯间堆满纸箱，消防通道走不通", "安全出口被锁住了", "一楼消防通道停了三轮车"),
    "ebike": ("有人把电动车推进楼道充电", "电动车停在楼梯口挡路", "楼上飞线充电，电线从窗户垂下来"),
    "water_leak": ("楼顶水箱在漏水", "楼道里水管爆了，地上都是水", "楼上往下渗水"),
    "facility": ("三楼楼道灯不亮", "电梯停在五楼不动", "单元门禁坏了"),
    "construction": ("顶楼有人在搭违建", "一楼住户私自扩建院子", "有人在阳台外搭铁架"),
    "other": ("垃圾几天没清运了", "晚上楼下噪音很大", "小区里有流浪狗"),
}
WEIGHTS = {"fire_exit": 3, "ebike": 3, "water_leak": 2, "facility": 4, "construction": 1,
           "other": 2}


@dataclass(frozen=True, slots=True)
class PlannedReport:
    wait_s: float  # before sending it
    building_token: str
    device: str  # the simulated phone's cookie
    body: dict[str, Any]


def photo(rng: random.Random) -> bytes:
    """A small random picture, as a phone would send (JPEG)."""
    from PIL import Image

    image = Image.new("RGB", (320, 240), (rng.randrange(256), rng.randrange(256), 90))
    for _ in range(12):
        x, y = rng.randrange(300), rng.randrange(220)
        image.paste((rng.randrange(256), 60, rng.randrange(256)), (x, y, x + 20, y + 20))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


def plan(rng: random.Random, building_tokens: Sequence[str], *, mean_interval_s: float,
         residents: int = 200) -> Iterator[PlannedReport]:
    """Reports without end: exponential gaps, a resident (phone) per report drawn from a pool,
    one in five with a photo, one in three with a phone number."""
    phones = [f"devsim-{rng.getrandbits(64):016x}" for _ in range(residents)]
    categories = list(WEIGHTS)
    while True:
        category = rng.choices(categories, weights=[WEIGHTS[c] for c in categories])[0]
        body: dict[str, Any] = {"category": category, "text": rng.choice(TEXTS[category]),
                                "phone": None, "photos": []}
        if rng.random() < 1 / 3:
            body["phone"] = f"13{rng.randrange(10**9):09d}"
        if rng.random() < 0.2:
            body["photos"] = [base64.b64encode(photo(rng)).decode("ascii")]
        yield PlannedReport(rng.expovariate(1 / mean_interval_s), rng.choice(building_tokens),
                            rng.choice(phones), body)


# (building token, device cookie, body) -> (HTTP status, answer JSON, Retry-After seconds)
Poster = Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any], float | None]]


def run(reports: Iterator[PlannedReport], post: Poster, stop: StopFlag, *,
        count: int | None = None) -> int:
    """Send the planned reports until ``stop`` is set (or ``count`` were accepted); waits on
    ``stop``, so a stop ends the wait for the next report (a signal's within ``POLL_S``). A
    report over a limit (429) is not retried: the next one waits its turn. Returns how many
    were accepted."""
    accepted = 0
    for planned in reports:
        if count is not None and accepted >= count:
            break
        if stop.wait(planned.wait_s):
            break
        status, answer, retry_after = post(planned.building_token, planned.device, planned.body)
        if status == 201:
            accepted += 1
            log.info("report %s (%s) made", answer.get("report_id"), planned.body["category"])
        elif status == 429:
            log.info("limited (%s); pausing %.0f s", answer.get("detail"), retry_after or 60)
            if stop.wait(min(retry_after or 60.0, 600.0)):
                break
        else:
            log.warning("report refused with %d: %s", status, answer.get("detail"))
    return accepted
