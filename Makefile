# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test bench lint system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

## Run the whole job on the embedded default (SQLite, sandbox channels): demo data + server.
run: $(STAMP)
	$(BIN)/spibot demo --serve

## Run the checks and the test suite (lint and types first; tests on SQLite and PostgreSQL, headless Chromium).
test: lint system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile

## Debian packages the tests use: Chromium (browser tests), zbar (QR decoding), Dovecot (a real
## IMAP server for the late-bounce tests; the tests start their own instance, none runs as a service),
## Caddy and docker-compose (to validate deploy/Caddyfile and deploy/compose.yaml; nothing is run).
DEBS := chromium libzbar0 dovecot-imapd caddy docker-compose
system-deps:
	@command -v chromium >/dev/null && ldconfig -p | grep -q libzbar && test -x /usr/sbin/dovecot && \
	  command -v caddy >/dev/null && command -v docker-compose >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(DEBS) >/dev/null; \
	    else sudo apt-get install -y -q $(DEBS) >/dev/null; fi; }

bench: $(STAMP)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy app core population dispatch bot qr responses reports monitor integrity actionplan capi web.py cli.py scheduler.py

clean:
	rm -rf $(VENV) var test-artifacts
