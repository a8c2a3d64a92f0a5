#!/usr/bin/env python3
"""pymodbus_client - the pymodbus sync client's polling rate, for modbus_bench (benchmarks/README.md).

    pymodbus_client.py HOST PORT [ADDRESS [COUNT [UNIT]]]

Connects with ModbusTcpClient, warms up with 200 requests and prints READY. Then, for each line SECONDS read
from stdin, calls read_holding_registers(ADDRESS, COUNT, slave=UNIT) in a tight loop for SECONDS (at most
10 million requests) and prints one line:
    requests N errors E seconds S cpu_seconds C
(C: the process's CPU time during the loop). Exits at the end of stdin; the connection stays open until
then. Exit status 1 when it cannot connect. Needs pymodbus 3.6 (the venv .build-venv of
Tests/Integration/run.sh).
"""
import sys
import time

from pymodbus.client import ModbusTcpClient

MAX_REQUESTS = 10_000_000


def window(client: ModbusTcpClient, seconds: float, address: int, count: int, unit: int) -> str:
    requests = errors = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    end = start + min(seconds, 60.0)
    now = start
    while now < end and requests < MAX_REQUESTS:
        response = client.read_holding_registers(address, count, slave=unit)
        if response.isError() or len(response.registers) != count:
            errors += 1
        requests += 1
        now = time.perf_counter()
    cpu = time.process_time() - cpu_start
    return f"requests {requests} errors {errors} seconds {now - start:.6f} cpu_seconds {cpu:.6f}"


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    address = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    unit = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    client = ModbusTcpClient(host, port=port, timeout=2)
    if not client.connect():
        print(f"pymodbus_client: cannot connect to {host}:{port}", file=sys.stderr)
        return 1
    for _ in range(200):
        client.read_holding_registers(address, count, slave=unit)
    print("READY", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(window(client, float(line), address, count, unit), flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
