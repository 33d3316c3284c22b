"""The compiled rules: ready before the stream, and numpy's arithmetic where it matters."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np

import gongzhi.gateway.detection as package
from gongzhi.gateway.detection.window import WindowMax, window_add, window_peak

# In a fresh process (this one has run engines already): every compiled function of the
# detection package, which have code after the import, after the warm-up, after a mixed
# fleet's day (every rule, a landing's corridor, fire fusion) through an engine, and after two
# household monitors through the backtest's replay.
CHECK = """
import json
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.detection.warm import compile_rules
from test_compiled import compiled_functions
from test_detection_reload import fleet, fleet_messages

found = compiled_functions()

def compiled():
    return {name: len(f.signatures) for name, f in found.items() if f.signatures}

seen = {"imported": compiled()}
compile_rules()
seen["warm"] = compiled()
alarms = DetectionEngine(Registry(fleet())).process(fleet_messages())
seen["fleet"] = compiled()
# The backtest's replay feeds the engine by columns, in rounds across devices.
import numpy as np
from gongzhi.evaluation.household import monitor_record, monitor_series
from gongzhi.gateway.backtest.replay import Replay
ts = 1_767_225_600_000 + 60_000 * np.arange(600)
power = 100.0 + 200.0 * (np.arange(600) % 90 > 45)
list(Replay(Registry([monitor_record("m1"), monitor_record("m2")])).run(
    [monitor_series("m1", ts, power), monitor_series("m2", ts + 7_000, power[::-1].copy())]))
seen["replay"] = compiled()
seen["alarms"] = len(alarms)
seen["all"] = sorted(found)
print(json.dumps(seen))
"""


def compiled_functions() -> dict[str, Any]:
    """Every compiled function of the detection package (its dispatcher), by module.name."""
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in vars(module).items():
            mine = getattr(value, "__module__", None) == module.__name__
            if mine and isinstance(value, numba.core.dispatcher.Dispatcher):
                found[f"{info.name}.{name}"] = value
    return found


def test_the_warm_up_compiles_what_the_engine_runs_before_any_message() -> None:
    here = str(Path(__file__).parent)  # the reload tests' fleet, and their support module
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=300, check=True, env=env)
    seen = json.loads(done.stdout)
    assert {"ebike_signature.observe_round", "edges.split", "window.window_add",
            "corridor._signal_rounds"} <= set(seen["all"])
    assert seen["imported"] == {}  # nothing at import
    assert seen["alarms"] > 0
    assert {"ebike_signature.observe_round", "corridor._signal_rounds", "fusion._fusion_rows",
            "baseline._baseline_rows", "leak._volume_rows", "multivariate._thermal_rows",
            "faults._flatline_rows"} <= set(seen["warm"])
    assert seen["fleet"] == seen["warm"]  # nothing compiled once messages came
    assert seen["replay"] == seen["warm"]  # nor once a backtest's rows came


def test_a_window_keeps_a_value_not_known_as_numpy_does() -> None:
    """A NaN makes its bucket's maximum NaN (numpy's ``maximum``), and float32 storage rounds
    as numpy's assignment does."""
    window = WindowMax(2, 4 * 60_000)
    value, bucket = window.arrays()

    def add(ts: int, values: list[float]) -> None:
        for slot, v in enumerate(values):
            window_add(value, bucket, window.width, slot, ts, v)

    def peak(ts: int) -> list[float]:
        return [window_peak(value, bucket, window.width, slot, ts) for slot in (0, 1)]

    add(0, [1.0, np.nan])
    add(1, [0.1, 5.0])
    assert peak(1)[0] == 1.0
    assert np.isnan(peak(1)[1])
    add(120_000, [0.1, 2.0])
    # Four minutes on, the first buckets have left the window.
    assert peak(6 * 60_000) == [float(np.float32(0.1)), 2.0]


def test_every_compiled_function_s_cache_is_stamped_with_every_compiling_module() -> None:
    """A compiled function carries the code of those it calls in other modules: its cache must
    go stale when any of them changes, not only its own file."""
    from gongzhi.gateway.detection.compiled import sources_stamp

    stamps = {name: f._cache._cache_file._source_stamp
              for name, f in compiled_functions().items()}
    assert "ebike_signature.observe_round" in stamps and "edges.split" in stamps
    assert set(stamps.values()) == {sources_stamp()}


def test_the_stamp_changes_with_a_compiling_module_only(tmp_path: Path) -> None:
    import shutil

    import gongzhi.gateway.detection as package
    from gongzhi.gateway.detection.compiled import sources_stamp

    for name in ("compiled.py", "edges.py", "rules.py"):
        shutil.copy(Path(package.__path__[0]) / name, tmp_path / name)
    first = sources_stamp(tmp_path)
    (tmp_path / "rules.py").write_text("# not compiled\n")
    assert sources_stamp.__wrapped__(tmp_path) == first
    edges = tmp_path / "edges.py"
    edges.write_text(edges.read_text().replace("EDGE_W = 30.0", "EDGE_W = 31.0"))
    assert sources_stamp.__wrapped__(tmp_path) != first
