"""A PyTorch Lightning `Callback` with the same contract as the Hugging Face one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L

from scalegate.gatekeeper import Gatekeeper, GateResult

Exporter = Callable[[Any, Path], None]


def export_hf(pl_module: Any, path: Path) -> None:
    """Default export: a LightningModule wrapping a transformers model as `.model` (and
    optionally `.tokenizer`) is saved as a transformers folder, which Inspect's hf provider loads."""
    model = getattr(pl_module, "model", None)
    if model is None or not hasattr(model, "save_pretrained"):
        raise TypeError(
            "pass export=... to ScalegateLightningCallback: the module has no `.model.save_pretrained`"
        )
    model.save_pretrained(path)
    tokenizer = getattr(pl_module, "tokenizer", None)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)


class ScalegateLightningCallback(L.Callback):
    def __init__(self, gatekeeper: Gatekeeper, export: Exporter = export_hf) -> None:
        self.gatekeeper = gatekeeper
        self.export = export
        self.results: list[GateResult] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.gatekeeper.check_resume()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        ec = self.gatekeeper.effective_compute_at(trainer.global_step)
        if not self.gatekeeper.due(ec):
            return
        result = self.gatekeeper.assess(ec, lambda path: self.export(pl_module, path))
        self.results.append(result)
        if result.stop:
            trainer.should_stop = True
            trainer.save_checkpoint(
                str(result.assessment_path.parent.parent / "checkpoints" / "stopped.ckpt")
            )
