#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: Elixir/OTP from Debian, the deb-src entry that
# lets `apt-get source` fetch the default corpus, a virtual environment at .venv with
# torch==2.13.0 installed first, and this project (editable) with its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# deb-src entry for the mirror already configured (deb822 or one-line format).
if ! grep -rqs '^\(Types:.*deb-src\|deb-src \)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
  elif [ -f /etc/apt/sources.list ]; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $SUDO tee -a /etc/apt/sources.list >/dev/null
  fi
  NEED_UPDATE=1
fi

# virtuoso-opensource: the remote SPARQL endpoint the tests run against (its dba password is
# preseeded so the install never prompts; our fixtures start private loopback-only instances
# and never use the packaged service). bubblewrap: the sandbox for generated code.
PKGS="elixir dpkg-dev virtuoso-opensource bubblewrap"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Java runs the OWL reasoners (HermiT); any Java >= 11 already on the machine will do.
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"
if [ -n "$missing" ] || [ "${NEED_UPDATE:-0}" = 1 ]; then
  $SUDO apt-get update -qq
fi
if [ -n "$missing" ]; then
  case "$missing" in *virtuoso*)
    for q in virtuoso-opensource-7/dba-password virtuoso-opensource-7/dba-password-again; do
      echo "virtuoso-opensource-7 $q password dba" | $SUDO debconf-set-selections
    done;;
  esac
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch first: on these machines torch==2.13.0 is a local CPU wheel; anything else pulls CUDA.
.venv/bin/python -c 'import torch' 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[dev]'
