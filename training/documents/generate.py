"""Seeded, deterministic synthetic identity-document photos with every zone's geometry and the
expected reading.

Every photo i of a set is drawn from its own generator seeded with (seed, i), so the output does
not depend on the number of worker processes, and another seed gives a disjoint held-out set
(training 1, validation 2, evaluation 3; the plate generator's seeds are a different stream).

    python -m training.documents.generate --out training/data/documents/val --n 300 --seed 2
    (or: python training/documents/generate.py ...)

Layout written under --out:
    images/000000.jpg ...      the photos (JPEG, random size and quality)
    documents.jsonl            per photo: file, size, type, layout, the document's corners, every
                               zone's quadrilateral (photo pixels), the expected fields (as the
                               server returns them), the visual zone's printed texts, the MRZ lines
    meta.json                  seed, count, generator version, layouts, fonts (with licences)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "documents"

from .fonts import PACKAGES, ensure_fonts  # noqa: E402
from .layouts import LAYOUTS  # noqa: E402
from .photo import photograph  # noqa: E402
from .render import render  # noqa: E402

GENERATOR_VERSION = "1"
KINDS = ["TD1", "TD2", "TD3"]


def make_photo(seed: int, idx: int, fonts):
    rng = np.random.default_rng([seed, idx, 9303])
    kind = KINDS[int(rng.integers(3))]
    choices = [l for l in LAYOUTS if l.kind == kind]
    layout = choices[int(rng.integers(len(choices)))]
    doc = render(rng, layout, fonts)
    jpg, (w, h), corners, zones, q, px_mm = photograph(rng, doc, fonts)
    row = {"width": w, "height": h, "type": doc.kind, "layout": doc.layout, "jpegQuality": q, "pxPerMm": round(px_mm, 2),
           "corners": np.round(corners, 2).tolist(),
           "zones": [{"name": n, "quad": np.round(z, 2).tolist()} for n, z in zones],
           "fields": doc.fields, "viz": doc.viz, "mrz": doc.mrz}
    return jpg, row


_FONTS = None


def _init(fonts):
    global _FONTS
    _FONTS = fonts
    cv2.setNumThreads(1)


def _work(args):
    """One photo and its row (rows/ makes an interrupted run resumable: done photos are kept)."""
    out, seed, idx = args
    done = out / "rows" / f"{idx:06d}.json"
    if done.exists():
        return json.loads(done.read_text())
    jpg, row = make_photo(seed, idx, _FONTS)
    name = f"images/{idx:06d}.jpg"
    (out / name).write_bytes(jpg)
    row = {"file": name, **row}
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(row, ensure_ascii=False))
    tmp.rename(done)
    return row


def read_rows(split: Path, n: int | None = None) -> list[dict]:
    """The rows of a set: documents.jsonl when it is complete, else the photos done so far (rows/,
    in index order, stopping at the first gap), so training can start while a big set is made."""
    if (split / "documents.jsonl").exists():
        rows = [json.loads(l) for l in (split / "documents.jsonl").read_text().splitlines()]
        return rows[:n] if n else rows
    rows = []
    i = 0
    while (n is None or i < n) and (split / "rows" / f"{i:06d}.json").exists():
        rows.append(json.loads((split / "rows" / f"{i:06d}.json").read_text()))
        i += 1
    return rows


def generate(out: Path, n: int, seed: int, workers: int | None = None, font_cache: Path | None = None) -> dict:
    out = Path(out)
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("seed") == seed and meta.get("count") == n and meta.get("version") == GENERATOR_VERSION:
            print(f"[documents] {out} up to date ({n} photos, seed {seed})", flush=True)
            return meta
    if (out / "rows").exists() and json.loads((out / "params.json").read_text()) != {"seed": seed, "version": GENERATOR_VERSION}:
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "rows").mkdir(exist_ok=True)
    (out / "params.json").write_text(json.dumps({"seed": seed, "version": GENERATOR_VERSION}))
    fonts = ensure_fonts(font_cache or out.parent / "fonts")
    workers = workers or os.cpu_count() or 1
    t = time.time()
    with Pool(workers, initializer=_init, initargs=(fonts,)) as pool:
        rows = pool.map(_work, [(out, seed, i) for i in range(n)], chunksize=4)
    with open(out / "documents.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: dict = {}
    for r in rows:
        counts[r["layout"]] = counts.get(r["layout"], 0) + 1
    meta = {"seed": seed, "count": n, "version": GENERATOR_VERSION, "layouts": counts,
            "types": {k: sum(1 for r in rows if r["type"] == k) for k in KINDS},
            "fonts": {"ocrb": Path(fonts["ocrb"]).name, "families": [Path(f["regular"]).name for f in fonts["families"]],
                      "mono": [Path(m).name for m in fonts["mono"]]},
            "fontPackages": PACKAGES, "seconds": round(time.time() - t)}
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    shutil.rmtree(out / "rows")
    print(f"[documents] {out}: {n} photos, seed {seed}, {meta['types']} in {meta['seconds']}s", flush=True)
    return meta


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--font-cache", type=Path, default=None)
    a = ap.parse_args()
    generate(a.out, a.n, a.seed, a.workers, a.font_cache)
