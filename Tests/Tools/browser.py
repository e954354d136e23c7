"""Headless Chromium (Debian's chromium + chromium-driver) for the browser tests."""
import os
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


def chromium():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={tempfile.mkdtemp(prefix='zhifa-chromium-')}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver", log_output=os.devnull), options=opts)


def waiter(driver, seconds=30):
    """A wait that re-evaluates its condition when the page re-renders the element under it
    (the pages replace DOM nodes as live data arrives)."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def read(driver, fn, seconds=30):
    """Evaluates `fn(driver)` (reading texts or counting nodes), retrying while a re-render makes
    the elements it read stale."""
    return waiter(driver, seconds).until(lambda d: (fn(d),))[0]
