# make run: the platform on the embedded default. make test: the whole test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Services the integration pass uses; override to point elsewhere. RUN_ID keeps concurrent
# runs on one machine apart (database, Redis keys, queues).
RUN_ID := $(shell echo $$$$)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/botsinais_$(RUN_ID)
TEST_BROKER_URL ?= amqp://guest:guest@127.0.0.1:5672//
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
# Unit tests see none of the developer's .env or exported stack settings.
EMBEDDED_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL -u MARKET_DATA_MODE DJANGO_READ_ENV_FILE=false
STACK_ENV := env DJANGO_READ_ENV_FILE=false DATABASE_URL=$(TEST_DATABASE_URL) \
	CELERY_BROKER_URL=$(TEST_BROKER_URL) REDIS_URL=$(TEST_REDIS_URL) MARKET_DATA_MODE=demo \
	REDIS_KEY_PREFIX=test-$(RUN_ID) CELERY_QUEUE_PREFIX=test-$(RUN_ID)- \
	DJANGO_SECRET_KEY=integration-tests DJANGO_HTTPS=false

.PHONY: run stack test test-unit test-integration lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# One web process (--workers 1): the embedded worker and the in-memory channel layer live in it.
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py ensure_demo_user
	$(PY) manage.py ensure_demo_watchlist
	@echo "botsinais: http://$(HOST):$(PORT)/  (admin /admin/, API /api/, docs /api/docs/)"
	EMBEDDED_WORKER=true $(VENV)/bin/uvicorn botsinais.asgi:application --host $(HOST) \
		--port $(PORT) --workers 1 --loop uvloop --http httptools --ws websockets-sansio \
		--ws-per-message-deflate false --no-proxy-headers --lifespan off

# Web, worker and beat from the Procfile, against the services the environment names. The
# virtualenv's bin goes first on PATH, so the Procfile's commands are found from a fresh shell.
stack: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	PATH="$(abspath $(VENV))/bin:$$PATH" HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho start

test: test-unit test-integration

test-unit: $(VENV)/.installed
	$(EMBEDDED_ENV) $(PY) -m pytest -m "not integration" -n 2

test-integration: $(VENV)/.installed
	$(STACK_ENV) $(PY) -m pytest -m integration

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	for f in bench/*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
