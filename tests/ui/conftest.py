"""Fixtures for the real-browser tests: a private JupyterLab server and headless Chromium.

Facts these rely on are in ENVIRONMENT.md ("Real browser tests"): Debian's /usr/bin/chromium
(never `playwright install`), fixed Chromium flags, JupyterLab with `expose_app_in_browser` so
that the kernel status can be read from `window.jupyterapp`, and private Jupyter directories.

Everything lives in a pytest temporary directory (so `--basetemp=.pytest_tmp` keeps it inside
the checkout). The server's log goes to ``<tmp>/jupyterlab.log``; its tail is part of every
failure message built with :func:`diagnostics`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from nbx_browser import (ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, SERVER_START_TIMEOUT_S,
                         VIEWPORT, BrowserLog, LabServer, free_port, stop_process, write_json)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory) -> LabServer:
    """A private JupyterLab on 127.0.0.1:<free port> with a random token, stopped afterwards."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    config_dir = base / "config"
    data_dir = base / "data"
    runtime_dir = base / "runtime"
    settings_dir = base / "settings"
    workspaces_dir = base / "workspaces"
    for d in (root, config_dir, data_dir, runtime_dir, settings_dir, workspaces_dir):
        d.mkdir(parents=True, exist_ok=True)

    # The kernel must be this venv's Python. jupyter_client would already substitute
    # sys.executable for a bare "python", but make it explicit: a python3 kernelspec in the
    # private data dir (searched first) that points at sys.executable.
    write_json(data_dir / "kernels" / "python3" / "kernel.json", {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True},
    })
    # No news/update pop-ups: disable the announcements plugin and tell the notification
    # plugin never to fetch news and never to pop toasts.
    write_json(config_dir / "labconfig" / "page_config.json", {
        "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
    })
    write_json(settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})

    token = secrets.token_hex(24)
    port = free_port()
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(data_dir),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(workspaces_dir),
        "IPYTHONDIR": str(base / "ipython"),
        "MPLCONFIGDIR": str(base / "matplotlib"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_TOKEN", None)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",   # Notebook 7's pages, same server
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    log_path = base / "jupyterlab.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(url=f"http://127.0.0.1:{port}", token=token, root=root,
                       log_path=log_path, proc=proc)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        last_err: Exception | None = None
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} while starting.\n"
                            f"command: {cmd}\n--- server log ---\n{server.log_tail()}",
                            pytrace=False)
            try:
                with urllib.request.urlopen(f"{server.url}/api/status?token={token}",
                                            timeout=5) as r:
                    if r.status == 200:
                        json.loads(r.read())
                        break
            except (urllib.error.URLError, OSError, ValueError) as e:
                last_err = e
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer /api/status within "
                            f"{SERVER_START_TIMEOUT_S} s (last error: {last_err!r}).\n"
                            f"--- server log ---\n{server.log_tail()}", pytrace=False)
            time.sleep(0.25)
        yield server
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """Headless Debian Chromium with a fresh profile (persistent context in a tmp dir)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium` or "
                    "`apt-get install -y chromium`); never `playwright install`", pytrace=False)
    from playwright.sync_api import sync_playwright

    user_data = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(user_data),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
        )
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def page_and_log(browser_context):
    """One page with console/page errors recorded."""
    log = BrowserLog()
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()

    def on_console(msg):
        if msg.type in ("error", "assert"):
            loc = msg.location or {}
            where = f" ({loc.get('url', '')}:{loc.get('lineNumber', '')})" if loc else ""
            log.console_errors.append(f"[{msg.type}] {msg.text}{where}")

    def on_page_error(err):
        stack = getattr(err, "stack", None) or ""
        log.page_errors.append(f"{err}\n{stack}".strip())

    def on_request_failed(req):
        log.failed_requests.append(f"{req.method} {req.url}: {req.failure}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    yield page, log
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-log.txt").write_text(log.summary(limit=200) + "\n")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
