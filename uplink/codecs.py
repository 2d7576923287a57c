"""Payload codecs: ``json`` (the default) and ``compact`` (CBOR + zstd, for cellular links).

Both carry the same documents (``uplink/schemas``); a head-end decodes either back to the same
JSON object. The compact frame is documented in docs/uplink.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
import orjson
import zstandard

from uplink.columns import (
    ColumnError,
    decode_rows,
    decode_rows_delta,
    encode_rows,
    encode_rows_delta,
    iso_to_ms,
)
from uplink.commands import MAX_COMMAND_BYTES

# Bound on a decoded document: the largest batch (30,000 meters) is a few MiB of JSON.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

COMPACT_FORMAT = 1  # self-contained: [1, document, readings_layout]
DELTA_FORMAT = 2  # against a reference batch: [2, document, delta_layout, [ref_id, ref_end]]
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CodecError(ValueError):
    """A payload cannot be encoded or decoded."""


class MissingReferenceError(CodecError):
    """A delta frame names a reference batch the decoder was not given.

    ``message_id`` and ``interval_end`` (ISO text, or None) name it: a head-end that missed it
    asks for it with the ``backfill`` command (interval ending at ``interval_end``) and
    decodes this frame again once it has it.
    """

    def __init__(self, message_id: int, interval_end: str | None) -> None:
        super().__init__(f"delta frame needs reference message {message_id} ({interval_end})")
        self.message_id = message_id
        self.interval_end = interval_end


@dataclass(frozen=True, slots=True)
class Reference:
    """A readings batch that the head-end holds, to code a later batch of the same meters
    against: its message id and its document as the head-end decoded it."""

    message_id: int
    document: Mapping[str, Any]


class Codec(Protocol):
    """Turns an uplink document into payload bytes and back."""

    @property
    def name(self) -> str:
        """The configuration name (``[uplink] codec``)."""
        ...

    @property
    def content_type(self) -> str:
        """The MQTT 5 content type sent with each publish."""
        ...

    def encode(self, doc: Mapping[str, Any]) -> bytes:
        """The payload for ``doc``; :class:`CodecError` if it holds no JSON-like value."""
        ...

    def decode(self, data: bytes) -> dict[str, Any]:
        """The document in ``data``; :class:`CodecError` if it is not one."""
        ...


def _check_json_like(value: Any, depth: int = 0) -> None:
    """Refuse what JSON cannot carry, so that both codecs carry exactly the same documents."""
    if depth > 64:
        raise CodecError("document nested deeper than 64 levels")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{value!r} is not a JSON number")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json_like(item, depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CodecError(f"object key {key!r} is not a string")
            _check_json_like(item, depth + 1)
        return
    raise CodecError(f"{type(value).__name__} is not a JSON value")


class JsonCodec:
    """UTF-8 JSON with compact separators."""

    name = "json"
    content_type = "application/json"

    def encode(self, doc: Mapping[str, Any]) -> bytes:
        """The JSON text of ``doc`` (orjson: a 500-meter batch in a tenth of the stdlib's
        time, which is what bounds draining a backlog). A NaN or infinity (a meter's broken
        real32) becomes ``null``: one bad value must not hold back a whole batch."""
        if not isinstance(doc, dict):
            doc = dict(doc)
        try:
            return orjson.dumps(doc)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise CodecError(f"not encodable as JSON: {exc}") from None

    def decode(self, data: bytes) -> dict[str, Any]:
        """The JSON object in ``data``."""
        if len(data) > MAX_DOCUMENT_BYTES:
            raise CodecError(f"payload of {len(data)} bytes is over {MAX_DOCUMENT_BYTES}")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CodecError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise CodecError(f"JSON payload is a {type(doc).__name__}, not an object")
        return doc


class CompactCodec:
    """CBOR, with a readings list laid out in columns (the wire profile of
    :mod:`uplink.columns`), then zstd.

    The frame is a zstd frame (no checksum: TCP and TLS already check) of the CBOR array
    ``[1, document_without_readings, readings_layout_or_null]``. A frame that zstd would make
    larger (tiny documents) is sent as the bare CBOR array: a head-end tells the two apart
    by the zstd magic number ``28 B5 2F FD``, which no CBOR array starts with.
    """

    name = "compact"
    content_type = "application/vnd.concentratord.compact"

    def __init__(self, level: int = 19) -> None:
        self._compressor = zstandard.ZstdCompressor(
            level=level, write_checksum=False, write_content_size=True
        )

    def encode(self, doc: Mapping[str, Any], reference: Reference | None = None) -> bytes:
        """The compact frame of ``doc``; a delta frame against ``reference`` when given and
        both hold a readings list (the decoder then needs the reference)."""
        _check_json_like(doc)
        body = dict(doc)
        layout = None
        frame: list[Any]
        rows = body.get("readings")
        ref_rows = None if reference is None else reference.document.get("readings")
        if isinstance(rows, list) and rows and all(isinstance(r, Mapping) for r in rows):
            base_ms = _base_ms(body.get("interval_end"))
            del body["readings"]
            if (
                reference is not None
                and isinstance(ref_rows, list)
                and all(isinstance(r, dict) for r in ref_rows)
            ):
                ref_end = reference.document.get("interval_end")
                layout = encode_rows_delta([dict(r) for r in rows], ref_rows, base_ms)
                ref = [reference.message_id, ref_end if isinstance(ref_end, str) else None]
                frame = [DELTA_FORMAT, body, layout, ref]
            else:
                frame = [COMPACT_FORMAT, body, encode_rows([dict(r) for r in rows], base_ms)]
        else:
            frame = [COMPACT_FORMAT, body, layout]
        try:
            raw = cbor2.dumps(frame, canonical=True)
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            raise CodecError(f"not encodable as CBOR: {exc}") from None
        packed = self._compressor.compress(raw)
        return packed if len(packed) < len(raw) else raw

    def decode(
        self,
        data: bytes,
        references: Mapping[int, Mapping[str, Any]] | None = None,
        *,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> dict[str, Any]:
        """The document in a compact frame. A delta frame needs its reference's document
        in ``references`` (by message id), else :class:`MissingReferenceError`.

        ``max_bytes`` bounds the frame and, decompressed, its CBOR (commands use a smaller
        bound than the default: they are small, and a zstd frame can expand a thousandfold).
        """
        frame = _frame(data, max_bytes)
        doc: dict[str, Any] = frame[1]
        try:
            if frame[0] == DELTA_FORMAT:
                ref_id, ref_end = frame[3]
                reference = (references or {}).get(ref_id)
                if reference is None:
                    raise MissingReferenceError(ref_id, ref_end)
                ref_rows = reference.get("readings")
                if not (isinstance(ref_rows, list) and all(isinstance(r, dict) for r in ref_rows)):
                    raise CodecError(f"reference message {ref_id} holds no readings list")
                doc["readings"] = decode_rows_delta(frame[2], ref_rows)
            elif frame[2] is not None:
                doc["readings"] = decode_rows(frame[2])
        except ColumnError as exc:
            raise CodecError(str(exc)) from None
        _check_json_like(doc)
        return doc


def reference_of(data: bytes) -> tuple[int, str | None] | None:
    """The reference a compact frame needs (message id, interval end), None if it needs none.

    A head-end checks this before decoding, to ask for a missed reference in time.
    """
    frame = _frame(data)
    if frame[0] != DELTA_FORMAT:
        return None
    ref_id, ref_end = frame[3]
    return int(ref_id), ref_end


def _frame(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> list[Any]:
    """The CBOR array of a compact frame of at most ``max_bytes`` (also decompressed), its
    shape checked."""
    if len(data) > max_bytes:
        raise CodecError(f"payload: {len(data)} bytes, at most {max_bytes}")
    if data.startswith(_ZSTD_MAGIC):
        data = _decompress(data, max_bytes)
    try:
        frame = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise CodecError(f"not CBOR: {exc}") from None
    if not (isinstance(frame, list) and len(frame) in (3, 4) and isinstance(frame[1], dict)):
        raise CodecError("not a compact frame [format, document, readings, ...]")
    if frame[0] == COMPACT_FORMAT and len(frame) == 3:
        return frame
    if frame[0] == DELTA_FORMAT and len(frame) == 4:
        ref = frame[3]
        if (
            isinstance(ref, list)
            and len(ref) == 2
            and type(ref[0]) is int
            and (ref[1] is None or isinstance(ref[1], str))
        ):
            return frame
        raise CodecError("delta frame's reference is not [message_id, interval_end]")
    raise CodecError(f"compact format {frame[0]!r} is not {COMPACT_FORMAT} or {DELTA_FORMAT}")


def _base_ms(interval_end: Any) -> int | None:
    """Reading times are coded as offsets from the batch's interval end (small numbers)."""
    if not isinstance(interval_end, str):
        return None
    try:
        return iso_to_ms(interval_end)
    except ValueError:
        return None


