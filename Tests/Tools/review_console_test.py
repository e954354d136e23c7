#!/usr/bin/env python3
"""Drives the reviewer console in headless Chromium: sign in with a token, claim the oldest task,
read the case (findings, AV timeline), approve it. Usage: review_console_test.py URL TOKEN SCREENSHOT.
Prints one JSON line with what it saw; exits non-zero on any failure."""
import json
import sys

from selenium.webdriver.common.by import By

from browser import chromium, read, waiter

url, token, screenshot = sys.argv[1:4]
driver = chromium()
try:
    wait = waiter(driver, 30)
    driver.get(url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "signin").click()
    wait.until(lambda d: d.find_element(By.ID, "queue-section").is_displayed())
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.task")) >= 1)
    who = read(driver, lambda d: d.find_element(By.ID, "me").text)
    due = read(driver, lambda d: d.find_element(By.CSS_SELECTOR, "tr.task td:nth-child(3)").text)
    driver.find_element(By.ID, "claim").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.finding")) == 16)
    results = read(driver, lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "tr.finding td:nth-child(3)")])
    segments = read(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '.act[data-action-id="ACT-0012-2"] .timeline .seg'))
    gaps = read(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '.act[data-action-id="ACT-0012-2"] .timeline .gap.explained'))
    driver.find_element(By.ID, "opinion-approve").click()
    driver.find_element(By.ID, "submit-opinion").click()
    wait.until(lambda d: "Opinion recorded" in d.find_element(By.ID, "message").text)
    wait.until(lambda d: d.find_element(By.ID, "task-state").text == "approved")
    driver.save_screenshot(screenshot)
    message = read(driver, lambda d: d.find_element(By.ID, "message").text)
    state = read(driver, lambda d: d.find_element(By.ID, "task-state").text)
    print(json.dumps({"who": who, "due": due, "results": results, "segments": len(segments), "explainedGaps": len(gaps),
                      "message": message, "state": state}))
finally:
    driver.quit()
