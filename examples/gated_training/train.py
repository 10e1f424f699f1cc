"""Evaluation-gated training, end to end, offline, on a CPU, in minutes.

A tiny Llama learns a synthetic text mixture in which one skill, modular addition as asked by
scalegate's bundled Inspect task `scalegate/modular_arithmetic`, emerges with compute. The
Gatekeeper assesses the checkpoint at every doubling of effective compute under `policy.yaml`
(next to this file), forecasts when the alert and threshold lines will be crossed, records
every assessment and decision in a signed ledger, and stops the run once the threshold can no
longer be ruled out. See README.md for what it shows and the output of a full run.

    python examples/gated_training/train.py --out runs/gated          # ~1 minute: stops, exit 3
    python examples/gated_training/train.py --out runs/gated          # refused: exit 3
    python examples/gated_training/train.py --out runs/gated --protection safety_case  # resumes
    python examples/gated_training/train.py --quick --out runs/quick  # from step 32: for CI

Exit codes: 0 the run reached its last step; 3 the gate stopped it, or refused to restart a run
it stopped (scalegate's TrainingBlocked); 2 --out holds a finished run; 4 the ledger did not
verify.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import string
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

# Offline, and wide enough for the rich tables scalegate prints, before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("COLUMNS", "160")

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from scalegate.compute import dense_training_flop
from scalegate.gatekeeper import STATE_FILE, Gatekeeper, GateResult, TrainingBlocked
from scalegate.integrations.hf import ScalegateCallback

HERE = Path(__file__).resolve().parent
POLICY = HERE / "policy.yaml"
EVAL_ID = "modular_addition"
MODULUS = 10
EXIT_OK, EXIT_STOPPED, EXIT_LEDGER = 0, 3, 4

# -- the data ---------------------------------------------------------------------------------
# Characters are tokens: digits stay single tokens, so " 7" (the continuation the eval scores)
# is always space + digit, exactly as in the training text.
ALPHABET = string.ascii_letters + string.digits + " .,:?+\n"
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
ANSWER = "\nAnswer: "


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer (< 100 tokens) that Inspect's `hf/` provider loads with
    AutoTokenizer. It prepends <bos> and appends nothing: the eval scores an answer as the
    tokens that follow the prompt's own encoding, so an appended token would break that."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK, *ALPHABET])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )


def header(subject: str) -> str:
    """The first line of the eval's cloze prompt (scalegate.evals.proxy_tasks.render_cloze)."""
    return f"The following are questions about {subject}.\n\n"


@dataclass(frozen=True)
class Mixture:
    """The training text: mostly modular-addition questions in the eval's exact cloze format,
    the rest filler (copying and reversing digit strings) in the same question style.

    Operands are drawn as in natural text, where small numbers are far more frequent than large
    ones: one operand uniform, the other `min(floor(Exp(rate)), modulus - 1)` (rate 0.7: 0 half
    the time, 5 or more 3% of the time), in either order. With uniform operands the answer is
    independent of either operand alone, so the gradient carries no signal until the model
    happens to combine both: a plateau like parity's, at chance for over 2,000 steps. Skewed
    operands give it a way in. `held_out` pairs never appear in training.
    """

    modulus: int = MODULUS
    skill_share: float = 0.9
    small_operand_rate: float = 0.7
    held_out: frozenset[tuple[int, int]] = frozenset()

    def operands(self, rng: random.Random) -> tuple[int, int]:
        while True:
            a = rng.randrange(self.modulus)
            b = min(int(rng.expovariate(self.small_operand_rate)), self.modulus - 1)
            pair = (a, b) if rng.random() < 0.5 else (b, a)
            if pair not in self.held_out:
                return pair

    def modular(self, rng: random.Random) -> str:
        a, b = self.operands(rng)
        return f"Question: What is {a} + {b} modulo {self.modulus}?\nAnswer: {(a + b) % self.modulus}"

    @staticmethod
    def filler(rng: random.Random, reverse: bool) -> str:
        digits = [str(rng.randrange(10)) for _ in range(rng.randint(2, 5))]
        shown = " ".join(digits)
        answer = " ".join(reversed(digits)) if reverse else shown
        return f"Question: {'Reverse' if reverse else 'Repeat'} {shown}.\nAnswer: {answer}"

    def document(self, rng: random.Random) -> str:
        """One question under its header, as the eval's cloze prompt lays it out."""
        if rng.random() < self.skill_share:
            return header("modular arithmetic") + self.modular(rng)
        reverse = rng.random() < 0.5
        return header("reversal" if reverse else "copying") + self.filler(rng, reverse)


