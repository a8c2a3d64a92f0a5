"""Frames of DL/T 645-2007 and CJ/T 188, built from the rules of docs/meter-protocols.md (and the checked vectors
there): for the meter peers' tests (Tests/Integration/test_meter_peers.py) and for cjt188_peer.py.

dlt645_peer.py does NOT use this module: it serves through the `dlt645` package's own codec, so tests that
encode requests and decode replies with this module check one implementation against another.

DL/T 645:  [FE..] 68 A0..A5 68 C L DATA CS 16   address 6 BCD bytes LSB first, DATA bytes +0x33 on the wire,
           CS = sum of the bytes from the first 68 to the end of DATA, mod 256.
CJ/T 188:  [FE..] 68 T A0..A6 C L DATA CS 16    address 7 BCD bytes LSB first, no +0x33, CS as above;
           DATA = DI0 DI1 SER payload.
"""
from __future__ import annotations

from dataclasses import dataclass

WILDCARD = 0xAA


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def hexbytes(text: str) -> bytes:
    """bytes of "68 AA 16" / "68aa16"."""
    return bytes.fromhex(text.replace(" ", ""))


def address_bytes(digits: str, size: int) -> bytes:
    """A BCD address of `size` bytes, least significant byte first: "123456789012" -> 12 90 78 56 34 12.
    'A' digits stand for the wildcard nibble ("AAAAAAAAAAAA" -> AA AA AA AA AA AA)."""
    if len(digits) != 2 * size or any(c not in "0123456789Aa" for c in digits):
        raise ValueError(f"address must be {2 * size} decimal digits (or A), not {digits!r}")
    return bytes(int(digits[i:i + 2], 16) for i in range(0, len(digits), 2))[::-1]


