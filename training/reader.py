"""Train the bundled plate reader: a small CRNN (CNN + BiLSTM + CTC) that reads the text of a plate
crop. One command reproduces everything:

    .venv/bin/python training/reader.py

Why a trained reader next to tesseract: tesseract's general-purpose English model drops or swaps
characters on small, blurred, perspective-warped plates (exact match 89.6 % on the held-out set with
every preprocessing and format trick in the server, see models/plate-detector.md). A recognizer
trained on the same synthetic scenes as the detector learns exactly those conditions.

Steps: render plates with their surroundings (training/synth.py `make_plate_crop`, generator v2:
26 plate systems, one and two lines, every character A-Z 0-9; seed 1 for training, seed 2 for
validation; the evaluation uses seed 3) -> cut every plate out with a generous margin, in grey (the
server's grey formula) -> start a local `mlflow server` -> initialise from the previous reader
(`--init`, default models/plate-reader.onnx; `--init ''` trains from scratch) -> train, with the
crop box jittered each step as a detector's boxes are -> log params and per-epoch metrics -> fit the
confidence calibration on the validation crops -> export ONNX (softmax probabilities [N, T, C],
preprocessing and calibration in the metadata) -> log it with its sha256, register `plate-reader`,
alias `champion` -> copy it to models/plate-reader.onnx.

Two-line plates: the network's last convolution keeps two rows of features (top and bottom half of
the crop) and reads them as one sequence, top row first (T = 2 x 32 columns), so CTC can emit the
upper line before the lower one; a one-line plate is read in either row.

Confidence: the greedy CTC path's log probability and its least certain character's, mapped by a
logistic regression fitted on the validation crops (boxes jittered as a detector's) to the
probability that the read is exactly right. The server computes the same (metadata `calibration`).

The preprocessing is specified here and implemented again in TypeScript
(inference-server/ocr/recognizer-input.ts); both follow the same arithmetic so the server feeds the
network what it was trained on:
  1. the box grows by `margin` x its width/height on each side, clipped to the image;
  2. grey = (4899 R + 9617 G + 1868 B + 8192) >> 14 (OpenCV's fixed-point BT.601);
  3. the (fractional) box is resampled to HEIGHT x WIDTH by exact area weights (each output pixel
     averages the source area it covers);
  4. standardised: (v - mean) / max(std, 4).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402
from line_input import grey, line_input  # noqa: E402,F401  (grey: also the fixtures' and calibration's)
from tracking import finish_run, free_port, log as _log, publish, mlflow_server, sha256  # noqa: E402
from onnx_weights import calibrate_folded_bn, load_folded_conv, load_lstm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # index 0 of the output is the CTC blank
HEIGHT, WIDTH = 32, 128
MARGIN = 0.06
STD_FLOOR = 4.0
CUT_MARGIN = 0.3  # kept around each plate in the cache, so the box can be jittered
ROWS = 2  # feature rows read as one sequence (two-line plates)


def log(msg: str) -> None:
    _log("reader", msg)


# --- preprocessing (mirrored in inference-server/ocr/recognizer-input.ts) --------------------------


def prepare(g: np.ndarray, box, margin: float = MARGIN) -> np.ndarray:
    """grey image [H, W] uint8 + box (x1, y1, x2, y2) in its pixels -> [HEIGHT, WIDTH] float32."""
    return line_input(g, box, HEIGHT, WIDTH, margin, margin, STD_FLOOR)


# --- data ------------------------------------------------------------------------------------------

_FONTS = None


def _init(fonts):
    global _FONTS
    _FONTS = fonts
    cv2.setNumThreads(1)


def _cut(args):
    seed, idx = args
    rgb, (x1, y1, x2, y2), rec = synth.make_plate_crop(seed, idx, _FONTS)
    g = grey(rgb)
    h, w = g.shape
    bw, bh = x2 - x1, y2 - y1
    if bw < 2 or bh < 2:
        return None
    cx1, cy1 = max(0, int(x1 - CUT_MARGIN * bw)), max(0, int(y1 - CUT_MARGIN * bh))
    cx2, cy2 = min(w, int(math.ceil(x2 + CUT_MARGIN * bw))), min(h, int(math.ceil(y2 + CUT_MARGIN * bh)))
    return {"img": g[cy1:cy2, cx1:cx2].copy(), "box": (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1),
            "text": rec["text"], "system": rec["system"], "lines": rec["lines"], "area": rec["area"]}


CHUNK = 2000  # plates per cache file: an interrupted run keeps what it rendered


def plate_crops(data_dir: Path, seed: int, n: int, workers: int, fonts: dict | None = None) -> list[dict]:
    """Plates 0..n-1 of `seed`, cached in chunks (plate i is the same whatever n is); the fonts of
    `data_dir`/fonts unless `fonts` (synth.ensure_fonts) is given."""
    data_dir.mkdir(parents=True, exist_ok=True)
    t = time.time()
    crops: list[dict] = []
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        path = data_dir / f"reader-v{synth.GENERATOR_VERSION}-s{seed}-{lo}-{hi}.pkl"
        if not path.exists():
            fonts = fonts or synth.ensure_fonts(data_dir / "fonts")
            with Pool(workers, initializer=_init, initargs=(fonts,)) as pool:
                part = [c for c in pool.imap(_cut, [(seed, i) for i in range(lo, hi)], chunksize=32) if c is not None]
            path.write_bytes(pickle.dumps(part))
            log(f"plates {lo}-{hi} of seed {seed} rendered ({time.time() - t:.0f}s)")
        crops += pickle.loads(path.read_bytes())
    return crops


def jittered(rng: np.random.Generator, c: dict, augment: bool = False) -> np.ndarray:
    """The crop as a detector might box it (edges off by a few per cent of the plate's size), then,
    with `augment` (--augment), a small random shear/rotation/stretch and sometimes blur of the
    network input. Measured: with it, CTC left its blank-only plateau epochs later (44 % validation
    exact match after 7 epochs on 40k plates, against 87 % without on 27k), too slow for a 2-core
    budget, so the default is off and more scenes are used instead."""
    x1, y1, x2, y2 = c["box"]
    bw, bh = x2 - x1, y2 - y1
    dx = rng.normal(0, 0.03, 2) * bw
    dy = rng.normal(0, 0.06, 2) * bh
    box = (x1 + dx[0], y1 + dy[0], x2 + dx[1], y2 + dy[1])
    h, w = c["img"].shape
    box = (min(max(box[0], 0), w - 1), min(max(box[1], 0), h - 1), max(min(box[2], w), box[0] + 1), max(min(box[3], h), box[1] + 1))
    x = prepare(c["img"], box)
    if not augment or rng.random() < 0.3:
        return x
    ang = math.radians(rng.normal(0, 2.5))
    shear = rng.normal(0, 0.12)
    sx, sy = math.exp(rng.normal(0, 0.06)), math.exp(rng.normal(0, 0.06))
    a = np.array([[math.cos(ang) * sx, -math.sin(ang) * sx + shear], [math.sin(ang) * sy, math.cos(ang) * sy]])
    cxy = np.array([WIDTH / 2, HEIGHT / 2])
    m = np.hstack([a, (cxy - a @ cxy)[:, None]]).astype(np.float32)
    x = cv2.warpAffine(x, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.0))
    return x.astype(np.float32)


def encode(text: str) -> list[int]:
    return [ALPHABET.index(ch) + 1 for ch in text]


# --- model -----------------------------------------------------------------------------------------


def conv(cin, cout, k=3, p=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlateReader(nn.Module):
    """[N, 1, 32, 128] -> [N, 64, C] class probabilities per step (softmax in the exported graph): 32
    columns of the top feature row, then 32 of the bottom one."""

    def __init__(self, width: int = 1, hidden: int = 96):
        super().__init__()
        c = [int(x * width) for x in (24, 48, 96, 96, 128, 160)]
        self.cnn = nn.Sequential(
            conv(1, c[0]), nn.MaxPool2d(2),                       # 16 x 64
            conv(c[0], c[1]), nn.MaxPool2d(2),                    # 8 x 32
            conv(c[1], c[2]), conv(c[2], c[3]), nn.MaxPool2d((2, 1)),  # 4 x 32
            conv(c[3], c[4]), nn.MaxPool2d((2, 1)),               # 2 x 32
            conv(c[4], c[5], k=(1, 3), p=(0, 1)),                 # 2 x 32 (ROWS)
        )
        self.rnn = nn.LSTM(c[5], hidden, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, len(ALPHABET) + 1)

    def forward(self, x):
        f = self.cnn(x).flatten(2).transpose(1, 2)  # [N, ROWS * 32, C], top row first
        f, _ = self.rnn(f)
        return self.head(f)


class Exported(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return torch.softmax(self.m(x), dim=-1)


def init_from_onnx(model: "PlateReader", path: Path, sample: np.ndarray) -> None:
    """Starts from a previous reader's weights (its ONNX: BN folded into the convolutions, LSTM in
    ONNX gate order). The BNs are set so that, on `sample`, they pass each folded convolution's
    output through unchanged in training mode too; a one-row last convolution ([C, C', 2, 3], the
    first reader) becomes the sum of its rows, which gives each of the two rows the old features."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv"]
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    matmul = next(n for n in g.node if n.op_type == "MatMul")
    add = next(n for n in g.node if n.op_type == "Add" and any(x in inits for x in n.input))
    tconvs = [m for m in model.cnn.modules() if isinstance(m, nn.Conv2d)]
    tbns = [m for m in model.cnn.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(tconvs):
        raise ValueError(f"{path}: {len(convs)} convolutions, the model has {len(tconvs)}")
    for n, c, bn in zip(convs, tconvs, tbns):
        w = inits[n.input[1]]
        if w.shape[2] != c.weight.shape[2]:
            w = w.sum(axis=2, keepdims=True)
        load_folded_conv(c, bn, w, inits[n.input[2]])
    load_lstm(model.rnn, *(inits[lstm.input[k]] for k in (1, 2, 3)))
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(inits[matmul.input[1]].T))
        model.head.bias.copy_(torch.tensor(inits[next(x for x in add.input if x in inits)]))
    model.eval()
    calibrate_folded_bn(list(zip(tconvs, tbns)), lambda: model(torch.from_numpy(sample)))
    model.train()


