"""What the tests of the technicians' tool `edgecore` share (test_tool*.py).

The binary under test is $EDGECORE_TOOL when set (the installed /usr/bin/edgecore of the Debian package
test), else this tree's build/x86_64/tools/edgecore, built by the `tool_built` fixture."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("EDGECORE_TOOL")
TOOL = Path(INSTALLED) if INSTALLED else ROOT / "build" / "x86_64" / "tools" / "edgecore"


@pytest.fixture(scope="module", autouse=True)
def tool_built():
    if not INSTALLED:
        subprocess.run(["make", "-s", "tools"], cwd=ROOT, check=True, timeout=600, stdout=subprocess.DEVNULL)
    assert TOOL.exists(), TOOL


def run(*args, timeout=20, **kwargs):
    """Run `edgecore ARGS...` to completion: CompletedProcess with text stdout/stderr."""
    return subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def popen(*args, **kwargs):
    """Start `edgecore ARGS...` (stdout/stderr piped, text); the caller stops it by its PID."""
    return subprocess.Popen([str(TOOL), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def parse_time(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def recent(text: str) -> bool:
    return abs(datetime.now(timezone.utc) - parse_time(text)) < timedelta(seconds=30)


def json_lines(out: str) -> list[dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    for row in rows:
        assert recent(row["timestamp"]) and row["ts_ns"] > 0, row
    return rows


def csv_rows(out: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(out)))
    for row in rows:
        assert recent(row["timestamp"]), row
    return rows
