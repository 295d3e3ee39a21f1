# mail-intake: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what is missing first (Debian packages, then a virtualenv in .venv).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common libs/cli services/intake services/quarantine services/classifier services/routing
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
PYTEST_ARGS ?=
# Run a second time with every service storing blobs in a SeaweedFS S3 bucket (issue 17).
S3_PASS_TESTS ?= tests/pipeline
# Packages type-checked by `make lint` (every package joins once it is clean).
MYPY_PATHS := libs/common/src libs/cli/src services/intake/src services/quarantine/src services/classifier/src services/routing/src

.PHONY: help deps system-deps run test test-s3 lint bench bench-profile demo clean

help:
	@echo "make run    start PostgreSQL, the broker and the four services (Ctrl-C stops all)"
	@echo "make test   install what is missing and run the whole test suite"
	@echo "make test-s3  the pipeline suite again with blobs in an S3 bucket (make test runs it)"
	@echo "make bench  run the benchmarks (prints ratios against baselines)"
	@echo "make bench-profile  the end-to-end bench with a flame graph per service (py-spy)"
	@echo "make demo   with make run going: post a generated sample of mail"
	@echo "make lint   ruff (lint + format) and mypy"

system-deps:
	@./scripts/system-deps.sh

$(STAMP): constraints.txt requirements-dev.txt $(PYPROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	@touch $(STAMP)

deps: system-deps $(STAMP)

run: deps
	$(BIN)/python -m mailintake_common.devrun

lint: deps
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check -q libs services tests bench
	$(BIN)/mypy $(MYPY_PATHS)
	$(BIN)/mypy bench  # on its own: the benches are not run in CI, so types are what catches a call gone stale

# The S3 pass runs only with the whole suite (not when PYTEST_ARGS picks a part).
test: deps lint
	OMP_THREAD_LIMIT=1 $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -z "$(PYTEST_ARGS)" ]; then $(MAKE) --no-print-directory test-s3; fi

test-s3: deps
	MAILINTAKE_TEST_BLOB_STORE=s3 OMP_THREAD_LIMIT=1 $(BIN)/pytest $(S3_PASS_TESTS)

bench: deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench

# `make bench --profile` cannot work: make reads --profile as its own option. This target runs
# `python -m bench --profile pipeline`: flame graphs under test-artifacts/bench-profiles/.
bench-profile: deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench --profile pipeline

clean:
	rm -rf $(VENV) test-artifacts

# With `make run` going in another terminal: post a generated sample and say where to look.
demo: deps
	$(BIN)/mailintake demo
