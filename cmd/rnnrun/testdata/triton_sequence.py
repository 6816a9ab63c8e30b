"""A 3-call stateful sequence over KServe v2 with tritonclient[http].

Usage: triton_sequence.py HOST:PORT MODEL PROMPT SEED. Prints one JSON object:
the three characters the calls generated, and the status of a call after the
sequence ended.
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model, prompt, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = httpclient.InferenceServerClient(url=url)


def text_input(s, binary):
    i = httpclient.InferInput("text", [1], "BYTES")
    i.set_data_from_numpy(np.array([s.encode()], dtype=np.object_), binary_data=binary)
    return i


def text_of(res):
    v = res.as_numpy("text")[0]
    return v.decode() if isinstance(v, bytes) else str(v)


out = {"pieces": []}
params = {"max_tokens": 1, "temperature": 0.8, "seed": seed}
res = client.infer(model, [text_input(prompt, False)], sequence_id=7, sequence_start=True, parameters=params)
out["pieces"].append(text_of(res))
res = client.infer(model, [text_input("", True)], sequence_id=7)  # nothing to feed, sent as binary
out["pieces"].append(text_of(res))
res = client.infer(model, [], sequence_id=7, sequence_end=True)
out["pieces"].append(text_of(res))
try:
    client.infer(model, [], sequence_id=7)
except InferenceServerException as e:
    out["after_end"] = [e.status(), e.message()]
print(json.dumps(out))
