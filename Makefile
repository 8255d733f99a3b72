# CaseChain: `make run` and `make test` each do all the set-up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DB := var/casechain.db
PORT    ?= 8080
CITY_CASES ?= 309600
ECHARTS := casechain/data/vendor/echarts.min.js

.PHONY: run test bench lint typecheck clean services browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml $(ECHARTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(ECHARTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.run-installed

# The dashboard's chart library (Apache ECharts), from the npm registry at the version
# package-lock.json pins (npm checks its integrity hash), served by the app itself.
$(ECHARTS): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p $(dir $@)
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE $(dir $@)

## run: install, simulate a year of one district into the demo SQLite store, serve the API on 127.0.0.1
run: $(VENV)/.run-installed
	mkdir -p var
	rm -f $(DEMO_DB) var/demo.jsonl var/tokens.yaml
	$(BIN)/casechain simulate --cases 3000 --seed 1 --start 2025-01-02 --months 12 --district 330106 -o var/demo.jsonl
	$(BIN)/casechain import var/demo.jsonl --db $(DEMO_DB)
	$(BIN)/casechain case show HZ-2025-0000001 --db $(DEMO_DB)
	$(BIN)/casechain alerts --db $(DEMO_DB) --as-of 2025-12-31T18:00:00 --scope 330106 | tail -n 1
	@echo "demo tokens, valid one day (var/tokens.yaml keeps only their SHA-256):"
	@printf '  supervisor of 330106: '; $(BIN)/casechain tokens issue --principal demo-supervisor --role supervisor --scope 330106 --tokens var/tokens.yaml --days 1 2>/dev/null
	@printf '  service of the city:  '; $(BIN)/casechain tokens issue --principal demo-service --role service --scope 3301 --tokens var/tokens.yaml --days 1 2>/dev/null
	@echo "dashboard (执法监督看板): http://127.0.0.1:$(PORT)/ (sign in with a token above; set 截至时间 to 2025-12-31 18:00 for the demo year)"
	@echo "try: curl -H 'Authorization: Bearer TOKEN' http://127.0.0.1:$(PORT)/v1/cases/HZ-2025-0000001 ; API docs on http://127.0.0.1:$(PORT)/docs (Ctrl-C stops)"
	$(BIN)/casechain serve --db $(DEMO_DB) --tokens var/tokens.yaml --host 127.0.0.1 --port $(PORT)

## services: start what the tests need that is not running (PostgreSQL)
services:
	@bash scripts/ensure-services.sh

## browser: install Debian's Chromium for the dashboard's browser tests if it is missing
browser:
	@bash scripts/ensure-browser.sh

## test: install with test extras, start the services, install the browser, run the whole suite
test: $(VENV)/.test-installed services browser
	$(BIN)/python -m ruff check casechain tests bench
	$(BIN)/python -m mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

## bench: the benchmarks of docs/performance.md and docs/scaling.md (the city year: about 40 minutes; CITY_CASES=30000 for a tenth)
bench: $(VENV)/.test-installed services browser
	mkdir -p var
	$(BIN)/python bench/bench_import.py --json var/bench_import.json
	$(BIN)/python bench/bench_projections.py --json var/bench_projections.json
	$(BIN)/python bench/bench_queries.py --json var/bench_queries.json
	$(BIN)/python bench/bench_ledger.py --json var/bench_ledger.json
	$(BIN)/python bench/bench_replay.py --json var/bench_replay.json
	$(BIN)/python bench/bench_services.py --json var/bench_services.json
	$(BIN)/python bench/bench_access_log.py --json var/bench_access_log.json
	$(BIN)/python bench/bench_city.py --cases $(CITY_CASES) --json var/bench_city.json

lint: $(VENV)/.test-installed
	$(BIN)/python -m ruff check casechain tests bench

typecheck: $(VENV)/.test-installed
	$(BIN)/python -m mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
