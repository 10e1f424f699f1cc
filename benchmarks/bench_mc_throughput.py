"""Benchmark: multiple-choice scoring throughput on SmolLM2-135M, scalegate against the others.

The same N MMLU questions (a seeded selection through scalegate.evals.mmlu over the reference
policy's subjects), one model object (the bundled SmolLM2-135M-Instruct, bf16 unless told,
loaded once through Inspect's `hf` provider and shared by every method), one process, CPU:

  floor letter        plain batched forward passes over the lettered prompts (16 a batch,
                      sorted by length), reading the " A".." D" logits at the last token:
                      the least work a letter reading can do.
  floor answer naive  plain batched forward passes over the four (question + answer)
                      sequences of every question, no prefix sharing (all 4N sorted by
                      length, 16 a batch); log-probs at the answer tokens only.
  scalegate direct    local_scoring's LocalScorer (its batcher and both readings), called
                      concurrently for all questions, without Inspect. Where the model
                      allows, both readings run on packed rows (a question's prompt once,
                      then its answers, under a 4-D mask; short requests share a row); the
                      results record whether it did.
  scalegate Inspect   `inspect_ai.eval` of scalegate/mmlu_proxy with answer_method
                      letter_logprob / answer_loglik on the hf provider: what `assess` runs.
  Inspect stock MC    `multiple_choice()` + `choice()` on the hf provider (generation,
                      max_tokens 32), and a logprob variant: the lettered prompt, one
                      generated token with top-20 logprobs, the best-ranked letter.
  lm-eval HF          lm-evaluation-harness 0.4 `simple_evaluate` with its HFLM backend on the
                      same model object (batch 16), on two local tasks generated here: letters
                      (choices " A".." D") and answer text (choices = the answers).

Model loading is excluded; every method runs once on a few questions to warm up, then the
methods run in rounds (all of them per round, in alternating order, so drift in machine load
hits each alike) and the fastest round counts; Inspect's stock solvers, far from every
target, are timed in the first round only unless --stock-repeats says otherwise. The
process CPU time of each method is kept beside its wall time: on a shared machine it moves
less with other jobs' load. OpenMP's idle threads are made to sleep, not spin
(OMP_WAIT_POLICY=PASSIVE unless set otherwise): on the 2-core machine shared with other
jobs, the letter floor on 48 questions took 3.4-50 s a call with spinning threads against
2.2-2.6 s with sleeping ones. Accuracy is reported per method, with how often each agrees
with the floor of its reading. Results are printed as a markdown table and written to
benchmarks/results/mc_throughput.json; docs/performance.md quotes them.

    HF_HUB_OFFLINE=1 python benchmarks/bench_mc_throughput.py [--n 200] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "results" / "mc_throughput.json"
SEED = 20261123
#: The reference policy's proxy subjects (src/scalegate/policy/presets/reference.yaml).
SUBJECTS = [
    "computer security",
    "virology",
    "college biology",
    "medical genetics",
    "college chemistry",
    "high school chemistry",
    "machine learning",
    "college computer science",
    "high school geography",
    "marketing",
    "sociology",
    "nutrition",
    "astronomy",
]
FLOOR_BATCH = 16  # as scalegate's LETTER_BATCH and ANSWER_BATCH
LM_EVAL_BATCH = 16
MC_MAX_TOKENS = 32
TOP_LOGPROBS = 20


@dataclass
class Method:
    key: str
    label: str
    reading: str  # "letter" | "answer"
    run: Callable[[int], dict[str, str | None]]  # n questions -> {question id: letter or None}
    note: str = ""
    stock: bool = False  # Inspect's stock solvers: timed in the first `--stock-repeats` rounds


@dataclass
class Ctx:
    questions: list[Any]
    inspect_model: Any
    hf_model: Any
    tokenizer: Any  # Inspect's tokenizer (the one scalegate uses inside Inspect)
    letter_ids: list[int]
    log_dir: Path
    lm_dir: Path
    lm_tasks: Any = None
    lm_scoring_s: float = 0.0
    answer_packing: bool | None = None  # whether LocalScorer scored in packed rows


# ---------------------------------------------------------------- helpers


def _argmax_letter(values: list[float]) -> str:
    from scalegate.evals.mmlu import LETTERS

    return LETTERS[max(range(len(values)), key=lambda i: values[i])]


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> dict[str, Any]:
    """Load average and CPU pressure (share of time some task waited for a CPU), if Linux."""
    out: dict[str, Any] = {"loadavg_1_5_15": list(os.getloadavg())}
    with contextlib.suppress(OSError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        out["cpu_pressure_some_avg60_pct"] = float(some[2].split("=")[1])
    return out


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- the floors


def floor_letter(ctx: Ctx, n: int) -> dict[str, str | None]:
    """One forward pass per batch of lettered prompts; logits at the last real token only."""
    import torch

    from scalegate.evals.proxy_tasks import render_prompt

    tok, model = ctx.tokenizer, ctx.hf_model
    qs = ctx.questions[:n]
    enc = [tok.encode(render_prompt(q)) for q in qs]
    order = sorted(range(len(qs)), key=lambda i: len(enc[i]))
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    out: dict[str, str | None] = {}
    with torch.inference_mode():
        for start in range(0, len(order), FLOOR_BATCH):
            idx = order[start : start + FLOOR_BATCH]
            width = max(len(enc[i]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(enc[i])] = torch.tensor(enc[i])
                mask[r, : len(enc[i])] = 1
            last = mask.sum(dim=1) - 1
            h = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = head(h[torch.arange(len(idx)), last])[:, ctx.letter_ids]
            for r, i in enumerate(idx):
                out[qs[i].id] = "ABCD"[int(logits[r].argmax())]
    return out


def floor_answer_naive(ctx: Ctx, n: int) -> dict[str, str | None]:
    """The four (question + answer) sequences of every question, no prefix sharing: all 4n
    sorted by length and run 16 a batch; log-probs computed at the answer tokens only."""
    import torch

    from scalegate.evals.proxy_tasks import render_cloze

    tok, model = ctx.tokenizer, ctx.hf_model
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    qs = ctx.questions[:n]
    seqs: list[tuple[int, int, list[int]]] = []  # (question index, prefix length, tokens)
    for qi, q in enumerate(qs):
        prefix = render_cloze(q)
        pre = len(tok.encode(prefix))
        seqs += [(qi, pre, tok.encode(prefix + " " + c)) for c in q.choices]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][2]))
    totals = [0.0] * len(seqs)
    with torch.inference_mode():
        for start in range(0, len(order), FLOOR_BATCH):
            idx = order[start : start + FLOOR_BATCH]
            width = max(len(seqs[i][2]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            rows, cols, targets = [], [], []
            for r, i in enumerate(idx):
                _, pre, s = seqs[i]
                ids[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
                rows += [r] * (len(s) - pre)
                cols += range(pre - 1, len(s) - 1)  # the positions that predict answer tokens
                targets += s[pre:]
            h = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
            logp = torch.log_softmax(head(h[torch.tensor(rows), torch.tensor(cols)]).float(), dim=-1)
            picked = logp[torch.arange(len(targets)), torch.tensor(targets)].tolist()
            at = 0
            for i in idx:
                k = len(seqs[i][2]) - seqs[i][1]
                totals[i] = sum(picked[at : at + k])
                at += k
    out: dict[str, str | None] = {}
    for qi, q in enumerate(qs):
        values = [totals[4 * qi + k] / len((" " + c).encode("utf-8")) for k, c in enumerate(q.choices)]
        out[q.id] = _argmax_letter(values)
    return out


# ---------------------------------------------------------------- scalegate


def scalegate_direct(ctx: Ctx, n: int, reading: str) -> dict[str, str | None]:
    """LocalScorer as the mc_answer solver drives it, all questions submitted concurrently."""
    from scalegate.evals import local_scoring
    from scalegate.evals.mmlu import LETTERS
    from scalegate.evals.proxy_tasks import render_cloze, render_prompt

    qs = ctx.questions[:n]

    async def go() -> list[list[float]]:
        scorer = local_scoring.LocalScorer(ctx.hf_model, ctx.tokenizer, LETTERS)
        if reading == "letter":
            return await asyncio.gather(*(scorer.letter_logprobs(render_prompt(q)) for q in qs))
        raw = await asyncio.gather(
            *(scorer.answer_logliks(render_cloze(q), [" " + c for c in q.choices]) for q in qs)
        )
        ctx.answer_packing = getattr(scorer, "packing", None)
        return [
            [r / len((" " + c).encode("utf-8")) for r, c in zip(row, q.choices, strict=True)]
            for row, q in zip(raw, qs, strict=True)
        ]

    values = asyncio.run(go())
    return {q.id: _argmax_letter(v) for q, v in zip(qs, values, strict=True)}


def _inspect_eval(ctx: Ctx, task: Any, **config: Any) -> Any:
    from inspect_ai import eval as inspect_eval

    with _quiet():
        [log] = inspect_eval(
            task,
            model=ctx.inspect_model,
            log_dir=str(ctx.log_dir),
            log_format="eval",
            display="none",
            max_retries=0,
            fail_on_error=True,
            **config,
        )
    if log.status != "success":
        raise RuntimeError(f"Inspect run failed: {log.error}")
    return log


def scalegate_inspect(ctx: Ctx, n: int, reading: str) -> dict[str, str | None]:
    from scalegate.evals.proxy_tasks import mmlu_proxy

    method = "letter_logprob" if reading == "letter" else "answer_loglik"
    task = mmlu_proxy(subjects=SUBJECTS, limit=n, seed=SEED, answer_method=method)
    log = _inspect_eval(ctx, task, temperature=0.0)
    return {str(s.id): (s.scores["mc_letter"].answer or None) for s in log.samples}


# ---------------------------------------------------------------- Inspect stock


def _stock_dataset(ctx: Ctx, n: int) -> Any:
    from inspect_ai.dataset import MemoryDataset, Sample

    return MemoryDataset(
        [
            Sample(id=q.id, input=q.question.strip(), choices=list(q.choices), target=q.answer)
            for q in ctx.questions[:n]
        ]
    )


def inspect_stock_generate(ctx: Ctx, n: int) -> dict[str, str | None]:
    from inspect_ai import Task
    from inspect_ai.scorer import choice
    from inspect_ai.solver import multiple_choice

    task = Task(dataset=_stock_dataset(ctx, n), solver=multiple_choice(), scorer=choice())
    log = _inspect_eval(ctx, task, temperature=0.0, max_tokens=MC_MAX_TOKENS)
    return {str(s.id): (s.scores["choice"].answer or None) for s in log.samples}


def inspect_stock_logprobs(ctx: Ctx, n: int) -> dict[str, str | None]:
    """Inspect's hf provider asked for one token with logprobs; the best-ranked letter wins."""
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ChatMessageUser
    from inspect_ai.scorer import match
    from inspect_ai.solver import Generate, TaskState, solver

    from scalegate.evals.mmlu import LETTERS
    from scalegate.evals.proxy_tasks import _INSTRUCTION, render_prompt

    @solver  # type: ignore[untyped-decorator,unused-ignore]
    def letter_from_logprobs() -> Any:
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            state.messages = [ChatMessageUser(content=state.input_text + _INSTRUCTION)]
            state = await generate(state, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
            best: dict[str, float] = {}
            logprobs = state.output.choices[0].logprobs
            for top in logprobs.content[0].top_logprobs if logprobs else []:
                letter = top.token.replace("Ġ", "").strip()
                if letter in LETTERS and letter not in best:
                    best[letter] = top.logprob
            state.output.completion = max(best, key=lambda k: best[k]) if best else ""
            return state

        return solve

    samples = [Sample(id=q.id, input=render_prompt(q), target=q.answer) for q in ctx.questions[:n]]
    task = Task(
        dataset=MemoryDataset(samples),
        solver=letter_from_logprobs(),
        scorer=match(location="exact"),
    )
    log = _inspect_eval(ctx, task, temperature=0.0)
    return {str(s.id): (s.scores["match"].answer or None) for s in log.samples}


# ---------------------------------------------------------------- lm-evaluation-harness


def write_lm_eval_tasks(folder: Path, questions: list[Any]) -> None:
    """Two local tasks over the same questions, with scalegate's exact prompts as the text."""
    from scalegate.evals.mmlu import LETTERS
    from scalegate.evals.proxy_tasks import render_cloze, render_prompt

    data = folder / "questions.jsonl"
    rows = [
        {
            "id": q.id,
            "letter_prompt": render_prompt(q),
            "cloze_prompt": render_cloze(q),
            "choices": list(q.choices),
            "answer": LETTERS.index(q.answer),
        }
        for q in questions
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    common = (
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        "doc_to_target: answer\n"
        "metric_list:\n"
        "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
        "  - {metric: acc_norm, aggregation: mean, higher_is_better: true}\n"
        "metadata: {version: 1.0}\n"
    )
    (folder / "sg_bench_letter.yaml").write_text(
        "task: sg_bench_letter\n"
        + common
        + 'doc_to_text: "{{letter_prompt}}"\ndoc_to_choice: ["A", "B", "C", "D"]\n'
    )
    (folder / "sg_bench_answer.yaml").write_text(
        "task: sg_bench_answer\n" + common + 'doc_to_text: "{{cloze_prompt}}"\ndoc_to_choice: "{{choices}}"\n'
    )


def lm_eval_run(ctx: Ctx, n: int, reading: str) -> dict[str, str | None]:
    import lm_eval

    task = "sg_bench_letter" if reading == "letter" else "sg_bench_answer"
    lm = ctx.lm_tasks["lm"]
    with _quiet():
        res = lm_eval.simple_evaluate(
            model=lm,
            tasks=[task],
            task_manager=ctx.lm_tasks["manager"],
            limit=n,
            log_samples=True,
            verbosity="ERROR",
        )
    assert res is not None
    out: dict[str, str | None] = {}
    for row in res["samples"][task]:
        lls = [float(r[0]) for r in row["filtered_resps"]]
        if reading == "answer":  # lm-eval's acc_norm: by the answer's length in characters
            lls = [ll / len(c) for ll, c in zip(lls, row["doc"]["choices"], strict=True)]
        out[row["doc"]["id"]] = _argmax_letter(lls)
    return out


def make_lm(ctx: Ctx) -> None:
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    from scalegate.evals.assets import smollm2_dir

    with _quiet():
        tokenizer = AutoTokenizer.from_pretrained(smollm2_dir())
        lm = HFLM(pretrained=ctx.hf_model, tokenizer=tokenizer, batch_size=LM_EVAL_BATCH)
        manager = TaskManager(include_path=str(ctx.lm_dir))
    inner = lm._loglikelihood_tokens

    def timed(*args: Any, **kwargs: Any) -> Any:  # lm-eval's scoring alone, without task setup
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            ctx.lm_scoring_s += time.perf_counter() - start

    lm._loglikelihood_tokens = timed
    ctx.lm_tasks = {"lm": lm, "manager": manager}


# ---------------------------------------------------------------- the run


def methods(ctx: Ctx) -> list[Method]:
    return [
        Method(
            "floor_letter", "torch floor, letter (batched forward)", "letter", lambda n: floor_letter(ctx, n)
        ),
        Method(
            "floor_answer_naive",
            "torch floor, answer text naive (4 full sequences)",
            "answer",
            lambda n: floor_answer_naive(ctx, n),
        ),
        Method(
            "scalegate_letter_direct",
            "scalegate letter_logprob, local_scoring direct",
            "letter",
            lambda n: scalegate_direct(ctx, n, "letter"),
        ),
        Method(
            "scalegate_answer_direct",
            "scalegate answer_loglik, local_scoring direct",
            "answer",
            lambda n: scalegate_direct(ctx, n, "answer"),
        ),
        Method(
            "scalegate_letter_inspect",
            "scalegate letter_logprob via inspect_ai.eval",
            "letter",
            lambda n: scalegate_inspect(ctx, n, "letter"),
        ),
        Method(
            "scalegate_answer_inspect",
            "scalegate answer_loglik via inspect_ai.eval",
            "answer",
            lambda n: scalegate_inspect(ctx, n, "answer"),
        ),
        Method(
            "inspect_stock_generate",
            "Inspect multiple_choice() + choice(), hf generate",
            "generate",
            lambda n: inspect_stock_generate(ctx, n),
            note=f"chat template, greedy, max_tokens {MC_MAX_TOKENS}",
            stock=True,
        ),
        Method(
            "inspect_stock_logprobs",
            "Inspect hf provider, 1 token + top-20 logprobs",
            "letter",
            lambda n: inspect_stock_logprobs(ctx, n),
            note="chat template; letter read from the top-20 logprobs",
            stock=True,
        ),
        Method(
            "lm_eval_letter",
            "lm-eval HFLM, letter task",
            "letter",
            lambda n: lm_eval_run(ctx, n, "letter"),
        ),
        Method(
            "lm_eval_answer",
            "lm-eval HFLM, answer-text task (acc_norm)",
            "answer",
            lambda n: lm_eval_run(ctx, n, "answer"),
        ),
    ]


def setup(n: int, dtype: str, tmp: Path) -> Ctx:
    import torch
    from inspect_ai.model import get_model

    from scalegate.evals.assets import mmlu_path, smollm2_dir
    from scalegate.evals.local_scoring import letter_token_ids
    from scalegate.evals.mmlu import LETTERS, select

    questions = select(mmlu_path(), SUBJECTS, n, SEED)
    if len(questions) < n:
        raise SystemExit(f"only {len(questions)} questions in {SUBJECTS}")
    with _quiet():
        model = get_model(f"hf/{smollm2_dir()}", memoize=False, dtype=getattr(torch, dtype), do_sample=False)
    api: Any = model.api
    ctx = Ctx(
        questions=questions,
        inspect_model=model,
        hf_model=api.model,
        tokenizer=api.tokenizer,
        letter_ids=letter_token_ids(api.tokenizer, LETTERS),
        log_dir=tmp / "logs",
        lm_dir=tmp / "lm_eval_tasks",
    )
    ctx.lm_dir.mkdir()
    write_lm_eval_tasks(ctx.lm_dir, questions)
    make_lm(ctx)
    return ctx


def accuracy(ctx: Ctx, n: int, preds: dict[str, str | None]) -> float:
    qs = ctx.questions[:n]
    return sum(preds.get(q.id) == q.answer for q in qs) / len(qs)


def agreement(a: dict[str, str | None], b: dict[str, str | None]) -> float:
    keys = list(b)
    return sum(a.get(k) == b[k] for k in keys) / len(keys)


def run(
    n: int, repeats: int, stock_repeats: int, warmup: int, dtype: str, only: list[str] | None
) -> dict[str, Any]:
    import inspect_ai
    import lm_eval
    import torch
    import transformers

    from scalegate.evals import local_scoring

    torch.set_num_threads(2)
    started = time.perf_counter()
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["HF_DATASETS_CACHE"] = str(tmp / "hf-datasets")
        t0 = time.perf_counter()
        ctx = setup(n, dtype, tmp)
        setup_s = time.perf_counter() - t0
        ms = [m for m in methods(ctx) if only is None or m.key in only]
        for m in ms:  # warm-up once: imports, kernels, Inspect's batch thread, lm-eval's index
            print(f"warm-up {m.key} ...", file=sys.stderr, flush=True)
            m.run(min(warmup, n))
        times: dict[str, list[float]] = {m.key: [] for m in ms}
        cpu: dict[str, list[float]] = {m.key: [] for m in ms}
        lm_scoring: dict[str, list[float]] = {}
        preds: dict[str, dict[str, str | None]] = {}
        for r in range(repeats):
            # alternate the order so a drift in machine load does not favour the first methods
            for m in ms if r % 2 == 0 else ms[::-1]:
                if m.stock and r >= stock_repeats:
                    continue
                ctx.lm_scoring_s = 0.0
                t, c = time.perf_counter(), time.process_time()
                preds[m.key] = m.run(n)
                times[m.key].append(time.perf_counter() - t)
                cpu[m.key].append(time.process_time() - c)
                if m.key.startswith("lm_eval"):
                    lm_scoring.setdefault(m.key, []).append(ctx.lm_scoring_s)
                print(
                    f"round {r + 1} {m.key}: {times[m.key][-1]:.1f} s (cpu {cpu[m.key][-1]:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    floor = {"letter": "floor_letter", "answer": "floor_answer_naive"}
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    rows = []
    for m in ms:
        s = best[m.key]
        row: dict[str, Any] = {
            "method": m.key,
            "label": m.label,
            "reading": m.reading,
            "seconds": round(s, 2),
            "seconds_all_rounds": [round(x, 2) for x in times[m.key]],
            "cpu_seconds": round(best_cpu[m.key], 2),
            "questions_per_s": round(n / s, 2),
            "accuracy": round(accuracy(ctx, n, preds[m.key]), 4),
            "unparsed": sum(preds[m.key].get(q.id) is None for q in ctx.questions[:n]),
        }
        if "floor_letter" in best:
            row["ratio_to_letter_floor"] = round(s / best["floor_letter"], 2)
            row["cpu_ratio_to_letter_floor"] = round(best_cpu[m.key] / best_cpu["floor_letter"], 2)
        if m.reading == "answer" and "floor_answer_naive" in best:
            row["ratio_to_answer_naive_floor"] = round(s / best["floor_answer_naive"], 2)
        ref = floor.get(m.reading)
        if ref in preds and ref != m.key:
            row["agrees_with_floor"] = round(agreement(preds[m.key], preds[ref]), 4)
        if m.key in lm_scoring:
            row["lm_eval_scoring_seconds"] = round(min(lm_scoring[m.key]), 2)
            if "floor_letter" in best:
                row["lm_eval_scoring_ratio_to_letter_floor"] = round(
                    min(lm_scoring[m.key]) / best["floor_letter"], 2
                )
        if m.note:
            row["note"] = m.note
        rows.append(row)
    return {
        "date": dt.date.today().isoformat(),
        "command": "python benchmarks/bench_mc_throughput.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": _cpu_model(),
            "arch": platform.machine(),
            "cores": os.cpu_count(),
            "memory_gib": _mem_gib(),
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "gpu": False,
            "load_before": load_before,
            "load_after": _load(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "inspect_ai": inspect_ai.__version__,
            "lm_eval": getattr(lm_eval, "__version__", "?"),
        },
        "setup": {
            "model": "SmolLM2-135M-Instruct (bundled, GGUF Q4_1 dequantized)",
            "dtype": dtype,
            "questions": n,
            "subjects": SUBJECTS,
            "seed": SEED,
            "repeats": repeats,
            "stock_repeats": min(stock_repeats, repeats),
            "warmup_questions": min(warmup, n),
            "timing": "wall seconds of the fastest round, model load excluded; cpu_seconds: "
            "process CPU time (all threads) of the round with the least",
            "floor_batch": FLOOR_BATCH,
            "scalegate_letter_batch": [local_scoring.LETTER_BATCH, local_scoring.LETTER_TOKEN_BUDGET],
            "scalegate_answer_batch": [local_scoring.ANSWER_BATCH, local_scoring.ANSWER_TOKEN_BUDGET],
            "scalegate_answer_packing": ctx.answer_packing,
            "lm_eval_batch": LM_EVAL_BATCH,
            "setup_seconds": round(setup_s, 1),
            "total_seconds": round(time.perf_counter() - started, 1),
        },
        "results": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| method | reading | s | questions/s | / letter floor | / answer naive floor | CPU s |"
        " CPU / letter floor | accuracy | agrees with floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        naive = r.get("ratio_to_answer_naive_floor")
        agree = r.get("agrees_with_floor")
        lines.append(
            f"| {r['label']} | {r['reading']} | {r['seconds']:.1f} | {r['questions_per_s']:.1f} | "
            f"{r.get('ratio_to_letter_floor', float('nan')):.2f}x | "
            f"{'' if naive is None else f'{naive:.2f}x'} | {r['cpu_seconds']:.1f} | "
            f"{r.get('cpu_ratio_to_letter_floor', float('nan')):.2f}x | {r['accuracy']:.3f} | "
            f"{'' if agree is None else f'{agree:.0%}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="questions (default 200)")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds; the fastest counts")
    parser.add_argument(
        "--stock-repeats", type=int, default=1, help="timed rounds of Inspect's stock solvers (default 1)"
    )
    parser.add_argument("--warmup", type=int, default=8, help="questions of the warm-up run")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--only", nargs="*", help="method keys to run (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Idle OpenMP threads sleep instead of spinning (set before torch loads): on a machine
    # shared with other jobs, a spinning 2-thread team made identical calls vary 15-fold.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    result = run(args.n, args.repeats, args.stock_repeats, args.warmup, args.dtype, args.only)
    if not args.no_write:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\n{result['setup']['total_seconds']} s in all; results: {OUT if not args.no_write else '-'}")


if __name__ == "__main__":
    main()
