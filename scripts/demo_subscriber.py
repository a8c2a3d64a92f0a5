#!/usr/bin/env python3
"""The subscriber of scripts/demo.sh: shows what reaches the broker and checks that nothing is missing.

Reads `mosquitto_sub -F %j` lines (one JSON object per MQTT message) on stdin and prints one line per
message: for readings (docs/gateway.md, the json format) the gateway, the sequence range, the number of
readings, a few values and, for readings that waited in the journal during an outage, their age; the
status topic's changes and each command answer as they come. At the end, the newest reading of each channel.

When the file --stop-file appears (demo.sh makes it once the gateway has stopped) it opens the journal
(--journal, through libEdgeCore --library), waits up to 5 s for the sequences it has not seen yet, prints
the count check and exits: 0 when every journaled reading arrived, 1 otherwise.

  mosquitto_sub -c -i ID -q 1 -t 'edgecore/GW/#' -F %j | demo_subscriber.py --journal DIR --library SO
      --stop-file FILE [--json]

Python's standard library only.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import struct
import sys
import time

BACKLOG_AGE_S = 3.0   # readings older than this when they arrive waited in the journal
SHOWN_VALUES = 5      # values shown per message: these channels' first when the message has them
SHOWN_FIRST = ["greenhouse.vent_fan", "meter.power_total", "greenhouse.air_temperature", "grid.active_power_total",
               "water.current_flow", "water.valve_state"]
FINAL_WAIT_S = 5.0    # after the stop, how long to wait for sequences not seen yet


class Journal:
    """The journal's own numbers, read through libEdgeCore (include/edgecore.h, Journal section)."""

    STATS_SIZE, CURSOR_STATS_SIZE = 136, 80

    def __init__(self, library: str, folder: str):
        lib = ctypes.CDLL(library)
        lib.edgecore_journal_open_sized.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                                    ctypes.POINTER(ctypes.c_void_p)]
        lib.edgecore_journal_stats_sized.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.edgecore_journal_cursor_stats_sized.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                                                            ctypes.c_size_t]
        lib.edgecore_journal_close.argtypes = [ctypes.c_void_p]
        lib.edgecore_journal_last_error.restype = ctypes.c_char_p
        handle = ctypes.c_void_p()
        rc = lib.edgecore_journal_open_sized(folder.encode(), None, 0, ctypes.byref(handle))
        if rc != 0:
            raise OSError(f"journal {folder}: {lib.edgecore_journal_last_error().decode(errors='replace')}")
        try:
            stats = ctypes.create_string_buffer(self.STATS_SIZE)
            if lib.edgecore_journal_stats_sized(handle, stats, self.STATS_SIZE) != 0:
                raise OSError(f"journal {folder}: stats failed")
            (self.oldest, self.newest, self.durable, self.readings) = struct.unpack_from("<4Q", stats.raw, 8)
            self.cursor_count, = struct.unpack_from("<I", stats.raw, 124)
            self.instance, = struct.unpack_from("<Q", stats.raw, 128)
            self.acknowledged: dict[str, int] = {}
            cursor = ctypes.create_string_buffer(self.CURSOR_STATS_SIZE)
            for index in range(self.cursor_count):
                if lib.edgecore_journal_cursor_stats_sized(handle, index, cursor, self.CURSOR_STATS_SIZE) == 0:
                    name = cursor.raw[:40].split(b"\0", 1)[0].decode()
                    self.acknowledged[name], = struct.unpack_from("<Q", cursor.raw, 40)
        finally:
            lib.edgecore_journal_close(handle)


