"""Train plate readers on a stream of freshly rendered plates, for a machine with a GPU and many
cores: worker processes render plates (training/synth.py, seed 1, from plate 1,000,000 on, so never
the cached 0..n-1 that reader.py trains on) while the GPU trains; no plate cache on disk.

Why: on the 2-core CPU the reader was short of plates, not of epochs (twice the plates: +1.9 points
held-out; nine more epochs on the same plates: none), and rendering 24,000 plates already costs
minutes there. Here each worker renders plates into its own pool and sends batches of jittered
crops drawn from it (`--reuse`: samples per rendered plate), so the stream never repeats a batch
and grows with the run.

Several models can train on the same stream (`--variant`, repeatable): each batch goes through each
of them, which costs the GPU little and shares the rendering. A variant is
NAME:WIDTH:HIDDEN[:INIT[:LR]] (INIT a best.pt of reader.py or this script, or a reader ONNX; empty
for random weights).

The learning rate follows the run's clock (`--minutes`): 10 % linear warm-up, then a cosine to zero,
so a run fits its time whatever the machine renders per second. Every `--eval-every-s` each model is
read on the validation plates (seed 2, exact boxes, as reader.py does) and its best state saved.

Out (`--out`): NAME.pt (reader.py's checkpoint format) and run.json (arguments, machine, plates
rendered, the validation history). This script does not talk to MLflow (the GPU machine has no
tracking server); `reader.py --epochs 0 --init NAME.pt --stream-run run.json` calibrates, exports,
logs the run to MLflow and registers the model where the tracking store lives.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader  # noqa: E402
import synth  # noqa: E402

STREAM_START = 1_000_000  # first plate index of the stream: past any cache reader.py makes
WORKER_STRIDE = 10_000_000  # each worker renders its own range of plate indices


def log(msg: str) -> None:
    print(f"[stream {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class PlateStream(torch.utils.data.IterableDataset):
    """Endless batches: each worker renders `batch / reuse` new plates per batch into its pool and
    draws the batch's plates uniformly from the pool, each boxed as a detector might box it."""

    def __init__(self, fonts: dict, batch: int, reuse: float, warm: int, seed: int, augment: bool, first_plate: int):
        super().__init__()
        self.fonts, self.batch, self.reuse, self.warm, self.seed, self.augment = fonts, batch, reuse, warm, seed, augment
        self.first_plate = first_plate

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        w = info.id if info else 0
        torch.set_num_threads(1)
        reader._init(self.fonts)
        rng = np.random.default_rng([self.seed, w])
        first = self.first_plate + w * WORKER_STRIDE
        idx, pool = first, []
        fresh, carry = self.batch / self.reuse, 0.0

        def render():
            nonlocal idx
            c = reader._cut((1, idx))
            idx += 1
            if c is not None:
                pool.append(c)

        for _ in range(self.warm):
            render()
        while True:
            carry += fresh
            while carry >= 1:
                render()
                carry -= 1
            pick = rng.integers(len(pool), size=self.batch)
            x = np.stack([reader.jittered(rng, pool[i], self.augment)[None] for i in pick])
            texts = [pool[i]["text"] for i in pick]
            yield torch.from_numpy(x), texts, w, idx - first


def parse_variant(spec: str, default_lr: float) -> dict:
    parts = spec.split(":")
    if len(parts) < 3:
        raise argparse.ArgumentTypeError(f"{spec}: NAME:WIDTH:HIDDEN[:INIT[:LR]]")
    return {"name": parts[0], "width": float(parts[1]), "hidden": int(parts[2]),
            "init": parts[3] if len(parts) > 3 and parts[3] else "",
            "lr": float(parts[4]) if len(parts) > 4 and parts[4] else default_lr}


def lr_at(frac: float, peak: float) -> float:
    if frac < 0.1:
        return peak * (0.04 + 0.96 * frac / 0.1)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - 0.1) / 0.9)))


