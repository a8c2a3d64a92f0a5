"""examples/edgecore_gateway against a real broker (Debian's mosquitto 2.0.11), as docs/gateway.md specifies it
(issue 11, item 3). The rig (mqtt_rig.py): a private mosquitto with a password file and persistence, the
load site (a libmodbus peer, 100 channels every 100 ms: 1,000 readings/s into a journal synced every 100
ms), a persistent-session QoS 1 subscriber, and the journal's own numbers at the end: every journal
sequence 1..N must have arrived, each channel's first arrivals in order, duplicates within --window x
--batch-readings per outage or crash.
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import time

import pytest

import mqtt_rig
from harness import free_tcp_port, modbus_client, wait_until
from mqtt_rig import GatewayRig, journal_info, run_gateway

pytestmark = pytest.mark.skipif(not mqtt_rig.GATEWAY.exists(),
                                reason=f"{mqtt_rig.GATEWAY} is missing: run 'make examples'")


@pytest.fixture
def make_rig(tmp_path, peers_built):
    rigs: list[GatewayRig] = []

    def make(name: str = "rig", **options) -> GatewayRig:
        rig = GatewayRig(tmp_path / name, **options)
        rigs.append(rig)
        return rig.start()

    yield make
    for rig in reversed(rigs):
        rig.close()


def _gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def _assert_back_off(log: str) -> None:
    """The log's "next attempt in S s" grow from --reconnect-min-ms (0.1 s) to --reconnect-max-ms (1 s)."""
    delays = [float(d) for d in re.findall(r"next attempt in ([\d.]+) s", log)]
    assert len(delays) >= 3 and delays[0] <= 0.2 and max(delays) >= 0.8, delays
    assert all(b >= a for a, b in zip(delays, delays[1:])), delays


# ------------------------------------------------------------------------------------------------------
# Outages and crashes while 1,000 readings/s flow
# ------------------------------------------------------------------------------------------------------

def test_broker_stopped_and_restarted_20_times(make_rig):
    """SIGTERM (mosquitto saves its persistence: the subscriber's session and queued messages survive),
    0.3-0.8 s down, start again on the same port; 20 times while readings flow."""
    rig = make_rig()
    gw = rig.gateway()
    rig.wait_messages(1, gateway=gw)
    rng = random.Random(11)
    client = f"edgecore-{rig.GATEWAY_ID}"
    for _ in range(20):
        time.sleep(rng.uniform(0.2, 0.5))
        assert rig.broker.stop() == 0
        time.sleep(rng.uniform(0.3, 0.8))
        offset = rig.broker.log_size()
        rig.broker.start()
        rig.broker.wait_publish_from(client, offset)   # the gateway is back and publishing
        assert gw.running, gw.log_text()[-3000:]
    rig.wait_messages(1, gateway=gw)
    rig.finish(gw, events=20, broker_restarts=20, label="broker restarted 20 times")
    print(f"subscriber connections: {rig.subscriber.connects}")
    assert rig.subscriber.connects >= 10


def test_gateway_killed_20_times(make_rig):
    """SIGKILL the gateway 0.3-0.8 s after each start and start it again at once: it resumes at the
    cursor's durable acknowledgement."""
    rig = make_rig()
    gw = rig.gateway()
    rig.wait_messages(1, gateway=gw)
    rng = random.Random(12)
    for _ in range(20):
        time.sleep(rng.uniform(0.3, 0.8))
        assert gw.kill() == -9
        gw.start()
    rig.wait_messages(1, gateway=gw)
    rig.finish(gw, events=20, label="gateway killed 20 times")
    # the status topic: "online" (retained) at each connection, the will "offline" after each SIGKILL
    status = [m.payload for m in rig.subscriber.snapshot(rig.status_topic)]
    assert status.count(b"offline") >= 10 and status.count(b"online") >= 21, status


# ------------------------------------------------------------------------------------------------------
# Refused credentials: clear error, back-off, nothing lost
# ------------------------------------------------------------------------------------------------------