def address_digits(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def address_matches(request: bytes, own: bytes) -> bool:
    """A request address selects a meter when every byte equals the meter's or is the wildcard AA (a fully AA
    address and addresses shortened by AA padding)."""
    return len(request) == len(own) and all(r == WILDCARD or r == o for r, o in zip(request, own))


# ----------------------------------------------------------------------------------------------------------
# BCD values
# ----------------------------------------------------------------------------------------------------------

def bcd_encode(value: float, size: int, decimals: int, signed: bool = False) -> bytes:
    """|value| x 10^decimals as `size` BCD bytes, least significant byte first; signed: top bit of the most
    significant byte is the sign (docs/meter-protocols.md)."""
    scaled = round(abs(value) * 10 ** decimals)
    digits = f"{scaled:0{2 * size}d}"
    if len(digits) > 2 * size or (signed and digits[0] >= "8"):
        raise ValueError(f"{value} does not fit {size} BCD bytes with {decimals} decimals")
    out = bytearray(int(digits[i:i + 2], 16) for i in range(0, 2 * size, 2))
    if signed and value < 0:
        out[0] |= 0x80
    return bytes(out[::-1])


def bcd_decode(raw: bytes, decimals: int, signed: bool = False) -> float:
    msb_first = bytearray(raw[::-1])
    negative = signed and bool(msb_first[0] & 0x80)
    if signed:
        msb_first[0] &= 0x7F
    text = msb_first.hex()
    if not text.isdigit():
        raise ValueError(f"not BCD: {raw.hex()}")
    value = int(text) / 10 ** decimals
    return -value if negative else value


# ----------------------------------------------------------------------------------------------------------
# DL/T 645-2007
# ----------------------------------------------------------------------------------------------------------

@dataclass
class DltFrame:
    address: bytes      # 6 bytes as on the wire (LSB first)
    control: int
    data: bytes         # without the +0x33 offset
    preamble: int = 0   # FE bytes before the frame

    @property
    def di(self) -> int:
        return int.from_bytes(self.data[:4], "little")


def dlt_encode(address: bytes, control: int, data: bytes = b"", preamble: int = 0) -> bytes:
    body = bytes((0x68,)) + address + bytes((0x68, control, len(data))) + bytes((b + 0x33) & 0xFF for b in data)
    return b"\xFE" * preamble + body + bytes((checksum(body), 0x16))


def dlt_read(address: bytes, di: int, preamble: int = 0) -> bytes:
    return dlt_encode(address, 0x11, di.to_bytes(4, "little"), preamble)


def dlt_decode(raw: bytes) -> tuple[list[DltFrame], bytes]:
    """The valid frames in raw (FE, noise and frames with a bad checksum or end byte are skipped) and the bytes
    before the first frame."""
    frames, lead, i = [], None, 0
    while True:
        start = raw.find(b"\x68", i)
        if start < 0 or len(raw) < start + 12:
            break
        if raw[start + 7] != 0x68:
            i = start + 1
            continue
        length = raw[start + 9]
        end = start + 10 + length
        if len(raw) < end + 2 or raw[end] != checksum(raw[start:end]) or raw[end + 1] != 0x16:
            i = start + 1
            continue
        fe = 0
        while start - fe - 1 >= i and raw[start - fe - 1] == 0xFE:
            fe += 1
        if lead is None:
            lead = raw[:start - fe]
        frames.append(DltFrame(raw[start + 1:start + 7], raw[start + 8],
                               bytes((b - 0x33) & 0xFF for b in raw[start + 10:end]), fe))
        i = end + 2
    return frames, (raw if lead is None else lead)


def dlt_complete(raw: bytes) -> bool:
    return bool(dlt_decode(raw)[0])


# ----------------------------------------------------------------------------------------------------------
# CJ/T 188
# ----------------------------------------------------------------------------------------------------------

@dataclass
class CjtFrame:
    meter_type: int
    address: bytes      # 7 bytes as on the wire (LSB first)
    control: int
    data: bytes         # DI0 DI1 SER payload
    preamble: int = 0

    @property
    def di(self) -> int:
        """The identifier as written in the standard's tables (901F for the bytes 1F 90)."""
        return self.data[0] | self.data[1] << 8

    @property
    def ser(self) -> int:
        return self.data[2]

    @property
    def payload(self) -> bytes:
        return self.data[3:]


def cjt_encode(meter_type: int, address: bytes, control: int, data: bytes, preamble: int = 0) -> bytes:
    body = bytes((0x68, meter_type)) + address + bytes((control, len(data))) + data
    return b"\xFE" * preamble + body + bytes((checksum(body), 0x16))


def cjt_request(meter_type: int, address: bytes, control: int, di: int, ser: int, payload: bytes = b"",
                preamble: int = 0) -> bytes:
    """di as written in the standard (0x901F), sent DI0 first (1F 90)."""
    return cjt_encode(meter_type, address, control, di.to_bytes(2, "little") + bytes((ser,)) + payload,
                      preamble)


def cjt_split(raw: bytes) -> tuple[list[tuple[int, int]], int]:
    """(start, end) of each valid CJ/T 188 frame in raw, and the index where an unfinished frame may begin (or
    len(raw) when there is none): for a peer's receive buffer. A 68 whose frame would not be complete yet does
    not hide a complete valid frame that starts after it (noise with a 68 in front of a request)."""
    spans, i, keep = [], 0, None
    while True:
        start = raw.find(b"\x68", i)
        if start < 0:
            break
        end = start + 11 + raw[start + 10] if len(raw) >= start + 11 else len(raw) + 1
        if len(raw) < end + 2:
            keep = start if keep is None else keep
        elif raw[end] == checksum(raw[start:end]) and raw[end + 1] == 0x16:
            spans.append((start, end + 2))
            keep = None
            i = end + 2
            continue
        i = start + 1
    return spans, len(raw) if keep is None else keep


def cjt_decode(raw: bytes) -> tuple[list[CjtFrame], bytes]:
    """The valid frames in raw and the bytes before the first one's FE preamble."""
    spans, _ = cjt_split(raw)
    frames, lead, previous_end = [], None, 0
    for start, end in spans:
        fe = 0
        while start - fe - 1 >= previous_end and raw[start - fe - 1] == 0xFE:
            fe += 1
        if lead is None:
            lead = raw[:start - fe]
        frames.append(CjtFrame(raw[start + 1], raw[start + 2:start + 9], raw[start + 9],
                               raw[start + 11:end - 2], fe))
        previous_end = end
    return frames, (raw if lead is None else lead)


def cjt_complete(raw: bytes) -> bool:
    return bool(cjt_split(raw)[0])
