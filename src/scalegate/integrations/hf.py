"""A `transformers.TrainerCallback` that assesses at the policy's cadence and stops the run
when the gate closes (checkpoint saved, reason logged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from scalegate.gatekeeper import Gatekeeper, GateResult


class ScalegateCallback(TrainerCallback):
    def __init__(self, gatekeeper: Gatekeeper, tokenizer: Any = None) -> None:
        self.gatekeeper = gatekeeper
        self.tokenizer = tokenizer
        self.results: list[GateResult] = []

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self.gatekeeper.check_resume()  # raises TrainingBlocked: a stopped run does not restart
        return control

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        ec = self.gatekeeper.effective_compute_at(state.global_step)
        if not self.gatekeeper.due(ec):
            return control
        model = kwargs["model"]
        tokenizer = kwargs.get("processing_class") or self.tokenizer

        def save(path: Path) -> None:
            model.save_pretrained(path)
            if tokenizer is not None:
                tokenizer.save_pretrained(path)

        result = self.gatekeeper.assess(ec, save)
        self.results.append(result)
        if result.stop:
            control.should_training_stop = True
            control.should_save = True
        return control
