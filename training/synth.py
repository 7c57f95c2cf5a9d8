"""Seeded, deterministic synthetic licence-plate scenes with YOLO labels and plate text.

Every image i of a split is drawn from its own generator seeded with (seed, i), so the output does
not depend on the number of worker processes, and another seed gives a disjoint held-out set.

    python training/synth.py --out training/data/val --n 500 --seed 2

Generator version 2 draws every character A-Z and 0-9, 26 plate systems (EU countries with their
bands, UK front and rear, Ireland, Switzerland, Czechia, six US styles including stacked and vanity
plates, Tunisia, Morocco, Mercosur Brazil and Argentina, Russia, India), one- and two-line plates,
plates from 0.2 % to 30 % of the image, camera degradations (blur, glare, night and IR, low
resolution, heavy JPEG, perspective) and hard negatives (badges, stickers, country ovals, street
signs, dealer frames around plates). `make_plate_crop` renders one plate with its surroundings
only, for the reader, with the same systems, fonts and degradations and far less work than a scene.

Layout written under --out:
    images/000000.jpg ...      the scenes (JPEG, random size and quality)
    labels/000000.txt ...      YOLO: "0 cx cy w h" normalised, one line per plate
    plates.jsonl               per image: file, size, and per plate: text, system, lines, font, box (px)
    meta.json                  seed, count, generator version, systems and fonts used (with licences)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

GENERATOR_VERSION = "2"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

# Fonts: Debian packages the project installs itself (see ensure_fonts); no plate font proper is
# free (FE-Schrift, Charles Wright, Penitentiary Gothic are not), so the nearest free ones: DIN
# (German and Mercosur plates descend from DIN 1451), condensed grotesques (UK, US), monospaced.
# Licences recorded in meta.json and the model cards.
FONT_PACKAGES = {
    "fonts-dejavu-core": "Bitstream Vera / DejaVu licence (permissive, free)",
    "fonts-liberation2": "SIL Open Font License 1.1",
    "fonts-freefont-ttf": "GPL-3.0-or-later with font exception",
    "fonts-opendin": "SIL Open Font License 1.1",
    "fonts-roboto-unhinted": "Apache-2.0",
    "fonts-croscore": "SIL Open Font License 1.1",
    "fonts-bebas-neue": "SIL Open Font License 1.1",
    "fonts-b612": "SIL Open Font License 1.1",
    "fonts-league-spartan": "SIL Open Font License 1.1",
}
FONT_DIRS = [Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype")]
# kind -> (package, path under one of FONT_DIRS)
FONT_FILES = {
    # DIN-like: Germany, Mercosur, much of Europe
    "din": [
        ("fonts-opendin", "opendin/OSP-DIN.ttf"),
        ("fonts-roboto-unhinted", "roboto/unhinted/RobotoCondensed-Bold.ttf"),
        ("fonts-roboto-unhinted", "roboto/unhinted/RobotoCondensed-Medium.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    ],
    # grotesque: UK (Charles Wright), France, Italy, Spain, ...
    "grotesk": [
        ("fonts-croscore", "croscore/Arimo-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSans-Bold.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSans-Bold.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSansBold.ttf"),
        ("fonts-roboto-unhinted", "roboto/unhinted/RobotoCondensed-Bold.ttf"),
    ],
    # narrow gothic: US plates
    "gothic": [
        ("fonts-bebas-neue", "bebas-neue/BebasNeue-Bold.otf"),
        ("fonts-bebas-neue", "bebas-neue/BebasNeue-Regular.otf"),
        ("fonts-roboto-unhinted", "roboto/unhinted/RobotoCondensed-Bold.ttf"),
        ("fonts-league-spartan", "league-spartan/LeagueSpartan-Bold.otf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    ],
    "mono": [
        ("fonts-dejavu-core", "dejavu/DejaVuSansMono-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationMono-Bold.ttf"),
        ("fonts-croscore", "croscore/Cousine-Bold.ttf"),
        ("fonts-b612", "b612/B612Mono-Bold.otf"),
        ("fonts-freefont-ttf", "freefont/FreeMonoBold.ttf"),
    ],
    # distractor and small print: anything
    "any": [
        ("fonts-dejavu-core", "dejavu/DejaVuSans.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSerif.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSerif-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSerif-Regular.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSans-Italic.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSerifItalic.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSans.ttf"),
        ("fonts-b612", "b612/B612-Bold.otf"),
    ],
}
PLATE_KINDS = ("din", "grotesk", "gothic", "mono")


def _find(rel: str) -> Path | None:
    for d in FONT_DIRS:
        if (d / rel).exists():
            return d / rel
    return None


def ensure_fonts(cache: Path) -> dict[str, list[str]]:
    """Finds the fonts (installing the Debian packages with apt-get if they are missing and we are
    root) and copies them into `cache`, so a machine without the packages can be handed the folder.
    """
    all_files = [x for files in FONT_FILES.values() for x in files]
    missing = [p for p, f in all_files if not (cache / Path(f).name).exists() and _find(f) is None]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        pkgs = sorted(set(missing))
        print(f"[synth] installing {' '.join(pkgs)} with apt-get", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *pkgs], check=False, stdout=subprocess.DEVNULL)
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {k: [] for k in FONT_FILES}
    for kind, files in FONT_FILES.items():
        for _pkg, f in files:
            dst = cache / Path(f).name
            src = _find(f)
            if not dst.exists() and src is not None:
                shutil.copy(src, dst)
            if dst.exists():
                out[kind].append(str(dst))
    lacking = [k for k, v in out.items() if not v]
    if lacking:
        sys.exit(f"[synth] no {', '.join(lacking)} fonts found: apt-get install {' '.join(FONT_PACKAGES)}")
    return out


# --------------------------------------------------------------------------------------------
# plate systems


@dataclass
class PlateStyle:
    system: str
    lines: list[str]               # as printed, top to bottom, e.g. ["AB-123-CD"]
    aspect: float                  # width / height of the plate
    bg: tuple
    fg: tuple
    font_kind: str
    band: tuple | None = None      # EU-style band on the left
    band_text: str = ""
    right_band: tuple | None = None
    top_text: str | None = None    # small print above (US state, "BRASIL" on a blue strip)
    top_color: tuple = (0, 0, 0)
    top_strip: tuple | None = None  # coloured strip behind top_text (Mercosur)
    bottom_text: str | None = None
    stacked: str | None = None     # two small characters stacked at the left (US)
    region: str | None = None      # a separate box at the right (Russia)
    separator_bars: bool = False   # Morocco's vertical bars between groups
    text_kw: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What a reader must return: stacked characters, then the lines, then the region, normalised."""
        return normalize_text((self.stacked or "") + "".join(self.lines) + (self.region or ""))


