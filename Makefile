# The README's two commands: `make run` and `make test` do all set-up from nothing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-all bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first and pinned: a CPU wheel of 2.13.0 lies on disk; a looser request pulls a CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q -e '.[test]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import skytwin, torch, galsim, simpy" 
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/skytwin run six_site_week --nights 1 --out runs/latest

test: $(STAMP)
	$(PY) -m pytest -q -n 2

test-all: $(STAMP)
	$(PY) -m pytest -q -n 2 -m ""

clean:
	rm -rf $(VENV) runs .pytest_cache
