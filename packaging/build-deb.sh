#!/usr/bin/env bash
# Build the Debian package of concentratord: OUTDIR/concentratord_<version>_<arch>.deb
# (OUTDIR defaults to dist/). `make deb` runs it. docs/install.md describes what it installs.
#
#   /opt/concentratord/venv/                  a virtual environment of Debian's /usr/bin/python3
#                                             with concentratord and its dependencies (PyPI)
#   /usr/bin/concentratord, concentratorctl   symlinks into the venv
#   /lib/systemd/system/concentratord.service systemd/concentratord.service, as it is
#   /usr/lib/sysusers.d/concentratord.conf    systemd/concentratord.sysusers
#   /usr/lib/tmpfiles.d/concentratord.conf    systemd/concentratord.tmpfiles
#   /etc/concentratord/concentratord.toml     config/concentratord.toml (a conffile)
#   /usr/share/doc/concentratord/             README, configuration reference, examples, docs
#
# Maintainer scripts: packaging/debian/{postinst,prerm,postrm}. Nothing is enabled or started.
#
# Needs: /usr/bin/python3 with venv and ensurepip (Debian: python3-venv), dpkg-deb, network
# access to the package index pip is configured for. Not root, not .venv/, not fakeroot
# (dpkg-deb --root-owner-group makes every file root's).
#
# How the venv gets to /opt/concentratord/venv without building it there. A venv is not
# relocatable: its scripts' shebangs, bin/activate* and pyvenv.cfg name its absolute path,
# and the .pyc files record their source paths. Building it at the real path would write
# into the build machine's /opt (and clash with an installed package), and a private mount
# namespace needs privileges a CI container may not grant. So it is built in a staging
# root (build/deb/root/opt/concentratord/venv) and then moved, by rewriting the only places
# that name the staging path:
#   - the text files that contain it (bin/ scripts and activate*, pyvenv.cfg), rewritten;
#   - the .pyc files: pip installs with --no-compile and compileall then compiles every
#     module with the final path recorded (-s STAGING -p /);
#   - the project's direct_url.json (the source directory pip installed from), removed.
# Then every file is searched for the staging path and the build fails if one still names
# it. The venv's interpreter is a symlink to /usr/bin/python3 and pyvenv.cfg says
# home = /usr/bin: on the target, Debian's python3 (Depends: python3) is the interpreter;
# python3-venv is needed only here, at build time. pip and setuptools are removed from the
# shipped venv: the package's files are dpkg's, not pip's, and nothing needs them at runtime.
#
# Architecture. The issue asks for concentratord_<version>_all.deb, but several
# dependencies are compiled wheels (pydantic-core, zstandard, orjson, aiohttp, pycryptodome,
# fastcrc, ...) for the build machine's CPU and for the build interpreter's minor version
# (lib/python3.X/site-packages, cpython-3X ABI). An "all" package built on amd64 would install
# on a Raspberry Pi and fail at its first import. So: Architecture is the build machine's
# (`dpkg --print-architecture`) when the venv holds any ELF file, "all" only when it holds
# none; build on the target architecture (an arm64 or armhf Debian or Raspberry Pi OS) to get
# a package for it. Depends pins python3 to the build interpreter's minor version, and libc6
# to the newest glibc the wheels' manylinux tags require.
set -euo pipefail
umask 022

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
OUTDIR=${1:-dist}
PYTHON=/usr/bin/python3                # Debian's python3: the venv's interpreter on the target
PREFIX=/opt/concentratord/venv         # the unit's ExecStart names $PREFIX/bin/concentratord
WORK=$REPO/build/deb
SRC=$WORK/src
ROOT=$WORK/root
VENV=$ROOT$PREFIX
PIP_OPTS=(--no-input --disable-pip-version-check --no-cache-dir)

say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

started=$SECONDS
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian's dpkg package)"
[ -x "$PYTHON" ] || die "$PYTHON not found: the package's venv is built on Debian's python3"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1); concentratord needs Python >= 3.11"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
    || die "$PYTHON has no venv/ensurepip: apt-get install python3-venv"

