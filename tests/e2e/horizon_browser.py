"""Log in to Horizon as a person would, in a real headless chromium driven by selenium, and save what it shows.

Run by test_openstack inside a container's network namespace (the container network, where the VIP answers), with
HOME holding a certificate store that trusts the stack's CA: no certificate error is ignored.

    python horizon_browser.py URL VIP_NAME VIP_IP SCREENSHOT   (the admin's password on standard input)

Prints one JSON line: the page's URL and title after the login, and the headings it shows.
"""

from __future__ import annotations

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

LOGIN_WAIT = 120  # seconds: Horizon's first page after a login builds its menus from every service's API


def main() -> None:
    url, vip_name, vip_ip, screenshot = sys.argv[1:5]
    password = sys.stdin.readline().rstrip("\n")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900",
                f"--host-resolver-rules=MAP {vip_name} {vip_ip}"):  # the VIP's name, as dnsmasq gives it
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.set_page_load_timeout(LOGIN_WAIT)
        driver.get(url)
        WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.ID, "id_username")))
        driver.find_element(By.ID, "id_username").send_keys("admin")
        driver.find_element(By.ID, "id_password").send_keys(password)
        driver.find_element(By.ID, "loginBtn").click()
        WebDriverWait(driver, LOGIN_WAIT).until(expected_conditions.url_contains("/project/"))
        WebDriverWait(driver, LOGIN_WAIT).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".page-header h1")))
        driver.save_screenshot(screenshot)
        print(json.dumps({"url": driver.current_url, "title": driver.title,
                          "headings": [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h1, h2, h3")]}))
    except Exception:
        driver.save_screenshot(screenshot)  # what the browser showed when it gave up
        print(f"at {driver.current_url} ({driver.title!r})", file=sys.stderr)
        raise
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
