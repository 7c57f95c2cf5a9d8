"""Fonts of the synthetic documents, all from Debian packages: OCR-B for the MRZ (fonts-ocr-b),
and sans, serif and mono families with full Latin diacritics for the visual zone."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = {
    "fonts-ocr-b": "OCR-B by Matthew Skala: free licence, see /usr/share/doc/fonts-ocr-b/copyright",
    "fonts-dejavu-core": "Bitstream Vera / DejaVu licence (permissive, free)",
    "fonts-liberation2": "SIL Open Font License 1.1",
    "fonts-freefont-ttf": "GPL-3.0-or-later with font exception",
    "fonts-croscore": "Apache-2.0 (Arimo, Tinos, Cousine)",
}
OCRB = ("fonts-ocr-b", "/usr/share/fonts/opentype/ocr-b/OCRB.otf")
FAMILIES = [  # (package, regular, bold)
    ("fonts-dejavu-core", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("fonts-dejavu-core", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"),
    ("fonts-liberation2", "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf", "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"),
    ("fonts-liberation2", "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf", "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf"),
    ("fonts-freefont-ttf", "/usr/share/fonts/truetype/freefont/FreeSans.ttf", "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf"),
    ("fonts-freefont-ttf", "/usr/share/fonts/truetype/freefont/FreeSerif.ttf", "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf"),
    ("fonts-croscore", "/usr/share/fonts/truetype/croscore/Arimo-Regular.ttf", "/usr/share/fonts/truetype/croscore/Arimo-Bold.ttf"),
    ("fonts-croscore", "/usr/share/fonts/truetype/croscore/Tinos-Regular.ttf", "/usr/share/fonts/truetype/croscore/Tinos-Bold.ttf"),
]
MONO = [
    ("fonts-dejavu-core", "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),
    ("fonts-liberation2", "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf"),
    ("fonts-croscore", "/usr/share/fonts/truetype/croscore/Cousine-Regular.ttf"),
]


def _all():
    yield OCRB
    for pkg, reg, bold in FAMILIES:
        yield pkg, reg
        yield pkg, bold
    yield from MONO


def ensure_fonts(cache: Path) -> dict:
    """Finds the fonts (installing the Debian packages with apt-get when they are missing and we are
    root) and copies them into `cache`, so a machine without the packages can be handed the folder."""
    missing = sorted({pkg for pkg, f in _all() if not (cache / Path(f).name).exists() and not Path(f).exists()})
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        print(f"[documents] installing {' '.join(missing)} with apt-get", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=False, stdout=subprocess.DEVNULL)
    cache.mkdir(parents=True, exist_ok=True)

    def local(f: str) -> str | None:
        dst = cache / Path(f).name
        if not dst.exists() and Path(f).exists():
            shutil.copy(f, dst)
        return str(dst) if dst.exists() else None

    ocrb = local(OCRB[1])
    families = []
    for _, reg, bold in FAMILIES:
        r, b = local(reg), local(bold)
        if r and b:
            families.append({"regular": r, "bold": b})
    mono = [m for m in (local(f) for _, f in MONO) if m]
    if not ocrb or not families or not mono:
        sys.exit(f"[documents] fonts missing: apt-get install {' '.join(PACKAGES)}")
    return {"ocrb": ocrb, "families": families, "mono": mono}
