# Everything a fresh machine needs: `make demo` and `make test` do all the set-up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OPENCODE_VERSION := 1.18.33
TOOLS := .tools
PINNED_OPENCODE := $(CURDIR)/$(TOOLS)/opencode-$(OPENCODE_VERSION)/node_modules/.bin/opencode
# The package OpenCode itself installs into every new config folder (tests/conftest.py
# puts it into each test's throwaway HOME, so no test server downloads it again).
PLUGIN_DEPS := $(TOOLS)/opencode-plugin-$(OPENCODE_VERSION)

# The demo uses the user's own `opencode` when there is one; the tests always use the pin.
DEMO_OPENCODE = $(or $(ENSEMBLE_OPENCODE_BIN),$(shell command -v opencode 2>/dev/null),$(PINNED_OPENCODE))
TEST_OPENCODE = $(or $(ENSEMBLE_OPENCODE_BIN),$(PINNED_OPENCODE))
# pytest-xdist workers for `make pytest`, each with its own `opencode serve` and scripted
# model (the session fixtures are per worker); PYTEST_WORKERS=0 runs in one process. Four
# on two cores: the tests wait (on OpenCode, the model, timers) about a fifth of the time
# with three (the whole suite on a quiet machine: 437 s with three workers, 352 s with four).
# Five are too many once the suite's CPU fell: 371 s against 338 s with four, in one clone,
# one run after the other (2026-12-02), with a fifth more CPU in all.
# A free worker takes the next test in the suite's order (slowest kinds first, see
# tests/conftest.py) one at a time, not a block of dozens that no other worker can take.
PYTEST_WORKERS ?= 4

.PHONY: help venv opencode opencode-plugin chromium demo test test-fast lint typecheck pytest pytest-setup pytest-warm screenshots bench bench-scale bench-teammate clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# uv installs the package and its ~50 dependencies in about 5 s with a cold cache, where pip
# took 35 s (and 29 s of CPU); pip does it when uv cannot be had (no registry, say).
$(BIN)/ensemble-tui: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' \
		|| { echo "uv could not install the package: pip will"; $(BIN)/python -m pip install --quiet -e '.[dev]'; }
	@touch $@

venv: $(BIN)/ensemble-tui  ## Create .venv and install the package with its dev extras

$(PINNED_OPENCODE):
	@command -v npm >/dev/null || { echo "npm is needed to install OpenCode: apt-get install nodejs npm"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/opencode-$(OPENCODE_VERSION) opencode-ai@$(OPENCODE_VERSION)
	@$(PINNED_OPENCODE) --version

opencode:  ## Install the pinned OpenCode into .tools unless one is on PATH or named by ENSEMBLE_OPENCODE_BIN
	@if [ -n "$(ENSEMBLE_OPENCODE_BIN)" ] || command -v opencode >/dev/null; then \
		echo "using $(DEMO_OPENCODE)"; else $(MAKE) --no-print-directory $(PINNED_OPENCODE); fi

$(PLUGIN_DEPS)/node_modules/@opencode-ai/plugin:
	npm install --silent --no-audit --no-fund --save-exact --prefix $(PLUGIN_DEPS) @opencode-ai/plugin@$(OPENCODE_VERSION)

# Without it (no npm) the tests still pass: each test server then installs it, in the background.
opencode-plugin:  ## Install the plugin package of the pinned OpenCode for the tests' servers
	@command -v npm >/dev/null && $(MAKE) --no-print-directory $(PLUGIN_DEPS)/node_modules/@opencode-ai/plugin \
		|| echo "npm is missing: each test server will install OpenCode's plugin package itself"

# The browser test (`serve` in headless Chromium) is skipped, saying so, without it.
chromium:  ## Install Debian's chromium for the browser test when it is missing and apt-get can
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -q && apt-get install -y -q chromium; } || \
		echo "chromium could not be installed here: the browser test will be skipped"

demo: venv opencode  ## Set everything up and run the demo (no API key needed)
	ENSEMBLE_OPENCODE_BIN=$(DEMO_OPENCODE) $(BIN)/ensemble-tui demo

lint: venv  ## ruff format --check, ruff check, and the import layers (import-linter)
	$(BIN)/ruff format --check ensemble_tui tests bench
	$(BIN)/ruff check ensemble_tui tests bench
	$(BIN)/lint-imports

typecheck: venv  ## Strict mypy on the package and its tests
	$(BIN)/mypy ensemble_tui tests bench