def rand_from(rng, chars, n):
    return "".join(chars[rng.integers(len(chars))] for _ in range(n))


def pattern(rng, p: str) -> str:
    """L a letter, D a digit, C a consonant (Spain), anything else as is."""
    out = []
    for ch in p:
        if ch == "L":
            out.append(LETTERS[rng.integers(26)])
        elif ch == "D":
            out.append(DIGITS[rng.integers(10)])
        elif ch == "C":
            out.append("BCDFGHJKLMNPRSTVWXYZ"[rng.integers(20)])
        else:
            out.append(ch)
    return "".join(out)


def _c(rng, lo, hi):
    return int(rng.integers(lo, hi))


US_STATES = ["OHIO", "Arizona", "COLORADO", "Oregon", "MICHIGAN", "Georgia", "NEVADA", "Illinois", "UTAH", "Virginia"]
BAND_BLUE = (0, 51, 153)


def make_style(rng) -> PlateStyle:
    white = (_c(rng, 228, 256),) * 3
    yellow = (_c(rng, 235, 256), _c(rng, 190, 215), _c(rng, 0, 40))
    black = (_c(rng, 0, 35),) * 3
    blue = (0, _c(rng, 40, 70), _c(rng, 140, 175))
    k = int(rng.integers(len(SYSTEMS)))
    return SYSTEMS[k](rng, white, yellow, black, blue)


def _eu(system, band_text, text, aspect=4.73, bg=None, fg=None, kind="grotesk", **kw):
    return lambda rng, white, yellow, black, blue: PlateStyle(
        system, [pattern(rng, text() if callable(text) else text)], aspect, bg(white, yellow) if bg else white,
        fg if fg else black, kind, band=blue, band_text=band_text, **kw)


def s_fr(rng, white, yellow, black, blue):
    right = blue if rng.random() < 0.6 else None
    return PlateStyle("FR", [pattern(rng, "LL-DDD-LL")], 4.73, white, black, "grotesk", blue, "F", right_band=right)


def s_de(rng, white, yellow, black, blue):
    a, b, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 5))
    d = min(d, 8 - a - b)
    return PlateStyle("DE", [pattern(rng, "L" * a + " " + "L" * b + " " + "D" * d)], 4.73, white, black, "din", blue, "D")


def s_it(rng, white, yellow, black, blue):
    return PlateStyle("IT", [pattern(rng, "LL DDDLL")], 4.73, white, black, "grotesk", blue, "I", right_band=blue)


def s_es(rng, white, yellow, black, blue):
    return PlateStyle("ES", [pattern(rng, "DDDD CCC")], 4.73, white, black, "din", blue, "E")


def s_nl(rng, white, yellow, black, blue):
    p = ["DD-LLL-D", "L-DDD-LL", "LL-DDD-L", "DD-LL-LL", "LLL-DD-L"][rng.integers(5)]
    return PlateStyle("NL", [pattern(rng, p)], 4.73, yellow, black, "din", blue, "NL")


def s_be(rng, white, yellow, black, blue):
    red = (_c(rng, 130, 180), _c(rng, 0, 40), _c(rng, 30, 60))
    return PlateStyle("BE", [pattern(rng, "D-LLL-DDD")], 4.73, white, red, "grotesk", blue, "B")


def s_pl(rng, white, yellow, black, blue):
    p = ["LL DDDDD", "LLL DDDD", "LL DDDLL", "LLL DDLL"][rng.integers(4)]
    return PlateStyle("PL", [pattern(rng, p)], 4.73, white, black, "din", blue, "PL")


def s_pt(rng, white, yellow, black, blue):
    return PlateStyle("PT", [pattern(rng, "LL-DD-LL")], 4.73, white, black, "grotesk", blue, "P", right_band=yellow)


def s_se(rng, white, yellow, black, blue):
    return PlateStyle("SE", [pattern(rng, ["LLL DDD", "LLL DDL"][rng.integers(2)])], 4.73, white, black, "din", blue, "S")


def s_cz(rng, white, yellow, black, blue):
    return PlateStyle("CZ", [pattern(rng, "DLD DDDD")], 4.73, white, black, "din", blue, "CZ")


def s_ie(rng, white, yellow, black, blue):
    county = ["D", "C", "G", "KY", "L", "MO", "WX", "LH"][rng.integers(8)]
    return PlateStyle("IE", [pattern(rng, f"DDD-{county}-DDDD"[: 9 + len(county) - int(rng.integers(0, 3))])],
                      4.73, white, black, "grotesk", blue, "IRL")


def s_uk(rear: bool):
    def f(rng, white, yellow, black, blue):
        band = blue if rng.random() < 0.4 else None
        return PlateStyle("UK-R" if rear else "UK-F", [pattern(rng, "LLDD LLL")], 4.64, yellow if rear else white, black,
                          "grotesk" if rng.random() < 0.7 else "din", band, ["UK", "GB"][rng.integers(2)])
    return f


def s_ch(rng, white, yellow, black, blue):
    canton = ["ZH", "BE", "VD", "GE", "AG", "TI", "SG", "LU"][rng.integers(8)]
    return PlateStyle("CH", [canton + " " + pattern(rng, "D" * int(rng.integers(3, 7)))], 4.6, white, black, "din")


def s_us_ca(rng, white, yellow, black, blue):
    return PlateStyle("US-CA", [pattern(rng, "DLLLDDD")], 2.0, white, (10, 20, 110), "gothic",
                      top_text="California" if rng.random() < 0.7 else None, top_color=(190, 20, 30),
                      bottom_text="DMV.CA.GOV" if rng.random() < 0.5 else None)


def s_us_ny(rng, white, yellow, black, blue):
    bg = (_c(rng, 235, 256), _c(rng, 225, 245), _c(rng, 170, 215))
    return PlateStyle("US-NY", [pattern(rng, "LLL-DDDD")], 2.0, bg, (15, 35, 110), "gothic",
                      top_text="NEW YORK", top_color=(15, 35, 110), bottom_text="EMPIRE STATE" if rng.random() < 0.5 else None)


def s_us_tx(rng, white, yellow, black, blue):
    return PlateStyle("US-TX", [pattern(rng, ["LLL-DDDD", "LLL DDDD", "DLL-DDDD"][rng.integers(3)])], 2.0, white, black, "gothic",
                      top_text="TEXAS", top_color=(20, 30, 90), bottom_text="THE LONE STAR STATE" if rng.random() < 0.4 else None)


