"""An iU891A on a pty: answers ping, device info and get/set active configuration;
delivers telegrams as RX_MESSAGE_IND on the wM-Bus endpoint, SLIP-escaped, with the RSSI
in whole dBm.

Where the sources are silent the emulator takes a side and says so: the error status it
answers with (0x01), the configuration it starts with after power-up (link mode off),
silence for requests it does not know, and the leading END (sent by default; the real
module may send only the trailing one: ``leading_end=False``).
"""

from __future__ import annotations

import os
from typing import ClassVar

from radio.driver import ReplyEvent
from radio.frame import LinkMode
from radio.modules import iu891a
from radio.modules.iu891a import ActiveConfiguration, Iu891aFramer, RequestKey, encode_message
from radio.sim.emulator import ModuleEmulator

# The status the emulator refuses with. The iU891A's error codes are not established:
# any non-zero value is an error to the driver.
STATUS_OK = 0x00
STATUS_REFUSED = 0x01
RECEIVED_KEPT = 65536  # bytes of the host's raw stream kept in ``received``


class Iu891aEmulator(ModuleEmulator):
    """IMST iU891A-XL (module type 0x6E)."""

    name: ClassVar[str] = "iu891a"
    baudrate: ClassVar[int] = 115200

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        module_type: int = 0x6E,
        uid: int = 0x12345678,
        product: bytes = b"",
        leading_end: bool = True,
        refused_codes: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(link_path)
        self.module_type = module_type
        self.uid = uid
        self.product = product  # what follows the unique id (its layout not established)
        self.leading_end = leading_end
        self.refused_codes = refused_codes  # link-mode codes refused as if unknown
        self._framer = Iu891aFramer(requests=True)
        self.received = bytearray()  # the host's raw bytes (wake-up included), bounded
        self.timestamp = 0  # RX_MESSAGE_IND time stamp: a counter (its unit unknown)
        self.configuration = self._power_up_configuration()

    @staticmethod
    def _power_up_configuration() -> bytes:
        return iu891a.configuration_payload(iu891a.LINK_MODE_OFF, 0)

    def reset_protocol_state(self) -> None:
        self._framer.reset()
        self.configuration = self._power_up_configuration()

    def on_bytes(self, data: bytes) -> None:
        # Wake-up ENDs decode as empty messages: the framer drops them.
        self.received += data
        del self.received[:-RECEIVED_KEPT]
        for event in self._framer.feed(data):
            if isinstance(event, ReplyEvent) and isinstance(event.key, RequestKey):
                endpoint, msg_id = event.key
                self.commands.append(bytes([endpoint, msg_id]) + event.payload)
                self._request(endpoint, msg_id, event.payload)

    def _answer(self, endpoint: int, msg_id: int, payload: bytes = b"", status: int = 0) -> None:
        self.send(
            encode_message(endpoint, msg_id, payload, status=status, leading_end=self.leading_end)
        )

    def _request(self, endpoint: int, msg_id: int, payload: bytes) -> None:
        if endpoint == iu891a.EP_DEVMGMT and msg_id == iu891a.PING_REQ:
            self._answer(endpoint, iu891a.PING_RSP)
        elif endpoint == iu891a.EP_DEVMGMT and msg_id == iu891a.GET_DEVICE_INFO_REQ:
            info = bytes([self.module_type]) + self.uid.to_bytes(4, "little") + self.product
            self._answer(endpoint, iu891a.GET_DEVICE_INFO_RSP, info)
        elif endpoint == iu891a.EP_DEVMGMT and msg_id == iu891a.RESTART_REQ:
            self._answer(endpoint, iu891a.RESTART_RSP)
            self.mode = None
            self.configuration = self._power_up_configuration()
        elif endpoint == iu891a.EP_WMBUS and msg_id == iu891a.SET_ACTIVE_CONFIGURATION_REQ:
            self._set_configuration(payload)
        elif endpoint == iu891a.EP_WMBUS and msg_id == iu891a.GET_ACTIVE_CONFIGURATION_REQ:
            self._answer(endpoint, iu891a.GET_ACTIVE_CONFIGURATION_RSP, self.configuration)
        # Anything else: no answer (how the module answers an unknown id is not established).

    def _set_configuration(self, payload: bytes) -> None:
        reply = iu891a.SET_ACTIVE_CONFIGURATION_RSP
        if len(payload) != iu891a.CONFIGURATION_SIZE:
            self._answer(iu891a.EP_WMBUS, reply, status=STATUS_REFUSED)
            return
        code = ActiveConfiguration.parse(payload).link_mode
        if code not in iu891a.KNOWN_LINK_MODE_CODES or code in self.refused_codes:
            self._answer(iu891a.EP_WMBUS, reply, status=STATUS_REFUSED)
            return
        self.configuration = payload
        self.mode = iu891a.CODE_LINK_MODES.get(code)  # None: off or enhanced T
        self._answer(iu891a.EP_WMBUS, reply)

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        # The frame from L on, without link-layer CRCs; SLIP escapes any C0/DB inside it.
        self.timestamp = (self.timestamp + 1) & 0xFFFFFFFF
        header = iu891a.RX_HEADER.pack(
            self.timestamp.to_bytes(4, "little"), b"\x00\x00", b"\x00", iu891a.rssi_byte(rssi_dbm)
        )
        return encode_message(
            iu891a.EP_WMBUS, iu891a.RX_MESSAGE_IND, header + frame, leading_end=self.leading_end
        )
