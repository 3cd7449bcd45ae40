"""The browser benchmark (bench_widget.py) borrows the real-browser test fixtures: a private
JupyterLab and headless Chromium (tests/ui/conftest.py), loaded under another module name."""

import importlib.util
import sys
from pathlib import Path

UI = Path(__file__).resolve().parents[1] / "tests" / "ui"
sys.path.insert(0, str(UI))
_spec = importlib.util.spec_from_file_location("nbx_ui_fixtures", UI / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

lab_server = _fixtures.lab_server
browser_context = _fixtures.browser_context
page_and_log = _fixtures.page_and_log
