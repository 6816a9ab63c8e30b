"""Drives rnnrun's KServe v2 endpoints with tritonclient[http].

Usage: triton_client.py HOST:PORT MODEL GOLDEN_JSON. Runs the golden case's
inputs through /v2/models/MODEL/infer with JSON tensors and with binary
tensors, and prints one JSON object: liveness, readiness, the model's
metadata, the largest difference from the golden outputs for each encoding,
and the error of a request with a wrong datatype and of an unknown model.
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model, golden = sys.argv[1], sys.argv[2], sys.argv[3]
case = json.load(open(golden))["cases"][0]
client = httpclient.InferenceServerClient(url=url)
out = {"live": client.is_server_live(), "ready": client.is_server_ready(),
       "model_ready": client.is_model_ready(model)}
md = client.get_model_metadata(model)
out["inputs"] = [[i["name"], i["datatype"]] for i in md["inputs"]]


def run(binary):
    inputs = []
    for name, t in case["inputs"].items():
        x = np.array(t["data"], dtype=np.float32).reshape(t["shape"])
        i = httpclient.InferInput(name, list(x.shape), "FP32")
        i.set_data_from_numpy(x, binary_data=binary)
        inputs.append(i)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in case["outputs"]]
    res = client.infer(model, inputs, outputs=outputs)
    diff = 0.0
    for name, t in case["outputs"].items():
        got = res.as_numpy(name)
        want = np.array(t["data"], dtype=np.float32).reshape(t["shape"])
        diff = max(diff, float(np.abs(got - want).max()))
    return diff, res.get_response()["model_version"]


out["json_diff"], out["version"] = run(False)
out["binary_diff"], _ = run(True)

name, t = next(iter(case["inputs"].items()))
bad = httpclient.InferInput(name, t["shape"], "INT32")
bad.set_data_from_numpy(np.zeros(t["shape"], dtype=np.int32))
try:
    client.infer(model, [bad])
except InferenceServerException as e:
    out["bad_dtype"] = [e.status(), e.message()]
try:
    client.infer("no-such-model", [bad])
except InferenceServerException as e:
    out["not_found"] = [e.status(), e.message()]
print(json.dumps(out))