def held_out_pairs(modulus: int, count: int, seed: int) -> frozenset[tuple[int, int]]:
    """`count` (a, b) pairs, seeded, that training never shows: the eval asks all of them."""
    pairs = [(a, b) for a in range(modulus) for b in range(modulus)]
    return frozenset(random.Random(seed).sample(pairs, count))


class Corpus(torch.utils.data.Dataset[tuple[list[int], list[int]]]):
    """A fixed, seeded stream of documents, one per training example, padded to one length so
    every step costs the same compute.

    The loss is on the answers only (the text after "Answer: "), as in instruction tuning: with
    the loss on every token the answer digit is 1% of it, and the skill appeared 2-4x later
    (README.md, "How the recipe was found").
    """

    def __init__(self, mixture: Mixture, tokenizer: PreTrainedTokenizerFast, n: int, seed: int) -> None:
        rng = random.Random(seed)
        texts = [mixture.document(rng) for _ in range(n)]
        self.examples = [
            (ids, answer_labels(text, ids))
            for text, ids in zip(texts, tokenizer(texts)["input_ids"], strict=True)
        ]
        self.seq_len = -(-max(len(ids) for ids, _ in self.examples) // 8) * 8
        self.pad_id = int(tokenizer.pad_token_id)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.examples[i]

    def collate(self, batch: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        """Right-pad to `seq_len`; padding is masked from attention and loss."""
        ids = torch.full((len(batch), self.seq_len), self.pad_id, dtype=torch.long)
        labels = torch.full_like(ids, -100)
        mask = torch.zeros_like(ids)
        for i, (row, lab) in enumerate(batch):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, : len(lab)] = torch.tensor(lab)
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_labels(text: str, ids: list[int]) -> list[int]:
    """`ids` with everything but the answers masked (-100). One token per character after <bos>."""
    assert len(ids) == len(text) + 1, "the tokenizer must map each character to one token"
    labels = [-100] * len(ids)
    start = 0
    while (at := text.find(ANSWER, start)) >= 0:
        begin = at + len(ANSWER)
        end = text.find("\n", begin)
        end = len(text) if end < 0 else end
        labels[begin + 1 : end + 1] = ids[begin + 1 : end + 1]
        start = end
    return labels


# -- the run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    """One training configuration; effective compute grows with the step count."""

    name: str
    hidden: int
    layers: int
    batch: int
    max_steps: int
    learning_rate: float
    warmup_steps: int
    #: how strongly small operands dominate (Mixture.operands); 0.7 spreads the rise over two
    #: doublings, a flatter 0.4 made it sharper (chance to the stop in one doubling, 2 of 3 seeds)
    small_operand_rate: float
    #: first step the gate looks at: the quick size skips five assessments that read chance
    #: (effective compute still counts from step 0, so the doublings fall where they did)
    gate_from: int = 1
    #: (a, b) pairs never shown in training, to tell memorisation from generalisation
    held_out: int = 20


SIZES = {
    "full": Size(
        name="full",
        hidden=64,
        layers=2,
        batch=16,
        max_steps=1024,
        learning_rate=2e-3,
        warmup_steps=50,
        small_operand_rate=0.7,
    ),
    "quick": Size(
        name="quick",
        hidden=64,
        layers=2,
        batch=16,
        max_steps=1024,
        learning_rate=2e-3,
        warmup_steps=50,
        small_operand_rate=0.7,
        gate_from=32,
    ),
}


def build_model(size: Size, tokenizer: PreTrainedTokenizerFast, max_len: int) -> LlamaForCausalLM:
    """A Llama small enough to train on one CPU thread, saved and loaded as any HF checkpoint."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden,
        intermediate_size=4 * size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max(256, max_len),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


class Reporter(TrainerCallback):
    """Prints training loss now and then and one line per assessment (after the gate's own
    messages), and times the assessments so training and gating time can be told apart."""

    def __init__(self, gate: ScalegateCallback, every: int) -> None:
        self.gate, self.every = gate, every
        self.started = time.perf_counter()
        self.assess_s = 0.0
        self._before: float | None = None
        self._seen = 0

    def before(self) -> TrainerCallback:
        """A callback to place before ScalegateCallback: it stamps the start of the step's gate check."""
        reporter = self

        class _Stamp(TrainerCallback):
            def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
                reporter._before = time.perf_counter()

        return _Stamp()

    def on_log(self, args: Any, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        logs = kw.get("logs") or {}
        if "loss" in logs and (state.global_step % self.every == 0 or state.global_step == 1):
            elapsed = time.perf_counter() - self.started
            print(
                f"step {state.global_step:5d}  loss {logs['loss']:.3f}  "
                f"lr {logs.get('learning_rate', 0):.2e}  ({elapsed:.0f} s)",
                flush=True,
            )

    def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self._before is not None and len(self.gate.results) > self._seen:
            self._seen = len(self.gate.results)
            took = time.perf_counter() - self._before
            self.assess_s += took
            print(f"[example] {assessment_line(state.global_step, self.gate.results[-1])} ({took:.1f} s)")


def assessment_line(step: int, result: GateResult) -> str:
    a = result.assessment
    est = a.evidence[EVAL_ID].metrics.get("accuracy") if EVAL_ID in a.evidence else None
    acc = f"accuracy {est.value:.2f} [{est.low:.2f}, {est.high:.2f}]" if est else "accuracy -"
    ct = a.decision.actions["continue_training"].status.value
    alerts = [f"{d}:{lvl}" for d, dom in a.scorecard.pre_mitigation.domains.items() for lvl in dom.alerts]
    return (
        f"step {step}: effective compute {result.effective_compute:.3e} FLOP, {acc}, "
        f"continue_training {ct}" + (f", alert {', '.join(alerts)}" if alerts else "")
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "Train a tiny transformer on CPU in which modular addition emerges with compute, "
            "gated by scalegate: assessed at every doubling of effective compute under "
            "policy.yaml, forecast, recorded in a signed ledger, and stopped once the threshold "
            "can no longer be ruled out. Exit 3 when the gate stopped the run, 0 when it ran to the end."
        ),
        epilog=(
            "Exit codes: 0 ran to the last step; 3 the gate stopped the run, or refused to restart "
            "it; 2 --out holds a run that the gate did not stop; 4 the ledger did not verify. "
            "See examples/gated_training/README.md."
        ),
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--full", dest="size", action="store_const", const="full", help="The full run (default)."
    )
    size.add_argument(
        "--quick",
        dest="size",
        action="store_const",
        const="quick",
        help="The same training, assessed from step 32 on: five fewer assessments, for CI.",
    )
    p.set_defaults(size="full")
    p.add_argument(
        "--out", type=Path, required=True, help="Run folder: checkpoints, assessments, ledger, plot."
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="Delete --out first. Without it, an --out that holds a run the gate stopped is resumed "
        "(if the protections given now allow it) with that run's own settings.",
    )
    p.add_argument("--max-steps", type=int, help="Override the step budget (the cosine schedule spans it).")
    p.add_argument(
        "--seed", type=int, default=0, help="Seeds data, initialisation and data order (default 0)."
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads. One is fastest for a model this small, and far faster on a busy "
        "machine (measured: 143 vs 688 ms/step with 2 threads while other jobs ran). Default 1.",
    )
    p.add_argument(
        "--held-out",
        type=int,
        help="Override the number of (a, b) pairs never shown in training (default 20).",
    )
    p.add_argument(
        "--protection",
        action="append",
        default=[],
        metavar="NAME",
        help="A protection of the policy that is in place (repeatable). With safety_case the "
        "threshold no longer stops training; given on a run the gate stopped, it resumes that run.",
    )
    p.add_argument(
        "--policy", type=Path, default=POLICY, help="Policy YAML (default: policy.yaml next to this script)."
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()  # the gate records paths as given: absolute ones survive a cd
    gate_dir, ledger_db, key = out / "gate", out / "ledger.db", out / "keys" / "operator.key"
    if args.overwrite and out.exists():
        shutil.rmtree(out)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # bars would bury the gate's lines
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    resume_from: Path | None = None
    if (out / "run.json").exists():  # an earlier run: resume it, if the gate allows
        saved = json.loads((out / "run.json").read_text())
        size, seed = Size(**{f.name: saved[f.name] for f in fields(Size)}), saved["seed"]
        state = gate_dir / STATE_FILE
        history = json.loads(state.read_text())["history"] if state.exists() else []
        resume_from = latest_checkpoint(out / "trainer")
        if not (history and history[-1]["stopped"]) or resume_from is None:
            print(
                f"[example] {shown(out)} holds a run the gate did not stop; pass --overwrite", file=sys.stderr
            )
            return 2
        print(
            f"[example] {shown(out)} holds a {saved['name']} run the gate stopped: resuming it from "
            f"{shown(resume_from)} with its own settings, if the gate now allows continue_training"
        )
    else:
        size, seed = SIZES[args.size], args.seed
        if args.max_steps is not None:
            size = replace(size, max_steps=args.max_steps)
        if args.held_out is not None:
            size = replace(size, held_out=args.held_out)
    torch.manual_seed(seed)

    tokenizer = build_tokenizer()
    mixture = Mixture(
        small_operand_rate=size.small_operand_rate, held_out=held_out_pairs(MODULUS, size.held_out, seed)
    )
    corpus = Corpus(mixture, tokenizer, size.max_steps * size.batch, seed)
    model = build_model(size, tokenizer, corpus.seq_len)
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = size.batch * corpus.seq_len
    flop_per_step = dense_training_flop(n_params, tokens_per_step)
    print(
        f"[example] {size.name} run: Llama {size.layers}x{size.hidden}, {n_params:,} parameters, "
        f"vocabulary {len(tokenizer)}, {tokens_per_step} tokens/step ({size.batch} x {corpus.seq_len}), "
        f"{flop_per_step:.3e} FLOP/step, up to {size.max_steps} steps; "
        f"{len(mixture.held_out)} of {MODULUS * MODULUS} pairs held out of training"
    )
    if resume_from is None:
        out.mkdir(parents=True, exist_ok=True)
        run = {**asdict(size), "seed": seed, "parameters": n_params, "tokens_per_step": tokens_per_step}
        run |= {"flop_per_step": flop_per_step, "held_out_pairs": sorted(mixture.held_out)}
        (out / "run.json").write_text(json.dumps(run, indent=2))
        # The ledger's first entry: the operator key that signs every assessment and decision.
        from scalegate.ledger.store import Ledger, db_url
        from scalegate.ledger.workflow import operator_key

        ledger = Ledger(db_url(str(ledger_db)))
        try:
            operator_key(ledger, key)
        finally:
            ledger.close()

    gatekeeper = Gatekeeper(
        args.policy,
        out_dir=gate_dir,
        flop_per_step=flop_per_step,
        protections=args.protection,
        db=str(ledger_db),
        key=key,
        first_at_compute=size.gate_from * flop_per_step,  # the first assessment is due there
    )
    gate = ScalegateCallback(gatekeeper, tokenizer)
    reporter = Reporter(gate, every=max(1, size.max_steps // 16))
    trainer = Trainer(
        model=model,
        args=training_arguments(size, seed, out / "trainer"),
        train_dataset=corpus,
        data_collator=corpus.collate,
        processing_class=tokenizer,
        callbacks=[reporter.before(), gate, reporter],
    )
    trainer.remove_callback(PrinterCallback)
    try:
        # a stopped run restarts only under a new decision: ScalegateCallback.on_train_begin
        # raises TrainingBlocked unless the protections now in place allow continue_training
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except TrainingBlocked as exc:
        print(f"[example] refused: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    wall = time.perf_counter() - t0
    stopped = bool(gate.results) and gate.results[-1].stop
    step = trainer.state.global_step

    print()
    print(
        f"[example] {'STOPPED by the gate' if stopped else 'ran to the end'} at step {step} of "
        f"{size.max_steps} after {wall:.0f} s ({reporter.assess_s:.0f} s of it in {len(gate.results)} "
        "assessments)"
    )
    if stopped:
        print("[example] reason: " + "; ".join(gate.results[-1].reasons))
    rows = summary(gate_dir, flop_per_step, mixture.held_out)
    print_table(rows)
    (out / "summary.json").write_text(json.dumps({"stopped": stopped, "step": step, "rows": rows}, indent=2))

    # The forecast, as `scalegate forecast --from OUT/gate --policy policy.yaml --out OUT` prints it.
    from scalegate.cli import forecast_cmd

    forecast_cmd(source=gate_dir, policy=str(args.policy), out_dir=out, db=None)
    before = plot_before_stop(gate_dir, args.policy, out) if stopped else None
    # The ledger, as `scalegate ledger show --db OUT/ledger.db` and `scalegate ledger verify` print it.
    import typer

    from scalegate import cli_ledger as ledger_cli

    ledger_cli.show(db=str(ledger_db), as_json=False, kind=None)
    try:
        ledger_cli.verify(db=str(ledger_db), bundle=None, anchor=None)
    except typer.Exit:
        return EXIT_LEDGER

    last_ckpt = sorted((gate_dir / "checkpoints").iterdir())[-1]
    print(f"[example] checkpoint   {shown(last_ckpt)}")
    print(
        f"[example] assessments  {shown(gate_dir / 'assessments')}  (state: {shown(gate_dir / STATE_FILE)})"
    )
    print(f"[example] ledger       {shown(ledger_db)}  (key {shown(key)})")
    if (plot_path := out / f"forecast-{EVAL_ID}.png").exists():  # needs two assessments
        print(f"[example] plot         {shown(plot_path)}")
    if before is not None:
        print(f"[example] plot         {shown(before)}  (the forecast as it stood before the stop)")
    print(f"[example] summary      {shown(out / 'summary.json')}")
    return EXIT_STOPPED if stopped else EXIT_OK


def training_arguments(size: Size, seed: int, output_dir: Path) -> TrainingArguments:
    """AdamW with warmup and cosine decay over the whole budget, so a run the gate stopped and
    a protected run resumed from it follow the same schedule."""
    return TrainingArguments(
        output_dir=str(output_dir),
        max_steps=size.max_steps,
        per_device_train_batch_size=size.batch,
        learning_rate=size.learning_rate,
        warmup_steps=size.warmup_steps,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        adam_beta2=0.98,
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        use_cpu=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        save_strategy="no",  # ScalegateCallback asks for one save: when the gate stops the run
        logging_strategy="steps",
        logging_steps=1,
        disable_tqdm=True,
        report_to=[],
    )


def shown(path: Path) -> str:
    """A path as the user gave it: relative to the working directory when it lies under it."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else rel


def latest_checkpoint(trainer_dir: Path) -> Path | None:
    """The Trainer's checkpoint saved when the gate stopped the run (weights, optimizer, data position)."""
    found = sorted(trainer_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    return found[-1] if found else None


def plot_before_stop(gate_dir: Path, policy: Path, out: Path) -> Path | None:
    """The forecast from the assessments before the one that stopped the run: what the early
    warning saw, to compare with where the threshold was actually crossed."""
    from scalegate.forecast import Point, plot
    from scalegate.gatekeeper import threshold_lines
    from scalegate.policy import load_policy

    pol = load_policy(policy).policy
    history = json.loads((gate_dir / STATE_FILE).read_text())["history"][:-1]
    points = [Point(r["effective_compute"], *r["counts"][EVAL_ID]) for r in history if EVAL_ID in r["counts"]]
    if len({p.effective_compute for p in points}) < 2:
        return None
    lines = {label: value for e, value, label in threshold_lines(pol) if e == EVAL_ID}
    title = f"{pol.policy.name}: {EVAL_ID}, forecast before the stop ({len(points)} assessments)"
    return plot(
        {EVAL_ID: points},
        lines,
        out / "forecast-before-stop.png",
        floor=pol.evals[EVAL_ID].chance,
        title=title,
    )


def summary(
    gate_dir: Path, flop_per_step: float, held_out: frozenset[tuple[int, int]]
) -> list[dict[str, Any]]:
    """One row per assessment from the gate's own records, with accuracy split into pairs
    seen in training and held-out pairs (read from the Inspect log the gate scored)."""
    from inspect_ai.log import read_eval_log

    history = json.loads((gate_dir / STATE_FILE).read_text())["history"]
    rows = []
    for r in history:
        a = json.loads(Path(r["assessment_path"]).read_text())
        ev = a["evidence"][EVAL_ID]
        acc = ev["metrics"]["accuracy"]
        seen, unseen = [0, 0], [0, 0]
        log = read_eval_log(ev["log_path"])
        for s in log.samples or []:
            _, a_, b_ = str(s.id).rsplit("-", 2)
            bucket = unseen if (int(a_), int(b_)) in held_out else seen
            bucket[0] += next(iter((s.scores or {}).values())).value == "C"
            bucket[1] += 1
        rows.append(
            {
                "step": round(r["effective_compute"] / flop_per_step),
                "effective_compute": r["effective_compute"],
                "accuracy": acc["value"],
                "low": acc["low"],
                "high": acc["high"],
                "seen": seen,
                "held_out": unseen,
                "continue_training": r["continue_training"],
                "alerts": r["alerts"],
                "stopped": r["stopped"],
                "resumed": any("resumed" in reason for reason in r["reasons"]),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The assessments as a Markdown table (README.md pastes it)."""

    def frac(c: list[int]) -> str:
        return f"{c[0]}/{c[1]}" if c[1] else "-"

    head = ("step", "effective compute (FLOP)", "accuracy [95% CI]", "seen pairs", "held-out pairs", "alert")
    print("\n| " + " | ".join((*head, "continue_training")) + " |")
    print("|---:|---:|---|---:|---:|---|---|")
    for r in rows:
        cells = (
            str(r["step"]),
            f"{r['effective_compute']:.3e}",
            f"{r['accuracy']:.2f} [{r['low']:.2f}, {r['high']:.2f}]",
            frac(r["seen"]),
            frac(r["held_out"]),
            ", ".join(r["alerts"]) or "-",
            r["continue_training"]
            + (" (stop)" if r["stopped"] else " (stopped, resumed)" if r["resumed"] else ""),
        )
        print("| " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    sys.exit(main())
