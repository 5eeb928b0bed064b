"""Debian's Chromium for the browser tests: found on PATH, or installed with apt when missing;
and the screenshots those tests keep as artifacts.

Playwright's own browser download needs the internet; Debian's package comes from the
package mirror every developer machine and CI reaches, so the tests drive that one through
``executable_path``. Installing needs root (CI and the dev machines run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Page

# Kept after the run (gitignored); CI can collect the folder. Printed in pytest's summary.
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "temporal-ui"
kept_screenshots: list[Path] = []

CANDIDATES = ("chromium", "chromium-browser")
INSTALL_COMMANDS = (
    ["apt-get", "update"],
    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
)


class ChromiumUnavailable(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> str:
    """The path of a headless-capable Chromium, installing Debian's ``chromium`` if needed.

    Fails (never skips) with what to do by hand: a browser test that silently skipped on a
    machine without a browser would prove nothing."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0:
        raise ChromiumUnavailable(
            "Chromium is not installed and installing it needs root: "
            "run `sudo apt-get update && sudo apt-get install -y chromium`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in INSTALL_COMMANDS:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ChromiumUnavailable(
                f"`{' '.join(argv)}` failed (exit {done.returncode}); install Chromium by hand "
                f"with `apt-get update && apt-get install -y chromium`:\n{done.stderr[-2000:]}"
            )
    found = find_chromium()
    if not found:
        raise ChromiumUnavailable("apt-get installed `chromium` but no chromium is on PATH")
    return found


async def keep_screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    kept_screenshots.append(path)
    return path


if __name__ == "__main__":
    print(ensure_chromium())
