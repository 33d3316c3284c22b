"""The one registry watcher of the gateway and the platform: reads at start, follows changes of
the file, keeps the previous registry when a rewrite is unusable, checks no more often than its
clock allows."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry_watch import RegistryWatch

HEADER = "device_id,type,estate_id,building,unit,floor,room,elderly_alone\n"


def write(path: Path, *device_ids: str, mtime_s: int) -> None:
    """A registry of smoke detectors; each write gets its own modification time, so the test
    does not depend on the file system's time resolution."""
    path.write_text(HEADER + "".join(f"{d},smoke,e1,B1,1,1,101,0\n" for d in device_ids),
                    encoding="utf-8")
    os.utime(path, (mtime_s, mtime_s))


def ids(registry: object) -> list[str]:
    return sorted(r.device_id for r in registry)  # type: ignore[attr-defined]


def test_the_constructor_reads_nothing(tmp_path: Path) -> None:
    watch = RegistryWatch(tmp_path / "absent" / "registry.csv", ManualClock())
    assert len(watch.load()) == 0


def test_load_reads_now_and_refuses_an_unusable_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    write(path, "d1", "d2", mtime_s=1_000)
    assert ids(RegistryWatch(path, ManualClock()).load()) == ["d1", "d2"]
    path.write_text(HEADER + "d1,toaster,e1,B1,1,1,101,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:2: type 'toaster'"):
        RegistryWatch(path, ManualClock()).load()


def test_poll_answers_only_changes_or_a_forced_read(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "registry.csv"
    watch = RegistryWatch(path, ManualClock())
    assert len(watch.load()) == 0  # not there yet: empty until it appears
    assert watch.poll() is None
    write(path, "d1", mtime_s=1_000)
    assert ids(watch.poll()) == ["d1"]
    assert watch.poll() is None
    assert ids(watch.poll(force=True)) == ["d1"]  # SIGHUP: read although unchanged
    path.write_text(HEADER + "bad id,smoke,e1,B1,1,1,101,0\n", encoding="utf-8")
    os.utime(path, (2_000, 2_000))
    with pytest.raises(ConfigError, match="device_id 'bad id'"):
        watch.poll()
    assert watch.poll() is None  # refused once, not again until the file changes
    assert ids(watch.current()) == ["d1"]  # the previous registry stays in force
    write(path, "d1", "d3", mtime_s=3_000)
    assert ids(watch.poll()) == ["d1", "d3"]
    path.unlink()
    with caplog.at_level(logging.WARNING):
        assert len(watch.poll()) == 0  # type: ignore[arg-type]
    assert "does not exist" in caplog.text


def test_current_checks_at_most_once_per_interval_of_its_clock(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "registry.csv"
    write(path, "d1", mtime_s=1_000)
    clock = ManualClock()
    watch = RegistryWatch(path, clock, check_every_ms=1_000)
    watch.load()
    write(path, "d1", "d2", mtime_s=2_000)
    assert ids(watch()) == ["d1"]  # checked at load, within the interval
    clock.advance(999)
    assert ids(watch()) == ["d1"]
    clock.advance(1)
    assert ids(watch()) == ["d1", "d2"]
    path.write_text(HEADER + "d9,smok", encoding="utf-8")  # half written
    os.utime(path, (3_000, 3_000))
    clock.advance(1_000)
    with caplog.at_level(logging.ERROR):
        assert ids(watch()) == ["d1", "d2"]
        clock.advance(1_000)
        assert ids(watch()) == ["d1", "d2"]
    assert caplog.text.count("not reloaded") == 1
    write(path, "d2", mtime_s=4_000)
    clock.advance(1_000)
    assert ids(watch()) == ["d2"]
