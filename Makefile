# One-command set-up: `make demo` and `make test` install into .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Any torch that satisfies this is kept (e.g. a CUDA build you installed yourself).
TORCH_SPEC ?= torch==2.13.0
MMCV_SPEC ?= mmcv==2.1.0
CONSTRAINTS := -c requirements/constraints.txt
STAMP := $(VENV)/.installed
TEST_ARGS ?=

.PHONY: install lint test demo clean-venv

install: $(STAMP)

$(STAMP): setup.py setup.cfg requirements/runtime.txt requirements/mminstall.txt requirements/optional.txt requirements/tests.txt requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel ninja $(CONSTRAINTS) setuptools
	@# torch first: keep an installed build, else take the pinned one (the CPU wheel on this machine).
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_SPEC)
	@# mmcv 2.1.0 has no wheel for this torch: build it with its ops against the installed torch
	@# (most of the first install's quarter of an hour on 2 cores; pip caches the wheel afterwards).
	$(PY) -c "import mmcv.ops" 2>/dev/null || MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) \
		$(PIP) install --no-build-isolation $(CONSTRAINTS) $(MMCV_SPEC)
	$(PIP) install -q $(CONSTRAINTS) -r requirements/mminstall.txt -r requirements/runtime.txt \
		-r requirements/optional.txt -r requirements/tests.txt
	$(PIP) install -q --no-build-isolation $(CONSTRAINTS) --no-deps -e .
	@# open3d (pulled by mmdet3d; benchmarks/fusion.py compares against it) loads only with the
	@# system libusb-1.0: install it where apt is usable, else leave open3d optional.
	@$(PY) -c "import open3d" 2>/dev/null || ! command -v apt-get >/dev/null || \
		{ [ "$$(id -u)" = 0 ] && apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || \
		  sudo -n apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || \
		  echo "note: open3d needs libusb-1.0 (apt-get install libusb-1.0-0); it stays optional"; }
	$(PY) -c "import mmcv.ops, mmseg, segmenter3d; print('installed: mmcv', mmcv.__version__, 'mmseg', mmseg.__version__, 'segmenter3d', segmenter3d.__version__)"
	@touch $(STAMP)

lint: install
	$(PY) -m ruff check .

test: install
	$(PY) -m pytest tests -q $(TEST_ARGS)

demo: install
	$(PY) tools/demo.py

clean-venv:
	rm -rf $(VENV)
