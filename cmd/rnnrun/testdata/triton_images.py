"""Sends encoded images to rnnrun's KServe v2 infer with tritonclient[http].

Usage: triton_images.py HOST:PORT MODEL FILE... Sends the files as one BYTES
input, an np.object_ array of their bytes, with the binary tensor extension,
and again as JSON with each file in base64; prints, for "binary" and "json",
the "label" output and the "probs" rows.
"""
import base64
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, model, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
files = [open(p, "rb").read() for p in paths]
client = httpclient.InferenceServerClient(url=url)


def run(elems, binary):
    x = np.array(elems, dtype=np.object_)
    i = httpclient.InferInput("image", list(x.shape), "BYTES")
    i.set_data_from_numpy(x, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("probs", "label")]
    res = client.infer(model, [i], outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in res.as_numpy("label").tolist()]
    return {"labels": labels, "probs": res.as_numpy("probs").tolist()}


out = {"binary": run(files, True), "json": run([base64.b64encode(f) for f in files], False)}
print(json.dumps(out))
