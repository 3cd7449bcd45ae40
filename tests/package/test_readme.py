"""The README's examples run exactly as written, doctest-style: each block marked
``<!-- readme-example: NAME -->`` runs in a fresh interpreter, and what it prints must equal
the ``text`` block that follows it ("prints"). The README also keeps exactly the two set-up
commands of the project."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE = re.compile(r"<!-- readme-example: (\w+) -->\n```python\n(.*?)```\s*\nprints\s*\n\n"
                     r"```text\n(.*?)```", re.S)
EXAMPLES = {m.group(1): (m.group(2), m.group(3)) for m in EXAMPLE.finditer(README)}


def test_the_readme_has_a_torch_and_a_keras_example():
    assert {"torch", "keras"} <= set(EXAMPLES), sorted(EXAMPLES)
    for name, (code, _) in EXAMPLES.items():
        assert len(code.strip().splitlines()) <= 14, f"the {name} example is not short"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_readme_example_runs_as_written_and_prints_what_the_readme_says(name, tmp_path):
    code, expected = EXAMPLES[name]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == expected.strip(), (
        f"the {name} example printed {r.stdout.strip()!r}; the README says "
        f"{expected.strip()!r}")


def test_the_readme_names_exactly_the_two_set_up_commands():
    commands = re.findall(r"^make (\w+)", README, re.M)
    assert sorted(commands) == ["demo", "test"], commands