def read_features(probs: np.ndarray) -> tuple[str, float, float]:
    """Greedy read of one [T, C] softmax, the path's log probability and the lowest log probability
    of its characters (each at its most certain step), as the server computes them
    (inference-server/ocr/ctc.ts)."""
    best = probs.argmax(-1)
    top = probs.max(-1)
    path = float(np.log(np.maximum(top, 1e-12)).sum())
    out, peaks, prev = [], [], 0
    for t, k in enumerate(best):
        if k != 0 and k != prev:
            out.append(ALPHABET[k - 1])
            peaks.append(top[t])
        elif k != 0 and k == prev:
            peaks[-1] = max(peaks[-1], top[t])
        prev = k
    low = float(np.log(max(min(peaks), 1e-12))) if peaks else -30.0
    return "".join(out), path, low


def fit_calibration(feats: np.ndarray, right: np.ndarray, l2: float = 1e-3) -> dict:
    """Logistic regression P(read right | path log prob, lowest character log prob), Newton steps."""
    x = np.c_[feats, np.ones(len(feats))]
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - right) + l2 * np.r_[w[:-1], 0]
        h = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"kind": "logistic", "features": ["pathLogProb", "minCharLogProb"], "weights": [float(w[0]), float(w[1])], "bias": float(w[2])}


