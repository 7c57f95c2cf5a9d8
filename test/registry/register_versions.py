"""Registers ONNX files as model versions the way the training scripts do (training/tracking.py
register_model): each file and its `.sha256` logged under `model/` of a run, a version whose source
is `<run artifact uri>/model`, the `onnx_sha256` tag. The registry tests call it with the pinned
`mlflow` venv; cases the training never produces (no tag, a wrong tag, no or two .onnx files) are
made by varying what is logged and tagged, not how.

stdin: JSON {"trackingUri": ..., "experiment": ..., "versions": [{"name", "files": [paths],
  "hashTag": "auto" | "none" | "<hex>"}]}
stdout: JSON [{"name", "version", "runId", "source", "sha256"}] in the same order.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

import mlflow  # noqa: E402
from tracking import register_model, sha256  # noqa: E402


def main() -> None:
    req = json.load(sys.stdin)
    os.environ["MLFLOW_TRACKING_URI"] = req["trackingUri"]
    mlflow.set_tracking_uri(req["trackingUri"])
    mlflow.set_experiment(req.get("experiment", "visionops-registry-tests"))
    out = []
    for v in req["versions"]:
        files = [Path(f) for f in v["files"]]
        onnx = [f for f in files if f.suffix == ".onnx"]
        digest = sha256(onnx[0]) if onnx else ""
        with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
            for f in files:
                mlflow.log_artifact(str(f), "model")
                if f.suffix == ".onnx":
                    side = Path(tmp) / f"{f.name}.sha256"
                    side.write_text(f"{sha256(f)}  {f.name}\n")
                    mlflow.log_artifact(str(side), "model")
            tag = v.get("hashTag", "auto")
            tags = {} if tag == "none" else {"onnx_sha256": digest if tag == "auto" else tag}
            reg = register_model(run, v["name"], "registry test model", tags, smoke=True)
        mv = mlflow.MlflowClient().get_model_version(v["name"], reg["version"])
        out.append({"name": v["name"], "version": reg["version"], "runId": run.info.run_id, "source": mv.source, "sha256": digest})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
