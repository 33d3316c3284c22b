"""``gongzhi gateway --workers N``: real supervisor and worker processes on a real broker. Each
device lands on exactly one worker, which is sent only its own estates; a killed worker is started
again, loudly; the supervisor stops its workers on SIGTERM whatever it inherited, and none
outlives it even when it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from gateway_support import TOKEN, AlarmPeer, Publisher, wait_until, write_test_registry

from gongzhi.core.cli import main as cli_main
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import load_settings
from gongzhi.devices.registry import Registry, load_registry
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.subscriptions import device_filters
from gongzhi.gateway.workers import (
    WorkerSpec,
    label_metrics,
    worker_environment,
    worker_partition,
    worker_specs,
)
from tests.conftest import Broker, free_port

ESTATES = [f"estate-{n}" for n in range(8)]
DEVICES = [(f"{e}-w{k}", "water_pressure", e, f"b{k % 2}", False)
           for e in ESTATES for k in range(3)]


# --- the parts, one at a time ---------------------------------------------------------------

@pytest.mark.parametrize(("machine", "workers"), [("0/1", 2), ("0/1", 3), ("1/2", 2),
                                                  ("2/3", 4)])
def test_workers_split_exactly_their_machines_share(machine: str, workers: int) -> None:
    mine = Partition.parse(machine)
    shares = [worker_partition(mine, j, workers) for j in range(workers)]
    for n in range(500):
        estate = f"estate-{n}"
        owners = [j for j, share in enumerate(shares) if share.owns(estate)]
        assert len(owners) == (1 if mine.owns(estate) else 0), estate


def test_workers_refuse_a_partition_by_building() -> None:
    with pytest.raises(ConfigError, match="by estate"):
        worker_partition(Partition.parse("0/2/building"), 0, 2)


def test_owned_filters_name_the_shares_estates(tmp_path: Path) -> None:
    registry = load_registry(write_test_registry(tmp_path / "r.csv", DEVICES))
    half = Partition(0, 2)
    owned = {e for e in ESTATES if half.owns(e)}
    assert device_filters("owned", half, None, registry) == [
        f"estate/{e}/+/+" for e in sorted(owned)]
    assert device_filters("owned", half, "g", registry)[0].startswith("$share/g/estate/")
    assert device_filters("all", half, None, registry) == ["estate/+/+/+"]
    assert device_filters("owned", Partition(), None, Registry([])) == []
    with pytest.raises(ConfigError, match="by estate"):
        device_filters("owned", Partition.parse("0/2/building"), None, registry)


def test_worker_environment_carries_every_given_setting_and_its_own_share(tmp_path: Path) -> None:
    settings = load_settings(environ={"GONGZHI_MQTT_URL": "mqtt://gw:secret@broker:1883"},
                             gateway_workers=2, data_dir=tmp_path)
    spec = WorkerSpec(1, "gateway-w1", Partition(1, 2), 41234)
    env = worker_environment(settings, spec, {"PATH": "/bin", "GONGZHI_TYPO": "x"})
    assert env["PATH"] == "/bin" and "GONGZHI_TYPO" not in env
    assert env["GONGZHI_MQTT_URL"] == "mqtt://gw:secret@broker:1883"
    assert env["GONGZHI_DATA_DIR"] == str(tmp_path)
    assert (env["GONGZHI_GATEWAY_PARTITION"], env["GONGZHI_GATEWAY_ID"],
            env["GONGZHI_GATEWAY_HTTP_PORT"], env["GONGZHI_HTTP_HOST"],
            env["GONGZHI_GATEWAY_WORKERS"], env["GONGZHI_GATEWAY_SUBSCRIBE"]) == (
        "1/2", "gateway-w1", "41234", "127.0.0.1", "1", "owned")
    load_settings(env)  # a worker starts from exactly this
    chosen = load_settings(environ={}, gateway_subscribe="all")
    assert worker_environment(chosen, spec, {})["GONGZHI_GATEWAY_SUBSCRIBE"] == "all"


def test_each_worker_may_have_an_mqtt_user_of_its_own() -> None:
    urls = "mqtt://gw-w0:a@broker:1883 mqtt://gw-w1:b@broker:1883"
    settings = load_settings(environ={}, gateway_worker_mqtt_urls=urls)
    specs = worker_specs(settings, 2, [1, 2])
    envs = [worker_environment(settings, spec, {}) for spec in specs]
    assert [e["GONGZHI_MQTT_URL"] for e in envs] == urls.split()
    assert not [e for e in envs if "GONGZHI_GATEWAY_WORKER_MQTT_URLS" in e]
    with pytest.raises(ConfigError, match="2 URLs for 3 workers"):
        worker_specs(settings, 3, [1, 2, 3])
    same = load_settings(environ={}, gateway_worker_mqtt_urls="mqtt://a@b mqtt://a@b")
    with pytest.raises(ConfigError, match="of its own"):
        worker_specs(same, 2, [1, 2])


def test_metrics_of_workers_are_labelled_and_grouped_per_family() -> None:
    text = ("# HELP g_x things\n# TYPE g_x counter\ng_x 3\ng_y{reason=\"a\"} 1\n"
            "# HELP g_z gauge\n# TYPE g_z gauge\ng_z 0.5\n")
    merged = label_metrics([("0", text), ("1", text.replace("3", "4"))]).splitlines()
    assert merged == ["# HELP g_x things", "# TYPE g_x counter", 'g_x{worker="0"} 3',
                      'g_y{worker="0",reason="a"} 1', 'g_x{worker="1"} 4',
                      'g_y{worker="1",reason="a"} 1', "# HELP g_z gauge", "# TYPE g_z gauge",
                      'g_z{worker="0"} 0.5', 'g_z{worker="1"} 0.5']


def test_a_building_partition_with_workers_is_a_configuration_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["gateway", "--workers", "2", "--gateway-partition", "0/2/building",
                     "--data-dir", str(tmp_path), "--gateway-http-port", "0",
                     "--gateway-token", TOKEN])
    assert code == 2
    assert "needs a partition by estate" in capsys.readouterr().err


def test_an_owned_subscription_follows_the_registry(start_gateway: Any, registry_file: Path,
                                                    publisher: Publisher) -> None:
    write_test_registry(registry_file, DEVICES[:3])  # estate-0 only
    gateway: GatewayService = start_gateway(gateway_subscribe="owned")
    publisher.publish("estate/estate-1/estate-1-w0/telemetry", reading(1))
    write_test_registry(registry_file, DEVICES[:6])  # estate-1 joins
    wait_until(lambda: gateway.metrics.total("registry_reloads_total") >= 1, what="reload")
    # The subscription is in place once a message published now arrives.
    wait_until(lambda: _publish_and_count(publisher, gateway), what="estate-1 subscribed")
    # What estate-1 published before it was in the registry reached no one (documented).
    assert gateway.metrics.total("messages_rejected_total") == 0


def reading(seq: int) -> dict[str, Any]:
    return {"ts": time.time_ns() // 1_000_000, "seq": seq, "values": {"pressure_mpa": 0.3}}


def _publish_and_count(publisher: Publisher, gateway: GatewayService) -> bool:
    publisher.publish("estate/estate-1/estate-1-w1/telemetry", reading(2))
    time.sleep(0.1)
    return gateway.metrics.total("messages_processed_total") > 0


# --- the supervisor and its workers as real processes ----------------------------------------

class Supervisor:
    """``gongzhi gateway --workers N`` as a process of its own, with its status port."""

    def __init__(self, data_dir: Path, broker: Broker, peer: AlarmPeer, workers: int,
                 ignore_signals: bool = False) -> None:
        self.port = free_port()
        self.log = data_dir / f"supervisor-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        env.update(GONGZHI_DATA_DIR=str(data_dir), GONGZHI_MQTT_URL=broker.url,
                   GONGZHI_PLATFORM_URL=peer.url, GONGZHI_GATEWAY_TOKEN=TOKEN,
                   GONGZHI_REGISTRY=str(data_dir / "registry.csv"),
                   GONGZHI_GATEWAY_HTTP_PORT=str(self.port))

        def inherit_ignored() -> None:  # as from a shell's background job
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gongzhi.core.cli", "gateway", "--workers", str(workers)],
                env=env, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=inherit_ignored if ignore_signals else None)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=5) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read(), exc.code
        if path.startswith("/metrics"):
            return status, body.decode()
        return status, orjson.loads(body)

    def ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        return [w["pid"] for w in self.get("/healthz")[1]["workers"]]

    def samples(self, name: str) -> dict[str, float]:
        """Per worker, the sum of ``name``'s samples."""
        out: dict[str, float] = {}
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name + "{"):
                worker = line.split('worker="', 1)[1].split('"', 1)[0]
                out[worker] = out.get(worker, 0.0) + float(line.rsplit(" ", 1)[1])
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture
def supervisors(data_dir: Path, broker: Broker, peer: AlarmPeer) -> Iterator[Any]:
    write_test_registry(data_dir / "registry.csv", DEVICES)
    started: list[Supervisor] = []
    pids: list[int] = []

    def start(workers: int = 2, **kw: Any) -> Supervisor:
        sup = Supervisor(data_dir, broker, peer, workers, **kw)
        started.append(sup)
        wait_until(sup.ready, timeout_s=60, what="every worker subscribed")
        pids.extend(sup.worker_pids())
        return sup

    try:
        yield start
    finally:
        for sup in started:
            sup.stop()
        for pid in pids:  # whatever a test did, no worker outlives it
            wait_until(lambda p=pid: not alive(p), timeout_s=30, what=f"worker {pid} gone")


