# One command each on a fresh machine: `make run`, `make test`, `make bench`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := var/demo
DEMO_ENV := CAREBOT_CONFIG=$(DEMO)/carebot.toml DATABASE_URL=sqlite:///$(DEMO)/carebot.db

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The bot in this terminal as supervisor "amira" of a demo team whose contacts are for today,
# with 8 past weeks of logged work behind them (for `status`, `plan`, `carebot export`).
run: $(STAMP)
	rm -f $(DEMO)/carebot.db $(DEMO)/carebot.db-wal $(DEMO)/carebot.db-shm
	$(DEMO_ENV) $(BIN)/carebot demo --dir $(DEMO) --history 8
	$(DEMO_ENV) $(BIN)/carebot import contacts $(DEMO)/contacts.csv
	$(DEMO_ENV) $(BIN)/carebot import meds $(DEMO)/meds.csv
	$(DEMO_ENV) $(BIN)/carebot console --as amira --at 08:00

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) var *.egg-info
