"""Headless Chromium (Debian's chromium + chromium-driver) for the browser tests."""
import os
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def chromium():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={tempfile.mkdtemp(prefix='zhifa-chromium-')}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver", log_output=os.devnull), options=opts)
