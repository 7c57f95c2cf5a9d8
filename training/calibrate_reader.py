"""Fit the confidence calibration of an exported plate reader and write it into its metadata:

    nice -n 10 .venv/bin/python training/calibrate_reader.py [--onnx models/plate-reader.onnx]

The reader's ONNX is run on the validation plates of reader.py (seed 2, generator v2, boxes
jittered as a detector's are); a logistic regression maps the greedy path's log probability and its
weakest character's to "the read is exactly right" (reader.fit_calibration, the same reader.py
fits after training), and is stored under `calibration` in the `visionops.recognizer` metadata,
where the server reads it (textConfidence, textUncertain). The run is logged in MLflow (experiment
`plate-reader`) and the calibrated file registered as a new `plate-reader` version with its
onnx_sha256; `--publish` (default: the input file) receives it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader  # noqa: E402
from tracking import finish_run, free_port, mlflow_server, publish, sha256  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, default=reader.ROOT / "models" / "plate-reader.onnx")
    ap.add_argument("--val-seed", type=int, default=2)
    ap.add_argument("--val-n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data-dir", type=Path, default=reader.ROOT / "training" / "data")
    ap.add_argument("--runs-dir", type=Path, default=reader.ROOT / "training" / "runs")
    ap.add_argument("--mlflow-dir", type=Path, default=reader.ROOT / "training" / "mlruns")
    ap.add_argument("--publish", type=Path, default=None, help="where the calibrated file goes (default: --onnx)")
    ap.add_argument("--run-name", default=None)
    a = ap.parse_args()
    t_start = time.time()
    import onnx
    import onnxruntime as ort

    val = reader.plate_crops(a.data_dir, a.val_seed, a.val_n, a.workers)
    rng = np.random.default_rng(12345)  # the jitter reader.py's own calibration uses
    x = np.stack([reader.jittered(rng, c)[None] for c in val])
    sess = ort.InferenceSession(str(a.onnx), providers=["CPUExecutionProvider"])
    probs = np.concatenate([sess.run(None, {"image": x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    feats = [reader.read_features(q) for q in probs]
    right = np.array([f[0] == c["text"] for f, c in zip(feats, val)], np.float64)
    cal = reader.fit_calibration(np.array([[f[1], f[2]] for f in feats]), right)
    conf = np.array([reader.calibrated(cal, f[1], f[2]) for f in feats])
    hi = conf >= 0.9
    summary = {"calibration": cal, "val_plates": len(val), "jittered_exact": float(right.mean()), "share_ge_0.9": float(hi.mean()),
               "exact_when_ge_0.9": float(right[hi].mean()) if hi.any() else None, "source_sha256": sha256(a.onnx)}
    reader.log(f"calibration {json.dumps(summary)}")

    run_name = a.run_name or f"calibrate-{time.strftime('%Y%m%d-%H%M%S')}"
    out = a.runs_dir / run_name
    out.mkdir(parents=True, exist_ok=True)
    m = onnx.load(str(a.onnx))
    prop = next(p for p in m.metadata_props if p.key == "visionops.recognizer")
    meta = json.loads(prop.value)
    meta["calibration"] = cal
    prop.value = json.dumps(meta)
    onnx_path = out / "plate-reader.onnx"
    onnx.save(m, str(onnx_path))
    digest = sha256(onnx_path)
    summary["onnx_sha256"] = digest
    (out / "plate-reader.onnx.sha256").write_text(f"{digest}  plate-reader.onnx\n")

    import mlflow

    with mlflow_server(a.mlflow_dir, free_port()) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("plate-reader")
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params({"source": str(a.onnx), "source_sha256": summary["source_sha256"], "val_seed": a.val_seed,
                               "val_plates": len(val), "generator_version": reader.synth.GENERATOR_VERSION})
            mlflow.set_tags({"task": "confidence calibration of the plate reader", "onnx_sha256": digest})
            mlflow.log_metrics({"calibration/jittered_exact": summary["jittered_exact"], "calibration/share_ge_0.9": summary["share_ge_0.9"],
                                "calibration/exact_when_ge_0.9": summary["exact_when_ge_0.9"] or 0.0})
            mlflow.log_artifact(str(onnx_path), "model")
            mlflow.log_artifact(str(out / "plate-reader.onnx.sha256"), "model")
            finish_run(run, out, summary, "plate-reader", "CRNN + CTC licence-plate text reader", {"onnx_sha256": digest}, False, t_start, "calibrate")
    publish(onnx_path, a.publish or a.onnx, "calibrate")


if __name__ == "__main__":
    main()