# PYTHONDONTWRITEBYTECODE (set on some machines) also keeps pytest from caching the test
# modules it rewrites for its asserts: each of the five processes (xdist's and its four
# workers) then rewrote all of them again, ~2.7 s of CPU each (an empty value unsets it).
PYTEST = PYTHONDONTWRITEBYTECODE= ENSEMBLE_OPENCODE_BIN=$(TEST_OPENCODE) $(BIN)/pytest -n $(PYTEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)
pytest: pytest-setup  ## The whole test suite against the pinned OpenCode
	$(PYTEST)

# The set-up steps run side by side (pip's install with npm's); then lint and type check run
# beside the suite (they take ~30 s of one core, which the suite leaves idle about a sixth of
# the time), their output kept and printed once the suite has ended; `make test` fails when either
# fails. Only the browser test needs Chromium, and Debian's package takes longer to install than
# the rest of the set-up on a new machine: it installs beside the set-up and the suite, and that
# test waits until CHROMIUM_DONE exists (written when the install has ended, done or not).
CHECKS_LOG := $(VENV)/checks.log
CHROMIUM_LOG := $(TOOLS)/chromium.log
CHROMIUM_DONE := $(CURDIR)/$(TOOLS)/chromium.done
test:  ## Set everything up, then lint, type check and test (the checks and Chromium's install beside the suite)
	@mkdir -p $(TOOLS) && rm -f $(CHROMIUM_DONE) && \
		{ $(MAKE) --no-print-directory chromium > $(CHROMIUM_LOG) 2>&1; touch $(CHROMIUM_DONE); } &
	@$(MAKE) --no-print-directory -j4 --output-sync=target $(SUITE_SETUP)
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck > $(CHECKS_LOG) 2>&1 & checks=$$!; \
		TEST_CHROMIUM_DONE=$(CHROMIUM_DONE) $(PYTEST); suite=$$?; \
		wait $$checks; checked=$$?; \
		echo "--- Chromium for the browser test (installed beside the suite)"; cat $(CHROMIUM_LOG); \
		echo "--- lint and type check (run beside the suite)"; cat $(CHECKS_LOG); \
		if [ $$checked -ne 0 ]; then echo "lint or type check failed"; exit $$checked; fi; \
		exit $$suite

# The suite's five processes (xdist's and its four workers) start at once, and uv installs no
# bytecode: each compiled every module it imports and rewrote every test module (~2.9 s of
# CPU each, measured: 4.3 s to collect the suite cold, 1.4 s once compiled). One collection
# first, beside npm's install, compiles them once for all (and for the CLI runs of the tests).
pytest-warm: venv  ## Compile what the suite imports, once (a collection of the tests), before its workers start
	@PYTHONDONTWRITEBYTECODE= $(BIN)/pytest --collect-only -q -p no:cacheprovider > /dev/null \
		|| echo "the tests could not be collected: the suite will say why"

SUITE_SETUP := venv pytest-warm opencode-plugin $(if $(ENSEMBLE_OPENCODE_BIN),,$(PINNED_OPENCODE))
pytest-setup: $(SUITE_SETUP) chromium

test-fast: venv  ## The tests that need no OpenCode (seconds, not minutes)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -m "not opencode" $(PYTEST_ARGS)

bench: venv $(PINNED_OPENCODE)  ## Run the benchmarks and print their figures
	@for b in bench/bench_*.py; do ENSEMBLE_OPENCODE_BIN=$(TEST_OPENCODE) $(BIN)/python $$b || exit 1; done

N ?= 50
bench-scale: venv $(PINNED_OPENCODE)  ## Opt-in: N teammates (N=50) spawned at once, working and merged; wall time, time until all work, peak RSS
	ENSEMBLE_OPENCODE_BIN=$(TEST_OPENCODE) $(BIN)/python bench/scale.py $(N)

K ?= 6
bench-teammate: venv $(PINNED_OPENCODE)  ## Opt-in: OpenCode's CPU per teammate, stage by stage (K teammates a stage), against a bare session
	ENSEMBLE_OPENCODE_BIN=$(TEST_OPENCODE) $(BIN)/python bench/teammate_cost.py $(K)

screenshots: venv chromium $(if $(ENSEMBLE_OPENCODE_BIN),,$(PINNED_OPENCODE))  ## SVGs of the screen's main states and a PNG of the demo in a browser, into screenshots/
	$(BIN)/python scripts/screenshots.py
	ENSEMBLE_OPENCODE_BIN=$(TEST_OPENCODE) $(BIN)/python scripts/browser_screenshot.py --demo \
		--expect "  ada " --expect "asks to use" --expect "Messages 2" \
		--then "last 2m" screenshots/browser.png

clean:  ## Remove the virtualenv and the local OpenCode
	rm -rf $(VENV) $(TOOLS)
