# The two commands people rely on: `make run` and `make test`. Both work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run sandbox test test-pooler test-replica lint format bench fuzz node-sdk

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

# Development server on SQLite with in-process tasks, unless DATABASE_URL / REDIS_URL say otherwise.
# It first writes the development .env (debug on, a generated secret key, API_DOMAIN: the address
# served) that every manage.py call reads; later runs keep it and only update API_DOMAIN.
run: install
	$(BIN)/python config/dev_env.py --api-domain http://$(HOST):$(PORT)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --admin-password "$${DEMO_ADMIN_PASSWORD:-zylker-demo}"
	$(BIN)/python manage.py demo_banner --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# A sandbox for a client's tests or CI (docs/sandbox.md): a fresh SQLite database, jobs in the
# server process at Bigin's timing, the sandbox controls on. Prints BIGIN_SANDBOX_URL and
# BIGIN_SANDBOX_KEY (SANDBOX_API_KEY when set, else a generated key), then serves (gunicorn).
sandbox: install
	$(BIN)/python config/sandbox.py --host $(HOST) --port $(PORT)

# The official Zoho CRM Node SDK for tests/clients, from package-lock.json. Without npm the Node
# SDK tests are skipped with their reason (under CI=true they fail instead).
NODE_SDK_DIR := tests/clients/node
$(NODE_SDK_DIR)/node_modules/.package-lock.json: $(NODE_SDK_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(NODE_SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Node SDK tests will be skipped"; fi

node-sdk: $(NODE_SDK_DIR)/node_modules/.package-lock.json

# The whole suite. Uses DATABASE_URL / REDIS_URL when set (CI sets PostgreSQL and Redis). On
# PostgreSQL it then runs test-pooler and test-replica, unless PYTEST_ARGS picks the tests.
test: export DJANGO_SECRET_KEY ?= test-only-key-not-a-secret
test: install lint node-sdk
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/pytest -m "not replica" $(PYTEST_ARGS)
	@[ -n "$(PYTEST_ARGS)" ] || PYTHON=$(BIN)/python .ci/pgbouncer.sh
	@[ -n "$(PYTEST_ARGS)" ] || PYTHON=$(BIN)/python .ci/replica.sh

# The API, OAuth, job and read suites once more through pgbouncer in transaction mode, on the
# PostgreSQL of DATABASE_URL (.ci/pgbouncer.sh installs pgbouncer and starts one of its own;
# PYTEST_ARGS: other tests or options). Skipped, with the reason, without PostgreSQL or
# pgbouncer; under CI=true that is a failure.
test-pooler: export DJANGO_SECRET_KEY ?= test-only-key-not-a-secret
test-pooler: install
	PYTHON=$(BIN)/python .ci/pgbouncer.sh $(PYTEST_ARGS)

# The read-replica tests (pytest -m replica) against a real streaming replica: .ci/replica.sh
# starts a private PostgreSQL primary and a replica made from it (pg_basebackup -R) on ports of
# their own, and removes both at the end; the system PostgreSQL is not touched.
test-replica: export DJANGO_SECRET_KEY ?= test-only-key-not-a-secret
test-replica: install
	PYTHON=$(BIN)/python .ci/replica.sh $(PYTEST_ARGS)

# Longer runs than `make test`'s (docs/fuzzing.md): schemathesis with 2,500 cases per operation
# and phase and a random seed against a live gunicorn, and the model test with 300 examples and a
# random seed (printed). The schemathesis run is kept in bench/results/fuzz.json and quoted in
# docs/fuzzing.md (bench/publish_docs.py). Needs PostgreSQL and Redis, as `make test` does.
fuzz: export DJANGO_SECRET_KEY ?= test-only-key-not-a-secret
fuzz: export SCHEMATHESIS_MAX_EXAMPLES ?= 2500
fuzz: export SCHEMATHESIS_SEED ?= random
fuzz: export FUZZ_RESULTS ?= bench/results/fuzz.json
fuzz: export MODEL_TEST_EXAMPLES ?= 300
fuzz: MODEL_TEST_SEED ?= $(shell date +%s)
fuzz: install
	@echo "model test: $$MODEL_TEST_EXAMPLES examples, seed $(MODEL_TEST_SEED) (make fuzz MODEL_TEST_SEED=$(MODEL_TEST_SEED) repeats it)"
	$(BIN)/pytest tests/integration/test_schemathesis.py tests/owners/test_model.py -s \
	  -p no:cacheprovider --hypothesis-seed=$(MODEL_TEST_SEED) $(PYTEST_ARGS); \
	  status=$$?; $(BIN)/python -m bench.publish_docs; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks against hand-written SQL, on PostgreSQL (docs/performance.md). Installs its own
# tools: matplotlib into .venv (bench/requirements.txt) and Debian's wrk when it is missing.
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bigin_bench
bench: export REDIS_URL ?= redis://127.0.0.1:6379/9
bench: install $(BIN)/.bench-installed
	@command -v wrk >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q wrk || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk; }; }
	$(BIN)/python -m bench.run

$(BIN)/.bench-installed: bench/requirements.txt $(BIN)/.installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@
