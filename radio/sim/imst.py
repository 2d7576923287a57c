"""An iM871A on a pty: answers ping, device info, get/set configuration and the low-power
request; delivers telegrams on the radio-link endpoint with RSSI and CRC trailers.

Low-power mode, modelled on the pessimistic side of what is not established (decision
0009): the module acknowledges ENTER_LPM_REQ and stops listening; any byte from the host
wakes it, the bytes that woke it are lost, and so is its RAM configuration (``mode``)."""

from __future__ import annotations

from typing import ClassVar

from protocols.crc import crc16_x25
from radio.driver import ReplyEvent
from radio.frame import LinkMode
from radio.modules import imst
from radio.modules.imst import ImstFramer, hci_message
from radio.sim.emulator import ModuleEmulator


class Im871aEmulator(ModuleEmulator):
    """IMST iM871A, firmware 0x15 (receives C1 and T1 at once)."""

    name: ClassVar[str] = "im871a"
    baudrate: ClassVar[int] = 57600

    def __init__(
        self,
        link_path: str | None = None,
        *,
        firmware: int = 0x15,
        uid: bytes = bytes.fromhex("12345678"),
    ) -> None:
        super().__init__(link_path)
        self.firmware = firmware
        self.uid = uid
        self._framer = ImstFramer()
        self.code = 0x07
        self.lpm_entries = 0  # low-power requests acknowledged

    def reset_protocol_state(self) -> None:
        self._framer.reset()

    def on_bytes(self, data: bytes) -> None:
        if self.low_power:
            # Woken by the start bit: the module was not listening to what woke it.
            self._framer.reset()
            self.mode = None
            self.set_low_power(False)
            return
        for event in self._framer.feed(data):
            if isinstance(event, ReplyEvent) and isinstance(event.key, tuple):
                endpoint, msg_id, _ = event.key
                self.commands.append(bytes([endpoint, msg_id]) + event.payload)
                if endpoint == imst.EP_DEVMGMT:
                    self._devmgmt(msg_id, event.payload)

    def _answer(self, msg_id: int, payload: bytes = b"", rejected: bool = False) -> None:
        message = bytearray(hci_message(imst.EP_DEVMGMT, msg_id, payload))
        if rejected:
            message[1] |= imst.CTRL_REJECTED << 4
            message[-2:] = crc16_x25(bytes(message[1:-2])).to_bytes(2, "little")
        self.send(bytes(message))

    def _devmgmt(self, msg_id: int, payload: bytes) -> None:
        if msg_id == imst.PING_REQ:
            self._answer(imst.PING_RSP)
        elif msg_id == imst.DEVICE_INFO_REQ:
            self._answer(imst.DEVICE_INFO_RSP, bytes([0x33, 0x00, self.firmware, 0x01]) + self.uid)
        elif msg_id == imst.SET_CONFIG_REQ:
            ok = len(payload) >= 3 and payload[1] & imst.IIFLAG1_LINK_MODE
            code = payload[2] if ok else -1
            mode = imst.CODE_LINK_MODES.get(code)
            if mode is None or (mode is LinkMode.C1T1 and self.firmware < imst.C1T1_MIN_FIRMWARE):
                self._answer(imst.SET_CONFIG_RSP, b"\x01", rejected=True)
                return
            self.code, self.mode = code, mode
            self._answer(imst.SET_CONFIG_RSP, b"\x00")
        elif msg_id == imst.GET_CONFIG_REQ:
            self._answer(imst.GET_CONFIG_RSP, bytes([0x03, 0x00, self.code, 0x30, 0x01, 0x00]))
        elif msg_id == imst.ENTER_LPM_REQ:
            self._answer(imst.ENTER_LPM_RSP)
            self.lpm_entries += 1
            self.set_low_power(True)
        elif msg_id == imst.RESET_REQ:
            self.mode = None
            self._answer(imst.RESET_RSP)

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        # The module strips L and the link-layer CRCs; the host adds L back.
        return hci_message(
            imst.EP_RADIOLINK, imst.RADIOLINK_TELEGRAM_IND, frame[1:], rssi=imst.rssi_raw(rssi_dbm)
        )
