#!/usr/bin/env bash
# Builds, on a machine with PyPI, the wheels that the GPU machine lacks, for its Python, into
# a git-ignored folder of the checkout (default wheels/), which benchmarks/device_check.sh
# installs there with `pip install --no-index --no-deps`.
#
#   bash benchmarks/device_wheels.sh [--with-pyjaspar]
#
# The GPU machine (an H200, no network) runs Python 3.12.3 on x86-64 and already
# holds jax (CUDA), flax, optax, orbax-checkpoint, numpy, absl-py, tqdm, matplotlib, protobuf,
# etils, cloudpickle, psutil, PyYAML and packaging. It lacks what a jaxssl run imports beyond
# those: grain (and its portpicker), array-record, ml-collections, tensorboardX, pyfaidx,
# mappy (optional extra; no binary wheel on PyPI: built here from its sdist with a local
# Python of the same version, so it needs the device's glibc to be at least this machine's)
# and jaxssl itself (pure Python). pyjaspar (optional, only to
# regenerate the toy-world motif file) is a 57 MB wheel that, with the rest, would not fit the
# 64 MiB that travels with a device call: only with --with-pyjaspar (plus biopython).
#
# Binary wheels are the versions of this checkout's .venv (what the tests ran with), or the
# newest where a package is not installed there. Overrides (environment):
#   PYVER=3.12                      the device's Python (major.minor)
#   PLATFORMS="manylinux_2_28_x86_64 ..."  platform tags pip may take (glibc of the device)
#   WHEELS_DIR=wheels               output folder (emptied first)
#   PYTHON=.venv/bin/python         the Python whose pip downloads (any version)
#   BUILD_PYTHON=python3.12         a local Python $PYVER to build sdists (found on PATH or in
#                                   ~/.pyenv/versions when unset; mappy is skipped without one)
set -uo pipefail
cd "$(dirname "$0")/.."

PYVER=${PYVER:-3.12}
PLATFORMS=${PLATFORMS:-"manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64"}
DEST=${WHEELS_DIR:-wheels}
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
WITH_PYJASPAR=0
for arg in "$@"; do
  case $arg in
    --with-pyjaspar) WITH_PYJASPAR=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "device_wheels.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# Binary wheels (distribution names); mappy is built from source below.
BINARY=(grain array-record portpicker ml-collections tensorboardX pyfaidx)
((WITH_PYJASPAR)) && BINARY+=(pyjaspar biopython)
SDIST=(mappy)
# What the device's image holds (/work/.library/device/KINDS.md, 2026-11-17), used only to
# warn about a requirement that neither it nor $DEST provides.
DEVICE_HAS="absl-py aiofiles attrs cloudpickle etils flax fsspec humanize
jax jaxlib matplotlib ml-dtypes msgpack numpy optax orbax-checkpoint packaging prometheus-client
protobuf psutil pyyaml simplejson tensorstore tqdm typing-extensions uvloop zipp"

pinned() {  # NAME -> NAME==VERSION as installed in $PYTHON's environment, else NAME
  local v
  v=$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null)
  if [[ -n $v ]]; then echo "$1==$v"; else echo "$1"; fi
}

find_build_python() {
  [[ -n ${BUILD_PYTHON:-} ]] && { echo "$BUILD_PYTHON"; return; }
  local c
  for c in "python$PYVER" ~/.pyenv/versions/"$PYVER"*/bin/python; do
    if command -v "$c" >/dev/null 2>&1 &&
      [[ $("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$PYVER" ]]; then
      echo "$c"; return
    fi
  done
}

start=$SECONDS
rm -rf "$DEST" && mkdir -p "$DEST"
status=0
platform_args=()
for p in $PLATFORMS; do platform_args+=(--platform "$p"); done

echo "== binary wheels for CPython $PYVER (${PLATFORMS// /, })"
for name in "${BINARY[@]}"; do
  spec=$(pinned "$name")
  if "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp "${platform_args[@]}" -d "$DEST" "$spec" 2> >(grep -v '^WARNING: Location' >&2); then
    echo "   $spec"
  else
    echo "   $spec: FAILED" >&2; status=1
  fi
done

echo "== built from source with a local Python $PYVER"
build_py=$(find_build_python)
for name in "${SDIST[@]}"; do
  spec=$(pinned "$name")
  if [[ -z $build_py ]]; then
    echo "   $spec: skipped (no Python $PYVER here; set BUILD_PYTHON) - optional, see docs/devices.md" >&2
    continue
  fi
  if "$build_py" -m pip wheel -q --no-deps -w "$DEST" "$spec" >/tmp/device_wheels_$name.log 2>&1; then
    echo "   $spec ($build_py)"
  else
    echo "   $spec: FAILED to build (log: /tmp/device_wheels_$name.log) - optional, skipped" >&2
  fi
done

echo "== jaxssl (this checkout, pure Python)"
# Built from a clean copy, so that a stale build/ of the checkout cannot leak into the wheel.
src=$(mktemp -d /tmp/jaxssl_src.XXXXXX)
cp -r pyproject.toml README.md jaxssl data_prep configs "$src"/
for f in LICENSE LICENSE.txt setup.cfg MANIFEST.in; do [[ -e $f ]] && cp "$f" "$src"/; done
find "$src" -name __pycache__ -prune -exec rm -rf {} +
if "$PYTHON" -m pip wheel -q --no-deps -w "$DEST" "$src" >/tmp/device_wheels_jaxssl.log 2>&1; then
  echo "   $(cd "$DEST" && ls jaxssl-*.whl)"
else
  echo "   jaxssl: FAILED (log: /tmp/device_wheels_jaxssl.log)" >&2; status=1
fi
rm -rf "$src"

echo "== requirements neither in $DEST nor on the device"
"$PYTHON" - "$DEST" "$DEVICE_HAS" "$PYVER" <<'EOF'
import re, sys, zipfile
from pathlib import Path
from packaging.requirements import Requirement
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
dest, has, pyver = Path(sys.argv[1]), {norm(n) for n in sys.argv[2].split()}, sys.argv[3]
env = {"python_version": pyver, "python_full_version": pyver + ".0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
wheels = sorted(dest.glob("*.whl"))
have = has | {norm(w.name.split("-")[0]) for w in wheels}
missing = {}
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist:"):
                req = Requirement(line.split(":", 1)[1].strip())
                if (req.marker is None or req.marker.evaluate(env)) and norm(req.name) not in have:
                    missing.setdefault(norm(req.name), []).append(w.name.split("-")[0])
for req, by in sorted(missing.items()):
    print(f"   {req} (needed by {', '.join(by)})")
print("   none" if not missing else "   -> add them to BINARY in benchmarks/device_wheels.sh")
EOF

echo "== $DEST"
(cd "$DEST" && ls -l *.whl | awk '{printf "   %9d  %s\n", $5, $9}')
wheels_bytes=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
tree_bytes=$(git ls-files -co --exclude-standard -z 2>/dev/null | du --files0-from=- -cb 2>/dev/null | tail -1 | cut -f1)
echo "   wheels: $((wheels_bytes / 1024)) KiB; with the working tree that travels: $(((wheels_bytes + ${tree_bytes:-0}) / 1024)) KiB (limit 65536 KiB)"
if [[ $DEST != /* ]] && ! git check-ignore -q "$DEST/" 2>/dev/null; then
  echo "   note: $DEST/ is not git-ignored: add '/$DEST/' to .gitignore (or .git/info/exclude)" >&2
fi
echo "   on the device call, carry [\"$DEST\"]: an ignored folder travels only when carried"
echo "done in $((SECONDS - start)) s"
exit $status
