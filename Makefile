# make demo: a demo clinic, exported, served on 127.0.0.1 with the notes endpoint.
# make test: the whole test suite (Python, browser, and the Node crypto tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup browser clean bench portal-shots

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

bench: setup
	$(BIN)/python bench/run_all.py

# Screenshots of every portal view (390 and 1280 px, English and Arabic) into docs/portal/.
portal-shots: setup browser
	$(BIN)/python tests/portal_shots.py docs/portal

clean:
	rm -rf $(VENV) node_modules demo-clinic
