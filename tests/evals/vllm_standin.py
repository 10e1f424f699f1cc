"""A stand-in for a vLLM server where vLLM cannot run (no GPU): the routes scalegate's served
scoring and Inspect's vllm provider call (`/tokenize`, `/v1/completions` with `echo` and
`logprobs`, `/v1/models`), answered as vLLM answers them, from a real transformers model's
forward pass. The protocol is the double; every number is the model's own. The GPU test
(tests/gpu/test_vllm_gpu.py) runs the same comparison against real vLLM where one is lent.

`fault` makes the server misbehave the ways a real deployment can: a tokenizer that is not the
model's (the echoed ids differ from those sent), a missing or impossible log-probability, a
short echo, a refused request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("other_ids", "null_logprob", "positive_logprob", "short_echo", "http_500", "no_logprobs")


class StandIn:
    def __init__(self, folder: Path, name: str, fault: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.name = name
        self.fault = fault
        self.lock = threading.Lock()
        self.completions = 0  # requests to /v1/completions, for the tests to count

    def tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = self.tokenizer.encode(
            body["prompt"], add_special_tokens=bool(body.get("add_special_tokens", True))
        )
        return {"tokens": ids, "count": len(ids), "max_model_len": 2048}

    def completions_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        self.completions += 1
        prompts = body["prompt"]
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        choices = [self._choice(i, list(p), body) for i, p in enumerate(prompts)]
        return {"id": "cmpl-standin", "object": "text_completion", "model": self.name, "choices": choices}

    def _choice(self, index: int, ids: list[int], body: dict[str, Any]) -> dict[str, Any]:
        torch = self.torch
        with self.lock, torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        values: list[float | None] = [None] + [float(logp[j - 1, ids[j]]) for j in range(1, len(ids))]
        nxt = int(logp[-1].argmax())
        values.append(float(logp[-1, nxt]))
        tokens = [*ids, nxt]
        if self.fault == "other_ids":
            tokens = [t + 1 for t in tokens]
        if self.fault == "null_logprob":
            values[-2] = None
        if self.fault == "positive_logprob":
            values[-2] = 0.5
        if self.fault == "short_echo":
            values, tokens = values[-2:], tokens[-2:]
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        shown = [f"token_id:{t}" if as_ids else self.tokenizer.decode([t]) for t in tokens]
        logprobs = {"tokens": shown, "token_logprobs": values, "top_logprobs": None, "text_offset": []}
        return {
            "index": index,
            "text": self.tokenizer.decode([nxt]),
            "logprobs": None if self.fault == "no_logprobs" else logprobs,
            "finish_reason": "length",
        }


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": standin.name, "max_model_len": 2048}]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if standin.fault == "http_500":
                self._send(500, {"error": "engine dead"})
            elif self.path == "/tokenize":
                self._send(200, standin.tokenize(body))
            elif self.path == "/v1/completions":
                self._send(200, standin.completions_reply(body))
            else:
                self._send(404, {"error": f"no route {self.path}"})

    return Handler


@contextmanager
def serving(folder: Path, name: str, fault: str | None = None) -> Iterator[tuple[str, StandIn]]:
    """The stand-in on a free local port: (base URL ending /v1, the server's state)."""
    standin = StandIn(folder, name, fault)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", standin
    finally:
        server.shutdown()
        server.server_close()
