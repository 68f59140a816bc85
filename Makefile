# The two commands of the README. Each installs what it needs first.
.PHONY: setup demo test tour bench clean

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/kiosk demo

# The tests whose results hang on dates (seeding, billing periods, due dates and
# late fees, business days, journals, day figures, card dates, heartbeats); `make
# test` also runs them under libfaketime at each of DATE_INSTANTS (a month's and
# a year's last seconds, which the run crosses, and a leap day), so no code may
# read the machine's clock behind its injected one and no test may depend on
# the day it runs.
DATE_TESTS = tests/host/test_host_cli.py tests/host/test_host_seed.py tests/host/test_host_billing.py \
	tests/host/test_host_import.py tests/host/test_bank_journal.py tests/host/test_bank8583_frontend.py \
	tests/payments/test_business_day.py tests/fleet/test_offline_and_alerts.py tests/fleet/test_kiosk_status.py \
	tests/console/test_console_pages.py tests/test_domain.py
DATE_INSTANTS = "2027-04-30 23:59:50" "2026-12-31 23:59:50" "2028-02-29 12:00:00"

# The suite runs on PYTEST_WORKERS pytest-xdist workers (docs/performance.md "The
# test suite's wall time"). --dist loadfile keeps each test file on one worker,
# so a module's fixtures (hosts, seeded estates) are made once; files are handed
# out in collection order (tests/conftest.py puts the slowest first; xdist would
# order them by their number of tests). Each worker has its own session fixtures
# (pcscd on its own vpcd ports, Xvfb display, PostgreSQL server, templates).
PYTEST_WORKERS = 2
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Lint, types and import contracts first: any of them failing fails the run.
# The three faketime runs go side by side (each is one process whose clock starts
# at its instant; their logs are printed in order once all have ended), then the
# whole suite.
test: setup
	.venv/bin/ruff check
	.venv/bin/mypy
	.venv/bin/lint-imports
	@logs=$$(mktemp -d); pids=; i=0; \
	for at in $(DATE_INSTANTS); do i=$$((i + 1)); \
		faketime -m "$$at" .venv/bin/python -m pytest -q -p no:cacheprovider $(DATE_TESTS) \
			> "$$logs/$$i.log" 2>&1 & pids="$$pids $$!"; \
	done; \
	fail=0; i=0; set -- $(DATE_INSTANTS); \
	for pid in $$pids; do i=$$((i + 1)); \
		wait $$pid || fail=1; \
		echo "== date-sensitive tests with the machine's clock at $$1 (faketime)"; \
		cat "$$logs/$$i.log"; shift; \
	done; \
	rm -rf "$$logs"; exit $$fail
	.venv/bin/python -m pytest -q -ra $(PYTEST_PARALLEL)

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
	.venv/bin/python benchmarks/bench_fleet_workers.py
	.venv/bin/python benchmarks/bench_console_queries.py

clean:
	rm -rf .venv var tests/artifacts
