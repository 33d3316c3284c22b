"""Soak run of the whole system (not part of CI): a private Mosquitto, `gongzhi platform` and
`gongzhi gateway` as processes, and publisher processes that send a known stream at a steady
rate (default 10,000 msg/s for 30 min) the way many devices would: telemetry at QoS 1 (one point a
message, each device about once a second, a per-device ``seq``) and, once a second, a tamper event
from a device that has not sent one yet (each must become exactly one ticket).

While it runs it samples, every ``--sample`` seconds, the resident memory of every process
(VmRSS from /proc) and the gateway's lag (age of the oldest message waiting, receive-to-commit
time of the last batch). At the end it waits for the system to drain and prints one JSON object
per line: the rate achieved, loss (published and acknowledged by the broker, but not stored /
not a ticket), lag, and each process's memory growth per hour (a least-squares slope after the
warm-up, in MB/h and in % of its RSS at the end of the warm-up).

    .venv/bin/python scripts/soak.py                      # 10,000 msg/s for 30 min
    .venv/bin/python scripts/soak.py --rate 2000 --duration 60s
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gongzhi.core.broker import PrivateBroker, free_port
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry

ESTATE = "soak"
PARTIES = ("property_office", "police_room", "residents_committee", "owners_committee",
           "party_committee", "npc_liaison")
WINDOW = 1000  # QoS 1 messages a publisher may have unacknowledged


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


# --- publishers (separate processes) ------------------------------------------------------


def publish(index: int, port: int, devices: list[str], alarm_devices: list[str], rate: float,
            duration_s: float, start_at: float, out: Any) -> None:
    """Send this publisher's share at ``rate`` msg/s until ``duration_s`` has passed; report
    (telemetry acknowledged, alarms acknowledged, seconds behind schedule at the end)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    acked = {"telemetry": 0, "alarm": 0}
    kinds: dict[int, str] = {}
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-pub-{index}")
    client.max_inflight_messages_set(WINDOW)

    def on_publish(c: Any, userdata: Any, mid: int, *rest: Any) -> None:
        acked[kinds.pop(mid, "telemetry")] += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    seq = dict.fromkeys(devices, 0)
    last_ts = dict.fromkeys(devices, 0)
    sent = 0
    alarms_sent = 0
    while time.time() < start_at:
        time.sleep(0.01)
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < duration_s:
        due = int(elapsed * rate)
        if sent >= due:
            time.sleep(min(0.005, (sent + 1) / rate - elapsed))
            continue
        if sent + alarms_sent - acked["telemetry"] - acked["alarm"] >= WINDOW:
            # Back-pressure, as a device waits for its PUBACKs: paho's packet ids wrap at 65535,
            # so an unbounded queue would reuse ids of messages still waiting.
            time.sleep(0.001)
            continue
        if alarms_sent < len(alarm_devices) and elapsed >= alarms_sent:
            device = alarm_devices[alarms_sent]
            body = {"ts": time.time_ns() // 1_000_000 - 1000, "seq": 1, "event": "tamper"}
            info = client.publish(f"estate/{ESTATE}/{device}/event", json.dumps(body), qos=1)
            kinds[info.mid] = "alarm"
            alarms_sent += 1
        device = devices[sent % len(devices)]
        seq[device] += 1
        ts = max(time.time_ns() // 1_000_000 - 2000, last_ts[device] + 1)
        last_ts[device] = ts
        body = {"ts": ts, "seq": seq[device], "values": {"pressure_mpa": 0.3 + sent % 7 / 1000}}
        client.publish(f"estate/{ESTATE}/{device}/telemetry", json.dumps(body), qos=1)
        sent += 1
    behind_s = max(0.0, (int(duration_s * rate) - sent) / rate)
    deadline = time.monotonic() + 120
    while acked["telemetry"] + acked["alarm"] < sent + alarms_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    out.put((index, acked["telemetry"], acked["alarm"], sent, behind_s))


# --- the system ---------------------------------------------------------------------------


@dataclass
class Soak:
    root: Path
    devices: list[str]
    alarm_devices: list[str]
    broker: PrivateBroker
    http_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        records = [DeviceRecord(d, DeviceType.WATER_PRESSURE,
                                Location(ESTATE, f"B{n % 50}", "U1", "1", f"r{n}"))
                   for n, d in enumerate(self.devices)]
        records += [DeviceRecord(d, DeviceType.SMOKE,
                                 Location(ESTATE, f"B{n % 50}", "U2", str(n % 30 + 1), f"s{n}"))
                    for n, d in enumerate(self.alarm_devices)]
        write_registry(self.root / "registry.csv", records)
        self.tokens = {p: f"tok-{p}-{os.urandom(8).hex()}" for p in (*PARTIES, "gateway")}
        (self.root / "tokens.json").write_text(json.dumps(self.tokens))
        self.broker.start()
        self._spawn("platform")
        self._wait(f"http://127.0.0.1:{self.http_port}/healthz")
        self._spawn("gateway")
        self._wait(f"http://127.0.0.1:{self.gateway_port}/healthz", subscribed=True)

    def _spawn(self, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        env.update({"GONGZHI_DATA_DIR": str(self.root), "GONGZHI_MQTT_URL": self.broker.url,
                    "GONGZHI_HTTP_PORT": str(self.http_port),
                    "GONGZHI_GATEWAY_HTTP_PORT": str(self.gateway_port),
                    "GONGZHI_PLATFORM_URL": f"http://127.0.0.1:{self.http_port}",
                    "GONGZHI_LOG_LEVEL": "WARNING"})
        with (self.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "gongzhi.core.cli", name],
                                                env=env, stdout=log, stderr=subprocess.STDOUT)

    def _wait(self, url: str, subscribed: bool = False) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(url, timeout=1)
                if answer.status_code == 200 and (not subscribed
                                                  or answer.json().get("mqtt_connected")):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"soak: {url} did not come up; see the logs in {self.root}")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.broker.stop()

    def pids(self) -> dict[str, int]:
        found = {name: p.pid for name, p in self.procs.items()}
        if self.broker.proc is not None:
            found["broker"] = self.broker.proc.pid
        return found

    def gateway_metrics(self) -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{self.gateway_port}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("gongzhi_gateway_"):
                name, _, value = line.rpartition(" ")
                key = name.split("{")[0].removeprefix("gongzhi_gateway_")
                values[key] = values.get(key, 0.0) + float(value)
        return values

    def tickets(self) -> tuple[int, int]:
        """(alarm devices with a tamper ticket, repeats: extra tickets or occurrences)."""
        answer = httpx.get(f"http://127.0.0.1:{self.http_port}/api/tickets",
                           params={"kind": "tamper", "limit": "5000"}, timeout=30,
                           headers={"Authorization": f"Bearer {self.tokens['police_room']}"})
        answer.raise_for_status()
        tickets = [t for t in answer.json() if t["device_id"] in set(self.alarm_devices)]
        devices = {t["device_id"] for t in tickets}
        return len(devices), sum(int(t["occurrences"]) for t in tickets) - len(devices)

    def stored(self) -> int:
        db = self.root / "telemetry.db"
        if not db.exists():
            return 0
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE "
                                                 "type = 'table' AND name LIKE 'points_%'")]
            return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def growth(samples: list[tuple[float, float]], warmup_s: float) -> tuple[float, float, float]:
    """(MB per hour, % of the post-warm-up RSS per hour, RSS at the end of the warm-up) from a
    least-squares line through the samples after the warm-up."""
    kept = [(t, m) for t, m in samples if t >= warmup_s] or samples
    if len(kept) < 2:
        return 0.0, 0.0, kept[0][1] if kept else 0.0
    slope = statistics.linear_regression([t for t, _ in kept], [m for _, m in kept]).slope
    base = kept[0][1]
    return slope * 3600, slope * 3600 / base * 100 if base else 0.0, base