class Viewer:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.started = time.time()
        self.seen: dict[str, set[int]] = {}   # instance -> sequences received
        self.received = 0                     # readings received, duplicates included
        self.messages = 0
        self.gateway = ""
        self.latest: dict[str, dict] = {}     # channel -> its newest reading

    def emit(self, text: str, **fields) -> None:
        print(json.dumps(fields) if self.as_json else text, flush=True)

    def message(self, topic: str, payload: str, retained: bool) -> None:
        elapsed = f"{time.time() - self.started:6.1f} s"
        if topic.endswith("/status"):   # the broker keeps the last one, and sends it again after a restart
            self.emit(f"{elapsed}  status: {payload}{' (retained)' if retained else ''}", event="status",
                      topic=topic, status=payload, retained=retained)
            return
        try:
            body = json.loads(payload)
        except ValueError:
            self.emit(f"{elapsed}  {topic}: not JSON: {payload[:80]}", event="other", topic=topic, payload=payload)
            return
        if topic.endswith("/response") or "readings" not in body:
            self.emit(f"{elapsed}  command answer: {payload}", event="response", topic=topic, answer=body)
            return
        self.batch(elapsed, body)

    def batch(self, elapsed: str, body: dict) -> None:
        readings, first, last = body["readings"], body["first"], body["last"]
        self.gateway = body["gateway"]
        seen = self.seen.setdefault(body["instance"], set())
        sequences = range(first, first + len(readings))
        again = sum(1 for s in sequences if s in seen)
        seen.update(sequences)
        self.received += len(readings)
        self.messages += 1
        age = time.time() - min(r["ts"] for r in readings) / 1000 if readings else 0.0
        notes = []
        if last != first + len(readings) - 1:
            notes.append(f"RANGE MISMATCH: {len(readings)} readings for {first}..{last}")
        if again:
            notes.append(f"{again} sent before")
        if age > BACKLOG_AGE_S:
            notes.append(f"backlog: taken up to {age:.1f} s ago")
        newest = {r["channel"]: r for r in readings}   # each channel's newest reading in the batch
        for name, reading in newest.items():
            if name not in self.latest or reading["ts"] >= self.latest[name]["ts"]:
                self.latest[name] = reading
        names = sorted(newest, key=lambda name: SHOWN_FIRST.index(name) if name in SHOWN_FIRST else len(SHOWN_FIRST))
        values = "  ".join(f"{name}={self.value(newest[name])}" for name in names[:SHOWN_VALUES])
        self.emit(f"{elapsed}  {body['gateway']}  seq {first}..{last}  {len(readings):3d} readings  {values}"
                  + (f"  [{'; '.join(notes)}]" if notes else ""),
                  event="readings", gateway=body["gateway"], instance=body["instance"], first=first, last=last,
                  readings=len(readings), duplicates=again, oldest_age_s=round(age, 3))

    @staticmethod
    def value(reading: dict, digits: int = 6) -> str:
        if reading["status"] != "ok" or reading["value"] is None:
            return reading["status"]
        value = reading["value"]
        text = f"{value:.{digits}g}" if isinstance(value, float) else str(value)
        return text + (f" {reading['unit']}" if reading.get("unit") else "")

    def show_latest(self) -> None:
        """The newest reading of each channel, by name."""
        if self.as_json:
            self.emit("", event="latest", readings={name: {k: r.get(k) for k in ("value", "unit", "status", "ts")}
                                                    for name, r in sorted(self.latest.items())})
            return
        lines = [f"newest reading of each of {len(self.latest)} channels:"]
        for name, reading in sorted(self.latest.items()):
            lines.append(f"  {name:36s} {self.value(reading, 10)}"
                         + (f"  ({reading['status']})" if reading["status"] == "ok" else ""))
        self.emit("\n".join(lines))

    def check(self, journal: Journal) -> int:
        instance = f"{journal.instance:016x}"
        seen = self.seen.get(instance, set())
        expected = range(journal.oldest, journal.newest + 1) if journal.newest else range(0)
        missing = [s for s in expected if s not in seen]
        delivered = len(seen)
        duplicates = self.received - sum(len(s) for s in self.seen.values())
        others = sorted(set(self.seen) - {instance})
        ok = len(expected) > 0 and not missing and not others and delivered == len(expected)
        ranges = f" (sequences {journal.oldest}..{journal.newest})" if expected else ""
        self.show_latest()
        uplink = journal.acknowledged.get("uplink")
        self.emit(f"count check: journaled {len(expected)}{ranges}, delivered {delivered}, duplicates {duplicates}, "
                  f"missing: {len(missing)}"
                  + (f" (first missing: {missing[:10]})" if missing else "")
                  + (f"; readings of other journals: {others}" if others else "")
                  + (f"; cursor 'uplink' acknowledged to {uplink}" if uplink is not None else ""),
                  event="count_check", instance=instance, journaled=len(expected), oldest=journal.oldest,
                  newest=journal.newest, delivered=delivered, duplicates=duplicates, missing=len(missing),
                  messages=self.messages, uplink_acknowledged=uplink, ok=ok)
        return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journal", required=True, help="the journal's folder (the site file's journal path)")
    parser.add_argument("--library", required=True, help="libEdgeCore.so")
    parser.add_argument("--stop-file", required=True, help="appears once the gateway has stopped")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of text")
    args = parser.parse_args()
    viewer = Viewer(args.json)
    fd = sys.stdin.fileno()
    pending = b""
    journal: Journal | None = None
    deadline = 0.0
    while True:
        if journal is None and os.path.exists(args.stop_file):
            journal = Journal(args.library, args.journal)
            deadline = time.monotonic() + FINAL_WAIT_S
        if journal is not None:
            seen = viewer.seen.get(f"{journal.instance:016x}", set())
            if time.monotonic() >= deadline or all(s in seen for s in range(journal.oldest, journal.newest + 1)):
                return viewer.check(journal)
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:   # mosquitto_sub ended before the stop: check what came
            if journal is None and os.path.exists(args.stop_file):
                continue
            if journal is None:
                print("demo_subscriber: mosquitto_sub ended early", file=sys.stderr)
                return 1
            return viewer.check(journal)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                record = json.loads(line)
                viewer.message(record["topic"], record.get("payload", ""), bool(record.get("retain")))


if __name__ == "__main__":
    sys.exit(main())