def test_wrong_password_logged_retried_with_back_off_and_nothing_lost(make_rig):
    rig = make_rig()
    proxy = rig.proxy()          # records each connection attempt's time
    wrong = rig.dir / "wrong.password"
    wrong.write_text("not-the-password\n")
    gw = rig.gateway(port=proxy.port, password_file=wrong)
    rig_start = time.monotonic()
    wait_until(lambda: proxy.connections >= 5, 15, what="5 connection attempts")
    time.sleep(2.0)
    attempts = list(proxy.accept_times)
    assert gw.running, gw.log_text()
    assert rig.subscriber.count(rig.readings_topic) == 0
    log = gw.log_text()
    assert re.search(r"edgecore_gateway: .*not authori[sz]ed", log, re.IGNORECASE), log[-2000:]
    assert re.search(r"user name or password|password", log, re.IGNORECASE), log[-2000:]
    # Back-off: the gaps between attempts grow (100 ms doubling to 1 s, with jitter), no tight loop.
    gaps = _gaps(attempts)
    print(f"\nwrong password: {len(attempts)} attempts in {time.monotonic() - rig_start:.1f} s, gaps "
          f"{[round(g, 2) for g in gaps]}")
    assert len(attempts) <= 20, gaps
    assert gaps[-1] >= 3 * gaps[0] and max(gaps) >= 0.5, gaps
    _assert_back_off(log)
    # The broker learns the gateway's password (SIGHUP re-reads the password file): the backlog flows.
    rig.broker.set_passwords({rig.GATEWAY_USER: "not-the-password",
                              rig.OBSERVER_USER: rig.OBSERVER_PASSWORD})
    rig.broker.reload()
    rig.wait_messages(1, timeout=15, gateway=gw)
    rig.password_file = wrong    # for the gateway that drains the rest
    rig.finish(gw, events=1, label="wrong password, then right")


def test_wrong_ca_logged_retried_and_nothing_lost_with_the_right_one(make_rig):
    rig = make_rig(tls=True)
    certs = rig.certs
    tls = ["--cert", certs.client, "--key", certs.client_key]
    gw = rig.gateway("--cafile", certs.wrong_ca, *tls, port=rig.broker.tls_port)
    time.sleep(3.0)
    assert gw.running, gw.log_text()
    assert rig.subscriber.count(rig.readings_topic) == 0
    log = gw.log_text()
    assert log.count("certificate verify failed") >= 2, log[-2000:]   # logged, and tried again
    _assert_back_off(log)
    assert gw.stop() == 0
    gw = rig.gateway("--cafile", certs.ca, *tls, port=rig.broker.tls_port, name="gateway-right-ca")
    rig.wait_messages(1, gateway=gw)
    rig.finish(gw, events=1, label="wrong CA, then the right one")


# ------------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------------

def _registers(port: int) -> tuple[int, int, int]:
    """(cmd.setpoint, cmd.locked, cmd.coil) as the peer holds them now."""
    client = modbus_client(tcp=port)
    try:
        regs = client.read_holding_registers(mqtt_rig.SETPOINT_ADDRESS, 2, slave=1)
        coils = client.read_coils(mqtt_rig.COIL_ADDRESS, 1, slave=1)
        assert not regs.isError() and not coils.isError(), (regs, coils)
        return regs.registers[0], regs.registers[1], int(coils.bits[0])
    finally:
        client.close()