def emit(name: str, value: Any, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **context}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10_000, help="messages per second")
    parser.add_argument("--duration", default="30m", help="e.g. 60s, 30m, 2h")
    parser.add_argument("--devices", type=int, default=10_000, help="telemetry devices")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", default=None,
                        help="memory warm-up left out of the growth fit (default: a third of "
                             "the run, at most 5m: caches and per-device state fill first)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    duration_s = parse_duration(args.duration)
    warmup_s = parse_duration(args.warmup) if args.warmup else min(300.0, duration_s / 3)
    alarms = int(duration_s)  # one a second
    root = Path(tempfile.mkdtemp(prefix="gongzhi-soak-"))
    soak = Soak(root, [f"wp-{n:06d}" for n in range(args.devices)],
                [f"sm-{n:06d}" for n in range(alarms)],
                PrivateBroker(free_port(), root / "broker"))
    print(f"soak: {args.rate:.0f} msg/s for {duration_s:.0f} s, data in {root}", file=sys.stderr)
    try:
        soak.start()
        return run(soak, args, duration_s, warmup_s)
    finally:
        soak.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(soak: Soak, args: argparse.Namespace, duration_s: float, warmup_s: float) -> int:
    out: mp.Queue[tuple[int, int, int, int, float]] = mp.Queue()
    n = args.publishers
    start_at = time.time() + 1.0
    workers = [mp.Process(target=publish, args=(
        i, soak.broker.port, soak.devices[i::n], soak.alarm_devices[i::n], args.rate / n,
        duration_s, start_at, out)) for i in range(n)]
    for worker in workers:
        worker.start()
    memory: dict[str, list[tuple[float, float]]] = {name: [] for name in soak.pids()}
    lag: list[float] = []
    commit: list[float] = []
    began = time.monotonic()
    time.sleep(1.0)
    while any(w.is_alive() for w in workers):
        elapsed = time.monotonic() - began
        for name, pid in soak.pids().items():
            mb = rss_mb(pid)
            if mb is not None:
                memory[name].append((elapsed, mb))
        try:
            metrics = soak.gateway_metrics()
            lag.append(metrics.get("queue_lag_seconds", 0.0))
            commit.append(metrics.get("last_batch_latency_seconds", 0.0))
        except httpx.HTTPError:
            pass
        print(f"soak: {elapsed:6.0f} s " + " ".join(
            f"{k}={v[-1][1]:.0f}MB" for k, v in memory.items() if v) +
            f" lag={lag[-1] if lag else 0:.2f}s", file=sys.stderr, flush=True)
        deadline = time.monotonic() + args.sample
        while time.monotonic() < deadline and any(w.is_alive() for w in workers):
            time.sleep(0.2)
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join()
    telemetry = sum(r[1] for r in results)
    alarm_count = sum(r[2] for r in results)
    sent = sum(r[3] for r in results)
    behind = max(r[4] for r in results)
    finished = time.monotonic()
    stored, tickets, repeats = 0, 0, 0
    while time.monotonic() - finished < 300:
        stored = soak.stored()
        tickets, repeats = soak.tickets()
        if stored >= telemetry and tickets >= alarm_count:
            break
        time.sleep(2.0)
    drain_s = time.monotonic() - finished
    context = {"rate_target": args.rate, "duration_s": duration_s, "devices": args.devices,
               "publishers": n}
    emit("soak_rate_msgs_per_s", round((sent + alarm_count) / duration_s), "msg/s", **context,
         publisher_behind_s=round(behind, 1))
    emit("soak_telemetry_published", telemetry, "msgs", sent=sent)
    emit("soak_telemetry_loss", telemetry - stored, "msgs", stored=stored)
    emit("soak_alarms_published", alarm_count, "alarms")
    emit("soak_alarm_loss", alarm_count - tickets, "alarms", tickets=tickets, repeats=repeats)
    emit("soak_drain_s", round(drain_s, 1), "s")
    for name, series in (("soak_gateway_queue_lag_s", lag), ("soak_gateway_commit_s", commit)):
        if series:
            ordered = sorted(series)
            emit(name, round(ordered[len(ordered) // 2], 3), "s", max=round(ordered[-1], 3),
                 p99=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3))
    for name, series in memory.items():
        mb_h, pct_h, base = growth(series, warmup_s)
        emit("soak_rss_growth_per_hour", round(pct_h, 2), "%/h", process=name,
             mb_per_hour=round(mb_h, 1), rss_after_warmup_mb=round(base, 1),
             rss_end_mb=round(series[-1][1], 1) if series else None,
             samples=len(series), warmup_s=warmup_s, goal_pct_per_hour=5)
    lost = telemetry - stored + alarm_count - tickets
    return 0 if lost == 0 and repeats == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
