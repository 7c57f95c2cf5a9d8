"""Seeded, deterministic synthetic licence-plate scenes with YOLO labels and plate text.

Every image i of a split is drawn from its own generator seeded with (seed, i), so the output does
not depend on the number of worker processes, and another seed gives a disjoint held-out set.

    python training/synth.py --out training/data/val --n 500 --seed 2

Layout written under --out:
    images/000000.jpg ...      the scenes (JPEG, random size and quality)
    labels/000000.txt ...      YOLO: "0 cx cy w h" normalised, one line per plate
    plates.jsonl               per image: file, size, and per plate: text, format, font, box (px)
    meta.json                  seed, count, generator version, fonts used (with licences)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

GENERATOR_VERSION = "1"
LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"  # no I, O, Q, U: like most real schemes (and less O/0 ambiguity)
DIGITS = "0123456789"

# Fonts: Debian packages the project installs itself (see ensure_fonts). Licences recorded in
# meta.json and the model card.
FONT_PACKAGES = {
    "fonts-dejavu-core": "Bitstream Vera / DejaVu licence (permissive, free)",
    "fonts-liberation2": "SIL Open Font License 1.1",
    "fonts-freefont-ttf": "GPL-3.0-or-later with font exception",
}
FONT_FILES = {
    # plate fonts: bold, upright, well-spaced (real plates use FE-Schrift, Charles Wright, ...)
    "plate": [
        ("fonts-dejavu-core", "dejavu/DejaVuSans-Bold.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSansMono-Bold.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSansCondensed-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSans-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationMono-Bold.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSansBold.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeMonoBold.ttf"),
    ],
    # distractor text: anything
    "any": [
        ("fonts-dejavu-core", "dejavu/DejaVuSans.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSerif.ttf"),
        ("fonts-dejavu-core", "dejavu/DejaVuSerif-Bold.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSerif-Regular.ttf"),
        ("fonts-liberation2", "liberation2/LiberationSans-Italic.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSerifItalic.ttf"),
        ("fonts-freefont-ttf", "freefont/FreeSans.ttf"),
    ],
}
SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype")


def ensure_fonts(cache: Path) -> dict[str, list[str]]:
    """Finds the fonts (installing the Debian packages with apt-get if they are missing and we are
    root) and copies them into `cache`, so a machine without the packages can be handed the folder.
    """
    missing = [p for p, f in FONT_FILES["plate"] + FONT_FILES["any"]
               if not (cache / Path(f).name).exists() and not (SYSTEM_FONT_DIR / f).exists()]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        pkgs = sorted(set(missing))
        print(f"[synth] installing {' '.join(pkgs)} with apt-get", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *pkgs], check=False,
                       stdout=subprocess.DEVNULL)
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {"plate": [], "any": []}
    for kind, files in FONT_FILES.items():
        for pkg, f in files:
            dst = cache / Path(f).name
            if not dst.exists() and (SYSTEM_FONT_DIR / f).exists():
                shutil.copy(SYSTEM_FONT_DIR / f, dst)
            if dst.exists():
                out[kind].append(str(dst))
    if not out["plate"] or not out["any"]:
        sys.exit(f"[synth] no fonts found: apt-get install {' '.join(FONT_PACKAGES)}")
    return out


# --------------------------------------------------------------------------------------------
# plate formats


@dataclass
class PlateStyle:
    name: str
    text: str          # as printed, e.g. "AB-123-CD"
    aspect: float      # width / height of the plate
    bg: tuple
    fg: tuple
    band: tuple | None  # EU-style blue band on the left
    band_letter: str
    top_text: str | None  # small line above (US state name)
    top_color: tuple


def rand_from(rng, chars, n):
    return "".join(chars[rng.integers(len(chars))] for _ in range(n))


def make_style(rng) -> PlateStyle:
    k = rng.integers(5)
    white = (int(rng.integers(228, 256)),) * 3
    yellow = (int(rng.integers(235, 256)), int(rng.integers(190, 215)), int(rng.integers(0, 40)))
    black = (int(rng.integers(0, 35)),) * 3
    blue = (0, int(rng.integers(40, 70)), int(rng.integers(140, 175)))
    if k == 0:  # France SIV: AB-123-CD, white, blue band "F"
        t = f"{rand_from(rng, LETTERS, 2)}-{rand_from(rng, DIGITS, 3)}-{rand_from(rng, LETTERS, 2)}"
        return PlateStyle("FR", t, 4.73, white, black, blue, "F", None, (0, 0, 0))
    if k == 1:  # Tunisia: 123 TU 4567, black plate, white characters
        t = f"{rand_from(rng, DIGITS, 3)} TU {rand_from(rng, DIGITS, 4)}"
        return PlateStyle("TN", t, 4.73, black, white, None, "", None, (0, 0, 0))
    if k == 2:  # California: 7ABC123, white, dark blue characters, red state name on top
        t = f"{rng.integers(1, 10)}{rand_from(rng, LETTERS, 3)}{rand_from(rng, DIGITS, 3)}"
        top = "California" if rng.random() < 0.6 else None
        return PlateStyle("US-CA", t, 2.0, white, (10, 20, 110), None, "", top, (190, 20, 30))
    if k == 3:  # UK: AB12 CDE, white front / yellow rear, optional GB band
        t = f"{rand_from(rng, LETTERS, 2)}{rand_from(rng, DIGITS, 2)} {rand_from(rng, LETTERS, 3)}"
        bg = yellow if rng.random() < 0.5 else white
        band = blue if rng.random() < 0.4 else None
        return PlateStyle("UK", t, 4.64, bg, black, band, "UK", None, (0, 0, 0))
    # Netherlands: 12-ABC-3 style, yellow, blue band "NL"
    t = f"{rand_from(rng, DIGITS, 2)}-{rand_from(rng, LETTERS, 3)}-{rand_from(rng, DIGITS, 1)}"
    return PlateStyle("NL", t, 4.73, yellow, black, blue, "NL", None, (0, 0, 0))


def normalize_text(t: str) -> str:
    return t.replace(" ", "").replace("-", "").upper()


def fit_font(path, text, max_w, max_h):
    size = int(max_h)
    while size > 6:
        f = ImageFont.truetype(path, size)
        l, t, r, b = f.getbbox(text)
        if r - l <= max_w and b - t <= max_h:
            return f
        size = int(size * 0.93)
    return ImageFont.truetype(path, 6)


def render_plate(rng, style: PlateStyle, font_path: str, any_fonts) -> np.ndarray:
    """Renders a plate as RGBA at ~120 px height (downscaled later by the perspective warp)."""
    H = 120
    W = int(round(H * style.aspect))
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    radius = int(rng.integers(4, 16))
    d.rounded_rectangle([0, 0, W - 1, H - 1], radius=radius, fill=style.bg + (255,))
    # border / frame
    bw = int(rng.integers(2, 7))
    if rng.random() < 0.8:
        frame = style.fg if rng.random() < 0.7 else (int(rng.integers(0, 255)),) * 3
        d.rounded_rectangle([bw, bw, W - 1 - bw, H - 1 - bw], radius=max(1, radius - 2),
                            outline=frame + (255,), width=max(2, bw - 1))
    x0, x1 = 10 + bw, W - 10 - bw
    if style.band is not None:
        bandw = int(H * 0.38)
        d.rounded_rectangle([bw + 2, bw + 2, bw + 2 + bandw, H - 3 - bw], radius=3, fill=style.band + (255,))
        # ring of stars (dots) and the country letter
        cx, cy = bw + 2 + bandw / 2, H * 0.3
        for a in range(12):
            ang = a * math.pi / 6
            px, py = cx + math.cos(ang) * bandw * 0.28, cy + math.sin(ang) * bandw * 0.28
            d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=(255, 204, 0, 255))
        lf = fit_font(font_path, style.band_letter, bandw * 0.8, H * 0.3)
        d.text((cx, H * 0.75), style.band_letter, font=lf, fill=(255, 255, 255, 255), anchor="mm")
        x0 = bw + 2 + bandw + 8
    top, bottom = 12 + bw, H - 12 - bw
    if style.top_text:
        tf = fit_font(any_fonts[rng.integers(len(any_fonts))], style.top_text, (x1 - x0) * 0.6, H * 0.2)
        d.text(((x0 + x1) / 2, top + H * 0.1), style.top_text, font=tf, fill=style.top_color + (255,), anchor="mm")
        top = int(top + H * 0.22)
    if style.name == "US-CA" and rng.random() < 0.5:
        bf = fit_font(any_fonts[rng.integers(len(any_fonts))], "DMV.CA.GOV", (x1 - x0) * 0.4, H * 0.1)
        d.text(((x0 + x1) / 2, H - bw - 6), "DMV.CA.GOV", font=bf, fill=style.fg + (255,), anchor="mb")
        bottom = int(bottom - H * 0.08)
    f = fit_font(font_path, style.text, (x1 - x0) * rng.uniform(0.85, 0.98), (bottom - top) * rng.uniform(0.8, 0.97))
    d.text(((x0 + x1) / 2, (top + bottom) / 2), style.text, font=f, fill=style.fg + (255,), anchor="mm")
    arr = np.array(img)
    # dirt / wear
    if rng.random() < 0.4:
        n = rng.normal(0, rng.uniform(3, 12), arr.shape[:2])
        n = cv2.GaussianBlur(n, (0, 0), rng.uniform(2, 8))
        arr[..., :3] = np.clip(arr[..., :3].astype(np.float32) + n[..., None] * 3, 0, 255).astype(np.uint8)
    return arr


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
            cw, ch = int(rng.integers(20, w // 2)), int(rng.integers(20, h // 2))
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


def draw_distractor(rng, img, any_fonts, plate_fonts):
    """Signs with text, loose text, grilles: things with edges and characters that are not plates."""
    h, w = img.shape[:2]
    k = rng.integers(4)
    if k == 3:
        gw, gh = int(rng.integers(30, max(31, w // 2))), int(rng.integers(20, max(21, h // 4)))
        draw_grille(rng, img, int(rng.integers(0, w)), int(rng.integers(0, h)), gw, gh)
        return
    text = random_words(rng)
    fonts = any_fonts + plate_fonts
    font = fonts[rng.integers(len(fonts))]
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


def place_plate(rng, img, plate_rgba, center, area_frac):
    """Warps the plate into the scene with rotation and perspective; returns its axis-aligned box."""
    h, w = img.shape[:2]
    ph, pw = plate_rgba.shape[:2]
    aspect = pw / ph
    area = area_frac * w * h
    bw = math.sqrt(area * aspect)
    bh = bw / aspect
    cx, cy = center
    ang = math.radians(float(np.clip(rng.normal(0, 7), -25, 25)))
    # perspective: yaw/pitch-like foreshortening by shrinking one side
    yaw = float(np.clip(rng.normal(0, 0.12), -0.35, 0.35))
    pitch = float(np.clip(rng.normal(0, 0.08), -0.25, 0.25))
    corners = np.array([[-bw / 2, -bh / 2], [bw / 2, -bh / 2], [bw / 2, bh / 2], [-bw / 2, bh / 2]], np.float32)
    corners[[0, 3], 1] *= 1 + yaw
    corners[[1, 2], 1] *= 1 - yaw
    corners[[0, 1], 0] *= 1 - pitch
    corners[[2, 3], 0] *= 1 + pitch
    corners += rng.normal(0, 0.02, corners.shape).astype(np.float32) * np.array([bw, bh], np.float32)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
    dst = corners @ rot.T + np.array([cx, cy], np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate_rgba, M, (w, h), flags=cv2.INTER_AREA if bw < pw else cv2.INTER_LINEAR,
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
    # lighting: a gradient or spot, overall brightness/contrast, colour cast
    if rng.random() < 0.7:
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
    # blur: gaussian or motion
    r = rng.random()
    if r < 0.35:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.3))
    elif r < 0.45:
        k = int(rng.integers(3, 8))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
        kern = cv2.warpAffine(kern, M, (k, k))
        kern /= max(kern.sum(), 1e-6)
        f = cv2.filter2D(f, -1, kern)
    if rng.random() < 0.6:
        f += rng.normal(0, rng.uniform(1, 9), f.shape)
    return np.clip(f, 0, 255).astype(np.uint8)


SIZES = [(640, 480), (800, 600), (960, 540), (1024, 768), (720, 720), (1280, 720), (480, 640), (600, 800)]


def make_scene(seed: int, idx: int, fonts):
    rng = np.random.default_rng([seed, idx])
    w, h = SIZES[rng.integers(len(SIZES))]
    img = background(rng, h, w)
    n_plates = int(rng.choice([0, 1, 1, 1, 1, 2, 2, 3, 4], p=None))
    centers = []
    for _ in range(int(rng.integers(0, 3))):
        draw_distractor(rng, img, fonts["any"], fonts["plate"])
    for p in range(n_plates):
        if rng.random() < 0.7:
            car = draw_car(rng, img)
            if car is not None:
                centers.append((car[0], car[1]))
                continue
        centers.append(None)
    for _ in range(int(rng.integers(0, 4))):
        draw_distractor(rng, img, fonts["any"], fonts["plate"])
    plates, boxes = [], []
    hi = 0.30 if n_plates <= 1 else 0.30 / n_plates
    for c in centers:
        style = make_style(rng)
        font = fonts["plate"][rng.integers(len(fonts["plate"]))]
        rgba = render_plate(rng, style, font, fonts["any"])
        area = math.exp(rng.uniform(math.log(0.01), math.log(hi)))
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
            box, vis = place_plate(rng, img, rgba, c, area)
            boxes.append(box)
            plates.append({"text": normalize_text(style.text), "printed": style.text, "format": style.name,
                           "font": Path(font).name, "box": [round(v, 1) for v in box],
                           "area": round((box[2] - box[0]) * (box[3] - box[1]) / (w * h), 4)})
            break
    img = photometric(rng, img)
    quality = int(rng.integers(35, 96))
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpg.tobytes(), (w, h), plates, quality


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
    fmt = {}
    for r in rows:
        for p in r["plates"]:
            fmt[p["format"]] = fmt.get(p["format"], 0) + 1
    meta = {"seed": seed, "count": n, "plates": n_plates, "formats": fmt, "version": GENERATOR_VERSION,
            "fonts": {k: [Path(p).name for p in v] for k, v in fonts.items()}, "fontPackages": FONT_PACKAGES}
    meta_path.write_text(json.dumps(meta, indent=1))
    print(f"[synth] {out}: {n} images, {n_plates} plates, seed {seed}, {fmt}", flush=True)
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
