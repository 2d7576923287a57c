"""An AMB8465 on a pty: answers serial number, firmware version, set mode, get parameters
and reset; delivers telegrams in command form (``FF 03 ...``) or transparent form."""

from __future__ import annotations

import os
from typing import ClassVar

from radio.driver import ReplyEvent
from radio.frame import LinkMode
from radio.modules import amber
from radio.modules.amber import CommandFramer, command_frame
from radio.sim.emulator import ModuleEmulator


class Amb8465Emulator(ModuleEmulator):
    """Amber AMB8465. ``command_form`` chooses how received telegrams are written.

    The parameter memory follows the layout the driver assumes [unverified]: RSSI_Enable
    at 0x45 and the active link mode at 0x46 (set volatile by the host, back to the
    preselected ``nvm_code`` after a reset)."""

    name: ClassVar[str] = "amb8465"
    baudrate: ClassVar[int] = 9600

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        command_form: bool = True,
        serial: bytes = bytes.fromhex("0A0B0C0D"),
        firmware: bytes = bytes([4, 3, 0]),
        nvm_code: int = 0x08,
        refuse_modes: bool = False,
    ) -> None:
        super().__init__(link_path)
        self.command_form = command_form
        self.serial = serial
        self.firmware = firmware
        self.nvm_code = nvm_code
        self.refuse_modes = refuse_modes  # answer every set-mode with a failure status
        self.params = bytearray(amber.PARAM_SIZE)
        self.params[0x05] = 0x01 if command_form else 0x00  # CMD_Out_Enable [unverified]
        self.params[amber.PARAM_RSSI_ENABLE] = 0x01
        self.params[amber.PARAM_MODE] = nvm_code
        self._framer = CommandFramer(amber.HOST_COMMANDS)

    def reset_protocol_state(self) -> None:
        self._framer.reset()
        self.params[amber.PARAM_MODE] = self.nvm_code  # the volatile mode is gone

    def on_bytes(self, data: bytes) -> None:
        for event in self._framer.feed(data):
            if isinstance(event, ReplyEvent) and isinstance(event.key, int):
                self.commands.append(bytes([event.key]) + event.payload)
                self._command(event.key, event.payload)

    def _answer(self, cmd: int, payload: bytes) -> None:
        self.send(command_frame(cmd | amber.REPLY_BIT, payload))

    def _command(self, cmd: int, payload: bytes) -> None:
        if cmd == amber.CMD_SERIALNO_REQ:
            self._answer(cmd, self.serial)
        elif cmd == amber.CMD_FWV_REQ:
            self._answer(cmd, self.firmware)
        elif cmd == amber.CMD_SET_MODE_REQ:
            mode = amber.CODE_LINK_MODES.get(payload[0]) if len(payload) == 1 else None
            if mode is None or self.refuse_modes:
                self._answer(cmd, b"\x01")
                return
            self.params[amber.PARAM_MODE] = payload[0]
            self.mode = mode
            self._answer(cmd, b"\x00")
        elif cmd == amber.CMD_GET_REQ and len(payload) == 2:
            offset, length = payload
            data = bytes(self.params[offset : offset + length])
            self._answer(cmd, bytes([offset, len(data)]) + data)
        elif cmd == amber.CMD_RESET_REQ:
            self._answer(cmd, b"\x00")
            self.mode = None
            self.params[amber.PARAM_MODE] = self.nvm_code

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        rssi = bytes([amber.rssi_raw(rssi_dbm)])
        if self.command_form:
            # The module drops L; len counts C ... data and the RSSI.
            return command_frame(amber.CMD_DATA_IND, frame[1:] + rssi)
        return frame + rssi
