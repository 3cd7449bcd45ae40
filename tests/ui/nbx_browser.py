"""Helpers shared by the browser tests (kept out of conftest.py so tests can import them)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("NBX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT_S = 60
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BUNDLE = Path(__file__).resolve().parents[2] / "nbexplain" / "static" / "widget.js"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail_of(path: Path, n_chars: int = 6000, max_line: int = 400) -> str:
    """The end of a log file, each line cut to `max_line` characters (JupyterLab may log
    minified JavaScript from failed node checks as one huge line)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    lines = [ln if len(ln) <= max_line else ln[:max_line] + f" …[{len(ln) - max_line} chars cut]"
             for ln in text.splitlines()]
    return "\n".join(lines)[-n_chars:]


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:PORT
    token: str
    root: Path  # the server's root_dir: notebooks copied here are served
    log_path: Path
    proc: subprocess.Popen

    def log_tail(self, n_chars: int = 6000) -> str:
        return tail_of(self.log_path, n_chars)

    def lab_url(self, relpath: str) -> str:
        return f"{self.url}/lab/tree/{relpath}?token={self.token}"

    def notebook7_url(self, relpath: str) -> str:
        """The same notebook in Notebook 7 (the `notebook` package's pages on this server)."""
        return f"{self.url}/notebooks/{relpath}?token={self.token}"


@dataclass
class BrowserLog:
    """Console errors/warnings and uncaught page errors seen by the page."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def summary(self, limit: int = 30) -> str:
        parts = []
        for title, items in (("uncaught page errors", self.page_errors),
                             ("console errors", self.console_errors),
                             ("failed requests", self.failed_requests)):
            shown = items[-limit:]
            parts.append(f"--- {title} ({len(items)}) ---")
            parts.extend(shown if shown else ["(none)"])
        return "\n".join(parts)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate the server (SIGTERM to its process group), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait(timeout=15)


def diagnostics(server: LabServer | None = None, log: BrowserLog | None = None,
                extra: str = "") -> str:
    """Text appended to assertion messages: browser errors and the server log tail."""
    parts = []
    if extra:
        parts.append(extra)
    if log is not None:
        parts.append(log.summary())
    if server is not None:
        parts.append(f"--- JupyterLab log tail ({server.log_path}) ---\n{server.log_tail()}")
    return "\n".join(parts)


def copy_into(server: LabServer, src: Path, name: str | None = None) -> str:
    """Copy a file into the server's root dir; returns the path relative to the root."""
    dest = server.root / (name or src.name)
    shutil.copyfile(src, dest)
    return dest.name


# --- JupyterLab in the page (needs --LabApp.expose_app_in_browser=True) ----------------------

JS_LAB_STATE = """() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {app: false};
  const w = app.shell.currentWidget;
  const sc = w && w.sessionContext;
  const kernel = sc && sc.session && sc.session.kernel;
  return {
    app: true,
    path: (w && w.context && w.context.path) || null,
    isReady: !!(sc && sc.isReady),
    kernelName: kernel ? kernel.name : null,
    kernelStatus: kernel ? kernel.status : null,
    connectionStatus: kernel ? kernel.connectionStatus : null,
    dialogs: Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.slice(0, 300)),
  };
}"""

JS_KERNEL_IDLE = """(path) => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path) return false;
  const sc = w.sessionContext;
  const k = sc && sc.session && sc.session.kernel;
  return !!(sc.isReady && k && k.status === 'idle' && k.connectionStatus === 'connected');
}"""

# Runs code on the notebook's kernel directly (not in a cell); returns status + stdout/stderr.
JS_KERNEL_EXEC = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let stdout = '', stderr = '', error = null;
  const f = k.requestExecute({code, silent: false, store_history: false});
  f.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') { if (msg.content.name === 'stderr') stderr += msg.content.text; else stdout += msg.content.text; }
    if (t === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
  };
  const reply = await f.done;
  return {status: reply.content.status, stdout, stderr, error};
}"""

# Outputs of every code cell, shortened, for assertions and failure messages.
JS_NOTEBOOK_OUTPUTS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const cells = w && w.content && w.content.model && w.content.model.cells;
  const res = [];
  if (!cells) return res;
  const strip = (s) => s.replace(/\\x1b\\[[0-9;]*m/g, '');
  const text = (t) => (Array.isArray(t) ? t.join('') : (t || ''));
  for (let i = 0; i < cells.length; i++) {
    const j = cells.get(i).toJSON();
    if (j.cell_type !== 'code') continue;
    res.push({
      index: i,
      execution_count: j.execution_count,
      source: text(j.source).slice(0, 80),
      outputs: (j.outputs || []).map(o => ({
        output_type: o.output_type,
        name: o.name || null,
        ename: o.ename || null,
        evalue: o.evalue || null,
        text: o.text !== undefined ? text(o.text).slice(-2000) : null,
        traceback: o.traceback ? strip(o.traceback.join('\\n')).slice(-4000) : null,
        mime: o.data ? Object.keys(o.data) : null,
      })),
    });
  }
  return res;
}"""

# The canvas pixels as base64 RGBA (getImageData), plus its sizes.
JS_CANVAS_PIXELS = """(canvas) => {
  const w = canvas.width, h = canvas.height;
  const data = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  let bin = '';
  const CH = 0x8000;
  for (let i = 0; i < data.length; i += CH) bin += String.fromCharCode.apply(null, data.subarray(i, i + CH));
  const r = canvas.getBoundingClientRect();
  return {w, h, b64: btoa(bin), cssWidth: r.width, cssHeight: r.height,
          rasterWidth: canvas.dataset.rasterWidth || null, rasterHeight: canvas.dataset.rasterHeight || null};
}"""

JS_ROOT_STATE = """(root) => ({
  status: root.dataset.status ?? null,
  target: root.dataset.target ?? null,
  mapsReceived: root.dataset.mapsReceived ?? null,
  checksum: root.dataset.mapChecksum ?? null,
  alerts: Array.from(root.querySelectorAll('[role=alert]')).map(e => e.textContent.trim()),
  classes: Array.from(root.querySelectorAll('.nbx-class')).map(b => ({
    index: b.dataset.index, text: b.innerText.replace(/\\s+/g, ' ').trim(),
    pressed: b.getAttribute('aria-pressed')})),
  opacity: (root.querySelector('input.nbx-opacity') || {}).value ?? null,
  text: root.innerText.slice(0, 1000),
})"""


def format_outputs(outputs: list[dict]) -> str:
    lines = []
    for c in outputs:
        lines.append(f"[cell {c['index']}] execution_count={c['execution_count']} "
                     f"source={c['source']!r}")
        for o in c["outputs"]:
            if o["output_type"] == "error":
                lines.append(f"    ERROR {o['ename']}: {o['evalue']}\n{o['traceback']}")
            elif o["output_type"] == "stream":
                lines.append(f"    {o['name']}: {(o['text'] or '').strip()[-1500:]}")
            else:
                lines.append(f"    {o['output_type']}: {o['mime']}")
    return "\n".join(lines) or "(no code cells found)"