def test_commands_refused_malformed_and_written(make_rig):
    rig = make_rig()
    gw = rig.gateway()
    rig.wait_messages(1, gateway=gw)
    sub = rig.subscriber
    initial = (mqtt_rig.SETPOINT_INITIAL, mqtt_rig.LOCKED_INITIAL, 0)
    assert _registers(rig.peer_port) == initial

    def ask(payload, timeout: float = 8.0) -> dict:
        """Publish one command and return the next answer on the response topic."""
        before = sub.count(rig.response_topic)
        sub.publish(rig.command_topic, payload)
        sub.wait(lambda: sum(1 for m in sub.messages if m.topic == rig.response_topic) > before, timeout,
                 f"an answer to {payload[:80]!r}")
        answer = json.loads(sub.snapshot(rig.response_topic)[before].payload)
        assert isinstance(answer.get("ok"), bool) and isinstance(answer.get("message"), str), answer
        return answer

    # The gateway subscribes after it connected: ask until the first answer comes.
    wait_until(lambda: _try_answer(ask, json.dumps({"id": "probe", "channel": "no.such.channel", "value": 1})),
               15, what="an answer to the first command")

    locked = ask(json.dumps({"id": "req-locked", "channel": "cmd.locked", "value": 5}))
    assert locked["ok"] is False and locked["id"] == "req-locked" and locked["channel"] == "cmd.locked", locked
    assert locked["code"] < 0 and "writable" in locked["message"], locked
    unknown = ask(json.dumps({"id": "req-unknown", "channel": "no.such.channel", "value": 5}))
    assert unknown["ok"] is False and unknown["code"] < 0, unknown

    malformed = [
        b"not json at all",
        b"",
        b"[1, 2, 3]",
        b"\xff\xfe\x00garbage",
        b'{"id":"req-trunc","channel":"cmd.setpoint","value":',
        json.dumps({"id": "req-str", "channel": "cmd.setpoint", "value": "9"}).encode(),
        json.dumps({"id": "req-null", "channel": "cmd.setpoint", "value": None}).encode(),
        json.dumps({"id": "req-list", "channel": "cmd.setpoint", "value": [9]}).encode(),
        json.dumps({"id": 17, "channel": "cmd.setpoint", "value": 9}).encode(),
        json.dumps({"id": "req-chan", "channel": 200, "value": 9}).encode(),
        json.dumps({"id": "req-nochan", "value": 9}).encode(),
        json.dumps({"id": "req-novalue", "channel": "cmd.setpoint"}).encode(),
        json.dumps({"id": "req-extra", "channel": "cmd.setpoint", "value": 9, "force": True}).encode(),
        json.dumps({"id": "x" * 65, "channel": "cmd.setpoint", "value": 9}).encode(),
        json.dumps({"id": "req-big", "channel": "cmd.setpoint", "value": 70000}).encode(),
        json.dumps({"id": "req-neg", "channel": "cmd.setpoint", "value": -1}).encode(),
        json.dumps({"id": "req-huge", "channel": "cmd.setpoint", "value": 9, "pad": "p" * 1_000_000}).encode(),
        b"{" * 100_000,
    ]
    for payload in malformed:
        answer = ask(payload)
        assert answer["ok"] is False and answer.get("code", -1) != 0 and answer["message"], (payload[:80], answer)
        sent = _json_or_none(payload)
        if isinstance(sent, dict) and isinstance(sent.get("id"), str) and len(sent["id"]) <= 64 \
                and len(payload) < 100_000:
            assert answer["id"] == sent["id"], (payload[:80], answer)   # the id is echoed
        if b'"force"' in payload:
            assert "force" in answer["message"], answer
    assert _registers(rig.peer_port) == initial
    assert gw.running, gw.log_text()[-3000:]

    good = ask(json.dumps({"id": "req-good", "channel": "cmd.setpoint", "value": 1234}))
    assert good == {"id": "req-good", "channel": "cmd.setpoint", "ok": True, "code": 0,
                    "message": good["message"]}, good
    coil = ask(json.dumps({"channel": "cmd.coil", "value": True}))
    assert coil["ok"] is True and coil["code"] == 0, coil
    assert _registers(rig.peer_port) == (1234, mqtt_rig.LOCKED_INITIAL, 1)
    log = gw.log_text()
    assert "cmd.locked" in log and "cmd.setpoint" in log and "refused" in log, log[-2000:]

    # A clean session: a command sent while the gateway is away is not carried out when it comes back.
    assert gw.stop() == 0
    sub.publish(rig.command_topic, json.dumps({"id": "while-away", "channel": "cmd.setpoint", "value": 555}))
    gw = rig.gateway(name="gateway-2")
    wait_until(lambda: _try_answer(ask, json.dumps({"id": "probe-2", "channel": "no.such.channel", "value": 1})),
               15, what="an answer after the restart")
    answers = [json.loads(m.payload) for m in sub.snapshot(rig.response_topic)]
    assert not [a for a in answers if a.get("id") == "while-away"], answers[-3:]
    assert _registers(rig.peer_port) == (1234, mqtt_rig.LOCKED_INITIAL, 1)
    # Readings went on meanwhile, and nothing was lost.
    rig.finish(gw, events=1, label="commands")


