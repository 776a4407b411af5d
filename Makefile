# make demo: a demo clinic, exported, served on 127.0.0.1 with the notes endpoint.
# make test: the whole test suite (Python, browser, and the Node crypto tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup browser clean bench console-shots

setup: $(STAMP) node_modules/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# Headless Chromium from the OS packages; Playwright drives it with executable_path.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium from the OS packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: setup
	$(BIN)/chartseal demo

test: setup browser
	node --test tests/js/
	$(BIN)/pytest -q -p no:cacheprovider

# Screenshots of every console page (English and Arabic, 1280 and 390 px) for docs/CONSOLE.md.
console-shots: setup browser
	CHARTSEAL_CONSOLE_SHOTS=$(CURDIR)/docs/console $(BIN)/pytest -q -p no:cacheprovider tests/test_console_shots.py \
		tests/test_console_publishing.py::test_publishing_page_in_arabic_is_right_to_left \
		tests/test_console_publishing.py::test_update_all_on_300_patients_shows_progress_through_a_reload

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules demo-clinic
