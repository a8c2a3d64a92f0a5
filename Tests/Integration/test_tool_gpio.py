"""`edgecore gpio` on the host: what needs no GPIO chip (usage, help, a path that is not a chip, the manual).

The GPIO behaviour itself (list, get, set and its safe state, monitor, count, busy lines) is tested on a
real kernel with gpio-sim: Tests/GPIO/test_gpio_tool.c in `make gpio-vm-test`."""
from __future__ import annotations

import glob
import re

import pytest

from tool_harness import ROOT, run

SUBS = ["list", "get", "set", "monitor", "count"]


def one_line(result, status: int, says: str):
    assert result.returncode == status, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert lines[0].startswith("edgecore gpio")


@pytest.mark.parametrize("args, status, says", [
    ([], 2, "missing subcommand: expected list, get, set, monitor or count"),
    (["toggle"], 2, "unknown subcommand 'toggle'"),
    (["get"], 2, "missing CHIP"),
    (["get", "gpiochip0"], 2, "missing LINE"),
    (["set", "gpiochip0"], 2, "missing LINE=VALUE"),
    (["set", "gpiochip0", "valve"], 2, "'valve' is not LINE=0 or LINE=1"),
    (["set", "gpiochip0", "valve=on"], 2, "'valve=on' is not LINE=0 or LINE=1"),
    (["set", "gpiochip0", "1=1", "--safe", "high"], 2, "--safe: 'high' is not an integer in 0..1"),
    (["monitor", "gpiochip0", "1", "--edges", "up"], 2, "--edges: 'up' is not one of rising, falling or both"),
    (["monitor", "gpiochip0", "1", "--duration", "0"], 2, "--duration: '0' is not a number of seconds above 0"),
    (["monitor", "gpiochip0", "1", "--events", "0"], 2, "--events: '0' is not an integer"),
    (["count", "gpiochip0", "1"], 2, "missing --seconds N"),
    (["count", "gpiochip0", "1", "--seconds", "-1"], 2, "not a number of seconds above 0"),
    (["count", "gpiochip0", "1", "2", "--seconds", "1"], 2, "one LINE only, not '2'"),
    (["count", "gpiochip0", "1", "--seconds", "1", "--debounce-us", "2000000"], 2, "--debounce-us: '2000000'"),
    (["count", "gpiochip0", "1", "--seconds", "1", "--edge", "up"], 2, "--edge: 'up' is not one of"),
    (["get", "gpiochip0", "1", "--bias", "strong"], 2, "--bias: 'strong' is not one of as-is, pull-up"),
    (["list", "--bias", "pull-up"], 2, "unknown option '--bias'"),
    (["list", "a", "b"], 2, "one CHIP at most, not 'b'"),
    (["get", "/dev/null", "1"], 4, "/dev/null: not a GPIO chip"),
    (["get", "/dev/gpiochip-none", "1"], 4, "no GPIO chip /dev/gpiochip-none"),
    (["monitor", "no-such-label", "1"], 4, "no GPIO chip named or labelled 'no-such-label'"),
])
def test_bad_input_is_one_line_and_its_exit_status(args, status, says):
    one_line(run("gpio", *args), status, says)


@pytest.mark.skipif(bool(glob.glob("/dev/gpiochip*")), reason="this machine has GPIO chips")
def test_list_without_chips_says_so():
    result = run("gpio", "list")
    assert result.returncode == 4
    assert result.stderr == "edgecore gpio list: no GPIO chips (/dev/gpiochip*)\n"


def test_every_option_of_every_help_is_on_the_manual_page():
    page = (ROOT / "docs" / "man" / "edgecore-gpio.1.md").read_text()
    overview = run("gpio", "--help")
    assert overview.returncode == 0
    for sub in SUBS:
        assert f"edgecore gpio {sub}" in overview.stdout
        result = run("gpio", sub, "--help")
        assert result.returncode == 0 and result.stderr == ""
        assert result.stdout.startswith(f"usage: edgecore gpio {sub} ")
        options = set(re.findall(r"--[a-z][a-z-]+", result.stdout))
        assert options, result.stdout
        for option in options:
            assert f"* `{option}`" in page, (sub, option)