def settle(models: list[dict]) -> None:
    """The last 200 steps' losses as floats: one device sync for all of them, not one per step."""
    for mm in models:
        mm["losses"] = [float(x) for x in mm["losses"][-200:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", required=True, metavar="NAME:WIDTH:HIDDEN[:INIT[:LR]]")
    ap.add_argument("--minutes", type=float, required=True, help="training time (the learning-rate schedule follows it)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--reuse", type=float, default=6.0, help="samples drawn per rendered plate")
    ap.add_argument("--warm", type=int, default=64, help="plates each worker renders before its first batch")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first-plate", type=int, default=STREAM_START,
                    help="plate index where worker 0 starts (a continued run takes another, e.g. 2,000,000, to see new plates)")
    ap.add_argument("--val-seed", type=int, default=2)
    ap.add_argument("--val-n", type=int, default=1000)
    ap.add_argument("--eval-every-s", type=float, default=60)
    ap.add_argument("--fonts", type=Path, default=reader.ROOT / "training" / "data" / "fonts")
    ap.add_argument("--data-dir", type=Path, default=reader.ROOT / "training" / "data",
                    help="where the validation plates are cached")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    variants = [parse_variant(v, a.lr) for v in a.variant]
    if len({v["name"] for v in variants}) != len(variants):
        ap.error("variant names must differ")
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(a.seed)

    fonts = synth.ensure_fonts(a.fonts)
    val = reader.plate_crops(a.data_dir, a.val_seed, a.val_n, a.workers, fonts)
    val_x = np.stack([reader.prepare(c["img"], c["box"])[None] for c in val])
    val_t = [c["text"] for c in val]
    log(f"{len(val)} validation plates of seed {a.val_seed} ({time.time() - t0:.0f}s)")

    # the workers fork before CUDA starts in this process
    loader = torch.utils.data.DataLoader(PlateStream(fonts, a.batch, a.reuse, a.warm, a.seed, a.augment, a.first_plate),
                                         batch_size=None, num_workers=a.workers, pin_memory=a.device.startswith("cuda"),
                                         prefetch_factor=4 if a.workers else None, persistent_workers=False)
    stream = iter(loader)

    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    models = []
    for v in variants:
        m = reader.PlateReader(v["width"], v["hidden"])
        if v["init"].endswith(".pt"):
            ck = torch.load(v["init"], map_location="cpu", weights_only=True)
            if (float(ck["width"]), int(ck["hidden"])) != (v["width"], v["hidden"]):
                raise SystemExit(f"{v['init']}: width {ck['width']} hidden {ck['hidden']}, variant {v['name']} has {v['width']} {v['hidden']}")
            m.load_state_dict(ck["model"])
        elif v["init"]:
            reader.init_from_onnx(m, Path(v["init"]), val_x[:512])
        m.to(dev)
        v["params"] = sum(p.numel() for p in m.parameters())
        opt = torch.optim.AdamW(m.parameters(), lr=v["lr"], weight_decay=1e-4)
        start = reader.evaluate(m, val_x, val_t, device=dev)["exact"]
        log(f"{v['name']}: width {v['width']} hidden {v['hidden']} ({v['params']} parameters), init {v['init'] or 'random'}, val exact {start:.4f}")
        models.append({"v": v, "m": m, "opt": opt, "best": start if v["init"] else -1.0, "losses": [], "start": start})
        if v["init"]:
            torch.save({"model": m.state_dict(), "width": v["width"], "hidden": v["hidden"], "val_exact": start}, a.out / f"{v['name']}.pt")
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)

    budget = a.minutes * 60
    history, rendered, steps, samples = [], {}, 0, 0
    t_train = time.time()
    next_eval = t_train + a.eval_every_s
    wait = 0.0

    def evaluate_all(final: bool = False):
        row = {"t": round(time.time() - t_train, 1), "steps": steps, "samples": samples, "plates": sum(rendered.values())}
        for mm in models:
            ex = reader.evaluate(mm["m"], val_x, val_t, device=dev)["exact"]
            row[mm["v"]["name"]] = {"val_exact": ex, "loss": float(np.mean(mm["losses"][-200:])) if mm["losses"] else None}
            if ex > mm["best"]:
                mm["best"] = ex
                torch.save({"model": {k: t.detach().cpu() for k, t in mm["m"].state_dict().items()}, "width": mm["v"]["width"],
                            "hidden": mm["v"]["hidden"], "val_exact": ex, "steps": steps}, a.out / f"{mm['v']['name']}.pt")
        history.append(row)
        log(("final " if final else "") + json.dumps(row))
        write_run()

    def write_run():
        (a.out / "run.json").write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(a).items()}, "variants": [{**mm["v"], "best_val_exact": mm["best"], "start_val_exact": mm["start"]} for mm in models],
            "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else (platform.processor() or "cpu"),
            "cpus": os.cpu_count(), "workers": a.workers, "generator_version": synth.GENERATOR_VERSION,
            "stream": {"seed": 1, "first_plate": a.first_plate, "worker_stride": WORKER_STRIDE},
            "val_plates": len(val), "train_s": round(time.time() - t_train), "steps": steps, "samples": samples,
            "plates_rendered": sum(rendered.values()), "waiting_for_data_s": round(wait), "history": history}, indent=1))

    while True:
        elapsed = time.time() - t_train
        if elapsed >= budget:
            break
        tw = time.time()
        x, texts, w, n = next(stream)
        wait += time.time() - tw
        rendered[w] = n
        x = x.to(dev, non_blocking=True)
        frac = elapsed / budget
        for mm in models:
            for g in mm["opt"].param_groups:
                g["lr"] = lr_at(frac, mm["v"]["lr"])
            mm["losses"].append(reader.train_step(mm["m"], mm["opt"], ctc, x, texts))
        steps += 1
        samples += len(texts)
        if steps % 200 == 0:
            settle(models)
            log(f"step {steps} {elapsed:.0f}s plates {sum(rendered.values())} waited {wait:.0f}s "
                + " ".join(f"{mm['v']['name']} {np.mean(mm['losses']):.4f}" for mm in models))
        if time.time() >= next_eval:
            settle(models)
            evaluate_all()
            next_eval = time.time() + a.eval_every_s
    settle(models)
    evaluate_all(final=True)
    del stream
    log(f"done in {time.time() - t0:.0f}s: {steps} steps, {samples} samples, {sum(rendered.values())} plates rendered, "
        + " ".join(f"{mm['v']['name']} best {mm['best']:.4f}" for mm in models))


if __name__ == "__main__":
    main()
