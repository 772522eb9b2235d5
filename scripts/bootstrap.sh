#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the apt packages the image ships
# (packaging/apt-packages.txt), the test tools (packaging/test-apt-packages.txt), the AWS SAM CLI
# and a virtual environment with the project's dev dependencies,
# at the versions of the lock.
# Idempotent: a second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
mapfile -t packages < <(grep -v -E '^\s*(#|$)' packaging/apt-packages.txt)
mapfile -t -O "${#packages[@]}" packages < <(grep -v -E '^\s*(#|$)' packaging/test-apt-packages.txt)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  python3 -m venv "$venv"
fi
# Exactly the versions of the lock (packaging/constraints.txt), the same the image installs.
stamp="$venv/.installed"
lock=packaging/constraints.txt
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "bootstrap: installing Python dependencies into $venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -c "$lock" -e '.[dev]'
  touch "$stamp"
fi

# The AWS SAM CLI, in a virtual environment of its own outside the repository (its pins clash with
# the project's): `sam local invoke` in the README and the image tier, whose Runtime Interface
# Emulator ships inside its wheel.
sam_venv=${PREVIEW_CACHE:-/var/cache/preview-screenshot-service}/sam
sam_version=1.170.0
if [ "$("$sam_venv/bin/sam" --version 2>/dev/null)" != "SAM CLI, version $sam_version" ]; then
  echo "bootstrap: installing the AWS SAM CLI $sam_version into $sam_venv"
  mkdir -p "$(dirname "$sam_venv")"
  python3 -m venv "$sam_venv"
  "$sam_venv/bin/pip" install -q "aws-sam-cli==$sam_version"
fi
