# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PO := $(wildcard locales/*/LC_MESSAGES/tawasul.po)
MO := $(PO:.po=.mo)

.PHONY: run test lint bench catalogs messages migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

locales/%/LC_MESSAGES/tawasul.mo: locales/%/LC_MESSAGES/tawasul.po $(STAMP)
	$(BIN)/pybabel compile --statistics -l $* -i $< -o $@

catalogs: $(MO)

migrate: $(STAMP)
	$(BIN)/tawasul migrate

run: catalogs migrate
	$(BIN)/tawasul serve

# The suite's tests wait on real processes more than they compute: TEST_WORKERS pytest-xdist
# workers run its files side by side (each file in one worker; each worker its own Redis db).
TEST_WORKERS ?= 3

test: catalogs
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: catalogs
	$(BIN)/python bench/inbound.py

# Refresh the catalogs after changing user-facing text (then translate the new entries).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k gettext -k ngettext:1,2 \
	  -k pgettext:1c,2 -k keywords -k _ -k N_ --add-comments=Translators: --sort-by-file \
	  --project=Tawasul -w 100 -o locales/tawasul.pot .
	$(BIN)/pybabel update -i locales/tawasul.pot -d locales -D tawasul --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) var $(MO)