@pytest.mark.integration
def test_each_worker_takes_only_its_own_estates_and_reloads_on_sighup(
        supervisors: Any, publisher: Publisher, peer: AlarmPeer) -> None:
    sup = supervisors(2)
    status, health = sup.get("/healthz")
    assert status == 200 and [w["partition"] for w in health["workers"]] == ["0/2", "1/2"]
    t0 = time.time_ns() // 1_000_000 - 60_000
    expected = {"0": 0, "1": 0}
    events = set()
    for n in range(5):
        for device, _, estate, _, _ in DEVICES:
            publisher.publish(f"estate/{estate}/{device}/telemetry",
                              {"ts": t0 + n, "seq": n, "values": {"pressure_mpa": 0.3}})
            expected[str(zlib.crc32(estate.encode()) % 2)] += 1
            if n == 2:
                publisher.publish(f"estate/{estate}/{device}/event",
                                  {"ts": t0 + n, "seq": 100 + n, "event": "tamper"})
                expected[str(zlib.crc32(estate.encode()) % 2)] += 1
                events.add((device, t0 + n))
    assert min(expected.values()) > 0, "the test needs estates in both shares"
    wait_until(lambda: sup.samples("gongzhi_gateway_messages_processed_total") == expected,
               timeout_s=30, what="every message processed by its estate's worker")
    # Each worker was sent its own share only: nothing to skip, nothing received twice.
    assert sup.samples("gongzhi_gateway_messages_received_total") == expected
    assert sum(sup.samples("gongzhi_gateway_messages_skipped_total").values()) == 0
    wait_until(lambda: len(peer.deliveries) == len(events), what="every alarm")
    assert {(a["device_id"], a["ts_ms"]) for a in peer.deliveries} == events
    assert sup.get("/dead-letters?limit=5")[0] == 200
    # SIGHUP reaches every worker: each reloads the registry although the file is unchanged.
    sup.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: sup.samples("gongzhi_gateway_registry_reloads_total") == {"0": 1, "1": 1},
               what="both workers reloaded")


