"""Benchmark: what the gatekeeper costs a training step when no assessment is due.

Times `Gatekeeper.due()` (the check the callbacks run every step) against one real training
step of a small transformer on this CPU, and reports the ratio. Target: under 1%.

    python benchmarks/bench_gatekeeper.py
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from scalegate.gatekeeper import Gatekeeper, _Record

    with tempfile.TemporaryDirectory() as tmp:
        gk = Gatekeeper(
            "reference", out_dir=tmp, flop_per_step=1e12, use_ledger=False, on_message=lambda m: None
        )
        # one assessment on record: the next is due at 4x (the reference cadence)
        gk.history.append(
            _Record(1e15, dt.datetime.now(dt.UTC).isoformat(), "", None, "allowed", False, [], {})
        )
        gk._reschedule()
        calls = 1_000_000
        start = time.perf_counter()
        for step in range(calls):
            gk.due(1e15 + step)
        per_check = (time.perf_counter() - start) / calls

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=1024,
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(0, 1024, (8, 64))
    for _ in range(3):  # warm up
        model(batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    steps = 20
    start = time.perf_counter()
    for _ in range(steps):
        model(batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    per_step = (time.perf_counter() - start) / steps

    result = {
        "check_seconds": per_check,
        "tiny_step_seconds": per_step,
        "overhead_fraction": per_check / per_step,
        "model": "Llama 2 layers, hidden 128, batch 8 x 64 tokens (about 1M parameters)",
    }
    out = Path(__file__).parent / "results" / "gatekeeper.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"due() check: {per_check * 1e9:.0f} ns; tiny training step: {per_step * 1e3:.1f} ms; "
        f"overhead {per_check / per_step:.2e} of a step (target < 1e-2)"
    )


if __name__ == "__main__":
    main()