def test_commands_beyond_16_waiting_are_refused_as_busy(make_rig):
    """Writes take 40 ms each (the peer's delay): of 40 commands sent at once, those that find 16 waiting
    are answered "busy" and not written; the others are written one at a time, in order."""
    rig = make_rig(peer_delay_ms=40)
    gw = rig.gateway()
    rig.wait_messages(1, gateway=gw)
    sub = rig.subscriber
    time.sleep(0.5)    # subscribed (it subscribes right after connecting)
    for i in range(40):
        sub.client.publish(rig.command_topic, json.dumps({"id": f"c{i}", "channel": "cmd.setpoint",
                                                          "value": 100 + i}), qos=1)
    sub.wait(lambda: sum(1 for m in sub.messages if m.topic == rig.response_topic) >= 40, 20, "40 answers")
    answers = {a["id"]: a for a in (json.loads(m.payload) for m in sub.snapshot(rig.response_topic))}
    assert sorted(answers) == sorted(f"c{i}" for i in range(40))
    written = sorted(int(i[1:]) for i, a in answers.items() if a["ok"])
    busy = [a for a in answers.values() if not a["ok"]]
    print(f"\n40 commands at once: {len(written)} written, {len(busy)} refused as busy")
    assert len(written) >= 16 and busy, answers    # 16 waiting (+ the one being written)
    assert all("busy" in a["message"] for a in busy), busy
    assert _registers(rig.peer_port)[0] == 100 + written[-1]
    rig.finish(gw, events=0, label="40 commands at once")


def _json_or_none(payload: bytes):
    try:
        return json.loads(payload)
    except ValueError:
        return None


def _try_answer(ask, payload) -> bool:
    try:
        ask(payload, timeout=1.0)
        return True
    except AssertionError:
        return False


def test_thingsboard_format(make_rig):
    """--format thingsboard: v1/gateway/telemetry, {"DEVICE":[{"ts":MS,"values":{CHANNEL:VALUE}}]}, the site's
    values (holding register a holds 1000 + a)."""
    rig = make_rig()
    gw = rig.gateway("--format", "thingsboard")
    rig.subscriber.wait(lambda: sum(1 for m in rig.subscriber.messages
                                    if m.topic == mqtt_rig.THINGSBOARD_TOPIC) >= 5, 15, "5 telemetry messages")
    assert gw.stop() == 0
    assert rig.subscriber.count(rig.readings_topic) == 0
    values: dict[str, set] = {}
    for m in rig.subscriber.snapshot(mqtt_rig.THINGSBOARD_TOPIC):
        telemetry = json.loads(m.payload)
        assert set(telemetry) == {"plc"}, list(telemetry)
        for entry in telemetry["plc"]:
            assert set(entry) == {"ts", "values"} and isinstance(entry["ts"], int), entry
            for channel, value in entry["values"].items():
                values.setdefault(channel, set()).add(value)
    for a in range(mqtt_rig.LOAD_CHANNELS):
        assert values.get(f"load.r{a:03d}") == {1000 + a}, (a, values.get(f"load.r{a:03d}"))
    assert values.get("cmd.setpoint") == {mqtt_rig.SETPOINT_INITIAL}, values.get("cmd.setpoint")


# ------------------------------------------------------------------------------------------------------
# Bad input never aborts
# ------------------------------------------------------------------------------------------------------

def test_sigterm_publishes_what_is_left(make_rig):
    """docs/gateway.md: on SIGTERM the gateway publishes what is left in the journal for up to 2 s. A
    backlog of ~3 s (3,000 readings; the gateway sends ~7,000/s with --window 16 --batch-readings 100)
    is all acknowledged when it exits."""
    rig = make_rig()
    gw = rig.gateway(port=free_tcp_port())        # nobody listens: the backlog grows
    time.sleep(3.0)
    assert gw.stop() == 0
    backlog = journal_info(rig.journal).newest
    gw = rig.gateway(name="gateway-2")
    rig.wait_messages(1, gateway=gw)
    assert gw.stop() == 0
    info = journal_info(rig.journal)
    acknowledged = info.cursors["uplink"][1]
    print(f"\nSIGTERM with a backlog of {backlog}: acknowledged {acknowledged} of {info.newest}")
    assert acknowledged == info.newest, (f"after SIGTERM {info.newest - acknowledged} readings are left "
                                         f"(acknowledged {acknowledged} of {info.newest}):\n"
                                         + "\n".join(gw.log_text().splitlines()[-5:]))


