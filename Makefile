# Two commands: `make test` (set up .venv, run every test) and `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench mpy clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q host_tests

demo: $(STAMP)
	@echo "make demo: the virtual-board demo is not built yet (issue 7)"; exit 1

clean:
	rm -rf $(VENV) build *.egg-info