def s_us_fl(rng, white, yellow, black, blue):
    green = (0, _c(rng, 90, 130), _c(rng, 50, 80))
    return PlateStyle("US-FL", [pattern(rng, ["LLL LDD", "LLLL DD", "DDD LLL"][rng.integers(3)])], 2.0, white, green, "gothic",
                      top_text="Florida", top_color=green, bottom_text="Sunshine State" if rng.random() < 0.5 else None)


def s_us_stacked(rng, white, yellow, black, blue):
    return PlateStyle("US-STK", [pattern(rng, ["DDDD", "DDDDD", "DDDL"][rng.integers(3)])], 2.0, white, (20, 20, 90), "gothic",
                      top_text=US_STATES[rng.integers(len(US_STATES))], top_color=(150, 20, 20), stacked=pattern(rng, "LL"))


def s_us_vanity(rng, white, yellow, black, blue):
    n = int(rng.integers(2, 8))
    pool = LETTERS * 3 + DIGITS  # vanity plates are mostly words
    text = "".join(pool[rng.integers(len(pool))] for _ in range(n))
    return PlateStyle("US-VAN", [text], 2.0, white, (int(rng.integers(0, 60)), 20, int(rng.integers(60, 140))), "gothic",
                      top_text=US_STATES[rng.integers(len(US_STATES))], top_color=(20, 60, 140))


def s_tn(rng, white, yellow, black, blue):
    return PlateStyle("TN", [pattern(rng, "DDD TU DDDD")], 4.73, black, (245, 245, 245), "din")


def s_ma(rng, white, yellow, black, blue):
    # Morocco: number | Arabic letter | region. The letter is drawn as a Latin stand-in (A B D H E W:
    # the transliterations used on older plates), so the label stays in A-Z0-9.
    letter = "ABDHEW"[rng.integers(6)]
    return PlateStyle("MA", [pattern(rng, "D" * int(rng.integers(3, 6))) + f" {letter} " + pattern(rng, "D" * int(rng.integers(1, 3)))],
                      4.73, white, black, "din", separator_bars=True)


def s_br(rng, white, yellow, black, blue):
    return PlateStyle("BR", [pattern(rng, "LLLDLDD")], 3.08, white, black, "din", top_text="BRASIL",
                      top_color=(255, 255, 255), top_strip=BAND_BLUE)


def s_ar(rng, white, yellow, black, blue):
    return PlateStyle("AR", [pattern(rng, "LL DDD LL")], 3.08, white, black, "din", top_text="REPUBLICA ARGENTINA",
                      top_color=(255, 255, 255), top_strip=BAND_BLUE)


def s_ru(rng, white, yellow, black, blue):
    lat = "ABEKMHOPCTYX"  # the Cyrillic letters that look Latin: the only ones on Russian plates
    main = f"{rand_from(rng, lat, 1)}{rand_from(rng, DIGITS, 3)}{rand_from(rng, lat, 2)}"
    return PlateStyle("RU", [main], 4.64, white, black, "din", region=pattern(rng, "D" * int(rng.integers(2, 4))))


def s_in(rng, white, yellow, black, blue):
    state = ["MH", "DL", "KA", "TN", "UP", "GJ", "RJ", "WB"][rng.integers(8)]
    return PlateStyle("IN", [state + " " + pattern(rng, "DD LL DDDD")], 4.73, white if rng.random() < 0.7 else yellow, black, "grotesk")


SYSTEMS = [s_fr, s_de, s_it, s_es, s_nl, s_be, s_pl, s_pt, s_se, s_cz, s_ie, s_uk(False), s_uk(True), s_ch,
           s_us_ca, s_us_ny, s_us_tx, s_us_fl, s_us_stacked, s_us_vanity, s_tn, s_ma, s_br, s_ar, s_ru, s_in]
SYSTEM_NAMES = ["FR", "DE", "IT", "ES", "NL", "BE", "PL", "PT", "SE", "CZ", "IE", "UK-F", "UK-R", "CH", "US-CA", "US-NY",
                "US-TX", "US-FL", "US-STK", "US-VAN", "TN", "MA", "BR", "AR", "RU", "IN"]


def two_line(rng, style: PlateStyle) -> PlateStyle:
    """The square (motorcycle, rear-square) variant: the text split at its middle separator into
    two lines. Only for systems whose text has one and no stacked/region parts."""
    if style.stacked or style.region or len(style.lines) != 1:
        return style
    t = style.lines[0]
    seps = [i for i, ch in enumerate(t) if ch in " -"]
    if not seps:
        return style
    mid = min(seps, key=lambda i: abs(i - len(t) / 2))
    top, bottom = t[:mid].strip(" -"), t[mid + 1:].strip(" -")
    if not top or not bottom:
        return style
    style.lines = [top, bottom]
    style.aspect = float(rng.uniform(1.25, 2.0))
    style.right_band = None
    style.bottom_text = None
    style.separator_bars = False
    if style.top_strip is None:
        style.top_text = None
    return style


def normalize_text(t: str) -> str:
    return "".join(ch for ch in t.upper() if ch.isalnum())


def fit_font(path, text, max_w, max_h):
    size = max(6, int(max_h * 1.4))
    while size > 6:
        f = ImageFont.truetype(path, size)
        l, t, r, b = f.getbbox(text)
        if r - l <= max_w and b - t <= max_h:
            return f
        size = int(size * 0.93)
    return ImageFont.truetype(path, 6)


def _text_centered(d, box, text, font_path, fill, rng, fill_w=(0.85, 0.98), fill_h=(0.8, 0.97)):
    x0, y0, x1, y1 = box
    f = fit_font(font_path, text, (x1 - x0) * rng.uniform(*fill_w), (y1 - y0) * rng.uniform(*fill_h))
    l, t, r, b = f.getbbox(text)
    # centre on the ink, not the font's ascent (fonts differ a lot there)
    d.text(((x0 + x1) / 2 - (l + r) / 2, (y0 + y1) / 2 - (t + b) / 2), text, font=f, fill=fill)


def pick_font(rng, fonts, kind):
    pool = fonts[kind] if rng.random() < 0.75 else [f for k in PLATE_KINDS for f in fonts[k]]
    return pool[rng.integers(len(pool))]


