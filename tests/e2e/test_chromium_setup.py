"""The browser test's setup: Chromium is found, or installed with apt, or the run fails saying
what to do (never a silent skip). apt and PATH are faked here; the real install runs in the
browser test's session fixture on a machine without Chromium."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.e2e import chromium


def test_an_installed_chromium_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(chromium.subprocess, "run", _must_not_run)
    assert chromium.ensure_chromium() == "/usr/bin/chromium"


def test_a_missing_chromium_is_installed_with_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    ran: list[list[str]] = []

    def apt(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        if argv[:2] == ["apt-get", "install"]:
            installed.append("chromium")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(
        chromium.shutil, "which", lambda name: f"/usr/bin/{name}" if name in installed else None
    )
    monkeypatch.setattr(chromium.subprocess, "run", apt)
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 0)
    assert chromium.ensure_chromium() == "/usr/bin/chromium"
    assert ran == [list(argv) for argv in chromium.INSTALL_COMMANDS]


def test_a_failed_install_fails_with_the_command_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def apt(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 100, "", "E: Unable to locate package chromium")

    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(chromium.subprocess, "run", apt)
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 0)
    with pytest.raises(chromium.ChromiumUnavailable) as failed:
        chromium.ensure_chromium()
    assert "apt-get update && apt-get install -y chromium" in str(failed.value)
    assert "Unable to locate package chromium" in str(failed.value)


def test_without_root_it_says_to_install_with_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(chromium.subprocess, "run", _must_not_run)
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)
    with pytest.raises(chromium.ChromiumUnavailable, match="sudo apt-get install -y chromium"):
        chromium.ensure_chromium()


def _must_not_run(*args: Any, **kwargs: Any) -> None:
    raise AssertionError(f"nothing should be installed: {args}")
