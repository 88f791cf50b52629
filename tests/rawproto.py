"""Protobuf wire encoding by hand, from field numbers alone.

Tests use it to build requests the way any other implementation of the
upstream .proto would, without our generated classes.
"""

from __future__ import annotations

import struct

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def string(number: int, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return key(number, LEN) + varint(len(data)) + data


def message(number: int, body: bytes) -> bytes:
    return string(number, body)


def double(number: int, value: float) -> bytes:
    return key(number, I64) + struct.pack("<d", value)


def float32(number: int, value: float) -> bytes:
    return key(number, I32) + struct.pack("<f", value)


def uint(number: int, value: int) -> bytes:
    return key(number, VARINT) + varint(value)


def decode(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) triples; LEN values stay bytes."""
    fields: list[tuple[int, int, object]] = []
    pos = 0

    def read_varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(data):
        tag = read_varint()
        number, wire_type = tag >> 3, tag & 7
        value: object
        if wire_type == VARINT:
            value = read_varint()
        elif wire_type == I64:
            value = struct.unpack("<d", data[pos:pos + 8])[0]
            pos += 8
        elif wire_type == I32:
            value = struct.unpack("<f", data[pos:pos + 4])[0]
            pos += 4
        elif wire_type == LEN:
            length = read_varint()
            value = data[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        fields.append((number, wire_type, value))
    return fields