# ---------------------------------------------------------------------------- version
# pyproject.toml's version (the package's __version__ is checked against it below), in
# Debian's spelling: a PEP 440 pre-release sorts before the release (0.2.0rc1 -> 0.2.0~rc1).
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
DEB_VERSION=$(printf '%s' "$VERSION" | sed -E 's/\.?(a|b|rc|dev)([0-9]+)/~\1\2/g')
PY_MINOR=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PY_NEXT=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')
say "concentratord $VERSION (Debian version $DEB_VERSION), $PYTHON = Python $("$PYTHON" -c 'import platform; print(platform.python_version())')"

# ---------------------------------------------------------------------------- sources
# pip builds from a copy of the working tree, not from it: setuptools would otherwise reuse
# the tree's build/lib (a file deleted from the sources would still be in the wheel) and
# write its egg-info there.
rm -rf "$WORK"
mkdir -p "$SRC" "$ROOT"
tar -C "$REPO" -c \
    --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude=./.demo \
    --exclude=./.hypothesis --exclude=./.mypy_cache --exclude=./.pytest_cache \
    --exclude=./.ruff_cache --exclude=./bench/results --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude='*.pyc' . | tar -C "$SRC" -x

# ---------------------------------------------------------------------------- the venv
say "venv in the staging root: $VENV"
"$PYTHON" -m venv "$VENV"
# A current pip (Debian's ensurepip brings 23.0, which installs an sdist-only dependency
# such as sdnotify the legacy setup.py way); it is removed again below.
# pip's output goes to a log, shown when pip fails; the versions installed are listed below.
pip_install() {
    "$VENV/bin/python" -m pip install "${PIP_OPTS[@]}" "$@" >>"$WORK/pip.log" 2>&1 \
        || { cat "$WORK/pip.log" >&2; die "pip install $* failed (its output above)"; }
}
pip_install --upgrade pip
say "pip install concentratord and its dependencies (pyproject.toml's ranges)"
pip_install --no-compile "$SRC"

# The installed package is the one we mean, and every import the daemon needs resolves.
got=$("$VENV/bin/concentratord" --version)
[ "$got" = "concentratord $VERSION" ] \
    || die "the venv's concentratord --version says '$got', pyproject.toml says $VERSION"
"$VENV/bin/python" -c 'import protocols, radio, uplink, concentratord.daemon, concentratord.run_cmd, concentratord.ctl'

"$VENV/bin/python" -m pip uninstall "${PIP_OPTS[@]}" --quiet --yes setuptools
"$VENV/bin/python" -m pip check "${PIP_OPTS[@]}" >/dev/null \
    || die "pip check: a dependency is missing or conflicts (after removing setuptools)"
"$VENV/bin/python" -m pip freeze "${PIP_OPTS[@]}" | grep -v '^concentratord' \
    > "$WORK/requirements.txt" || true
say "dependencies: $(tr '\n' ' ' < "$WORK/requirements.txt")"
"$VENV/bin/python" -m pip uninstall "${PIP_OPTS[@]}" --quiet --yes pip

# ---------------------------------------------------------------------------- relocation
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
find "$site" -name direct_url.json -path '*/concentratord-*.dist-info/*' -delete
sed -i '/concentratord-[^/]*\.dist-info\/direct_url\.json,/d' "$site"/concentratord-*.dist-info/RECORD
find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +
say "byte-compiling with the final paths"
"$VENV/bin/python" -m compileall -q -j 0 -s "$ROOT" -p / "$site" >/dev/null \
    || die "compileall failed on a module in $site"
grep -rlIZ -- "$VENV" "$VENV" | xargs -0r sed -i "s|$VENV|$PREFIX|g"
if left=$(grep -rl -- "$WORK" "$ROOT"); then
    die "files still name the build directory $WORK:"$'\n'"$left"
fi
[ "$(readlink "$VENV/bin/python3")" = "$PYTHON" ] \
    || die "the venv's python3 is $(readlink "$VENV/bin/python3"), not $PYTHON"

# ---------------------------------------------------------------------------- the tree
install -d -m 0755 "$ROOT/usr/bin" "$ROOT/lib/systemd/system" "$ROOT/usr/lib/sysusers.d" \
    "$ROOT/usr/lib/tmpfiles.d" "$ROOT/usr/share/doc/concentratord/examples" \
    "$ROOT/usr/share/doc/concentratord/docs"
