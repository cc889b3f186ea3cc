# Every target creates .venv when it is missing, so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make test` runs the suite on TEST_WORKERS pytest-xdist workers. Most integration tests
# wait (node processes, polls, the Docker engine) rather than compute, so more workers than
# cores pays; the unit tests fill the cores between. A worker runs a whole module at a
# time (--dist loadfile, refined in tests/support/parallel.py). TEST_WORKERS=0 runs
# everything in this one process, in order.
TEST_WORKERS ?= 4
DEMO_STATE ?= demo-state
DEMO_SOCKET ?= $(DEMO_STATE)/swarm.sock

.PHONY: install demo test lint typecheck unit bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy api transport actors cli

test: lint typecheck
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit tests/sim

demo: $(STAMP)
	@$(BIN)/python -c "from tests.support.testimage import ensure_test_image as e; print('demo image:', e())" 2>/dev/null \
	  || echo "no Docker engine answers: tasks will run as local processes (the image name is only recorded)"
	@echo "Starting a single-node swarm in ./$(DEMO_STATE) (Ctrl-C stops it; containers keep running)."
	@echo "In another terminal:"
	@echo "  export SWARM_SOCKET=$(CURDIR)/$(DEMO_SOCKET)"
	@echo "  bin/swarmctl version"
	@echo "  bin/swarmctl node ls"
	@echo "  bin/swarmctl service create --name web --replicas 3 swarmnode-test:busybox sleep 3600"
	@echo "  bin/swarmctl service ps web"
	@echo "  bin/swarmctl service scale web=5"
	@echo "  bin/swarmctl service rm web"
	$(BIN)/swarm-node --state-dir $(DEMO_STATE) --listen-remote-api 127.0.0.1:4242 \
	  --listen-control-api $(DEMO_SOCKET) --log-format console

# bench/_*.py are helpers, not benches; `make test` runs every bench's --smoke too
# (tests/integration/test_bench_smoke.py)
bench: $(STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-smoke: $(STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b --smoke"; $(BIN)/python $$b --smoke || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
