"""Headless Chromium through selenium, for the web view's tests: ``chromium()`` opens one
(under CI=true a missing browser fails the test instead of skipping it), and ``text_of`` /
``count_of`` read the page."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import IN_CI

__all__ = ["chromium", "count_of", "text_of"]

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _browser_or_reason() -> tuple[Any, str]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        return None, f"selenium is not installed: {exc}"
    binary = next((p for name in CHROMIUM if (p := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        return None, "no chromium and chromium-driver (apt-get install chromium chromium-driver)"
    options = Options()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1150",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # driver.get_log
    try:
        return webdriver.Chrome(service=Service(driver_path), options=options), ""
    except Exception as exc:
        return None, f"chromium does not start: {exc}"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driver, quit on exit; skips the test when none can start (fails
    it under CI=true)."""
    driver, reason = _browser_or_reason()
    if driver is None:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: Any, selector: str) -> str:
    """The text of the first element ``selector`` finds ("" when none)."""
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            selector,
        )
    )


def count_of(driver: Any, selector: str) -> int:
    return int(
        driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector)
    )
