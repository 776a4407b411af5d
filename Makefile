# make demo: a demo clinic, exported, served on 127.0.0.1 with the notes endpoint
#            (make demo PORT=8123 for another port).
# make test: the whole test suite (Python, browser, and the Node crypto tests).
# make wheel / make sdist: the package in dist/, carrying the checked libsodium.js copy.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
# The demo needs only the package's own dependencies; the tests add pytest, moto, Playwright.
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test setup setup-demo browser clean bench bench-tools wheel sdist console-shots portal-shots

setup: $(STAMP) node_modules/.installed

setup-demo: $(DEMO_STAMP) node_modules/.installed

$(DEMO_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): $(DEMO_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# Headless Chromium from the OS packages; Playwright drives it with executable_path.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium from the OS packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: setup-demo
	$(BIN)/chartseal demo --port $(PORT)

test: setup browser
	node --test tests/js/
	$(BIN)/pytest -q -p no:cacheprovider

# Screenshots of every console page (English and Arabic, 1280 and 390 px) for docs/CONSOLE.md.
console-shots: setup browser
	CHARTSEAL_CONSOLE_SHOTS=$(CURDIR)/docs/console $(BIN)/pytest -q -p no:cacheprovider tests/test_console_shots.py \
		tests/test_console_publishing.py::test_publishing_page_in_arabic_is_right_to_left \
		tests/test_console_publishing.py::test_update_all_on_300_patients_shows_progress_through_a_reload

# rclone from the OS packages, for the publisher bench's comparison (apt-get update once
# first); bench/publish_bench.py skips rclone with a note when it is absent.
bench-tools:
	@command -v rclone >/dev/null 2>&1 || { \
	  echo "installing rclone from the OS packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; }

bench: $(BENCH_STAMP) node_modules/.installed bench-tools
	$(BIN)/python bench/run_all.py

# The wheel is built from the sdist, so both carry libsodium.js (checked against
# package-lock.json and the SHA-256 pins in site_templates/libsodium.py).
wheel: setup-demo
	$(BIN)/pip install --quiet build
	$(BIN)/python -m build --outdir dist

sdist: setup-demo
	$(BIN)/pip install --quiet build
	$(BIN)/python -m build --sdist --outdir dist

# Screenshots of every portal view (390 and 1280 px, English and Arabic) into docs/portal/.
portal-shots: setup browser
	$(BIN)/python tests/portal_shots.py docs/portal

clean:
	rm -rf $(VENV) node_modules demo-clinic dist build