def render_plate(rng, style: PlateStyle, font_path: str, any_fonts, dealer_frame: bool = False):
    """Renders a plate as RGBA at ~120 px per text line. Returns the image and the plate's corners
    in it (a dealer frame, when drawn, surrounds the plate and is not part of it)."""
    n_lines = len(style.lines)
    H = 120 if n_lines == 1 else 200
    W = int(round(H * style.aspect))
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    radius = int(rng.integers(4, 16))
    d.rounded_rectangle([0, 0, W - 1, H - 1], radius=radius, fill=style.bg + (255,))
    bw = int(rng.integers(2, 7))
    if rng.random() < 0.8:
        frame = style.fg if rng.random() < 0.7 else (int(rng.integers(0, 255)),) * 3
        d.rounded_rectangle([bw, bw, W - 1 - bw, H - 1 - bw], radius=max(1, radius - 2), outline=frame + (255,), width=max(2, bw - 1))
    x0, x1 = 10 + bw, W - 10 - bw
    top, bottom = 10 + bw, H - 10 - bw
    line_h = 120
    if style.band is not None:
        bandw = int(line_h * 0.36)
        d.rounded_rectangle([bw + 2, bw + 2, bw + 2 + bandw, H - 3 - bw], radius=3, fill=style.band + (255,))
        cx, cy = bw + 2 + bandw / 2, min(H * 0.3, 40)
        for a in range(12):
            ang = a * math.pi / 6
            px, py = cx + math.cos(ang) * bandw * 0.28, cy + math.sin(ang) * bandw * 0.28
            d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=(255, 204, 0, 255))
        lf = fit_font(any_fonts[0], style.band_text, bandw * 0.85, line_h * 0.28)
        d.text((cx, H - bw - line_h * 0.22), style.band_text, font=lf, fill=(255, 255, 255, 255), anchor="mm")
        x0 = bw + 2 + bandw + 8
    if style.right_band is not None:
        rbw = int(line_h * 0.3)
        d.rounded_rectangle([W - 3 - bw - rbw, bw + 2, W - 3 - bw, H - 3 - bw], radius=3, fill=style.right_band + (255,))
        x1 = W - 3 - bw - rbw - 8
    if style.top_strip is not None:
        sh = int(line_h * 0.24)
        d.rectangle([bw + 1, bw + 1, W - 2 - bw, bw + 1 + sh], fill=style.top_strip + (255,))
        tf = fit_font(any_fonts[rng.integers(len(any_fonts))], style.top_text, (x1 - x0) * 0.7, sh * 0.8)
        d.text((W / 2, bw + 1 + sh / 2), style.top_text, font=tf, fill=style.top_color + (255,), anchor="mm")
        top = bw + sh + 8
    elif style.top_text:
        tf = fit_font(any_fonts[rng.integers(len(any_fonts))], style.top_text, (x1 - x0) * 0.6, line_h * 0.18)
        d.text(((x0 + x1) / 2, top + line_h * 0.09), style.top_text, font=tf, fill=style.top_color + (255,), anchor="mm")
        top = int(top + line_h * 0.21)
    if style.bottom_text:
        bf = fit_font(any_fonts[rng.integers(len(any_fonts))], style.bottom_text, (x1 - x0) * 0.5, line_h * 0.1)
        d.text(((x0 + x1) / 2, H - bw - 6), style.bottom_text, font=bf, fill=style.fg + (255,), anchor="mb")
        bottom = int(bottom - line_h * 0.1)
    if style.stacked:
        sw = (x1 - x0) * 0.13
        half = (bottom - top) / 2
        for i, ch in enumerate(style.stacked):
            _text_centered(d, (x0, top + i * half, x0 + sw, top + (i + 1) * half), ch, font_path, style.fg + (255,), rng)
        x0 = int(x0 + sw + 6)
    if style.region:
        rw = (x1 - x0) * 0.22
        rx = x1 - rw
        d.line([rx - 4, top - 6, rx - 4, bottom + 6], fill=style.fg + (255,), width=3)
        _text_centered(d, (rx, top, x1, top + (bottom - top) * 0.68), style.region, font_path, style.fg + (255,), rng)
        sf = fit_font(any_fonts[0], "RUS", rw * 0.6, (bottom - top) * 0.2)
        d.text((rx + rw / 2, bottom), "RUS", font=sf, fill=style.fg + (255,), anchor="mb")
        x1 = int(rx - 10)
    if n_lines == 1:
        text = style.lines[0]
        if style.separator_bars:
            parts = text.split(" ")
            widths = [len(p) + 1 for p in parts]
            tot = sum(widths)
            xs = x0
            for p, wdt in zip(parts, widths):
                xe = xs + (x1 - x0) * wdt / tot
                _text_centered(d, (xs, top, xe, bottom), p, font_path, style.fg + (255,), rng, fill_h=(0.75, 0.9))
                if xe < x1 - 5:
                    d.line([xe, top, xe, bottom], fill=style.fg + (255,), width=3)
                xs = xe
        else:
            _text_centered(d, (x0, top, x1, bottom), text, font_path, style.fg + (255,), rng)
    else:
        half = (bottom - top) / n_lines
        for i, line in enumerate(style.lines):
            _text_centered(d, (x0, top + i * half, x1, top + (i + 1) * half), line, font_path, style.fg + (255,), rng,
                           fill_w=(0.6, 0.95), fill_h=(0.78, 0.95))
    arr = np.array(img)
    if rng.random() < 0.4:  # dirt / wear
        n = rng.normal(0, rng.uniform(3, 12), arr.shape[:2])
        n = cv2.GaussianBlur(n, (0, 0), rng.uniform(2, 8))
        arr[..., :3] = np.clip(arr[..., :3].astype(np.float32) + n[..., None] * 3, 0, 255).astype(np.uint8)
    corners = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
    if dealer_frame:
        arr, corners = add_dealer_frame(rng, arr, any_fonts)
    return arr, corners


DEALERS = ["AUTOHAUS MUELLER", "BEST AUTO SALES", "CITY MOTORS", "GARAGE DU CENTRE", "WWW.CARS4U.COM", "SMITH FORD",
           "TOYOTA OF SPRINGFIELD", "CONCESSIONNAIRE 75", "AUTO 2000", "MOTORS INC", "HONDA CENTER", "KIA MOTORS 24"]


