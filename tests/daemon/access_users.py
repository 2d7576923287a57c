"""Real Unix users for the access tests, and ``concentratorctl`` run as each of them.

:class:`LocalAccounts` creates groups (``groupadd``) and users (``useradd``, no home, no
login shell) and removes every one of them again (``userdel``, ``groupdel``), also those an
earlier, interrupted run left behind. It needs root: :func:`require_accounts` fails under CI
(which runs the tests as root) and skips elsewhere, saying why.

:class:`Ctl` runs ``concentratorctl`` as one of those users, with the user's uid, primary
group and supplementary groups, as a login would give them (``subprocess`` with ``user``,
``group`` and ``extra_groups``): the daemon sees them through SO_PEERCRED and /proc. That
needs the console script's interpreter to be executable by the user. Where it is not (a
Python under root's home, mode 0700), ``concentratorctl``'s own ``main`` is run by a process
that starts as root, imports it, drops to the user (``setgroups``, ``setgid``, ``setuid``)
and only then connects: the daemon sees exactly the same credentials. :attr:`Ctl.how`
says which of the two is used.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.missing import missing

CTL = Path(sys.executable).parent / "concentratorctl"
TOOLS = ("useradd", "userdel", "groupadd", "groupdel")
NOLOGIN = next(
    (s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false"
)

# Started as root: import concentratorctl and what it imports late (argparse's gettext and
# locale, the help's textwrap, the audit's csv), parse once, then become the user.
_AS_USER = """
import csv, datetime, gettext, io, locale, os, pwd, shutil, sys, textwrap
from concentratord.ctl import _parser, main
_parser().parse_args(sys.argv[2:])
account = pwd.getpwnam(sys.argv[1])
os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
os.setgid(account.pw_gid)
os.setuid(account.pw_uid)
assert os.getuid() == os.geteuid() == account.pw_uid
sys.exit(main(sys.argv[2:]))
"""


@dataclass(frozen=True)
class Account:
    """One Unix user as the kernel will name it to the daemon."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, as initgroups(3) would set them


def require_accounts() -> None:
    """Return when this process may create Unix users; else fail (CI) or skip."""
    if os.geteuid() != 0:
        missing("creating Unix users (useradd) needs root: run these tests as root")
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        missing(f"{', '.join(absent)} not found: apt-get install passwd")


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


class LocalAccounts:
    """Groups and users made for one test module; :meth:`remove` deletes them all."""

    def __init__(self) -> None:
        self._users: list[str] = []
        self._groups: list[str] = []

    def group(self, name: str) -> int:
        """Create group ``name`` (replacing a stale one); its gid."""
        self._groups.append(name)
        if _group_exists(name):
            _run("groupdel", name)
        _run("groupadd", name)
        return grp.getgrnam(name).gr_gid

    def user(self, name: str, groups: Sequence[str] = ()) -> Account:
        """Create user ``name`` with its own group, member of ``groups`` (replacing a stale one)."""
        self._users.append(name)
        self._drop_user(name)
        argv = ["useradd", "--no-create-home", "--shell", NOLOGIN, "--user-group"]
        if groups:
            argv += ["--groups", ",".join(groups)]
        _run(*argv, name)
        entry = pwd.getpwnam(name)
        extra = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != entry.pw_gid)
        return Account(name, entry.pw_uid, entry.pw_gid, extra)

    @staticmethod
    def _drop_user(name: str) -> None:
        if _user_exists(name):
            _run("userdel", name)
        if _group_exists(name):  # its own group, when userdel left it
            _run("groupdel", name)

    def remove(self) -> None:
        """Delete every user and group made here; raise naming whatever could not be."""
        failures = []
        for name in reversed(self._users):
            try:
                self._drop_user(name)
            except RuntimeError as err:
                failures.append(str(err))
        for name in reversed(self._groups):
            try:
                if _group_exists(name):
                    _run("groupdel", name)
            except RuntimeError as err:
                failures.append(str(err))
        self._users.clear()
        self._groups.clear()
        if failures:
            raise RuntimeError("; ".join(failures))


class Ctl:
    """``concentratorctl --socket SOCKET ...`` as a given user."""

    def __init__(self, socket: Path, probe: Account) -> None:
        self.socket = socket
        self.direct = self._can_exec(probe)
        self.how = (
            f"{CTL} as the user"
            if self.direct
            else f"{sys.executable} started as root, dropping to the user before it connects"
            f" ({CTL}'s interpreter is not executable by other users)"
        )

    @staticmethod
    def _credentials(account: Account) -> dict[str, object]:
        return {"user": account.uid, "group": account.gid, "extra_groups": list(account.groups)}

    def _can_exec(self, account: Account) -> bool:
        try:
            done = subprocess.run(
                [str(CTL), "--help"],
                capture_output=True,
                timeout=30,
                check=False,
                env=self._env(),
                **self._credentials(account),  # type: ignore[arg-type]
            )
        except PermissionError:
            return False
        return done.returncode == 0

    @staticmethod
    def _env() -> dict[str, str]:
        return {**os.environ, "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1"}

    def _argv(self, account: Account, args: Sequence[str]) -> list[str]:
        tail = ["--socket", str(self.socket), *args]
        if self.direct:
            return [str(CTL), *tail]
        return [sys.executable, "-c", _AS_USER, account.name, *tail]

    def _how(self, account: Account) -> dict[str, object]:
        return {"env": self._env(), **(self._credentials(account) if self.direct else {})}

    def run(self, account: Account, *args: str, stdin: str | None = None) -> Result:
        """Run to completion; exit status, stdout and stderr."""
        done = subprocess.run(
            self._argv(account, args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            **self._how(account),  # type: ignore[arg-type]
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, account: Account, *args: str) -> subprocess.Popen[str]:
        """Start (a stream, ``tap``); stdout and stderr piped."""
        return subprocess.Popen(
            self._argv(account, args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **self._how(account),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Result:
    """What one ``concentratorctl`` run printed."""

    returncode: int
    stdout: str
    stderr: str
