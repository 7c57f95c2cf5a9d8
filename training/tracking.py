"""MLflow and file helpers shared by the training scripts (detector and reader)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def log(tag: str, msg: str) -> None:
    print(f"[{tag} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(store: Path, port: int):
    """A real `mlflow server` (sqlite backend, proxied artifacts), started and stopped here."""
    store.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{(store / 'mlflow.db').resolve()}",
           "--artifacts-destination", str((store / "artifacts").resolve()), "--workers", "1"]
    logf = open(store / "server.log", "ab")
    # The server's job runner (huey consumers, for MLflow's own background jobs) is not used here and
    # polls all the time: about a quarter of a core on a 2-core machine that is training.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    # a training stopped with SIGTERM (kill PID) still stops its server (the finally below)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({proc.returncode}); see {store / 'server.log'}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.5)
        else:
            raise RuntimeError("mlflow server did not become healthy")
        log("mlflow", f"server {url} (store {store})")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(Exception):
            proc.wait(timeout=20)
        logf.close()
        signal.signal(signal.SIGTERM, previous)


def register_model(run, name: str, description: str, tags: dict, smoke: bool) -> dict:
    """Registers the run's `model/` artifacts as a new version of `name`; a smoke run is registered
    (the pipeline is the point) but never becomes the champion."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name, description=description)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags)
    alias = None if smoke else "champion"
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return {"name": name, "version": mv.version, "alias": alias}


def finish_run(run, out: Path, summary: dict, name: str, description: str, tags: dict, smoke: bool, started: float, tag: str) -> None:
    """Registers the model, then writes summary.json (with the registry entry and the wall time)
    next to the outputs and into the run."""
    import mlflow

    summary["registered"] = reg = register_model(run, name, description, tags, smoke)
    summary["wall_s"] = round(time.time() - started)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    mlflow.log_artifact(str(out / "summary.json"))
    log(tag, f"registered {name} v{reg['version']}{' @' + reg['alias'] if reg['alias'] else ''}; run {run.info.run_id}")


def publish(onnx_path: Path, dest: Path, tag: str) -> None:
    """Copies the ONNX to the repository's models/ (dest '' or '.': not published)."""
    if str(dest) in ("", "."):
        return
    import shutil

    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_path, dest)
    log(tag, f"published {dest} ({onnx_path.stat().st_size / 1e6:.2f} MB, sha256 {sha256(onnx_path)})")
