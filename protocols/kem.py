"""Kamstrup KEM key files: the meter keys a utility receives, locked with a password.

Pure: bytes and a password in, meter id -> AES key out; reading the file is the caller's
business. Every failure is a :class:`KemError` saying why (wrong password, not a KEM file,
a malformed entry), nothing else escapes.

Source of facts (read for facts only; no code or text was taken from them):

* wmbusmeters, ``utils/kem-import.py``, ``utils/kem-extract.sh``, ``utils/XMLExtract.java``
  and ``utils/README.md`` (https://github.com/wmbusmeters/wmbusmeters/tree/master/utils),
  pull request #47 (https://github.com/wmbusmeters/wmbusmeters/pull/47) and the
  maintainer's description in issue #6
  (https://github.com/wmbusmeters/wmbusmeters/issues/6).
* App::KamstrupKemSplit by Lieven Hollevoet, ``decode_kem``
  (https://metacpan.org/pod/App::KamstrupKemSplit): an independent implementation that
  decrypts without setting an IV (Crypt::Rijndael then uses zeros) and overwrites the first
  14 characters with ``<MetersInOrder``: exactly the damage a zero IV does when the real IV
  is the zero-padded password. It confirms the IV below and the old format's root element.
* W3C XML Encryption (http://www.w3.org/2001/04/xmlenc#): the ``EncryptedData`` /
  ``CipherData`` / ``CipherValue`` structure, the ``aes128-cbc`` algorithm identifier and
  its padding rule (the last octet gives the number of padding octets).
* Kamstrup MULTICAL technical descriptions: a meter serial number is 8 digits.

The format, as those sources establish it:

* The delivery is a ZIP archive holding one ``*.kem`` (older) or ``*.kem2`` (newer) file,
  or that file on its own.
* That file is UTF-8 XML in the XML Encryption shape: an ``EncryptedData`` element whose
  ``CipherData/CipherValue`` holds base64 ciphertext.
* The cipher is AES-128-CBC. The key is the password's UTF-8 bytes padded with zero bytes
  to 16 (so a password is at most 16 bytes), and the IV is that same key. Kamstrup does not
  put an IV block in front of the ciphertext as XML Encryption normally would.
* The plaintext is XML again. ``.kem``: root ``MetersInOrder``, one ``Meter`` per meter,
  with ``SerialNo`` (the meter id) and ``DEK`` (the data encryption key, 32 hex digits)
  among its children. ``.kem2``: root ``Devices``, one ``Device`` per meter, with
  ``SerialNumber`` and the key as a ``<Name>DEK</Name><Value>hex</Value>`` pair.

Not established, so not relied on: the name of the element around the ``Name``/``Value``
pair in ``.kem2`` (any parent is accepted, and :func:`build_kem` invents
``EncryptionKeys/EncryptionKey``); whether Kamstrup pads the last block (trailing padding is
removed by the XML Encryption rule when the last byte allows it, then trailing NULs and
whitespace; of the public tools, one cuts after the last ``>``, another drops control
characters); the XML namespaces (elements are matched by local name, as the public tools
do); and every other field of a meter entry, which is ignored. No real KEM delivery was at
hand: the tests check the layout as described, not a file from Kamstrup.

XML safety: defusedxml is not a dependency, so the standard library parser is used on input
of at most ``max_bytes`` (32 MiB by default, also applied to the unzipped member), and any
document with a ``<!DOCTYPE`` or ``<!ENTITY`` declaration is refused before parsing, which
rules out entity expansion and external entities altogether. A KEM file has no use for
either.
"""

from __future__ import annotations

import base64
import binascii
import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Mapping
from typing import Literal

from Crypto.Cipher import AES

MAX_KEM_BYTES = 32 * 1024 * 1024  # tens of thousands of meters; far beyond a real delivery
PASSWORD_BYTES = 16  # an AES-128 key, which the password is, zero-padded
KEY_HEX_DIGITS = 32
SERIAL_DIGITS = 8

XMLENC = "http://www.w3.org/2001/04/xmlenc#"
AES128_CBC = XMLENC + "aes128-cbc"
_BLOCK = 16
# A local file header, or the end record alone (an empty archive); XML never starts "PK".
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_FORBIDDEN = ("<!DOCTYPE", "<!ENTITY")
_HEX = frozenset("0123456789abcdefABCDEF")


class KemError(ValueError):
    """A KEM file that cannot be opened or read; the message says why."""


