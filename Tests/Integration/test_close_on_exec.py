"""Close-on-exec (issue 9): no descriptor EdgeCore opens leaks into a program the host process starts.

An engine runs a Modbus TCP bus against a peer, an RTU bus on a socat pty and a simulated GPIO chip
("sim:DIR") whose pulse checkpoint is written many times a second. While it runs, every descriptor the
process has opened since before the engine was made is checked for FD_CLOEXEC again and again (the
checkpoint's files are open only for the moment of a write), and a child started without closing
descriptors (close_fds=False) lists what it inherited.
"""
from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import time

from harness import by_channel

SITE = """\
buses:
  - name: tcp-bus
    type: tcp
    host: 127.0.0.1
    port: {port}
    reconnect_min_ms: 50
    devices:
      - name: tcp-device
        channels:
          - {{name: tcp.u16, address: 0, interval_ms: 50}}
  - name: rtu-bus
    type: rtu
    device: {device}
    reopen_min_ms: 50
    devices:
      - name: rtu-device
        channels:
          - {{name: rtu.u16, address: 0, interval_ms: 50}}
  - name: io
    type: gpio
    chip: sim:{chip}
    checkpoint_path: {chip}/pulses
    checkpoint_max_per_hour: 3600000
    lines:
      - {{name: gpio.s0, offset: 0, kind: pulses, edge: rising, debounce_us: 0, interval_ms: 10}}
      - {{name: gpio.in, offset: 1, kind: input, interval_ms: 50}}
"""


def make_chip(folder) -> int:
    """A simulated chip: line 0 counts pulses from its edge FIFO, line 1 is an input. Returns the FIFO's
    write end (opened before the engine: not one of its descriptors)."""
    folder.mkdir()
    (folder / "lines").write_text("s0\nin\n")
    (folder / "0.value").write_text("0\n")
    (folder / "1.value").write_text("1\n")
    os.mkfifo(folder / "0.edges", 0o600)
    return os.open(folder / "0.edges", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


def descriptors() -> dict[int, tuple[int, int]]:
    """The process's descriptors with the file each one names (device, inode): a number closed and opened
    again for another file counts as new."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            info = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        found[int(name)] = (info.st_dev, info.st_ino)
    return found


def leaking(baseline: dict[int, tuple[int, int]], found: dict[int, str], seen: set[str]) -> None:
    """Adds to `found` every descriptor opened since `baseline` that lacks FD_CLOEXEC (with its target), and
    every target to `seen`."""
    for fd, file in descriptors().items():
        if baseline.get(fd) == file:
            continue
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        seen.add(target)
        if not flags & fcntl.FD_CLOEXEC:
            found.setdefault(fd, target)


def test_no_descriptor_of_a_running_engine_survives_exec(libmodbus_server, peer_endpoint, edgecore_engine,
                                                         tmp_path):
    _, tcp, _ = peer_endpoint(libmodbus_server, "tcp")
    _, rtu, _ = peer_endpoint(libmodbus_server, "rtu")
    chip = tmp_path / "chip"
    edges = make_chip(chip)
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(port=tcp["tcp"], device=rtu["rtu"], chip=chip))

    baseline = descriptors()
    engine = edgecore_engine()
    engine.load_yaml(site)
    engine.start()
    found: dict[int, str] = {}
    seen: set[str] = set()
    readings = []
    level, sequence, checks = 0, 0, 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        level ^= 1
        sequence += 1
        try:
            os.write(edges, struct.pack("=qII", time.monotonic_ns(), level, sequence))
        except BlockingIOError:
            pass
        for _ in range(50):
            leaking(baseline, found, seen)
            checks += 1
        readings += engine.drain()
    # A child that closes nothing itself inherits every descriptor without FD_CLOEXEC.
    engine_fds = {fd for fd, file in descriptors().items() if baseline.get(fd) != file}
    child = subprocess.run(["/bin/ls", "-l", "/proc/self/fd/"], close_fds=False, capture_output=True, text=True,
                           timeout=10)
    leaking(baseline, found, seen)
    engine.stop()
    readings += engine.drain()
    os.close(edges)

    channels = {engine.channel_info(c)[0]: rs for c, rs in by_channel(readings).items()}
    assert all(any(r.status == 0 for r in channels.get(name, []))
               for name in ("tcp.u16", "rtu.u16", "gpio.s0", "gpio.in")), \
        {name: [r.status for r in rs[:3]] for name, rs in channels.items()}
    assert (chip / "pulses").read_text().startswith("gpio.s0\t")  # the checkpoint was written
    assert not found, f"without FD_CLOEXEC ({checks} checks): {found}"
    # The checks saw each kind of descriptor the engine holds: TCP socket, serial port, eventfd, the chip's
    # value file and edge FIFO (the checkpoint's files only now and then: they are open for a moment).
    kinds = {"socket:": False, "/dev/pts/": False, "anon_inode:[eventfd]": False, "/chip/0.value": False,
             "/chip/0.edges": False}
    for target in seen:
        for kind in kinds:
            kinds[kind] |= kind in target
    assert all(kinds.values()), f"{kinds} {sorted(seen)}"
    # The child's descriptors with the numbers of those the engine holds (but for ls's own handle on the
    # folder it lists).
    inherited = {}
    for line in child.stdout.splitlines():
        if " -> " in line:
            left, target = line.split(" -> ", 1)
            fd = int(left.split()[-1])
            if fd in engine_fds and not target.startswith("/proc/"):
                inherited[fd] = target
    assert child.returncode == 0 and not inherited, (child.stderr, inherited)
