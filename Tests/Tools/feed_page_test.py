#!/usr/bin/env python3
"""Loads the public feed page in headless Chromium and reports the entries it shows. With
WAIT_ID, it then prints "ready" and waits (without reloading) until that entry shows as withdrawn —
the page updates itself from the live stream. Usage: feed_page_test.py URL SCREENSHOT [WAIT_ID].
Prints one JSON line at the end; exits non-zero on failure."""
import json
import sys

from selenium.webdriver.common.by import By

from browser import chromium, read, waiter

url, screenshot = sys.argv[1:3]
wait_id = sys.argv[3] if len(sys.argv) > 3 else None
driver = chromium()
try:
    driver.set_window_size(412, 915)  # a phone
    driver.get(url + "/")
    waiter(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article[data-entry-id]")) >= 1)
    waiter(driver, 30).until(lambda d: d.find_element(By.ID, "live").text != "")

    def entries():
        return read(driver, lambda d: [{"id": a.get_attribute("data-entry-id"), "status": a.get_attribute("data-status"), "text": a.text}
                                       for a in d.find_elements(By.CSS_SELECTOR, "article[data-entry-id]")])

    first = entries()
    overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
    withdrawn_live = None
    if wait_id:
        print("ready", flush=True)
        sel = f'article[data-entry-id="{wait_id}"][data-status="withdrawn"]'
        waiter(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, sel)) == 1)
        withdrawn_live = read(driver, lambda d: d.find_element(By.CSS_SELECTOR, sel).text)
    driver.save_screenshot(screenshot)
    print(json.dumps({"entries": first, "after": entries(), "withdrawnLive": withdrawn_live, "title": driver.title,
                      "horizontalOverflow": overflow, "count": read(driver, lambda d: d.find_element(By.ID, "count").text)}, ensure_ascii=False))
finally:
    driver.quit()
