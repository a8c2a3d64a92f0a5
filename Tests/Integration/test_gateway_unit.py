"""The gateway's systemd unit (examples/edgecore-gateway.service) is one systemd accepts: `systemd-analyze verify`
with ExecStart pointed at the built gateway (systemd checks that the program exists and is executable)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "build/x86_64/examples/edgecore_gateway"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path):
    unit = (ROOT / "examples/edgecore-gateway.service").read_text()
    assert "Restart=always" in unit and "User=edgecore" in unit and "SupplementaryGroups=dialout gpio" in unit
    assert "ExecStart=/usr/local/bin/edgecore_gateway " in unit
    copy = tmp_path / "edgecore-gateway.service"
    copy.write_text(unit.replace("/usr/local/bin/edgecore_gateway", str(GATEWAY)))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "edgecore-gateway.service" not in result.stderr, result.stderr
    # A unit naming a program that does not exist is refused: the check above can fail.
    copy.write_text(unit.replace("/usr/local/bin/edgecore_gateway", str(tmp_path / "missing")))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 or "missing" in result.stderr
