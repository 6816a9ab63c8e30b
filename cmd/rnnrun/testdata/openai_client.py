"""Drives rnnrun's /v1/completions with the official openai package.

Usage: openai_client.py BASE_URL MODEL. Prints one JSON object: the text of a
completion, of a streamed completion (and its finish reasons), and the
status and error of a request for an unknown model.
"""
import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
out = {}

c = client.completions.create(model=model, prompt="HERMIA.", max_tokens=40, temperature=0.8, seed=42)
out["text"] = c.choices[0].text
out["finish_reason"] = c.choices[0].finish_reason
out["usage"] = [c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens]

text, reasons = "", []
for chunk in client.completions.create(model=model, prompt="HERMIA.", max_tokens=40, temperature=0.8, seed=42,
                                       stream=True, extra_body={"top_k": 0}):
    for ch in chunk.choices:
        text += ch.text
        if ch.finish_reason:
            reasons.append(ch.finish_reason)
out["stream_text"] = text
out["stream_finish"] = reasons

out["models"] = [m.id for m in client.models.list()]

try:
    client.completions.create(model="no-such-model", prompt="a", max_tokens=2)
except openai.NotFoundError as e:
    out["not_found"] = [e.status_code, e.body.get("code") if isinstance(e.body, dict) else None]
try:
    client.completions.create(model=model, prompt="a", max_tokens=2, temperature=-1)
except openai.BadRequestError as e:
    out["bad_request"] = [e.status_code, e.body.get("param") if isinstance(e.body, dict) else None]

print(json.dumps(out))
