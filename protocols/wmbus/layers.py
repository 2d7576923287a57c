"""Construct definitions of the wireless M-Bus layers, one named struct per layer.

Field names are the standard's. Each struct is used to build, and to parse: the fixed-size
headers the decoder meets in every telegram through a :class:`struct.Struct` derived from
the declaration (:func:`flat_struct`), the others directly (see docs/decisions/0002).
Multi-byte integers are little-endian (EN 13757-4 clause 5) unless a comment says otherwise.
"""

from __future__ import annotations

import struct
from typing import Any

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    ByteSwapped,
    Const,
    Construct,
    Flag,
    FormatField,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    Renamed,
    Struct,
    this,
)

# EN 13757-4 clause 5.5: link-layer header L C M A (A = ID, version, device type).
Address = Struct(
    "id" / Bytes(4),  # 8 BCD digits, least significant byte first
    "version" / Int8ul,
    "device_type" / Int8ul,
)

LinkHeader = Struct(
    "L" / Int8ul,  # length of the frame after L, without link-layer CRCs
    "C" / Int8ul,  # 0x44 SND_NR, 0x46 SND_IR, 0x47 ACC_NR, 0x48 ACC_DMD, ...
    "M" / Int16ul,  # manufacturer, three 5-bit letters
    "A" / Address,
    "CI" / Int8ul,
)

# EN 13757-4 clause 13.2 (Extended Link Layer). CC = communication control, ACC = access
# number, SN = session number, PayloadCRC over the (decrypted) bytes that follow it.
EllShort = Struct("CC" / Int8ul, "ACC" / Int8ul)  # CI 0x8C
EllSession = Struct(  # CI 0x8D
    "CC" / Int8ul,
    "ACC" / Int8ul,
    "SN" / Int32ul,  # bits 0-3 session, 4-28 time, 29-31 encryption (1 = AES-128-CTR)
    "PayloadCRC" / Int16ul,
)
EllDestination = Struct(  # CI 0x8E: addressed to another device
    "CC" / Int8ul, "ACC" / Int8ul, "M2" / Int16ul, "A2" / Address
)
EllDestinationSession = Struct(  # CI 0x8F
    "CC" / Int8ul,
    "ACC" / Int8ul,
    "M2" / Int16ul,
    "A2" / Address,
    "SN" / Int32ul,
    "PayloadCRC" / Int16ul,
)

# EN 13757-7 table: authentication type (MCL bits 0-3) -> MAC length in bytes.
# 5 = AES-CMAC-128 truncated to 8 bytes is what OMS 4 meters use; the other lengths follow
# the 2/4/8/12/16 series of the standard [unverified without a vector].
MAC_LENGTHS: dict[int, int] = {0: 0, 3: 2, 4: 4, 5: 8, 6: 12, 7: 16}


def mac_length(mcl: int | None) -> int:
    """MAC length announced by a message-control byte (0 when unknown or absent)."""
    return MAC_LENGTHS.get((mcl or 0) & 0x0F, 0)


# EN 13757-7 clause 6 (Authentication and Fragmentation Layer), CI 0x90.
# FCL: bit 14 MF (more fragments), 13 MCLP, 12 MLP, 11 MCRP, 10 MACP, 9 KIP, 7..0 fragment id.
AflFragmentControl = ByteSwapped(
    BitStruct(
        "reserved" / Flag,
        "MF" / Flag,
        "MCLP" / Flag,
        "MLP" / Flag,
        "MCRP" / Flag,
        "MACP" / Flag,
        "KIP" / Flag,
        "reserved2" / Flag,
        "FID" / BitsInteger(8),
    )
)
AflHeader = Struct(
    "AFLL" / Int8ul,  # length of the AFL after this byte
    "FCL" / AflFragmentControl,
    "MCL" / If(this.FCL.MCLP, Int8ul),  # message control: AT (auth type) in bits 0-3
    "KI" / If(this.FCL.KIP, Int16ul),  # key information
    "MCR" / If(this.FCL.MCRP, Int32ul),  # message counter
    "MAC" / If(this.FCL.MACP, Bytes(lambda ctx: mac_length(ctx.MCL))),
    "ML" / If(this.FCL.MLP, Int16ul),  # message length
)

