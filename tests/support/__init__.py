"""The tests' one support package: clocks, signed-kiosk clients, host and
payment environments, fleet and browser helpers, the UI layout checker.
Imported one way, `from tests.support.<module> import …` (pytest puts the
project root on sys.path: `pythonpath` in pyproject); fixtures defined here are
registered in tests/conftest.py (`pytest_plugins`) or re-exported by the
conftest of the one folder that uses them."""
