"""Swapped photos on disk: PNG or JPEG, tagged as synthetic in their metadata, written atomically.

PNG carries the tag in text chunks ("Comment", "Description", "Software");
JPEG in EXIF (ImageDescription, Software) and a JPEG comment. ``read_tag`` reads
it back from either, the way ``video.probe(...).tags["comment"]`` does for videos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaplab.core.files import atomic_path

PHOTO_EXTS = (".png", ".jpg", ".jpeg")
_DESCRIPTION, _SOFTWARE = 0x010E, 0x0131  # EXIF tags


def check_output(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in PHOTO_EXTS:
        raise ValueError(f"OUTPUT={str(path)!r}: a photo is written as {', '.join(PHOTO_EXTS)}; choose one of those endings")
    return path


def write_image(path: str | Path, rgb: np.ndarray, tag: str, title: str = "") -> Path:
    """Write an (H, W, 3) uint8 RGB image to ``path`` with ``tag`` in its metadata; returns the path."""
    from PIL import Image, PngImagePlugin

    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.ascontiguousarray(rgb, np.uint8), "RGB")
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".png":
            info = PngImagePlugin.PngInfo()
            for key, value in (("Comment", tag), ("Description", tag), ("Title", title), ("Software", "swaplab")):
                info.add_text(key, value)
            img.save(tmp, format="PNG", pnginfo=info)
        else:
            exif = Image.Exif()
            exif[_DESCRIPTION], exif[_SOFTWARE] = tag, "swaplab"
            img.save(tmp, format="JPEG", quality=95, exif=exif, comment=tag.encode())
    return path


def read_tag(path: str | Path) -> str:
    """The synthetic-media tag written by ``write_image`` ("" if there is none)."""
    from PIL import Image

    with Image.open(path) as img:
        if img.format == "PNG":
            return img.text.get("Comment", "")
        return str(img.getexif().get(_DESCRIPTION, ""))
