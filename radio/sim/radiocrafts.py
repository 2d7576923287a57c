"""An RC1180-MBUS on a pty: configuration mode (``00``, ``0``, ``M``, ``X``) over a
non-volatile configuration memory, and telegrams written as ``L C ... [RSSI]``."""

from __future__ import annotations

import os
import threading
from enum import Enum
from typing import ClassVar

from radio.frame import LinkMode
from radio.modules import radiocrafts as rc
from radio.sim.emulator import ModuleEmulator


class _State(Enum):
    NORMAL = "normal"
    CONFIG = "config"
    WRITE_ADDRESS = "write_address"
    WRITE_VALUE = "write_value"


def factory_memory(mbus_mode: int, rssi_mode: int) -> bytearray:
    """A configuration memory image: a few documented defaults, zeros elsewhere, and a '>'
    byte inside so that a host cannot take the first '>' of the dump for its end."""
    memory = bytearray(rc.MEMORY_SIZE)
    memory[0x00] = 0x01  # RF_CHANNEL
    memory[0x01] = 0x05  # RF_POWER
    memory[rc.MODE_REGISTER] = mbus_mode
    memory[rc.RSSI_REGISTER] = rssi_mode
    memory[0x30] = 0x05  # UART_BAUD_RATE: 19200
    memory[0x40] = rc.PROMPT
    return memory


class Rc1180Emulator(ModuleEmulator):
    """Radiocrafts RC1180-MBUS. Starts in T1 with RSSI off, as from the factory.

    Telegrams offered while the host holds the module in configuration mode are written
    when it leaves (a real module would not hear them; holding them keeps simulated fields
    lossless across a reconfiguration)."""

    name: ClassVar[str] = "rc1180"
    baudrate: ClassVar[int] = 19200

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        mbus_mode: int = 0x01,
        rssi_mode: int = 0x00,
    ) -> None:
        super().__init__(link_path)
        self.memory = factory_memory(mbus_mode, rssi_mode)
        self.memory_writes = 0  # flash rewrites ('M' sessions) the host caused
        self._state = _State.NORMAL
        self._address = 0
        self._staged: dict[int, int] = {}
        self._written = bytearray()
        self._held: list[tuple[bytes, float, LinkMode | None]] = []
        self._state_lock = threading.Lock()

    @property
    def in_config_mode(self) -> bool:
        """True between the host's ``00`` and its ``X``."""
        return self._state is not _State.NORMAL

    def reset_protocol_state(self) -> None:
        # A power cycle: back to normal operation; the flash keeps its contents.
        with self._state_lock:
            self._state = _State.NORMAL
            self._held.clear()
            self._staged.clear()

    def deliver(
        self, frame: bytes, rssi_dbm: float = -70.0, link_mode: LinkMode | None = None
    ) -> bool:
        with self._state_lock:
            if self._state is not _State.NORMAL:
                self._held.append((frame, rssi_dbm, link_mode))
                return True
            return super().deliver(frame, rssi_dbm, link_mode)

    def on_bytes(self, data: bytes) -> None:
        with self._state_lock:
            for byte in data:
                self._on_byte(byte)

    def _on_byte(self, byte: int) -> None:
        state = self._state
        if state is _State.NORMAL:
            # Other bytes would be data to transmit over the air: ignored here.
            if byte == rc.ENTER_CONFIG[0]:
                self.commands.append(rc.ENTER_CONFIG)
                self._state = _State.CONFIG
                self._prompt()
        elif state is _State.CONFIG:
            self._config_command(byte)
        elif state is _State.WRITE_ADDRESS:
            self._written.append(byte)
            if byte == rc.END_WRITE:
                self.commands.append(bytes(self._written))
                for address, value in self._staged.items():
                    self.memory[address] = value
                self.memory_writes += 1
                self._staged.clear()
                self._state = _State.CONFIG
                self._prompt()
            else:
                self._address = byte
                self._state = _State.WRITE_VALUE
        else:
            self._written.append(byte)
            self._staged[self._address] = byte
            self._state = _State.WRITE_ADDRESS

    def _config_command(self, byte: int) -> None:
        command = bytes([byte])
        self.commands.append(command)
        if command == rc.READ_MEMORY:
            self.send(bytes(self.memory) + bytes([rc.PROMPT]))
        elif command == rc.WRITE_MEMORY:
            self._written.clear()
            self._state = _State.WRITE_ADDRESS
            self._prompt()
        elif command == rc.LEAVE_CONFIG:
            self._state = _State.NORMAL
            self.mode = rc.CODE_LINK_MODES.get(self.memory[rc.MODE_REGISTER])
            held, self._held = self._held, []
            for frame, rssi, link_mode in held:
                super().deliver(frame, rssi, link_mode)
        else:
            self._prompt()  # other commands: answered, not emulated

    def _prompt(self) -> None:
        self.send(bytes([rc.PROMPT]))

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        if self.memory[rc.RSSI_REGISTER] == 0x01:
            return frame + bytes([rc.rssi_raw(rssi_dbm)])
        return frame
