"""End to end in headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by selenium).

Logs in, approves a service, sees the records page change, checks the drift button (htmx) and that no
hostile content runs; a screenshot of each main page goes to ``test-artifacts/web/`` (or
``$DMARCPILOT_TEST_ARTIFACTS``). Without Chromium the test fails, naming the packages to install.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.site import DOMAIN, PASSWORD, Site

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DMARCPILOT_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "web"
APT = "apt-get install chromium chromium-driver (Debian packages; scripts/ensure-tools does it)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(sqlite_site: Site) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(sqlite_site.client.app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(f"headless Chromium is missing: {APT}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 900), 6000))
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _clean(driver: WebDriver) -> None:
    """Nothing hostile ran, and the CSP refused nothing (our own pages need no exception)."""
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    problems = [e["message"] for e in driver.get_log("browser")
                if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"]
    assert problems == [], problems


def _login(driver: WebDriver, base: str) -> None:
    driver.get(base + f"/domains/{DOMAIN}")
    assert "/login" in driver.current_url
    _shot(driver, "01-login")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "services-table")))
    assert driver.current_url.endswith(f"/domains/{DOMAIN}")


def test_login_approve_and_see_the_records_change(server: str, browser: WebDriver) -> None:
    base, driver = server, browser
    _login(driver, base)
    _shot(driver, "03-domain")
    _clean(driver)
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-service=sendgrid]")
    assert row.find_element(By.CLASS_NAME, "status").text == "pending"
    driver.get(base + f"/domains/{DOMAIN}/records")
    assert "include:sendgrid.net" not in driver.find_element(By.ID, "spf-record").text
    driver.get(base + f"/domains/{DOMAIN}")
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-service=sendgrid]")
    row.find_element(By.NAME, "reason").send_keys("department newsletters")
    row.find_element(By.CSS_SELECTOR, "button[value=approved]").click()
    # htmx swaps the row in: an element found just before the swap goes stale, so look again
    WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: d.find_element(
        By.CSS_SELECTOR, "tr[data-service=sendgrid] .status").text == "approved")
    driver.get(base + f"/domains/{DOMAIN}/records")
    assert "include:sendgrid.net" in driver.find_element(By.ID, "spf-record").text
    driver.find_element(By.CSS_SELECTOR, "button[hx-get]").click()  # drift on demand, through htmx
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "drift-result")))
    _shot(driver, "05-records")
    _clean(driver)
    pages = [("02-overview", "/"), ("04-source", f"/domains/{DOMAIN}/sources/203.0.113.5"),
             ("06-plan", f"/domains/{DOMAIN}/plan"), ("07-audit", f"/domains/{DOMAIN}/audit"),
             ("08-reports", "/reports"), ("09-report", "/reports/aggregate/1"), ("10-upload", "/upload"),
             ("11-quarantine", "/quarantine")]
    for name, path in pages:
        driver.get(base + path)
        assert driver.find_element(By.TAG_NAME, "h1").text
        _shot(driver, name)
        _clean(driver)
    driver.get(base + f"/domains/{DOMAIN}/audit")
    assert "department newsletters" in driver.find_element(By.ID, "audit").text
    # the reporter's hostile name is on the reports page as text
    driver.get(base + "/reports")
    assert "<script>window.__pwned=1</script>" in driver.find_element(By.ID, "reports").text
    _clean(driver)
    for name, _ in [("01-login", ""), ("03-domain", ""), ("05-records", ""), *pages]:
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5000
