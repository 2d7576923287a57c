"""The data information block (DIB): DIF and DIFEs, EN 13757-3 clause 6.3.

DIF: bit 7 extension, bit 6 storage number bit 0, bits 5..4 function, bits 3..0 data field.
DIFE i (0-based): bit 7 extension, bit 6 subunit bit i, bits 5..4 tariff bits 2i..2i+1,
bits 3..0 storage number bits 4i+1..4i+4.
"""

from __future__ import annotations

from protocols.records.model import Function

MAX_DIFE = 10  # clause 6.3.1: at most ten DIFEs
MAX_VIFE = 10  # clause 6.4.1: at most ten VIFEs

# Data field (DIF bits 3..0) -> data length in bytes; -1 = variable (LVAR, 0xD) or special
# function (0xF). Clause 6.3.2 table 4.
DATA_LENGTH: tuple[int, ...] = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -1)

FIELD_NONE = 0x0
FIELD_REAL32 = 0x5
FIELD_SELECTION = 0x8
FIELD_LVAR = 0xD
FIELD_SPECIAL = 0xF
# Data fields holding a binary integer (types B/C/D), and those holding BCD (type A).
INTEGER_FIELDS = frozenset((0x1, 0x2, 0x3, 0x4, 0x6, 0x7))
BCD_FIELDS = frozenset((0x9, 0xA, 0xB, 0xC, 0xE))

FUNCTIONS: tuple[Function, ...] = (
    Function.INSTANTANEOUS,
    Function.MAXIMUM,
    Function.MINIMUM,
    Function.ERROR_STATE,
)

# Special DIFs (data field 0xF), clause 6.3.2 table 6.
DIF_MANUFACTURER = 0x0F  # manufacturer-specific data to the end of the block
DIF_MORE_FOLLOWS = 0x1F  # the same, and more records follow in the next telegram
DIF_IDLE_FILLER = 0x2F
DIF_GLOBAL_READOUT = 0x7F


def decode_dib(dib: bytes) -> tuple[int, Function, int, int, int]:
    """(data field, function, storage number, tariff, subunit) of a DIF + DIFEs."""
    dif = dib[0]
    storage = (dif >> 6) & 0x01
    tariff = 0
    subunit = 0
    for i in range(1, len(dib)):
        dife = dib[i]
        shift = i - 1
        storage |= (dife & 0x0F) << (1 + 4 * shift)
        tariff |= ((dife >> 4) & 0x03) << (2 * shift)
        subunit |= ((dife >> 6) & 0x01) << shift
    return dif & 0x0F, FUNCTIONS[(dif >> 4) & 0x03], storage, tariff, subunit


def encode_dib(
    data_field: int,
    function: Function = Function.INSTANTANEOUS,
    storage: int = 0,
    tariff: int = 0,
    subunit: int = 0,
) -> bytes:
    """The shortest DIF + DIFEs carrying these fields (inverse of :func:`decode_dib`)."""
    if storage < 0 or tariff < 0 or subunit < 0:
        raise ValueError("storage, tariff and subunit must be >= 0")
    dif = data_field | (FUNCTIONS.index(function) << 4) | ((storage & 1) << 6)
    storage >>= 1
    difes: list[int] = []
    while storage or tariff or subunit:
        difes.append((storage & 0x0F) | ((tariff & 0x03) << 4) | ((subunit & 0x01) << 6))
        storage >>= 4
        tariff >>= 2
        subunit >>= 1
    if len(difes) > MAX_DIFE:
        raise ValueError("storage/tariff/subunit too large for ten DIFEs")
    out = bytearray((dif | (0x80 if difes else 0),))
    for i, dife in enumerate(difes):
        out.append(dife | (0x80 if i < len(difes) - 1 else 0))
    return bytes(out)