def test_unreachable_broker_retries_and_exits_0_on_sigterm(make_rig):
    rig = make_rig()
    nobody = free_tcp_port()
    gw = rig.gateway(port=nobody)
    time.sleep(2.5)
    assert gw.running, gw.log_text()
    log = gw.log_text()
    assert re.search(r"edgecore_gateway: .*(refused|connect)", log, re.IGNORECASE), log[-2000:]
    started = time.monotonic()
    assert gw.stop() == 0, gw.log_text()[-2000:]
    assert time.monotonic() - started < 5


def test_site_without_journal_exit_3(tmp_path):
    site = tmp_path / "no-journal.yaml"
    site.write_text("buses:\n  - name: b\n    type: tcp\n    host: 127.0.0.1\n    port: 1\n    devices:\n"
                    "      - name: d\n        unit_id: 1\n        channels:\n"
                    "          - {name: d.x, function: holding, address: 0, type: u16}\n")
    r = run_gateway(site, ["--port", str(free_tcp_port()), "--id", "gw-test"])
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "journal" in r.stderr and str(site) in r.stderr, r.stderr
    # says why: the uplink forwards from the journal (keeps readings while the broker is away)
    assert re.search(r"keep|store|forward|lose|lost|until|outage", r.stderr, re.IGNORECASE), r.stderr


@pytest.mark.parametrize("case, code, pattern", [
    ("--bogus", 2, r"unknown option '--bogus'"),
    ("", 2, r"no site file"),
    ("--window 0", 2, r"--window"),
    ("--batch-readings 4097", 2, r"--batch-readings"),
    ("--id bad/id", 2, r"--id"),
    ("--max-payload 255", 2, r"--max-payload"),
    ("--mqtt-version 4", 2, r"--mqtt-version"),
    ("--port 65536", 2, r"--port"),
    ("--cert CERT", 2, r"--key"),
    ("SITE extra", 2, r"extra"),
    ("--username u --password-file MISSING", 5, r"MISSING.*No such file"),
    ("--cafile MISSING", 5, r"MISSING.*No such file"),
    ("--cafile NOT_A_CERT", 5, r"NOT_A_CERT"),
    ("--cafile CA --cert NOT_A_CERT --key NOT_A_CERT", 5, r"NOT_A_CERT"),
    ("BROKEN_SITE", 3, r"BROKEN_SITE:1:"),
    ("MISSING_SITE", 3, r"MISSING_SITE.*No such file"),
])
def test_usage_and_setup_errors(tmp_path, case, code, pattern):
    """docs/gateway.md's exit codes 2 (usage), 3 (site file) and 5 (MQTT set-up), each with a message.
    Upper-case words of `case` and `pattern` stand for files of the test."""
    certs = mqtt_rig.Certificates(tmp_path / "certs") if "CA" in case or "CERT" in case else None
    site = mqtt_rig.load_site(tmp_path / "site.yaml", tmp_path / "journal", free_tcp_port())
    (tmp_path / "broken.yaml").write_text("1 holding 0 1000\n")
    (tmp_path / "garbage.pem").write_text("this is not a certificate\n")
    files = {"SITE": site, "MISSING_SITE": str(tmp_path / "missing.yaml"), "MISSING": str(tmp_path / "missing"),
             "NOT_A_CERT": str(tmp_path / "garbage.pem"), "BROKEN_SITE": str(tmp_path / "broken.yaml"),
             "CA": certs.ca if certs else "", "CERT": certs.client if certs else ""}
    args = [files.get(a, a) for a in case.split()]
    if case and not any(a.endswith(".yaml") for a in args):
        args.append(site)
    for name, path in sorted(files.items(), key=lambda item: -len(item[0])):
        pattern = pattern.replace(name, re.escape(path))
    options = ["--port", str(free_tcp_port()), "--id", "gw-test", "--seconds", "3"]
    r = subprocess.run([str(mqtt_rig.GATEWAY), *options, *args], capture_output=True, text=True, timeout=20)
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert re.search(r"^edgecore_gateway: .*" + pattern, r.stderr, re.MULTILINE), r.stderr[-2000:]


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_connection_cut_mid_publish(make_rig, version):
    """A TCP proxy cuts every connection after 30 kB from the gateway (in the middle of a packet)."""
    rig = make_rig()
    proxy = rig.proxy(cut_after_bytes=30_000)
    gw = rig.gateway("--mqtt-version", version, port=proxy.port)
    wait_until(lambda: proxy.cuts >= 8, 30, what="8 cuts")
    assert gw.running, gw.log_text()[-3000:]
    rig.finish(gw, events=proxy.cuts, label=f"MQTT {version}: {proxy.cuts} connections cut mid-publish")


