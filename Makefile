# The two commands of the README. Each installs what it needs first.
.PHONY: setup demo test tour bench clean

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/kiosk demo

# Lint, types and import contracts first: any of them failing fails the run.
test: setup
	.venv/bin/ruff check
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/python -m pytest -q -ra

tour: setup
	.venv/bin/kiosk demo --tour docs/screenshots

# Benchmarks print figures (docs/performance.md); they are not tests.
bench: setup
	.venv/bin/python benchmarks/bench_bill_lookup.py
	.venv/bin/python benchmarks/bench_kiosk_start.py
	.venv/bin/python benchmarks/bench_pin_to_approved.py
	.venv/bin/python benchmarks/bench_wallet_load.py
	.venv/bin/python benchmarks/bench_payments.py
	.venv/bin/python benchmarks/bench_heartbeats.py
	.venv/bin/python benchmarks/bench_console_queries.py

clean:
	rm -rf .venv var tests/artifacts