def calibrated(cal: dict, path: float, low: float) -> float:
    z = cal["weights"][0] * path + cal["weights"][1] * low + cal["bias"]
    return float(1 / (1 + math.exp(-z)))


def greedy(probs: np.ndarray) -> str:
    return read_features(probs)[0]


def edit_distance(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[len(b)]


@torch.no_grad()
def evaluate(model, xs: np.ndarray, texts: list[str], batch: int = 512, device: str | torch.device = "cpu") -> dict:
    model.eval()
    preds = []
    for i in range(0, len(xs), batch):
        p = torch.softmax(model(torch.from_numpy(xs[i:i + batch]).to(device)), -1).cpu().numpy()
        preds += [greedy(q) for q in p]
    model.train()
    exact = sum(p == t for p, t in zip(preds, texts)) / len(texts)
    cer = sum(edit_distance(p, t) for p, t in zip(preds, texts)) / sum(len(t) for t in texts)
    return {"exact": exact, "cer": cer}


def train_step(model, opt, ctc, x: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """One CTC step on a batch of crops [N, 1, HEIGHT, WIDTH] (on the model's device) and their
    texts; returns the loss, detached (reading it synchronises a GPU)."""
    targets = [encode(t) for t in texts]
    y = torch.tensor([k for t in targets for k in t], dtype=torch.long).to(x.device, non_blocking=True)
    lens = torch.tensor([len(t) for t in targets], dtype=torch.long)
    logp = F.log_softmax(model(x), -1).transpose(0, 1)  # [T, N, C]
    loss = ctc(logp, y, torch.full((len(texts),), logp.shape[0], dtype=torch.long), lens)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return loss.detach()


def export_onnx(model, path: Path, calibration: dict | None = None) -> Path:
    model = Exported(model).eval()
    x = torch.zeros(1, 1, HEIGHT, WIDTH)
    torch.onnx.export(model, x, str(path), opset_version=13, input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}}, dynamo=False)
    import onnx

    m = onnx.load(str(path))
    meta = {"kind": "ctc-text-recognizer", "alphabet": ALPHABET, "blank": 0, "height": HEIGHT, "width": WIDTH,
            "margin": MARGIN, "grey": "bt601-fixed14", "resample": "area", "normalize": "standardize",
            "stdFloor": STD_FLOOR, "rows": ROWS, **({"calibration": calibration} if calibration else {})}
    p = m.metadata_props.add()
    p.key, p.value = "visionops.recognizer", json.dumps(meta)
    onnx.save(m, str(path))
    return path


