"""Checks that each shipped model's weights, loaded back from its ONNX for further training
(onnx_weights.py), compute what the ONNX computes: in eval mode on fresh inputs, and in training
mode on the batch its batch norms were calibrated on (the first training steps start there).

    .venv/bin/python training/check_onnx_weights.py     # exit 1 when a difference is above its bound

Not in the test command: it needs torch (the training venv), which CI does not install.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import detector_init  # noqa: E402
import reader  # noqa: E402
from training.documents import recognizer  # noqa: E402

# probabilities (readers) and raw detector maps: float32 round-off; boxes in pixels of a 416 input
BOUND = {"probs": 1e-4, "boxes": 1e-2, "maps": 1e-3}


def onnx_out(path: Path, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def check_reader(name: str, path: Path, model: torch.nn.Module, load, shape: tuple[int, int], rng) -> list[tuple[str, float, float]]:
    calib = rng.normal(0, 1, (64, 1, *shape)).astype(np.float32)
    x = rng.normal(0, 1, (16, 1, *shape)).astype(np.float32)
    load(model, path, calib)
    with torch.no_grad():
        model.eval()
        ev = np.abs(torch.softmax(model(torch.from_numpy(x)), -1).numpy() - onnx_out(path, x)).max()
        model.train()
        tr = np.abs(torch.softmax(model(torch.from_numpy(calib)), -1).numpy() - onnx_out(path, calib)).max()
    return [(f"{name} eval", float(ev), BOUND["probs"]), (f"{name} train", float(tr), BOUND["probs"])]


def check_detector(path: Path, rng) -> list[tuple[str, float, float]]:
    model = detector_init.load_onnx(path)
    size = ort.InferenceSession(str(path)).get_inputs()[0].shape[2]
    imgs = (rng.random((8, 3, size, size)) * 255).astype(np.uint8)
    detector_init.calibrate_bn(model, imgs)
    x = rng.random((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        model.eval()
        ev = np.abs(model(torch.from_numpy(x))[0].numpy() - onnx_out(path, x)).max()
        batch = torch.from_numpy(imgs).float() / 255
        maps = model(batch)[1]
        model.train()
        tr = max(float((a - b).abs().max()) for a, b in zip(maps, model(batch)))
    return [("plate detector eval (boxes, scores)", float(ev), BOUND["boxes"]), ("plate detector train (maps)", tr, BOUND["maps"])]


def main() -> int:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    mrz = recognizer.TASKS["mrz"]
    rows = check_reader("plate reader", ROOT / "models" / "plate-reader.onnx", reader.PlateReader(2, 192),
                        reader.init_from_onnx, (reader.HEIGHT, reader.WIDTH), rng)
    rows += check_reader("mrz reader", ROOT / "models" / "mrz-reader.onnx",
                         recognizer.LineReader(mrz["channels"], mrz["hidden"], len(mrz["alphabet"]) + 1, mrz["stride"]),
                         recognizer.load_onnx, (mrz["height"], mrz["width"]), rng)
    rows += check_detector(ROOT / "models" / "plate-detector.onnx", rng)
    bad = 0
    for name, diff, bound in rows:
        ok = diff <= bound
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}: max |torch - onnx| {diff:.2e} (bound {bound:.0e})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