@pytest.mark.integration
def test_a_killed_worker_is_started_again_loudly(supervisors: Any,
                                                 publisher: Publisher) -> None:
    sup = supervisors(2)
    # Restarts counted from here: a worker that exited while the supervisor started is started
    # again before the test's kill (once in a full CI run: restarts 2 after one kill); this
    # test is about the kill. A failure says both healths and the supervisor's log.
    before = sup.get("/healthz")[1]["workers"]
    victim, other = (w["pid"] for w in before)
    restarts = before[0]["restarts"]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: sup.get("/healthz")[0] == 503 or victim not in sup.worker_pids(),
               what="the death noticed")
    wait_until(sup.ready, timeout_s=60, what="the worker back and subscribed")
    health = sup.get("/healthz")[1]["workers"]
    log = sup.log.read_text()  # (the exit is logged before the worker is started again)
    said = f"{before} -> {health}; the supervisor's log:\n{log[-4000:]}"
    assert health[0]["pid"] not in (victim, None) and health[1]["pid"] == other, said
    assert (health[0]["restarts"], health[0]["last_exit"]) == (restarts + 1, -signal.SIGKILL), said
    assert health[1]["restarts"] == before[1]["restarts"], said
    assert f'gongzhi_gateway_worker_restarts_total{{worker="0"}} {restarts + 1}' \
        in sup.get("/metrics")[1]
    assert "ERROR" in log and "exited with signal SIGKILL" in log
    estate = next(e for e in ESTATES if zlib.crc32(e.encode()) % 2 == 0)
    publisher.publish(f"estate/{estate}/{estate}-w0/telemetry", reading(1))
    wait_until(lambda: sup.samples("gongzhi_gateway_messages_processed_total").get("0") == 1,
               what="the new worker takes its estates")


