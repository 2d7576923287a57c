"""EN 13757-3 data records: parse full and compact blocks, split headers, build records.

- :func:`parse_records` — a full variable-data block -> ``list[Record]``
- :func:`parse_compact` — a compact frame's data given its layout (the headers)
- :func:`split_headers` — (headers, data) of a full block, for compact-frame signatures
- :func:`record_headers` — the same headers from records already parsed
- :func:`more_records_follow` — whether the block ended in DIF 0x1F
- :func:`build_header`, :func:`encode_record`, :func:`encode_scaled`,
  :func:`encode_records`, :func:`encode_manufacturer_data` — the inverse, for tests and
  the simulator
- :func:`parse_profile`, :func:`expand`, :func:`encode_profile` — compact profiles (one
  record holding a series of values, protocols/records/profile.py)
"""

from protocols.records.build import (
    build_header,
    encode_manufacturer_data,
    encode_profile,
    encode_record,
    encode_records,
    encode_scaled,
    encode_value,
)
from protocols.records.model import Function, Record, RecordValue, VifRange
from protocols.records.parser import (
    Block,
    more_records_follow,
    parse_block,
    parse_compact,
    parse_records,
    record_headers,
    split_headers,
)
from protocols.records.profile import (
    CompactProfile,
    Direction,
    IncrementMode,
    SpacingUnit,
    expand,
    is_profile,
    parse_profile,
)

__all__ = [
    "Block",
    "CompactProfile",
    "Direction",
    "Function",
    "IncrementMode",
    "Record",
    "RecordValue",
    "SpacingUnit",
    "VifRange",
    "build_header",
    "encode_manufacturer_data",
    "encode_profile",
    "encode_record",
    "encode_records",
    "encode_scaled",
    "encode_value",
    "expand",
    "is_profile",
    "more_records_follow",
    "parse_block",
    "parse_compact",
    "parse_profile",
    "parse_records",
    "record_headers",
    "split_headers",
]