def add_dealer_frame(rng, arr, any_fonts):
    """A dealer's frame around the plate, with its name above or below: text next to a plate that
    is not the plate's."""
    h, w = arr.shape[:2]
    side, tb, bb = int(h * rng.uniform(0.06, 0.14)), int(h * rng.uniform(0.08, 0.3)), int(h * rng.uniform(0.15, 0.4))
    H, W = h + tb + bb, w + 2 * side
    col = (int(rng.integers(0, 60)),) * 3 if rng.random() < 0.6 else (int(rng.integers(170, 230)),) * 3
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([0, 0, W - 1, H - 1], radius=int(side * 1.5), fill=col + (255,))
    text_col = (255, 255, 255, 255) if col[0] < 128 else (20, 20, 20, 255)
    name = DEALERS[rng.integers(len(DEALERS))]
    font = any_fonts[rng.integers(len(any_fonts))]
    if bb > 14:
        f = fit_font(font, name, W * 0.8, bb * 0.7)
        d.text((W / 2, h + tb + bb / 2), name, font=f, fill=text_col, anchor="mm")
    if tb > 14 and rng.random() < 0.5:
        slogan = ["SERVICE", "THANK YOU", "SALES & SERVICE", "SINCE 1985"][rng.integers(4)]
        f = fit_font(font, slogan, W * 0.6, tb * 0.7)
        d.text((W / 2, tb / 2), slogan, font=f, fill=text_col, anchor="mm")
    out = np.array(img)
    region = out[tb:tb + h, side:side + w]
    a = arr[..., 3:4].astype(np.float32) / 255
    region[..., :3] = (region[..., :3] * (1 - a) + arr[..., :3] * a).astype(np.uint8)
    region[..., 3] = np.maximum(region[..., 3], arr[..., 3])
    corners = np.array([[side, tb], [side + w, tb], [side + w, tb + h], [side, tb + h]], np.float32)
    return out, corners


# --------------------------------------------------------------------------------------------
# scene


