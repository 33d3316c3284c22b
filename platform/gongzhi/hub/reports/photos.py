"""A resident's photo made safe to keep: its type checked by its content (not its name or the
type the phone claims), its size and pixel count bounded, turned upright, and re-encoded as a
JPEG of at most ``MAX_SIDE`` pixels a side. Re-encoding drops every metadata block (EXIF with
GPS position, camera serial, time; XMP; comments): only pixels are kept."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from gongzhi.hub.reports.errors import ReportRefused

MIB = 1024 * 1024
MAX_PHOTO_BYTES = 6 * MIB  # as uploaded; a phone's photo is 2-5 MiB
MAX_PIXELS = 50_000_000  # 50 MP: above any phone camera, far below a decompression bomb
MAX_SIDE = 1600  # kept: enough to see a blocked corridor, ~300 KiB
QUALITY = 82
ACCEPTED = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})


def _refused(reason: str, message: str) -> ReportRefused:
    """A photo that is not kept: 413 when too large, else 422."""
    return ReportRefused(413 if reason == "photo_too_large" else 422, reason, message)


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    data: bytes  # JPEG, no metadata
    width: int
    height: int
    media_type: str = "image/jpeg"


def clean_photo(raw: bytes, *, max_bytes: int = MAX_PHOTO_BYTES) -> CleanPhoto:
    if len(raw) > max_bytes:
        raise _refused("photo_too_large",
                           f"a photo may have at most {max_bytes // MIB} MiB, this one has "
                           f"{len(raw) / MIB:.1f} MiB")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
            width, height = probe.size
            if kind not in ACCEPTED:
                raise _refused("photo_type", f"not a photo this page takes ({kind}); "
                                                 "send a JPEG, PNG or WebP")
            if width * height > MAX_PIXELS:
                raise _refused("photo_too_large",
                                   f"a photo may have at most {MAX_PIXELS // 1_000_000} MP")
            probe.verify()  # a truncated or corrupt file fails here
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            flat = _flatten(upright)
            flat.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            # No exif=, no icc_profile=: Pillow writes pixels and nothing else.
            flat.save(out, format="JPEG", quality=QUALITY, optimize=True)
            return CleanPhoto(out.getvalue(), flat.width, flat.height)
    except ReportRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as exc:
        raise _refused("photo_unreadable", f"the photo cannot be read: {exc}") from None


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency over white."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