# EN 13757-7 clause 7.5.8 / OMS Vol. 2: the TPL configuration field, 2 bytes LE.
ConfigurationField = ByteSwapped(
    BitStruct(
        "B" / Flag,  # bidirectional
        "A" / Flag,  # accessibility
        "S" / Flag,  # synchronous
        "M" / BitsInteger(5),  # security mode
        "N" / BitsInteger(4),  # mode 5/7: number of encrypted 16-byte blocks
        "CC" / BitsInteger(2),  # content of telegram
        "R" / Flag,  # repeated access
        "H" / Flag,  # hop counter
    )
)

# EN 13757-7 clause 7.4: short (CI 0x7A) and long (CI 0x72) TPL headers.
TplShort = Struct("ACC" / Int8ul, "ST" / Int8ul, "CF" / Int16ul)
TplLong = Struct(
    "ID" / Bytes(4),
    "M" / Int16ul,
    "VER" / Int8ul,
    "DEV" / Int8ul,
    "ACC" / Int8ul,
    "ST" / Int8ul,
    "CF" / Int16ul,
)

# Configuration field extension (mode 7): bits 4-5 KDF selection, 0-3 key id.
ConfigurationFieldExtension = BitStruct(
    "reserved" / Flag, "D" / Flag, "KDFS" / BitsInteger(2), "KeyID" / BitsInteger(4)
)

# Compact frame (CI 0x79, OMS Vol. 2 annex): format signature and data CRC.
CompactHeader = Struct("FormatSignature" / Int16ul, "DataCRC" / Int16ul)

# EN 13757-2 clause 5 (FT1.2 long frame) as carried over wired M-Bus.
WiredLongFrameHeader = Struct(
    "start" / Const(b"\x68"),
    "L" / Int8ul,
    "L2" / Int8ul,
    "start2" / Const(b"\x68"),
    "C" / Int8ul,
    "A" / Int8ul,
    "CI" / Int8ul,
)


def flat_struct(con: Construct[Any, Any]) -> struct.Struct:
    """The :class:`struct.Struct` that unpacks ``con``: a Construct ``Struct`` of fixed-size
    little-endian integers and byte strings (nested structs flattened, fields in order).

    Derived from the declaration, so that stays the one description of the layout; built at
    import, it refuses a struct with variable or conditional fields. ``unpack_from`` on it
    costs a fraction of a microsecond where even the compiled Construct parser, with its
    stream and context, costs several: the per-telegram headers go through these.
    """
    if isinstance(con, Renamed):
        con = con.subcon
    if isinstance(con, Const):  # unpacked as its bytes: the caller checks the value
        return flat_struct(con.subcon)
    if isinstance(con, FormatField) and con.fmtstr[0] == "<":
        return struct.Struct(con.fmtstr)
    if isinstance(con, Bytes) and isinstance(con.length, int):
        return struct.Struct(f"<{con.length}s")
    if isinstance(con, Struct):
        return struct.Struct("<" + "".join(flat_struct(sub).format[1:] for sub in con.subcons))
    raise TypeError(f"{con!r} is not a fixed little-endian layout")


# The parser's forms of the fixed headers (the link header is L C M A.id A.version
# A.device_type CI); the AFL (conditional fields) is parsed by its Construct declaration.
# The declarations stay the source of truth for all of them.
LINK_HEADER = flat_struct(LinkHeader)
ELL_SHORT = flat_struct(EllShort)  # CC ACC
ELL_SESSION = flat_struct(EllSession)  # CC ACC SN PayloadCRC
ELL_DESTINATION = flat_struct(EllDestination)  # CC ACC M2 A2.id A2.version A2.device_type
ELL_DESTINATION_SESSION = flat_struct(EllDestinationSession)  # ... SN PayloadCRC
TPL_SHORT = flat_struct(TplShort)  # ACC ST CF
TPL_LONG = flat_struct(TplLong)  # ID M VER DEV ACC ST CF
COMPACT_HEADER = flat_struct(CompactHeader)  # FormatSignature DataCRC
WIRED_LONG_HEADER = flat_struct(WiredLongFrameHeader)  # start L L2 start2 C A CI