def smooth_noise(rng, h, w, scale):
    small = rng.random((max(2, int(h / scale)), max(2, int(w / scale)), 3)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def background(rng, h, w) -> np.ndarray:
    k = rng.integers(6)
    base = rng.integers(0, 256, 3).astype(np.float32)
    if k == 0:  # vertical gradient (sky/ground)
        c2 = rng.integers(0, 256, 3).astype(np.float32)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = base * (1 - t) + c2 * t
        img = np.broadcast_to(img, (h, w, 3)).copy()
    elif k == 1:  # asphalt/concrete noise
        g = rng.uniform(60, 170)
        img = np.full((h, w, 3), g, np.float32) + rng.normal(0, rng.uniform(5, 25), (h, w, 1))
        img += (smooth_noise(rng, h, w, rng.uniform(20, 120)) - 0.5) * 60
    elif k == 2:  # bricks / tiles
        img = np.full((h, w, 3), base * 0.6, np.float32)
        bh, bwid = int(rng.integers(12, 50)), int(rng.integers(30, 120))
        for r, y in enumerate(range(0, h, bh)):
            off = (bwid // 2) * (r % 2)
            for x in range(-off, w, bwid):
                c = base + rng.normal(0, 18, 3)
                cv2.rectangle(img, (x + 2, y + 2), (x + bwid - 2, y + bh - 2), c.tolist(), -1)
    elif k == 3:  # city-like blocks
        img = np.full((h, w, 3), base, np.float32)
        for _ in range(int(rng.integers(5, 30))):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            cw, ch = int(rng.integers(20, max(21, w // 2))), int(rng.integers(20, max(21, h // 2)))
            cv2.rectangle(img, (x, y), (x + cw, y + ch), rng.integers(0, 256, 3).tolist(), -1)
            if rng.random() < 0.5:  # windows
                for yy in range(y + 5, y + ch - 10, 18):
                    for xx in range(x + 5, x + cw - 10, 16):
                        cv2.rectangle(img, (xx, yy), (xx + 8, yy + 10), (rng.uniform(20, 230),) * 3, -1)
    elif k == 4:  # foliage-like colour noise
        img = smooth_noise(rng, h, w, rng.uniform(4, 30)) * 255
        img = img * 0.5 + base * 0.5
    else:  # stripes / lines
        img = np.full((h, w, 3), base, np.float32)
        for _ in range(int(rng.integers(5, 40))):
            p1 = (int(rng.integers(-w, 2 * w)), int(rng.integers(-h, 2 * h)))
            p2 = (int(rng.integers(-w, 2 * w)), int(rng.integers(-h, 2 * h)))
            cv2.line(img, p1, p2, rng.integers(0, 256, 3).tolist(), int(rng.integers(1, 15)))
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_grille(rng, img, x, y, w, h):
    c = rng.integers(0, 90, 3).tolist()
    cv2.rectangle(img, (x, y), (x + w, y + h), c, -1)
    light = np.clip(np.array(c) + rng.integers(60, 160), 0, 255).tolist()
    step = int(rng.integers(4, 14))
    if rng.random() < 0.5:
        for yy in range(y, y + h, step):
            cv2.line(img, (x, yy), (x + w, yy), light, max(1, step // 3))
    else:
        for xx in range(x, x + w, step):
            cv2.line(img, (xx, y), (xx, y + h), light, max(1, step // 3))


def draw_car(rng, img) -> tuple[int, int, int, int] | None:
    """A front/rear view car-like shape; returns the bumper region where a plate may go."""
    h, w = img.shape[:2]
    cw = int(w * rng.uniform(0.3, 0.95))
    ch = int(cw * rng.uniform(0.45, 0.75))
    x = int(rng.integers(-cw // 6, max(1, w - cw + cw // 6)))
    y = int(rng.integers(-ch // 6, max(1, h - ch + ch // 3)))
    col = rng.integers(0, 256, 3).tolist()
    # wheels
    ww = int(cw * 0.14)
    for wx in (x + int(cw * 0.08), x + cw - int(cw * 0.08) - ww):
        cv2.rectangle(img, (wx, y + int(ch * 0.75)), (wx + ww, y + ch), (20, 20, 20), -1)
    # body and cabin
    body = np.array([[x, y + int(ch * 0.4)], [x + cw, y + int(ch * 0.4)], [x + cw, y + int(ch * 0.9)],
                     [x, y + int(ch * 0.9)]], np.int32)
    cabin = np.array([[x + int(cw * 0.15), y + int(ch * 0.4)], [x + int(cw * 0.25), y],
                      [x + int(cw * 0.75), y], [x + int(cw * 0.85), y + int(ch * 0.4)]], np.int32)
    cv2.fillPoly(img, [cabin], col)
    win = np.array([[x + int(cw * 0.2), y + int(ch * 0.37)], [x + int(cw * 0.28), y + int(ch * 0.06)],
                    [x + int(cw * 0.72), y + int(ch * 0.06)], [x + int(cw * 0.8), y + int(ch * 0.37)]], np.int32)
    cv2.fillPoly(img, [win], rng.integers(10, 90, 3).tolist())
    cv2.fillPoly(img, [body], col)
    shade = (np.array(col) * rng.uniform(0.4, 0.8)).astype(int).tolist()
    cv2.rectangle(img, (x, y + int(ch * 0.8)), (x + cw, y + int(ch * 0.9)), shade, -1)  # bumper
    # lights
    lw, lh = int(cw * 0.14), int(ch * 0.1)
    lc = [255, 240, 200] if rng.random() < 0.5 else [30, 30, 220]
    for lx in (x + int(cw * 0.04), x + cw - int(cw * 0.04) - lw):
        cv2.ellipse(img, (lx + lw // 2, y + int(ch * 0.5)), (lw // 2, lh // 2), 0, 0, 360, lc, -1)
    if rng.random() < 0.7:
        draw_grille(rng, img, x + int(cw * 0.3), y + int(ch * 0.45), int(cw * 0.4), int(ch * 0.14))
    # plate region: centre of the bumper area
    return (x + cw // 2, y + int(ch * 0.72), cw, ch)


def random_words(rng):
    pool = ["STOP", "PARKING", "EXIT", "TAXI", "OPEN", "SALE", "CAFE", "HOTEL", "POLICE", "BUS",
            "NO ENTRY", "ONE WAY", "GARAGE", "TEL", "WWW", "ZONE 30", "P 2H", "KEEP LEFT", "SERVICE"]
    k = rng.random()
    if k < 0.4:
        return pool[rng.integers(len(pool))]
    if k < 0.7:  # phone numbers and codes
        return f"{rand_from(rng, DIGITS, 2)} {rand_from(rng, DIGITS, 2)} {rand_from(rng, DIGITS, 2)} {rand_from(rng, DIGITS, 2)}"
    n = int(rng.integers(3, 10))
    return "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "), n)).strip() or "A1"


BADGES = ["CHEVROLET", "TOYOTA", "HYBRID", "4MATIC", "TDI", "GTI", "SPORT", "4x4", "AWD", "V8", "TURBO", "XDRIVE",
          "QUATTRO", "LIMITED", "ECOBOOST", "RAV4", "CIVIC", "308", "A4", "C220D", "CX-5", "I30", "MODEL 3", "E-TRON"]
STREETS = ["MAIN ST", "ELM AVE", "RUE DE LA PAIX", "HAUPTSTR 12", "OAK DR", "EXIT 24B", "I-95 N", "A7 HAMBURG", "ROUTE 66",
           "BROADWAY", "5TH AVE", "VIA ROMA", "BAKER ST", "CALLE 13"]


def draw_hard_negative(rng, img, fonts):
    """Things an ANPR camera sees that are not plates but look like one: a car's badges (chrome
    letters, often plate-width), stickers and country ovals, street-name signs of plate shape,
    parking permits."""
    h, w = img.shape[:2]
    k = rng.integers(5)
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    any_fonts = fonts["any"] + [f for kk in PLATE_KINDS for f in fonts[kk]]
    font = any_fonts[rng.integers(len(any_fonts))]
    size = int(rng.uniform(0.012, 0.08) * h) + 8
    if k == 0:  # badge: chrome text, maybe on a darker bar
        text = BADGES[rng.integers(len(BADGES))]
        f = ImageFont.truetype(font, size)
        l, t, r, b = f.getbbox(text)
        x, y = int(rng.integers(0, max(1, w - (r - l)))), int(rng.integers(0, max(1, h - (b - t))))
        if rng.random() < 0.4:
            pad = size // 4
            d.rounded_rectangle([x - pad, y - pad, x + r - l + pad, y + b - t + pad], radius=pad, fill=tuple(int(c) for c in rng.integers(0, 80, 3)))
        chrome = tuple(int(c) for c in np.clip(rng.normal(200, 25, 3), 120, 255))
        d.text((x - l + 1, y - t + 1), text, font=f, fill=(30, 30, 30))
        d.text((x - l, y - t), text, font=f, fill=chrome)
    elif k == 1:  # country oval sticker or round sticker
        text = ["D", "F", "GB", "NL", "CH", "I", "E", "USA", "CD", "A"][rng.integers(10)]
        rw, rh = size * 1.6, size
        x, y = rng.uniform(0, w - rw), rng.uniform(0, h - rh)
        d.ellipse([x, y, x + rw, y + rh], fill=(245, 245, 240), outline=(10, 10, 10), width=max(1, size // 12))
        f = fit_font(font, text, rw * 0.6, rh * 0.6)
        d.text((x + rw / 2, y + rh / 2), text, font=f, fill=(10, 10, 10), anchor="mm")
    elif k == 2:  # street-name sign: plate-shaped, words
        text = STREETS[rng.integers(len(STREETS))]
        bh = size * 1.4
        bw = bh * rng.uniform(3, 5.5)
        x, y = rng.uniform(0, max(1, w - bw)), rng.uniform(0, max(1, h - bh))
        bg, fg = [((20, 110, 60), (255, 255, 255)), ((20, 50, 150), (255, 255, 255)), ((250, 250, 250), (10, 10, 10)),
                  ((240, 200, 20), (10, 10, 10))][rng.integers(4)]
        d.rounded_rectangle([x, y, x + bw, y + bh], radius=size // 6, fill=bg, outline=fg, width=max(1, size // 14))
        f = fit_font(font, text, bw * 0.85, bh * 0.7)
        d.text((x + bw / 2, y + bh / 2), text, font=f, fill=fg, anchor="mm")
    elif k == 3:  # parking permit / inspection sticker: small square with digits
        text = ["P 2025", "TUV 26", "CRIT'AIR 2", "VIGNETTE", "PERMIT 418", "2026"][rng.integers(6)]
        s = size * 2
        x, y = rng.uniform(0, max(1, w - s)), rng.uniform(0, max(1, h - s))
        col = tuple(int(c) for c in rng.integers(60, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x, y, x + s, y + s], fill=col)
        else:
            d.rectangle([x, y, x + s, y + s * 0.7], fill=col)
        f = fit_font(font, text, s * 0.8, s * 0.3)
        d.text((x + s / 2, y + s * 0.35), text, font=f, fill=(0, 0, 0), anchor="mm")
    else:  # a phone number on a van's side, plate-like
        text = random_words(rng)
        f = ImageFont.truetype(font, size)
        l, t, r, b = f.getbbox(text)
        x, y = int(rng.integers(0, max(1, w - (r - l)))), int(rng.integers(0, max(1, h - (b - t))))
        d.text((x - l, y - t), text, font=f, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    img[:] = np.array(pil)


def draw_distractor(rng, img, fonts):
    """Signs with text, loose text, grilles, and the hard negatives above."""
    h, w = img.shape[:2]
    k = rng.integers(6)
    if k >= 4:
        draw_hard_negative(rng, img, fonts)
        return
    if k == 3:
        gw, gh = int(rng.integers(30, max(31, w // 2))), int(rng.integers(20, max(21, h // 4)))
        draw_grille(rng, img, int(rng.integers(0, w)), int(rng.integers(0, h)), gw, gh)
        return
    text = random_words(rng)
    pool = fonts["any"] + [f for kk in PLATE_KINDS for f in fonts[kk]]
    font = pool[rng.integers(len(pool))]
    size = int(rng.integers(12, max(13, h // 8)))
    f = ImageFont.truetype(font, size)
    l, t, r, b = f.getbbox(text)
    tw, th = r - l, b - t
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    x, y = int(rng.integers(-tw // 4, max(1, w - tw))), int(rng.integers(0, max(1, h - th)))
    fg = tuple(int(c) for c in rng.integers(0, 256, 3))
    if k == 0:  # sign: coloured board, often round or square (not plate-shaped)
        pad = int(size * rng.uniform(0.3, 1.2))
        bg = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [x - pad, y - pad, x + tw + pad, y + th + pad * rng.uniform(1, 4)]
        if rng.random() < 0.3:
            cx, cy, rr = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(tw, th) / 2 + pad
            d.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=bg, outline=fg, width=3)
        else:
            d.rectangle(box, fill=bg, outline=fg if rng.random() < 0.5 else None, width=3)
    d.text((x - l, y - t), text, font=f, fill=fg)
    img[:] = np.array(pil)


def plate_quad(rng, center, bw, bh, strong=False):
    """The plate's corners in the scene: rotation, yaw/pitch foreshortening, corner jitter."""
    cx, cy = center
    ang = math.radians(float(np.clip(rng.normal(0, 7), -25, 25)))
    s = 1.6 if strong else 1.0
    yaw = float(np.clip(rng.normal(0, 0.12 * s), -0.4, 0.4))
    pitch = float(np.clip(rng.normal(0, 0.08 * s), -0.3, 0.3))
    corners = np.array([[-bw / 2, -bh / 2], [bw / 2, -bh / 2], [bw / 2, bh / 2], [-bw / 2, bh / 2]], np.float32)
    corners[[0, 3], 1] *= 1 + yaw
    corners[[1, 2], 1] *= 1 - yaw
    corners[[0, 1], 0] *= 1 - pitch
    corners[[2, 3], 0] *= 1 + pitch
    corners += rng.normal(0, 0.02, corners.shape).astype(np.float32) * np.array([bw, bh], np.float32)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
    return corners @ rot.T + np.array([cx, cy], np.float32)


def place_plate(rng, img, rgba, plate_corners, center, bw, bh, strong=False):
    """Warps the plate (and its frame, if any) into the scene; returns the plate's axis-aligned box
    and the share of it inside the image."""
    h, w = img.shape[:2]
    dst = plate_quad(rng, center, bw, bh, strong)
    M = cv2.getPerspectiveTransform(plate_corners.astype(np.float32), dst)
    pw = float(plate_corners[1, 0] - plate_corners[0, 0])
    warped = cv2.warpPerspective(rgba, M, (w, h), flags=cv2.INTER_AREA if bw < pw else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    a = warped[..., 3:4].astype(np.float32) / 255
    img[:] = (img.astype(np.float32) * (1 - a) + warped[..., :3].astype(np.float32) * a).astype(np.uint8)
    x1, y1 = np.clip(dst.min(0), 0, [w, h])
    x2, y2 = np.clip(dst.max(0), 0, [w, h])
    full = (dst.max(0) - dst.min(0)).prod()
    visible = (x2 - x1) * (y2 - y1)
    return [float(x1), float(y1), float(x2), float(y2)], float(visible / max(full, 1e-6))


def photometric(rng, img) -> np.ndarray:
    h, w = img.shape[:2]
    f = img.astype(np.float32)
    if rng.random() < 0.7:  # lighting gradient
        gx, gy = rng.normal(0, 0.6, 2)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        grad = 1 + (gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
        f *= np.clip(grad, 0.3, 1.8)[..., None]
    if rng.random() < 0.25:  # cast shadow
        pts = rng.integers(0, [w, h], (int(rng.integers(3, 6)), 2)).astype(np.int32)
        mask = np.zeros((h, w), np.float32)
        cv2.fillPoly(mask, [pts], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(2, 15))
        f *= (1 - mask * rng.uniform(0.2, 0.55))[..., None]
    f = (f - 128) * rng.uniform(0.7, 1.25) + 128 + rng.uniform(-40, 40)
    f *= rng.uniform(0.85, 1.15, 3)
    f = np.clip(f, 0, 255)
    if rng.random() < 0.3:  # gamma
        f = 255 * (f / 255) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.12:  # glare: a bright specular spot (sun, flash on the retroreflective sheet)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.3) * max(w, h)
        yy, xx = np.ogrid[0:h, 0:w]
        spot = np.exp(-(((xx - cx) ** 2) / (2 * r * r) + ((yy - cy) ** 2) / (2 * (r * rng.uniform(0.3, 1)) ** 2)))
        f = f + spot[..., None].astype(np.float32) * rng.uniform(80, 220)
    night = rng.random() < 0.12
    if night:  # night: dark, noisy, sometimes infrared (grey)
        f = f * rng.uniform(0.15, 0.45)
        if rng.random() < 0.4:
            g = f.mean(axis=2, keepdims=True)
            f = np.repeat(g * rng.uniform(1.2, 2.2), 3, axis=2)
    r = rng.random()
    if r < 0.35:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.5))
    elif r < 0.47:
        k = int(rng.integers(3, 9))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
        kern = cv2.warpAffine(kern, M, (k, k))
        kern /= max(kern.sum(), 1e-6)
        f = cv2.filter2D(f, -1, kern)
    if rng.random() < 0.6 or night:
        f += rng.normal(0, rng.uniform(1, 9) * (2.5 if night else 1), f.shape)
    f = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:  # low resolution: a cheap sensor or digital zoom
        s = rng.uniform(0.3, 0.7)
        small = cv2.resize(f, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
        f = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return f


def jpeg_quality(rng) -> int:
    return int(rng.integers(8, 35)) if rng.random() < 0.15 else int(rng.integers(35, 96))


SIZES = [(640, 480), (800, 600), (960, 540), (1024, 768), (720, 720), (1280, 720), (480, 640), (600, 800),
         (1600, 1200), (1920, 1080)]
AREA_MIN, AREA_MAX = 0.002, 0.30
TWO_LINE_P = 0.15
DEALER_P = 0.15
CROP_MAX_W = 200


def plate_area(rng, hi=AREA_MAX) -> float:
    """Plate area as a share of the image: log-uniform over [0.2 %, 30 %]."""
    return math.exp(rng.uniform(math.log(AREA_MIN), math.log(hi)))


def new_plate(rng, fonts):
    style = make_style(rng)
    if rng.random() < TWO_LINE_P:
        style = two_line(rng, style)
    font = pick_font(rng, fonts, style.font_kind)
    rgba, corners = render_plate(rng, style, font, fonts["any"], dealer_frame=rng.random() < DEALER_P)
    return style, font, rgba, corners


def plate_record(style: PlateStyle, font: str, box, w, h) -> dict:
    return {"text": style.label, "printed": " / ".join(style.lines), "system": style.system, "lines": len(style.lines),
            "font": Path(font).name, "box": [round(v, 1) for v in box],
            "area": round((box[2] - box[0]) * (box[3] - box[1]) / (w * h), 5)}


def make_scene(seed: int, idx: int, fonts):
    rng = np.random.default_rng([seed, idx])
    w, h = SIZES[rng.integers(len(SIZES))]
    img = background(rng, h, w)
    n_plates = int(rng.choice([0, 1, 1, 1, 1, 2, 2, 3, 4]))
    centers = []
    for _ in range(int(rng.integers(0, 3))):
        draw_distractor(rng, img, fonts)
    for _ in range(n_plates):
        if rng.random() < 0.7:
            car = draw_car(rng, img)
            if car is not None:
                centers.append((car[0], car[1]))
                continue
        centers.append(None)
    for _ in range(int(rng.integers(0, 4))):
        draw_distractor(rng, img, fonts)
    plates, boxes = [], []
    hi = AREA_MAX if n_plates <= 1 else AREA_MAX / n_plates
    for c in centers:
        style, font, rgba, corners = new_plate(rng, fonts)
        area = plate_area(rng, hi)
        for _try in range(20):
            if c is None or _try > 0:
                c = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
            bw = math.sqrt(area * w * h * style.aspect)
            bh = bw / style.aspect
            cand = [c[0] - bw / 2, c[1] - bh / 2, c[0] + bw / 2, c[1] + bh / 2]
            # keep plates (almost) inside and not overlapping each other
            if cand[0] < -0.05 * bw or cand[1] < -0.05 * bh or cand[2] > w + 0.05 * bw or cand[3] > h + 0.05 * bh:
                area *= 0.9
                continue
            if any(not (cand[2] < b[0] - 4 or cand[0] > b[2] + 4 or cand[3] < b[1] - 4 or cand[1] > b[3] + 4) for b in boxes):
                continue
            box, _vis = place_plate(rng, img, rgba, corners, c, bw, bh)
            boxes.append(box)
            plates.append(plate_record(style, font, box, w, h))
            break
    img = photometric(rng, img)
    quality = jpeg_quality(rng)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpg.tobytes(), (w, h), plates, quality


def make_plate_crop(seed: int, idx: int, fonts, context: float = 0.4):
    """One plate with `context` x its size of surroundings on each side, at the pixel size it would
    have in a scene (same systems, area distribution, image sizes, degradations and JPEG as
    make_scene), for training the reader at a fraction of a scene's cost. Returns the decoded RGB
    patch, the plate's box in it, and its record."""
    rng = np.random.default_rng([seed, idx, 7])
    w, h = SIZES[rng.integers(len(SIZES))]
    style, font, rgba, corners = new_plate(rng, fonts)
    area = plate_area(rng)
    bw = math.sqrt(area * w * h * style.aspect)
    # a plate wider than CROP_MAX_W px is drawn at that width: the reader's input is 128 px wide, and
    # the cost of the patch grows with its area
    bw = min(bw, CROP_MAX_W)
    bh = bw / style.aspect
    pw, ph = int(bw * (1 + 2 * context)) + 4, int(bh * (1 + 2 * context) + bw * 0.3) + 4
    img = background(rng, ph, pw)
    if rng.random() < 0.6:  # a car's body colour around the plate
        img[:] = (img * 0.3 + rng.integers(0, 256, 3) * 0.7).astype(np.uint8)
    if rng.random() < 0.3:
        draw_grille(rng, img, int(pw * 0.2), 0, int(pw * 0.6), int(ph * 0.25))
    if rng.random() < 0.2:
        draw_hard_negative(rng, img, fonts)
    box, _ = place_plate(rng, img, rgba, corners, (pw / 2, ph / 2), bw, bh, strong=rng.random() < 0.3)
    img = photometric(rng, img)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(rng)])
    assert ok
    rgb = cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rec = plate_record(style, font, box, w, h)
    rec["area"] = round(area, 5)
    return rgb, box, rec


_FONTS = None


def _init(fonts):
    global _FONTS
    _FONTS = fonts
    cv2.setNumThreads(1)


def _work(args):
    out, seed, idx = args
    jpg, (w, h), plates, q = make_scene(seed, idx, _FONTS)
    name = f"{idx:06d}"
    (out / "images" / f"{name}.jpg").write_bytes(jpg)
    lines = []
    for p in plates:
        x1, y1, x2, y2 = p["box"]
        lines.append(f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    (out / "labels" / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return {"file": f"images/{name}.jpg", "width": w, "height": h, "jpegQuality": q, "plates": plates}


def generate(out: Path, n: int, seed: int, workers: int | None = None, font_cache: Path | None = None) -> dict:
    out = Path(out)
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("seed") == seed and meta.get("count") == n and meta.get("version") == GENERATOR_VERSION:
            print(f"[synth] {out} up to date ({n} images, seed {seed})", flush=True)
            return meta
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir(parents=True)
    fonts = ensure_fonts(font_cache or out.parent / "fonts")
    workers = workers or os.cpu_count() or 1
    with Pool(workers, initializer=_init, initargs=(fonts,)) as pool:
        rows = pool.map(_work, [(out, seed, i) for i in range(n)], chunksize=16)
    with open(out / "plates.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    n_plates = sum(len(r["plates"]) for r in rows)
    systems: dict[str, int] = {}
    for r in rows:
        for p in r["plates"]:
            systems[p["system"]] = systems.get(p["system"], 0) + 1
    meta = {"seed": seed, "count": n, "plates": n_plates, "systems": dict(sorted(systems.items())),
            "twoLine": sum(p["lines"] == 2 for r in rows for p in r["plates"]), "version": GENERATOR_VERSION,
            "fonts": {k: [Path(p).name for p in v] for k, v in fonts.items()}, "fontPackages": FONT_PACKAGES}
    meta_path.write_text(json.dumps(meta, indent=1))
    print(f"[synth] {out}: {n} images, {n_plates} plates, seed {seed}, {meta['systems']}", flush=True)
    return meta


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--font-cache", type=Path, default=None)
    a = ap.parse_args()
    generate(a.out, a.n, a.seed, a.workers, a.font_cache)
