"""A source's helper process ends with its owner: the owner (a Python script that starts the
source and prints the helper's pid) is killed with SIGKILL, and the helper must end on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gateway.gateway_support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def ends_with_its_owner(owner: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'sources'}"}
    proc = subprocess.Popen([sys.executable, "-c", owner, *args], stdout=subprocess.PIPE,
                            cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        helper = int(proc.stdout.readline())
        proc.kill()
        proc.wait()
        wait_until(lambda: not _alive(helper), what="the helper process ended")
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; its reaper collects it
