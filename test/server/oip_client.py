"""An Open Inference Protocol client session against the server, with NVIDIA's tritonclient.

usage: oip_client.py URL MODEL TENSOR.f32 OUT.json

Checks liveness, readiness and metadata, then sends the FP32 tensor in TENSOR.f32 (raw little-endian,
the model's input shape) twice: as binary tensor data (tritonclient's default) and as JSON
(binary_data=False), asking for the output as JSON once and as binary once. Then sends a tensor of
the wrong shape and a name the server does not serve, and records the errors. Everything observed
goes to OUT.json for the test to judge.
"""
import json
import sys

import numpy as np
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

url, model, tensor_path, out_path = sys.argv[1:5]
client = http.InferenceServerClient(url=url.removeprefix("http://"), network_timeout=120.0)
seen = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "server": client.get_server_metadata(),
    "model_ready": client.is_model_ready(model),
    "metadata": client.get_model_metadata(model),
}
meta = seen["metadata"]["inputs"][0]
x = np.fromfile(tensor_path, dtype="<f4").reshape(meta["shape"])
output_name = seen["metadata"]["outputs"][0]["name"]


def infer(binary_in, binary_out):
    inp = http.InferInput(meta["name"], list(x.shape), meta["datatype"])
    inp.set_data_from_numpy(x, binary_data=binary_in)
    out = http.InferRequestedOutput(output_name, binary_data=binary_out)
    result = client.infer(model, [inp], outputs=[out], request_id=f"req-{binary_in}-{binary_out}")
    y = result.as_numpy(output_name)
    return {"id": result.get_response()["id"], "shape": list(y.shape), "dtype": str(y.dtype), "data": y.reshape(-1).tolist()}


seen["binary"] = infer(True, True)
seen["json"] = infer(False, False)


def error_of(fn):
    try:
        fn()
        return None
    except InferenceServerException as e:
        return {"message": e.message(), "status": e.status()}


wrong = http.InferInput(meta["name"], [1, 3, 32, 32], "FP32")
wrong.set_data_from_numpy(np.zeros((1, 3, 32, 32), dtype=np.float32), binary_data=False)
seen["wrong_shape"] = error_of(lambda: client.infer(model, [wrong]))
seen["unknown_model"] = error_of(lambda: client.get_model_metadata("no-such-model"))
with open(out_path, "w") as f:
    json.dump(seen, f)