def test_broker_killed_while_publishing(make_rig):
    """SIGKILL: a broker may lose what it acknowledged (no client can prevent that). Every reading that a
    killed broker had not acknowledged (by the gateway's -v log) must arrive; the gateway goes on."""
    rig = make_rig()
    gw = rig.gateway("-v")
    rig.wait_messages(1, gateway=gw)
    client = f"edgecore-{rig.GATEWAY_ID}"
    # One SIGTERM first: the broker's saved state then holds the subscriber's session and subscription, so a
    # restart after SIGKILL queues for it before it reconnects.
    assert rig.broker.stop() == 0
    for kill in (False, True, True, True):
        if kill:
            time.sleep(0.5)
            assert rig.broker.kill() == -9
            time.sleep(0.3)
        offset = rig.broker.log_size()
        rig.broker.start()
        rig.broker.wait_publish_from(client, offset)
    rig.wait_messages(3, gateway=gw)
    assert gw.running
    d = rig.finish(gw, events=4, broker_restarts=4, label="broker killed 3 times",
                   may_lose=_acknowledged_before_last_loss)
    assert d.missing_count <= 3 * rig.WINDOW * rig.BATCH


def _acknowledged_before_last_loss(gateway) -> set[int]:
    """Sequences PUBACKed (the gateway's -v log) on connections that were lost later."""
    acknowledged: set[int] = set()
    allowed: set[int] = set()
    for line in gateway.log_text().splitlines():
        if m := re.search(r"PUBACK \d+: readings (\d+)\.\.(\d+)", line):
            acknowledged.update(range(int(m[1]), int(m[2]) + 1))
        elif re.search(r"connection to .* lost", line):
            allowed |= acknowledged
            acknowledged = set()
    return allowed


def test_broker_max_packet_size_splits(make_rig):
    """MQTT 5 CONNACK says 4,000 bytes: the gateway's batches of 100 readings (~7 kB) are split."""
    rig = make_rig(broker_extra=["max_packet_size 4000"])
    gw = rig.gateway()
    rig.wait_messages(20, gateway=gw)
    d = rig.finish(gw, events=0, label="max_packet_size 4000")
    assert d.max_payload < 4000 - len(rig.readings_topic), d.max_payload
    assert "oversize" not in rig.broker.log_text().lower()


def test_broker_message_size_limit_puback_0x95(make_rig):
    """mosquitto drops a PUBLISH larger than message_size_limit and answers PUBACK 0x95: the gateway halves
    its payload limit and sends again: nothing lost."""
    rig = make_rig(broker_extra=["message_size_limit 3000"])
    gw = rig.gateway()
    rig.wait_messages(20, gateway=gw)
    d = rig.finish(gw, events=1, label="message_size_limit 3000")
    assert d.max_payload <= 3000, d.max_payload
    assert "Dropped too large PUBLISH" in rig.broker.log_text()


@pytest.mark.parametrize("limit", ["message_size_limit 100", "max_packet_size 120"])
def test_limit_too_small_for_one_reading_exit_5(make_rig, limit):
    rig = make_rig(broker_extra=[limit])
    gw = rig.gateway()
    rc = gw.wait_exit(20)
    log = gw.log_text()
    assert rc == 5, (rc, log[-2000:])
    assert re.search(r"edgecore_gateway: .*(too large|does not fit|too small|limit)", log, re.IGNORECASE), log