@pytest.mark.integration
def test_sigterm_stops_every_worker_whatever_was_inherited(supervisors: Any) -> None:
    sup = supervisors(2, ignore_signals=True)
    pids = sup.worker_pids()
    sup.proc.send_signal(signal.SIGTERM)
    assert sup.proc.wait(timeout=30) == 0
    assert not [pid for pid in pids if alive(pid)]


@pytest.mark.integration
def test_no_worker_outlives_a_killed_supervisor(supervisors: Any) -> None:
    sup = supervisors(2)
    pids = sup.worker_pids()
    sup.proc.kill()
    sup.proc.wait(timeout=10)
    for pid in pids:
        wait_until(lambda p=pid: not alive(p), timeout_s=30, what=f"worker {pid} gone")


@pytest.mark.integration
def test_a_worker_configuration_error_stops_the_supervisor_with_2(
        data_dir: Path, broker: Broker, peer: AlarmPeer) -> None:
    (data_dir / "registry.csv").write_text("device_id,type\nw1,no-such-type\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update(GONGZHI_DATA_DIR=str(data_dir), GONGZHI_MQTT_URL=broker.url,
               GONGZHI_PLATFORM_URL=peer.url, GONGZHI_GATEWAY_TOKEN=TOKEN,
               GONGZHI_GATEWAY_HTTP_PORT=str(free_port()), GONGZHI_GATEWAY_WORKERS="2")
    done = subprocess.run([sys.executable, "-m", "gongzhi.core.cli", "gateway"], env=env,
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 2
    assert "exited with a configuration error" in done.stderr
    assert "registry" in done.stderr.lower()  # the worker's own message names the file


SIGNALLED_CHILD = """
import sys
from gongzhi.gateway.workers import run_until_signalled
run_until_signalled(lambda: print("ready", flush=True), lambda: print("stopped", flush=True),
                    reload=lambda: print("reload", flush=True), poll_s=0.05)
"""


def _signalled_child() -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", SIGNALLED_CHILD], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


@pytest.mark.integration
def test_a_burst_of_signals_stops_the_process_every_time() -> None:
    """Signals that come while another's handler runs (a supervisor's SIGTERM and the kernel's
    when it dies): a handler that set an Event could wait forever for the Event's lock held by
    the handler it interrupted (3 of 20 processes hung with 300 signals each)."""
    for _ in range(20):
        child = _signalled_child()
        for _ in range(300):
            os.kill(child.pid, signal.SIGTERM)
        try:
            out, _ = child.communicate(timeout=10)  # hung: TimeoutExpired
        finally:
            child.kill()
            child.wait()
        # Stopped once; a signal still on its way when the handlers were given back may end
        # the process after that.
        assert out == "stopped\n" and child.returncode in (0, -signal.SIGTERM)


@pytest.mark.integration
def test_sighup_reloads_at_the_next_turn_and_sigterm_stops() -> None:
    child = _signalled_child()
    try:
        os.kill(child.pid, signal.SIGHUP)
        assert child.stdout is not None and child.stdout.readline() == "reload\n"
        os.kill(child.pid, signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
    finally:
        child.kill()
        child.wait()
    assert out == "stopped\n" and child.returncode == 0
