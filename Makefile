# `make run` and `make test` do all the set-up on a fresh clone: .venv, the packages,
# the embedded PostgreSQL (unless DATABASE_URL is set) and the migrations.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install run worker test lint format migrate db-stop ci messages

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The translations: locale/*/LC_MESSAGES/django.po compiled to .mo (git-ignored) with polib.
install: $(VENV)/.installed
	$(PY) -m ccai.compile_messages

migrate: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py createcachetable

# The web server on 127.0.0.1:$(PORT) and the email worker, stopped together by Ctrl-C.
run: migrate
	export DEBUG=$${DEBUG:-true}; \
	$(PY) manage.py deliver_emails & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

worker: install
	$(PY) manage.py deliver_emails

test: install
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-not-for-production} $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# After changing a template or a Python string: gather the strings into the .po files (needs
# GNU gettext's xgettext: apt-get install gettext), translate the new entries, then `make install`.
messages: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py makemessages --locale es --locale fr --no-obsolete --add-location file --ignore '.venv/*' --ignore 'staticfiles/*' --ignore 'bench/*' --ignore 'tests/*' --extension html,txt,py,svg
	$(PY) -m ccai.compile_messages

db-stop:
	$(PY) -m ccai.embedded_postgres stop

ci: lint test
