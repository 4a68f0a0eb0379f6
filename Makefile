# Everything a user or CI types. `make reproduce` and `make test` set the venv up first.
VENV  ?= .venv
PY    := $(VENV)/bin/python
# --show-failed-logs: a failed job's log is printed at the end, not only named.
SMK   := $(VENV)/bin/snakemake --show-failed-logs
CORES ?= all
ARGS  ?=

.PHONY: setup reproduce smoke test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: envs/requirements.txt envs/requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r envs/requirements.txt -r envs/requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

reproduce: setup  ## the default workflow: every reproduction at the configured scale (cpu)
	$(SMK) --cores $(CORES) $(ARGS)
	@echo "report: results/cpu/report.html (or results/<scale>/report.html)"

smoke: setup  ## the whole pipeline in seconds per run
	$(SMK) --cores $(CORES) --config scale=smoke $(ARGS)

test: setup  ## unit tests and smoke-scale workflow tests
	$(PY) -m pytest -q $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint

bench: setup  ## engine vs bare training loops, grokking time to 95%, the scheduler's CPU share; exits 1 if a target is missed
	@status=0; for b in bench/bench_*.py; do $(PY) $$b || status=1; done; exit $$status

clean:  ## remove generated results (keeps the venv)
	rm -rf results .snakemake report.html
