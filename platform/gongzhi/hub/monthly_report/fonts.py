"""A font for Chinese text in the PDF: the first CJK TrueType font found on the machine (Debian's
fonts-wqy-microhei or fonts-noto-cjk, which scripts/ensure-deps.sh installs), or None."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
MISSING = ("no CJK font found (install the Debian package fonts-wqy-microhei or fonts-noto-cjk, "
           "or name a .ttf/.ttc with --font); the report is written in English with a Latin font")


def find_cjk_font(configured: Path | None = None) -> Path | None:
    if configured is not None:
        return configured if configured.is_file() else None
    for candidate in CANDIDATES:
        if candidate.is_file():
            return candidate
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listed = subprocess.run([fc_list, "-f", "%{file}\n", ":lang=zh"], capture_output=True,
                                text=True, timeout=10, check=False).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return None
    fonts = sorted(Path(line) for line in listed
                   if line.strip().lower().endswith((".ttf", ".ttc", ".otf")))
    return next((f for f in fonts if f.is_file()), None)
