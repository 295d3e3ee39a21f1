"""Headless Chromium (Debian's, scripts/system-deps.sh) looking at the dashboard as an officer does:
the login form posted (the key never in a URL), the session cookie kept, the page's DOM after its
script ran, a screenshot, and what the browser logged (CSP violations show there)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Seen:
    dom: str
    log: str  # the browser's own log (stderr): console messages and policy violations


def dashboard_in_chromium(routing: str, key: str, screenshot: Path, height: int = 900) -> Seen:
    with tempfile.TemporaryDirectory() as profile:
        login = Path(profile) / "login.html"
        login.write_text(  # a page that posts the dashboard's login form at once (headless Chromium types nothing)
            f'<form method="post" action="{routing}/dashboard/login"><input name="key" value="{key}"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=8000",
            f"--window-size=1280,{height}",
            "--enable-logging=stderr",
            "--v=0",
        ]
        env = {**os.environ, "HOME": profile}
        run = ["chromium", *flags]
        dom = subprocess.run([*run, "--dump-dom", login.as_uri()], capture_output=True, text=True, timeout=90, env=env)
        shot = subprocess.run(
            [*run, f"--screenshot={screenshot}", login.as_uri()], capture_output=True, text=True, timeout=90, env=env
        )
    return Seen(dom.stdout, dom.stderr + shot.stderr)
