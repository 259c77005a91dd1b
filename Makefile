# `make run` and `make test` do all the set-up on a fresh clone: .venv, the packages,
# the embedded PostgreSQL (unless DATABASE_URL is set) and the migrations.
# Every target runs Django with DEBUG=true unless DEBUG is set, as a local machine wants;
# `make test` leaves DEBUG off, as production has it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# `make test`'s pytest-xdist workers; 0 runs the tests in one process.
TEST_WORKERS ?= 2
LOCAL := DEBUG=$${DEBUG:-true}

.PHONY: install install-dev run admin worker test lint format migrate migrations-check db-stop ci messages

# What production needs (requirements.txt) ...
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# ... and what local work, the tests and the linters need on top (requirements-dev.txt).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The translations: locale/*/LC_MESSAGES/django.po compiled to .mo (git-ignored) with polib.
install: $(VENV)/.installed
	$(PY) -m ccai.compile_messages

install-dev: install $(VENV)/.installed-dev

migrate: install-dev
	$(LOCAL) $(PY) manage.py migrate --noinput
	$(LOCAL) $(PY) manage.py createcachetable

# The web server on 127.0.0.1:$(PORT) and the email worker, stopped together by Ctrl-C.
run: migrate
	export $(LOCAL); \
	$(PY) manage.py worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# A superuser for the admin, on the database `make run` uses. It asks for a username, an email
# and a password; with DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD set it asks nothing.
admin: migrate
	$(LOCAL) $(PY) manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput)
	@$(LOCAL) $(PY) manage.py shell --no-imports -c "from django.conf import settings; \
	print(f'Log in at http://127.0.0.1:$(PORT)/{settings.ADMIN_URL} while make run is running.')"

worker: install-dev
	$(LOCAL) $(PY) manage.py worker

# The suite in TEST_WORKERS processes (pytest-xdist), each on a test database of its own: on a
# 2-core machine it takes a little over half as long as in one. --dist load hands each worker
# the tests in pytest-django's order, every rolled-back test before any transactional one (which
# empties the database when it ends); loadfile and loadscope break that order and fail.
test: install-dev
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-not-for-production} $(PY) -m pytest -n $(TEST_WORKERS) --dist load

lint: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# Fails when a model has changed without its migration.
migrations-check: install-dev
	$(LOCAL) $(PY) manage.py makemigrations --check --dry-run

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# After changing a template or a Python string: gather the strings into the .po files (needs
# GNU gettext's xgettext: apt-get install gettext), translate the new entries, then `make install`.
messages: install-dev
	$(LOCAL) $(PY) manage.py makemessages --locale es --locale fr --no-obsolete --add-location file --ignore '.venv/*' --ignore 'staticfiles/*' --ignore 'bench/*' --ignore 'tests/*' --extension html,txt,py,svg
	$(PY) -m ccai.compile_messages

db-stop:
	$(PY) -m ccai.embedded_postgres stop

# What .ci/run runs: everything a reviewer would check, cheapest first.
ci: lint migrations-check test
