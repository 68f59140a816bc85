"""Kivy screens of the kiosk. Importing this package imports Kivy, so it
configures the Kivy environment first (kiosk.ui_env)."""
from kiosk import ui_env as _ui_env  # noqa: F401  (must precede any kivy import)