def parse_kem(data: bytes, password: str, *, max_bytes: int = MAX_KEM_BYTES) -> dict[str, bytes]:
    """The meter keys in a KEM delivery: 8-digit meter id -> 16-byte AES key.

    ``data`` is the file as delivered: the ZIP archive or the ``.kem``/``.kem2`` inside
    it. Meters listed without a key are left out; a file in which no meter has a key is an
    error, as is a meter id listed twice with different keys.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise KemError(f"KEM data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    key = _password_key(password)
    if len(data) > max_bytes:
        raise KemError(f"KEM file too large: {len(data)} bytes, at most {max_bytes}")
    if data.startswith(_ZIP_MAGIC):
        data = _unzip(data, max_bytes)
    ciphertext = _ciphertext(_parse_xml(data, "KEM file"))
    plaintext = AES.new(key, AES.MODE_CBC, iv=key).decrypt(ciphertext)
    return _meter_keys(_decrypted_root(plaintext))


def build_kem(
    keys: Mapping[str, bytes],
    password: str,
    *,
    schema: Literal["kem", "kem2"] = "kem",
    zipped: bool = False,
) -> bytes:
    """A KEM file holding ``keys`` (8-digit meter id -> 16-byte key), for tests.

    ``schema`` picks the older ``.kem`` or the newer ``.kem2`` content; ``zipped`` wraps
    the file in a ZIP archive as Kamstrup delivers it. Only the fields :func:`parse_kem`
    reads are written.
    """
    if schema == "kem":
        root = ET.Element("MetersInOrder")
        for meter_id, key in keys.items():
            meter = ET.SubElement(root, "Meter")
            ET.SubElement(meter, "MeterNo").text = _checked_id(meter_id)
            ET.SubElement(meter, "SerialNo").text = meter_id
            ET.SubElement(meter, "DEK").text = _checked_key(meter_id, key).hex().upper()
    else:
        root = ET.Element("Devices")
        for meter_id, key in keys.items():
            device = ET.SubElement(root, "Device")
            ET.SubElement(device, "SerialNumber").text = _checked_id(meter_id)
            entry = ET.SubElement(ET.SubElement(device, "EncryptionKeys"), "EncryptionKey")
            ET.SubElement(entry, "Name").text = "DEK"
            ET.SubElement(entry, "Value").text = _checked_key(meter_id, key).hex().upper()
    document = build_kem_document(ET.tostring(root), password)
    if not zipped:
        return document
    archive = io.BytesIO()
    # An explicit ZipInfo with a fixed date: writestr() with a bare name would read the clock.
    member = zipfile.ZipInfo(f"keys.{schema}", date_time=(1980, 1, 1, 0, 0, 0))
    member.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(archive, "w") as zipped_file:
        zipped_file.writestr(member, document)
    return archive.getvalue()


def build_kem_document(content: bytes, password: str) -> bytes:
    """The ``.kem`` XML document carrying ``content`` encrypted under ``password``.

    The building block of :func:`build_kem`; tests use it directly to wrap content that is
    deliberately wrong.
    """
    key = _password_key(password)
    # Padding by the XML Encryption rule in its PKCS#7 form (every padding byte holds the
    # count): a reader that follows the rule and one that cuts after the last '>' agree.
    pad = _BLOCK - len(content) % _BLOCK
    ciphertext = AES.new(key, AES.MODE_CBC, iv=key).encrypt(content + bytes([pad]) * pad)
    root = ET.Element("EncryptedData", {"xmlns": XMLENC})
    ET.SubElement(root, "EncryptionMethod", {"Algorithm": AES128_CBC})
    cipher_data = ET.SubElement(root, "CipherData")
    ET.SubElement(cipher_data, "CipherValue").text = base64.b64encode(ciphertext).decode()
    # tostring() without an encoding gives ASCII bytes (anything else as character
    # references), which is UTF-8 as the format requires.
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root)


def _password_key(password: str) -> bytes:
    if not isinstance(password, str):
        raise KemError(f"KEM password must be a str, not {type(password).__name__}")
    try:
        raw = password.encode("utf-8")
    except UnicodeEncodeError:
        raise KemError("KEM password is not valid text (it cannot be encoded as UTF-8)") from None
    if len(raw) > PASSWORD_BYTES:
        raise KemError(
            f"KEM password too long: {len(raw)} bytes in UTF-8, a KEM password is at most "
            f"{PASSWORD_BYTES}"
        )
    return raw.ljust(PASSWORD_BYTES, b"\0")


def _unzip(data: bytes, max_bytes: int) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir() and info.filename.lower().endswith((".kem", ".kem2"))
            ]
            if len(members) != 1:
                raise KemError(
                    f"the zip archive holds {len(members)} .kem/.kem2 files, expected one"
                )
            (member,) = members
            if member.flag_bits & 0x1:
                raise KemError(
                    f"{member.filename} is encrypted inside the zip; a KEM password protects "
                    "the content, not the archive"
                )
            if member.file_size > max_bytes:
                raise KemError(
                    f"{member.filename} unpacks to {member.file_size} bytes, at most {max_bytes}"
                )
            with archive.open(member) as stream:
                # Read one byte past the limit: the size in the header is not to be trusted.
                content: bytes = stream.read(max_bytes + 1)
    except KemError:
        raise
    except Exception as error:
        # zipfile reports a damaged archive through a zoo of types (BadZipFile, zlib.error,
        # EOFError, NotImplementedError, struct.error, ValueError...); all mean the same.
        raise KemError(f"damaged zip archive: {error}") from None
    if len(content) > max_bytes:
        raise KemError(f"{member.filename} unpacks to more than {max_bytes} bytes")
    return content


def _parse_xml(data: bytes, what: str) -> ET.Element:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise KemError(f"{what} is not UTF-8 text (byte {error.start})") from None
    for declaration in _FORBIDDEN:
        if declaration in text:
            raise KemError(f"{what} has a {declaration} declaration, which is refused")
    try:
        # A str, not bytes: the text is already decoded, so a lying encoding declaration
        # cannot make the parser read it differently.
        return ET.fromstring(text)
    except (ET.ParseError, ValueError) as error:
        raise KemError(f"{what} is not well-formed XML: {error}") from None


def _local(tag: object) -> str:
    # Comments and processing instructions have a function as their tag, not a str.
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == name)


def _text(element: ET.Element | None) -> str:
    return "" if element is None else "".join(element.itertext()).strip()


def _ciphertext(root: ET.Element) -> bytes:
    encrypted = next((e for e in root.iter() if _local(e.tag) == "EncryptedData"), None)
    if encrypted is None:
        raise KemError("not a KEM file: no EncryptedData element")
    method = next(_children(encrypted, "EncryptionMethod"), None)
    algorithm = "" if method is None else method.get("Algorithm", "")
    if algorithm and algorithm != AES128_CBC:
        raise KemError(f"not a KEM file: encryption method {algorithm}, expected {AES128_CBC}")
    cipher_data = next(_children(encrypted, "CipherData"), None)
    value = None if cipher_data is None else next(_children(cipher_data, "CipherValue"), None)
    if value is None:
        raise KemError("not a KEM file: no CipherData/CipherValue in EncryptedData")
    encoded = "".join(_text(value).split())
    try:
        ciphertext = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KemError("damaged KEM file: CipherValue is not base64") from None
    if not ciphertext or len(ciphertext) % _BLOCK:
        raise KemError(
            f"damaged KEM file: {len(ciphertext)} bytes of ciphertext, not a whole number "
            "of AES blocks"
        )
    return ciphertext


def _decrypted_root(plaintext: bytes) -> ET.Element:
    # CBC has no integrity check, so the password is judged by its result. The IV is the
    # key, so a wrong password garbles every block, the first included: real content
    # starts with '<' (after an optional byte order mark and blanks).
    head = plaintext.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not head.startswith(b"<"):
        raise KemError("wrong password: the decrypted KEM content is not XML")
    pad = plaintext[-1]
    if 1 <= pad <= _BLOCK:
        plaintext = plaintext[:-pad]
    plaintext = plaintext.rstrip(b"\0 \t\r\n")
    try:
        return _parse_xml(plaintext, "decrypted KEM content")
    except KemError as error:
        raise KemError(f"wrong password or damaged KEM file: {error}") from None


def _meter_keys(root: ET.Element) -> dict[str, bytes]:
    kind = _local(root.tag)
    if kind == "MetersInOrder":
        entries = [
            (_text(next(_children(m, "SerialNo"), None)), _text(next(_children(m, "DEK"), None)))
            for m in _children(root, "Meter")
        ]
    elif kind == "Devices":
        entries = [(_kem2_serial(d), _kem2_key(d)) for d in _children(root, "Device")]
    else:
        raise KemError(
            f"unknown KEM content: root element <{kind}>, expected MetersInOrder or Devices"
        )
    keys: dict[str, bytes] = {}
    for serial, key_hex in entries:
        if not key_hex:
            continue  # a meter delivered without a key (unencrypted) has nothing to import
        meter_id = _checked_id(serial)
        key = _parse_key(meter_id, key_hex)
        if keys.setdefault(meter_id, key) != key:
            raise KemError(f"meter {meter_id} is listed twice with different keys")
    if not keys:
        raise KemError(f"no meter keys in the KEM file ({len(entries)} meters, none with a DEK)")
    return keys


def _kem2_serial(device: ET.Element) -> str:
    found = next((e for e in device.iter() if _local(e.tag) == "SerialNumber"), None)
    return _text(found)


def _kem2_key(device: ET.Element) -> str:
    for element in device.iter():
        names = [_text(c) for c in _children(element, "Name")]
        if "DEK" in names:
            return _text(next(_children(element, "Value"), None))
    return ""


def _checked_id(meter_id: str) -> str:
    # isascii() as well: isdigit() alone lets through digits of other scripts.
    if not (
        isinstance(meter_id, str)
        and len(meter_id) == SERIAL_DIGITS
        and meter_id.isascii()
        and meter_id.isdigit()
    ):
        raise KemError(f"meter serial number {meter_id!r} is not {SERIAL_DIGITS} digits")
    return meter_id


def _parse_key(meter_id: str, key_hex: str) -> bytes:
    compact = "".join(key_hex.split())
    if len(compact) != KEY_HEX_DIGITS or not set(compact) <= _HEX:
        raise KemError(f"meter {meter_id}: key is not {KEY_HEX_DIGITS} hex digits")
    return bytes.fromhex(compact)


def _checked_key(meter_id: str, key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_HEX_DIGITS // 2:
        raise KemError(f"meter {meter_id}: key must be {KEY_HEX_DIGITS // 2} bytes")
    return bytes(key)