# --- main ------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-set", action="append", default=None, metavar="SEED:PLATES",
                    help="training plates (synth.make_plate_crop); repeatable. Default 1:24000 "
                         "(seed 2 is validation, 3 the evaluation, 5 the OCR tuning set)")
    ap.add_argument("--val-seed", type=int, default=2, help="the eval set (npm run eval) uses seed 3")
    ap.add_argument("--val-n", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=12,
                    help="0: no training; calibrate, export, log and register the --init checkpoint (a best.pt, e.g. of reader_stream.py)")
    ap.add_argument("--stream-run", type=Path, action="append", default=[],
                    help="run.json of the reader_stream.py run that trained --init (repeat, in order, for a run continued from another): "
                         "their arguments and validation histories go to MLflow")
    ap.add_argument("--train-budget-s", type=float, default=0,
                    help="if > 0: after the first epoch, cut --epochs so training fits this many seconds "
                         "(the one-cycle schedule is re-planned for the new count)")
    ap.add_argument("--init", type=Path, default=ROOT / "models" / "plate-reader.onnx",
                    help="start from this reader's weights: its ONNX, or a best.pt of an earlier run ('' : from scratch)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=float, default=None, help="channel multiplier (default: --init's, else 1)")
    ap.add_argument("--hidden", type=int, default=None, help="LSTM width (default: --init's, else 96)")
    ap.add_argument("--augment", action="store_true", help="random shear/rotation/stretch/blur on top of the box jitter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "training" / "runs")
    ap.add_argument("--mlflow-dir", type=Path, default=ROOT / "training" / "mlruns")
    ap.add_argument("--publish", type=Path, default=ROOT / "models" / "plate-reader.onnx")
    ap.add_argument("--run-name", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch: checks the pipeline; publishes nothing")
    a = ap.parse_args()
    a.train_set = [tuple(int(v) for v in t.split(":")) for t in (a.train_set or ["1:24000"])]
    if any(seed in (2, 3, 5) for seed, _ in a.train_set):
        ap.error("seeds 2, 3 and 5 are the validation, evaluation and tuning sets")
    if a.smoke:
        a.train_set, a.val_n, a.epochs, a.publish = [(1, 256)], 64, 1, Path("")
    if a.epochs == 0 and a.init.suffix != ".pt":
        ap.error("--epochs 0 needs --init CHECKPOINT.pt (the weights to calibrate and export)")
    shape = init_shape(a.init)
    a.width = a.width if a.width is not None else shape[0] if shape else 1.0
    a.hidden = a.hidden if a.hidden is not None else shape[1] if shape else 96
    return a


def init_shape(path: Path) -> tuple[float, int] | None:
    """(width, hidden) of a reader checkpoint or ONNX, so that a retraining from the bundled reader
    needs no flags whatever its size; None for no file."""
    if str(path) in ("", ".") or not path.exists():
        return None
    if path.suffix == ".pt":
        ck = torch.load(path, map_location="cpu", weights_only=True)
        return float(ck["width"]), int(ck["hidden"])
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    inits = {i.name: i for i in g.initializer}
    first = next(n for n in g.node if n.op_type == "Conv")
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    channels = numpy_helper.to_array(inits[first.input[1]]).shape[0]
    return channels / PlateReader(1.0).cnn[0][0].out_channels, numpy_helper.to_array(inits[lstm.input[2]]).shape[-1]


def log_stream_run(mlflow, run: dict, variant: str, prefix: str = "stream", step0: int = 0) -> int:
    """A reader_stream.py run that trained this checkpoint: its settings as params (`prefix`/...),
    its validation history as metrics by step (from `step0`, for a continued run), the machine as a
    tag. Returns the step after its last."""
    v = next((x for x in run["variants"] if x["name"] == variant), None)
    if v is None:
        raise SystemExit(f"--stream-run has no variant {variant!r} (the checkpoint's file name): {[x['name'] for x in run['variants']]}")
    params = {"variant": variant, "init": v["init"] or "random", "lr": v["lr"], "train_s": run["train_s"],
              "steps": run["steps"], "samples": run["samples"], "plates_rendered": run["plates_rendered"],
              "workers": run["workers"], "first_plate": run["stream"]["first_plate"], "generator_version": run["generator_version"],
              **{k: run["args"][k] for k in ("batch", "reuse", "minutes", "augment") if k in run["args"]}}
    mlflow.log_params({f"{prefix}/{k}": x for k, x in params.items()})
    mlflow.set_tags({"trained_on": f"{run['device']}, {run['cpus']} CPUs", "trainer": "training/reader_stream.py"})
    for row in run["history"]:
        m = row.get(variant) or {}
        mlflow.log_metrics({"stream/val_exact": m.get("val_exact") or 0.0, "stream/plates": row["plates"],
                            **({"stream/loss": m["loss"]} if m.get("loss") is not None else {})}, step=step0 + row["steps"])
    return step0 + run["steps"] + 1


def main():
    a = parse_args()
    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)

    train = [c for seed, n in a.train_set for c in plate_crops(a.data_dir, seed, n, a.workers)] if a.epochs else []
    val = plate_crops(a.data_dir, a.val_seed, a.val_n, a.workers)
    t_data = time.time() - t_start
    # validation on the exact boxes: the jitter is for training only
    val_x = np.stack([prepare(c["img"], c["box"])[None] for c in val])
    val_t = [c["text"] for c in val]
    log(f"train {len(train)} plates, val {len(val)} plates (data {t_data:.0f}s)")

    model = PlateReader(a.width, a.hidden)
    init = str(a.init) not in ("", ".") and a.init.exists()
    if init and a.init.suffix == ".pt":
        # a torch checkpoint (best.pt of an earlier, possibly stopped, run of this architecture)
        ck = torch.load(a.init, map_location="cpu", weights_only=True)
        if (float(ck["width"]), int(ck["hidden"])) != (a.width, a.hidden):
            raise SystemExit(f"{a.init}: width {ck['width']} hidden {ck['hidden']}, this run has {a.width} {a.hidden}")
        model.load_state_dict(ck["model"])
        log(f"initialised from {a.init}: val exact {evaluate(model, val_x, val_t)['exact']:.4f} before training")
    elif init:
        init_from_onnx(model, a.init, val_x[:512])
        log(f"initialised from {a.init}: val exact {evaluate(model, val_x, val_t)['exact']:.4f} before training")
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = max(1, len(train) // a.batch)
    total = steps_per_epoch * a.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total, pct_start=0.15) if total else None
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)

    run_name = a.run_name or f"crnn-{time.strftime('%Y%m%d-%H%M%S')}"
    out = a.runs_dir / run_name
    out.mkdir(parents=True, exist_ok=True)
    params = {"train_sets": ",".join(f"{s}:{n}" for s, n in a.train_set) if a.epochs else "none (--epochs 0: --init as trained)", "val_seed": a.val_seed, "val_scenes": a.val_n,
              "train_plates": len(train), "val_plates": len(val), "epochs": a.epochs, "batch": a.batch, "lr": a.lr,
              "width": a.width, "hidden": a.hidden, "augment": a.augment, "params": n_params, "input": f"{HEIGHT}x{WIDTH}", "margin": MARGIN,
              "alphabet": ALPHABET, "seed": a.seed, "smoke": a.smoke, "rows": ROWS,
              "init": str(a.init) if init else "scratch", "init_sha256": sha256(a.init) if init else "",
              "generator_version": synth.GENERATOR_VERSION, "train_budget_s": a.train_budget_s}

    import mlflow

    with mlflow_server(a.mlflow_dir, free_port()) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("plate-reader")
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params(params)
            mlflow.set_tags({"task": "licence-plate text recognition (CTC)", "data": "synthetic (training/synth.py)"})
            step0 = 0
            for i, path in enumerate(a.stream_run):
                step0 = log_stream_run(mlflow, json.loads(path.read_text()), a.init.stem, f"stream{i + 1 if i else ''}", step0)
            log(f"{n_params} parameters, {steps_per_epoch} steps/epoch, {a.epochs} epochs")
            best, best_state, rows = -1.0, {k: v.clone() for k, v in model.state_dict().items()}, []
            t_train = time.time()
            epochs = a.epochs
            epoch = 0
            while epoch < epochs:
                t_ep, losses = time.time(), []
                order = rng.permutation(len(train))
                for s in range(steps_per_epoch):
                    idx = order[s * a.batch:(s + 1) * a.batch]
                    x = torch.from_numpy(np.stack([jittered(rng, train[i], a.augment)[None] for i in idx]))
                    loss = train_step(model, opt, ctc, x, [train[i]["text"] for i in idx])
                    sched.step()
                    losses.append(loss.item())
                    if s % 100 == 0:
                        log(f"epoch {epoch + 1} step {s}/{steps_per_epoch} loss {np.mean(losses[-100:]):.4f}")
                m = evaluate(model, val_x, val_t)
                ep_time = time.time() - t_ep
                row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_exact": m["exact"], "val_cer": m["cer"],
                       "lr": sched.get_last_lr()[0], "epoch_s": ep_time}
                rows.append(row)
                (out / "results.json").write_text(json.dumps(rows, indent=1))
                try:
                    mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
                except Exception as e:  # noqa: BLE001
                    # the tracking server went away (a shared machine): the epoch's numbers are in
                    # results.json and training goes on rather than losing the run
                    log(f"epoch {epoch + 1}: metrics not logged to MLflow ({type(e).__name__}); kept in {out / 'results.json'}")
                if epoch == 0 and a.train_budget_s > 0:
                    fit = max(1, min(a.epochs, int(a.train_budget_s // ep_time)))
                    if fit != epochs:
                        epochs = fit
                        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps_per_epoch * epochs, pct_start=0.15)
                        for _ in range(steps_per_epoch):
                            sched.step()
                        log(f"time budget {a.train_budget_s:.0f}s at {ep_time:.0f}s/epoch: {epochs} epochs")
                    with contextlib.suppress(Exception):
                        mlflow.log_param("epochs_effective", epochs)
                log(f"epoch {epoch + 1}/{epochs} {ep_time:.0f}s loss {row['loss']:.4f} val exact {m['exact']:.4f} cer {m['cer']:.4f}")
                if m["exact"] >= best:
                    best = m["exact"]
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
                    # saved every epoch so that a run stopped early (shared CPU, deadline) leaves a usable checkpoint
                    torch.save({"model": best_state, "width": a.width, "hidden": a.hidden, "epoch": epoch + 1,
                                "val_exact": best}, out / "best.pt")
                epoch += 1
            t_train = time.time() - t_train
            model.load_state_dict(best_state)
            torch.save({"model": best_state, "width": a.width, "hidden": a.hidden}, out / "best.pt")
            (out / "results.json").write_text(json.dumps(rows, indent=1))

            # confidence calibration on the validation crops, boxes jittered as a detector's are
            cal_rng = np.random.default_rng(12345)
            cal_x = np.stack([jittered(cal_rng, c)[None] for c in val])
            model.eval()
            with torch.no_grad():
                cal_p = np.concatenate([torch.softmax(model(torch.from_numpy(cal_x[i:i + 512])), -1).numpy() for i in range(0, len(cal_x), 512)])
            model.train()
            feats = [read_features(q) for q in cal_p]
            right = np.array([f[0] == c["text"] for f, c in zip(feats, val)], np.float64)
            calibration = fit_calibration(np.array([[f[1], f[2]] for f in feats]), right)
            conf = np.array([calibrated(calibration, f[1], f[2]) for f in feats])
            hi = conf >= 0.9
            cal_summary = {"jittered_exact": float(right.mean()), "share_ge_0.9": float(hi.mean()),
                           "exact_when_ge_0.9": float(right[hi].mean()) if hi.any() else None,
                           "mean_confidence": float(conf.mean())}
            log(f"calibration {json.dumps(calibration)}: {json.dumps(cal_summary)}")
            by_system: dict[str, list[int]] = {}
            by_lines: dict[str, list[int]] = {}
            for f, c in zip(feats, val):
                for table, key in ((by_system, c["system"]), (by_lines, f"{c['lines']}-line")):
                    table.setdefault(key, [0, 0])
                    table[key][0] += 1
                    table[key][1] += int(f[0] == c["text"])
            per = {k: round(v[1] / v[0], 4) for k, v in sorted({**by_system, **by_lines}.items())}
            log(f"jittered validation exact by system: {json.dumps(per)}")

            onnx_path = export_onnx(model, out / "plate-reader.onnx", calibration)
            digest = sha256(onnx_path)
            (out / "plate-reader.onnx.sha256").write_text(f"{digest}  plate-reader.onnx\n")
            size_mb = onnx_path.stat().st_size / 1e6
            # the exported graph must read as the torch model does
            import onnxruntime as ort

            sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
            probs = sess.run(None, {"image": val_x[:256]})[0]
            onnx_exact = float(np.mean([greedy(p) == t for p, t in zip(probs, val_t[:256])]))
            final = evaluate(model, val_x, val_t)
            summary = {"run_id": run.info.run_id, "val": final, "calibration": calibration, "calibration_val": cal_summary,
                       "val_jittered_by_system": per, "epochs": epochs, "onnx_val_exact_first256": onnx_exact,
                       "onnx_sha256": digest, "onnx_mb": round(size_mb, 3), "params": n_params,
                       "device": platform.processor() or "cpu", "threads": a.threads, "data_s": round(t_data),
                       "train_s": round(t_train), "train_plates": len(train), "val_plates": len(val)}
            mlflow.log_metrics({"best/val_exact": final["exact"], "best/val_cer": final["cer"], "onnx_mb": size_mb,
                                "calibration/exact_when_ge_0.9": cal_summary["exact_when_ge_0.9"] or 0.0,
                                "calibration/share_ge_0.9": cal_summary["share_ge_0.9"]})
            mlflow.log_artifact(str(onnx_path), "model")
            mlflow.log_artifact(str(out / "plate-reader.onnx.sha256"), "model")
            mlflow.log_artifact(str(out / "results.json"))
            mlflow.set_tag("onnx_sha256", digest)

            finish_run(run, out, summary, "plate-reader", "CRNN + CTC licence-plate text reader trained on synthetic scenes", {"onnx_sha256": digest}, a.smoke, t_start, "reader")

    publish(onnx_path, a.publish, "reader")
    log(f"done in {time.time() - t_start:.0f}s: {json.dumps(summary['val'])}")


if __name__ == "__main__":
    main()
