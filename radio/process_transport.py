"""Read-only byte sources that are not serial ports: a path (pty, FIFO, character device or
regular file) read as it is, and a shell command whose standard output is read.

Both subclass :class:`radio.transport.SerialPort` so that the shared supervisor opens,
watches and reopens them exactly as it does a serial port: a lost pty is reopened, a
command that exits is restarted. Opening stays synchronous (``subprocess.Popen`` rather
than an asyncio subprocess) because the supervisor opens synchronously; the pipe is then
read through the event loop like any other descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import subprocess
import time
import tty
from collections.abc import Callable

from protocols.backoff import Backoff
from radio.transport import PortLostError, SerialPort

log = logging.getLogger(__name__)

CMD_PREFIX = "cmd:"
READ_SIZE = 65536


class StableBackoff(Backoff):
    """Backoff whose reset counts only once the source stayed up for ``stable_after`` s.

    The supervisor resets the backoff as soon as a source opened; a command that starts
    and exits at once (rtl_sdr finding no dongle) or a FIFO without a writer would then be
    restarted ten times a second forever. Here short runs keep the delay growing.
    """

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 5.0,
        factor: float = 2.0,
        *,
        stable_after: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(initial, maximum, factor)
        self.stable_after = stable_after
        self._monotonic = monotonic
        self._up_since: float | None = None

    @classmethod
    def like(cls, backoff: Backoff, stable_after: float = 10.0) -> StableBackoff:
        """A stable backoff with the delays of ``backoff``."""
        return cls(backoff.initial, backoff.maximum, backoff.factor, stable_after=stable_after)

    def reset(self) -> None:
        self._up_since = self._monotonic()

    def next_delay(self) -> float:
        up_since, self._up_since = self._up_since, None
        if up_since is not None and self._monotonic() - up_since >= self.stable_after:
            super().reset()
        return super().next_delay()


class ReadOnlyPort(SerialPort):
    """Base for the read-only sources: one descriptor read through the event loop."""

    def __init__(self, path: str, on_data: Callable[[bytes], None]) -> None:
        super().__init__(path, 0, on_data)
        self._fd: int | None = None

    def _watch(self, fd: int) -> None:
        self._fd = fd
        self.lost.clear()
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as err:
            log.info("%s lost: %s", self.path, err)
            self._drop()
            return
        if not data:
            log.info("%s reached end of stream", self.path)
            self._drop()
            return
        self._on_data(data)

    def write(self, data: bytes) -> None:
        """These sources take no commands."""
        raise PortLostError(f"{self.path} is read-only")

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            self._release(fd)
        self.lost.set()

    def _release(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)

    @property
    def is_open(self) -> bool:
        return self._fd is not None


class PathPort(ReadOnlyPort):
    """A path opened for reading: a pty or character device (made raw), a FIFO, or a
    regular file.

    A regular file is read once to its end and then stays open without more data (the
    event loop cannot poll regular files, and re-reading it on "reconnect" would deliver
    every line again); a FIFO or pty at end of stream counts as lost and is reopened.
    """

    def open(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            mode = os.fstat(fd).st_mode
            if os.isatty(fd):
                # Raw: no echo, no CR/LF translation, no line editing by the tty layer.
                tty.setraw(fd)
        except OSError:
            os.close(fd)
            raise
        if stat.S_ISREG(mode):
            self._fd = fd
            self.lost.clear()
            asyncio.get_running_loop().call_soon(self._read_file)
            return
        self._watch(fd)

    def _read_file(self) -> None:
        fd = self._fd
        if fd is None:
            return
        data = os.read(fd, READ_SIZE)
        if data:
            self._on_data(data)
            asyncio.get_running_loop().call_soon(self._read_file)


class ProcessPort(ReadOnlyPort):
    """A shell command's standard output; the command runs in its own process group so
    that closing stops the whole pipeline (``rtl_sdr ... | rtl_wmbus``)."""

    def __init__(self, command: str, on_data: Callable[[bytes], None]) -> None:
        super().__init__(command, on_data)
        self.command = command
        self._process: subprocess.Popen[bytes] | None = None

    def open(self) -> None:
        process = subprocess.Popen(  # shell: the operator configures a pipeline
            self.command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None
        fd = process.stdout.fileno()
        os.set_blocking(fd, False)
        self._process = process
        log.info("started %r (pid %d)", self.command, process.pid)
        self._watch(fd)

    def _release(self, fd: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.stdout is not None:
            process.stdout.close()
        # Reap off the loop: rtl_sdr may take a moment to release the dongle.
        try:
            asyncio.get_running_loop().run_in_executor(None, _reap, process)
        except RuntimeError:
            _reap(process)


def _reap(process: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.debug("%r exited with %s", process.args, process.returncode)


def open_source(port: str, on_data: Callable[[bytes], None]) -> ReadOnlyPort:
    """A :class:`ProcessPort` for ``cmd:<shell command>``, else a :class:`PathPort`."""
    if port.startswith(CMD_PREFIX):
        return ProcessPort(port[len(CMD_PREFIX) :].strip(), on_data)
    return PathPort(port, on_data)
