#!/usr/bin/env bash
# Installs the Debian packages mail-intake needs, only those missing.
# PostgreSQL (server), Tesseract OCR (English), libmagic, poppler (PDF pages to images),
# antiword (Word 97-2003 .doc text for the classifier), Chromium (the dashboard's browser test)
# and docker-compose (to check docker-compose.yml).
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
dpkg -s libmagic1 >/dev/null 2>&1 || missing+=(libmagic1)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v antiword >/dev/null 2>&1 || missing+=(antiword)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
(docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1) || missing+=(docker-compose)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