ln -s "$PREFIX/bin/concentratord" "$ROOT/usr/bin/concentratord"
ln -s "$PREFIX/bin/concentratorctl" "$ROOT/usr/bin/concentratorctl"
install -m 0644 systemd/concentratord.service "$ROOT/lib/systemd/system/concentratord.service"
install -m 0644 systemd/concentratord.sysusers "$ROOT/usr/lib/sysusers.d/concentratord.conf"
install -m 0644 systemd/concentratord.tmpfiles "$ROOT/usr/lib/tmpfiles.d/concentratord.conf"
# /etc/concentratord and the configuration as tmpfiles.d wants them (0750 and 0640); the
# postinst gives them the group concentratord, which does not exist here.
install -d -m 0750 "$ROOT/etc/concentratord"
install -m 0640 config/concentratord.toml "$ROOT/etc/concentratord/concentratord.toml"
doc=$ROOT/usr/share/doc/concentratord
install -m 0644 README.md CHANGELOG.md "$doc/"
install -m 0644 config/README.md "$doc/configuration.md"
install -m 0644 config/examples/*.toml "$doc/examples/"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 "$WORK/requirements.txt" "$doc/requirements.txt"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: concentratord
Source: https://github.com/concentratord/concentratord

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
Comment: /opt/concentratord/venv also holds the Python packages concentratord depends on,
 each under its own license (see each one's *.dist-info directory there); the exact
 versions are in /usr/share/doc/concentratord/requirements.txt.
EOF
chmod 0644 "$doc/copyright"

# ---------------------------------------------------------------------------- control
# Any ELF file (an extension module, a bundled library) in the venv, not counting the
# interpreter symlink: then the package is for this machine's architecture only.
if "$PYTHON" - "$VENV" <<'PY'; then
import os, sys
for top, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(top, name)
        if not os.path.islink(path):
            with open(path, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    sys.exit(0)
sys.exit(1)
PY
    ARCH=$(dpkg --print-architecture)
else
    ARCH=all
fi
# glibc: the newest manylinux_2_X the installed wheels are tagged with (manylinux2014 = 2_17).
GLIBC=$(cat "$site"/*.dist-info/WHEEL | sed -nE \
    -e 's/^Tag: .*manylinux_([0-9]+)_([0-9]+)_.*/\1.\2/p' \
    -e 's/^Tag: .*manylinux2014_.*/2.17/p' -e 's/^Tag: .*manylinux2010_.*/2.12/p' \
    -e 's/^Tag: .*manylinux1_.*/2.5/p' | sort -t. -k1,1n -k2,2n | tail -n 1)
DEPENDS="python3 (>= $PY_MINOR), python3 (<< $PY_NEXT)${GLIBC:+, libc6 (>= $GLIBC)}, libudev1, adduser | systemd"
INSTALLED_SIZE=$(du -sk --apparent-size "$ROOT" | cut -f1)

install -d -m 0755 "$ROOT/DEBIAN"
control=$(<packaging/debian/control)
control=${control//@VERSION@/$DEB_VERSION}
control=${control//@ARCH@/$ARCH}
control=${control//@DEPENDS@/$DEPENDS}
control=${control//@INSTALLED_SIZE@/$INSTALLED_SIZE}
control=${control//@MAINTAINER@/${DEB_MAINTAINER:-concentratord maintainers <maintainers@concentratord.invalid>}}
printf '%s\n' "$control" > "$ROOT/DEBIAN/control"
chmod 0644 "$ROOT/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$ROOT/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
    "$ROOT/DEBIAN/"
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' \
    | sort -z | xargs -0r md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

mkdir -p "$OUTDIR"
DEB=$OUTDIR/concentratord_${DEB_VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
rm -rf "$WORK"
rmdir "$REPO/build" 2>/dev/null || true
say "$DEB: $(du -h "$DEB" | cut -f1) (installed $((INSTALLED_SIZE / 1024)) MiB), Architecture: $ARCH, in $((SECONDS - started)) s"
say "Depends: $DEPENDS"
