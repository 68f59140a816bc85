# The two commands of the README. Each installs what it needs first.
.PHONY: setup demo test tour bench clean

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/kiosk demo

test: setup
	.venv/bin/python -m pytest -q -ra

tour: setup
	.venv/bin/kiosk demo --tour docs/screenshots

bench: setup
	.venv/bin/python benchmarks/bench_bill_lookup.py
	.venv/bin/python benchmarks/bench_kiosk_start.py

clean:
	rm -rf .venv var tests/artifacts