def _decompress(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    try:
        size = zstandard.frame_content_size(data)
        if size > max_bytes:
            raise CodecError(f"frame declares {size} bytes, over {max_bytes}")
        # size is -1 when the frame does not say; then the output bound does the limiting.
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=max_bytes)
    except zstandard.ZstdError as exc:
        raise CodecError(f"not a zstd frame: {exc}") from None
    return out


CODECS: dict[str, type[JsonCodec] | type[CompactCodec]] = {
    "json": JsonCodec,
    "compact": CompactCodec,
}


def codec_named(name: str) -> Codec:
    """The codec for configuration value ``name`` (``json`` or ``compact``)."""
    try:
        return CODECS[name]()
    except KeyError:
        raise CodecError(f"codec {name!r} is not one of {', '.join(CODECS)}") from None


def decode_command_payload(data: bytes, codec: Codec) -> dict[str, Any]:
    """A command document: JSON always works (operators type commands by hand), and the
    configured codec's own frames too.

    A payload over :data:`uplink.commands.MAX_COMMAND_BYTES` is refused (:class:`CodecError`)
    before it is decoded, and a compact frame may not decompress beyond it either.
    """
    if len(data) > MAX_COMMAND_BYTES:
        raise CodecError(f"payload: {len(data)} bytes, at most {MAX_COMMAND_BYTES}")
    if data.lstrip()[:1] == b"{" or codec.name == "json":
        return JsonCodec().decode(data)
    if isinstance(codec, CompactCodec):
        return codec.decode(data, max_bytes=MAX_COMMAND_BYTES)
    return codec.decode(data)
