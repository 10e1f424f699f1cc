# Two commands do everything on a fresh machine:
#   make demo   install, then run `scalegate assess` on the embedded default
#   make test   install, then run the whole test suite (offline)
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; GPU users can override, e.g. TORCH_SPEC="torch==2.13.0+cu128".
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.scalegate-installed

.PHONY: install demo test lint fuzz bench bench-ledger bench-serve bench-sequential bench-soundness bench-scale bench-relative bench-sandbagging clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/scalegate assess

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_complexity.py

# Hypothesis-driven fuzzing, FUZZ_SECONDS (10 minutes) a target, each with its corpus replay; each
# prints inputs, inputs per second, outcomes, slowest call and corpus size. Every target runs even
# when one fails; the exit status says whether any did. (CI runs about 30 s of each in `make test`.)
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := tests/policy/test_fuzz_policies.py tests/ledger/test_fuzz_bundles.py tests/evals/test_fuzz_imports.py
fuzz: install
	@failed=""; for target in $(FUZZ_TARGETS); do \
		SCALEGATE_FUZZ_SECONDS=$(FUZZ_SECONDS) HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider -rP $$target \
			|| failed="$$failed $$target"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_assess.py
	$(BIN)/python benchmarks/bench_gatekeeper.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_reports.py

bench-ledger: install
	$(BIN)/python benchmarks/bench_ledger.py

bench-serve: install
	$(BIN)/python benchmarks/bench_serve.py

bench-sequential: install
	$(BIN)/python benchmarks/bench_sequential.py

bench-soundness: install
	$(BIN)/python benchmarks/bench_soundness.py

bench-scale: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_scale.py

bench-relative: install
	$(BIN)/python benchmarks/bench_relative.py

# trains the model organisms on first use (cached by recipe digest in scalegate's data dir)
bench-sandbagging: install
	$(BIN)/python benchmarks/bench_sandbagging.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache scalegate-results
