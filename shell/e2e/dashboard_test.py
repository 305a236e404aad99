#!/usr/bin/env python3
"""End-to-end test of the Mamamia dashboard (GET /) in headless Chromium.

Starts the real `mamamia` server (in memory, on a free loopback port), puts
state in it through the JSON API, drives the page with selenium and checks
what the page shows and does against the same JSON API.

Run through shell/e2e/run.sh, which installs chromium, chromedriver and
selenium and builds the server. Prints one line per test and a closing
`N passed, M failed`; exits 1 on any failure.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

LAPTOP = (1366, 900)
PHONE = (390, 844)
WAIT_S = 10

ARGS = None


# ---------------------------------------------------------------- the server


class Server:
    """One `mamamia --in-memory` process on a free loopback port."""

    def __init__(self, *extra, addr="127.0.0.1:0"):
        self.token = None
        if "--auth-token" in extra:
            self.token = extra[extra.index("--auth-token") + 1]
        self.process = subprocess.Popen(
            [ARGS.server, "--in-memory", "--addr", addr, "--log-level", "warn", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.match(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"server did not announce its address: {line!r}")
        self.url = match.group(1)
        self.addr = self.url.removeprefix("http://")

    def api(self, method, path, body=None, token="default"):
        token = self.token if token == "default" else token
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ok(self, method, path, body=None):
        status, answer = self.api(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status} {answer}"
        return answer

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------- the browser


def browser(size=LAPTOP):
    options = webdriver.ChromeOptions()
    options.binary_location = ARGS.chromium
    profile = tempfile.mkdtemp(prefix="mamamia-e2e-chromium-")
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(ARGS.chromedriver))
    driver.set_window_size(*size)
    driver.profile_dir = profile
    return driver


def wait_for(driver, condition, message, timeout=WAIT_S):
    """Waits until `condition(driver)` is truthy and returns its value."""

    def tolerant(d):
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False  # the page re-rendered under us; look again

    try:
        return WebDriverWait(driver, timeout).until(tolerant)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for: {message}") from None


def css(driver, selector):
    return driver.find_element(By.CSS_SELECTOR, selector)


def text_of(driver, selector):
    return css(driver, selector).text.strip()


def number(text):
    """`1,234` -> 1234 (the page formats numbers with thousands separators)."""
    return int(text.replace(",", ""))


def visible(driver, element_id):
    elements = driver.find_elements(By.ID, element_id)
    return bool(elements) and elements[0].is_displayed()


def human_bytes(n):
    """What the page shows for a byte count: 7 B, 57.6 KiB, 1.2 MiB."""
    units, i = ["B", "KiB", "MiB", "GiB", "TiB"], 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n} {units[i]}" if i == 0 else f"{n:.1f} {units[i]}"


def screenshot(driver, name):
    path = os.path.join(ARGS.out, name)
    driver.save_screenshot(path)
    print(f"    screenshot: {path}")


def full_page_screenshot(driver, name, size):
    """Resizes the window to the page's height so the whole page is in the shot."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size[0], max(size[1], height + 140))
    screenshot(driver, name)
    driver.set_window_size(*size)


def accept_confirm(driver, expect):
    alert = wait_for(driver, lambda d: d.switch_to.alert, "a confirm dialog")
    assert expect in alert.text, f"confirm says {alert.text!r}, expected {expect!r}"
    alert.accept()


def dismiss_confirm(driver):
    alert = wait_for(driver, lambda d: d.switch_to.alert, "a confirm dialog")
    alert.dismiss()


def no_alert(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


# ---------------------------------------------------------------- fixtures


def populate(server):
    """orders: 1,200 messages; group billing: 0..2 dead, 3 processed, 4 leased, 5 in backoff."""
    for start in (0, 600):
        server.ok(
            "POST",
            "/v1/logs/orders/messages",
            {
                "messages": [
                    {
                        "payload": {"order": start + i, "amount": 12.5},
                        "key": f"customer-{(start + i) % 7}",
                        "headers": {"source": "e2e"},
                    }
                    for i in range(600)
                ]
            },
        )
    leases = server.ok(
        "POST",
        "/v1/logs/orders/groups/billing/acquire",
        {"consumer": "worker-1", "max": 5, "lease_ms": 600_000},
    )["leases"]
    assert [lease["index"] for lease in leases] == [0, 1, 2, 3, 4], leases
    settlements = [
        {"index": lease["index"], "token": lease["token"], "outcome": "dead", "reason": "card declined"}
        for lease in leases[:3]
    ] + [{"index": 3, "token": leases[3]["token"], "outcome": "processed"}]
    results = server.ok("POST", "/v1/logs/orders/groups/billing/settle", {"settlements": settlements})
    assert all(r["status"] == "ok" for r in results["results"]), results
    lease = server.ok("POST", "/v1/logs/orders/groups/billing/acquire", {"consumer": "worker-2", "max": 1})["leases"][0]
    server.ok(
        "POST",
        "/v1/logs/orders/groups/billing/settle",
        {"settlements": [{"index": lease["index"], "token": lease["token"], "outcome": "retry", "delay_ms": 3_600_000}]},
    )
    assert group_state(server, "orders", "billing")["backoff"] == 1
    # A second group that has not started yet, and a log without groups.
    server.ok("PUT", "/v1/logs/orders/groups/audit", {})
    server.ok("POST", "/v1/logs/events/messages", {"messages": [{"payload": "hello"}]})


def group_state(server, log, group):
    return server.ok("GET", f"/v1/logs/{log}/groups/{group}")


def group_row(log, group):
    return f'tr.group-row[data-log="{log}"][data-group="{group}"]'


def open_page(driver, server):
    driver.get(server.url + "/")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "section.log"), "the logs")
    # A marker that a page reload would wipe: refreshes must not reload.
    driver.execute_script("window.__e2eMarker = 'still here';")


# ---------------------------------------------------------------- the tests


def test_overview_matches_api(server, driver):
    open_page(driver, server)
    logs = {log["name"]: log for log in server.ok("GET", "/v1/logs")["logs"]}
    assert set(logs) == {"orders", "events"}
    for name, log in logs.items():
        section = f'section.log[data-log="{name}"]'
        for field in ("first_index", "next_index"):
            shown = text_of(driver, f'{section} [data-field="{field}"]')
            assert number(shown) == log[field], f"{name} {field}: page {shown}, API {log[field]}"
        shown = text_of(driver, f'{section} [data-field="bytes"]')
        assert shown == human_bytes(log["bytes"]), f"{name} bytes: page {shown!r}, API {log['bytes']}"
        for group in log["groups"]:
            row = group_row(name, group["group"])
            for field in ("base_offset", "lag", "available", "leased", "backoff", "dead"):
                shown = text_of(driver, f'{row} [data-field="{field}"]')
                assert number(shown) == group[field], (
                    f"{name}/{group['group']} {field}: page {shown!r}, API {group[field]}"
                )
    # Numbers are formatted with thousands separators.
    assert text_of(driver, 'section.log[data-log="orders"] [data-field="next_index"]') == "1,200"
    assert text_of(driver, f'{group_row("orders", "billing")} [data-field="lag"]') == "1,196"
    assert "No consumer groups" in text_of(driver, 'section.log[data-log="events"]')
    # States use the same colours wherever they appear.
    colours = driver.execute_script(
        "const c = (s) => getComputedStyle(document.querySelector(s)).color;"
        "const row = 'tr.group-row[data-group=billing] ';"
        "return [c(row + '[data-field=dead]'), c('th.s-dead'), c(row + '[data-field=leased]'), c('th.s-leased')];"
    )
    assert colours[0] == colours[1] and colours[2] == colours[3], colours
    assert colours[0] != colours[2], colours

    # Live refresh without reloading: append and watch the numbers move.
    server.ok("POST", "/v1/logs/orders/messages", {"messages": [{"payload": i} for i in range(34)]})
    wait_for(
        driver,
        lambda d: text_of(d, 'section.log[data-log="orders"] [data-field="next_index"]') == "1,234",
        "next index 1,234 after appending",
    )
    wait_for(
        driver,
        lambda d: text_of(d, f'{group_row("orders", "billing")} [data-field="lag"]') == "1,230",
        "lag 1,230 after appending",
    )
    # A consumer at work: the processed rate and the live charts follow.
    for _ in range(4):
        leases = server.ok(
            "POST", "/v1/logs/orders/groups/audit/acquire", {"consumer": "auditor", "max": 60}
        )["leases"]
        server.ok(
            "POST",
            "/v1/logs/orders/groups/audit/settle",
            {"settlements": [{"index": l["index"], "token": l["token"], "outcome": "processed"} for l in leases]},
        )
        time.sleep(1)
    audit = group_row("orders", "audit")
    wait_for(driver, lambda d: re.fullmatch(r"[\d.,]+/s", text_of(d, f'{audit} [data-field="processed_rate"]'))
             and text_of(d, f'{audit} [data-field="processed_rate"]') != "0.0/s", "a processed rate")
    polylines = driver.find_elements(By.CSS_SELECTOR, f"{audit} svg.spark polyline")
    assert len(polylines) == 2, "the row's chart has a lag and a throughput line"
    assert number(text_of(driver, f'{audit} [data-field="base_offset"]')) == group_state(server, "orders", "audit")["base_offset"]
    assert driver.execute_script("return window.__e2eMarker") == "still here", "the page reloaded"
    full_page_screenshot(driver, "overview-laptop.png", LAPTOP)


def test_drill_down_and_redrive(server, driver):
    open_page(driver, server)
    css(driver, group_row("orders", "billing")).click()
    wait_for(driver, lambda d: visible(d, "detail"), "the group drill-down")
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#dead-table tbody tr")) == 3, "3 dead letters")
    state = group_state(server, "orders", "billing")
    assert number(text_of(driver, "#detail-dead")) == state["dead"] == 3
    assert number(text_of(driver, "#detail-base")) == state["base_offset"] == 4
    dead_rows = driver.find_elements(By.CSS_SELECTOR, "#dead-table tbody tr")
    assert [row.get_attribute("data-index") for row in dead_rows] == ["0", "1", "2"]
    assert "card declined" in dead_rows[0].text
    wait_for(driver, lambda d: '"order":0' in text_of(d, '#dead-table tr[data-index="0"] .preview'), "payload preview")
    # The lease still held on index 4 is listed with its consumer.
    wait_for(driver, lambda d: "worker-1" in text_of(d, "#leases-table"), "the current lease")
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#detail-charts svg.big polyline")) == 2, "the live charts")
    assert text_of(driver, '#leases-table tr[data-index="4"] [data-field="consumer"]') == "worker-1"
    expires_in = text_of(driver, '#leases-table tr[data-index="4"] [data-field="expires_in"]')
    assert re.fullmatch(r"9 min \d+ s", expires_in), f"a 10 min lease expires in {expires_in!r}"

    # Message inspector: payload, key, headers and the attempt history.
    field = css(driver, "#inspect-index")
    field.clear()
    field.send_keys("1")
    css(driver, "#inspect button[type=submit]").click()
    wait_for(driver, lambda d: "card declined" in text_of(d, "#inspected"), "the attempt history of message 1")
    assert json.loads(text_of(driver, "#inspected-payload")) == {"order": 1, "amount": 12.5}
    assert text_of(driver, "#inspected-key") == "customer-1"
    assert text_of(driver, "#inspected-headers") == "source: e2e"
    attempts = text_of(driver, "#attempts-table tbody")
    for expected in ("worker-1", "dead", "card declined"):
        assert expected in attempts, f"{expected!r} not in the attempt history: {attempts!r}"
    full_page_screenshot(driver, "group-laptop.png", LAPTOP)
    # An index past the end is an error in the inspector, not a broken page.
    field = css(driver, "#inspect-index")
    field.clear()
    field.send_keys("99999")
    css(driver, "#inspect button[type=submit]").click()
    error = wait_for(driver, lambda d: text_of(d, "#inspected-error"), "an inspector error")
    assert "99999" in error, error

    # Redrive one, but dismiss the confirmation: nothing changes.
    css(driver, '#dead-table tr[data-index="0"] .redrive-one').click()
    dismiss_confirm(driver)
    time.sleep(0.5)
    assert group_state(server, "orders", "billing")["dead"] == 3

    # Select one dead letter, redrive selected, confirm.
    wait_for(driver, lambda d: css(d, '#dead-table tr[data-index="1"] .dead-pick').click() or True, "pick row 1")
    assert css(driver, '#dead-table tr[data-index="1"] .dead-pick').is_selected()
    css(driver, "#redrive-selected").click()
    accept_confirm(driver, "message 1")
    wait_for(driver, lambda d: group_state(server, "orders", "billing")["dead"] == 2, "dead 2 in the API")
    state = group_state(server, "orders", "billing")
    # base_offset never moves back: the redriven message is tracked above it.
    assert state["base_offset"] == 4 and state["redriven_pending"] == 1, state
    dead = server.ok("GET", "/v1/logs/orders/groups/billing/dead")["dead"]
    assert [d["index"] for d in dead] == [0, 2], dead
    # Message 1 is available again: the next acquire gets it.
    leases = server.ok(
        "POST", "/v1/logs/orders/groups/billing/acquire", {"consumer": "checker", "max": 1}
    )["leases"]
    assert [lease["index"] for lease in leases] == [1], leases
    # The page follows without a reload.
    wait_for(driver, lambda d: text_of(d, "#detail-dead") == "2", "dead 2 on the page")
    wait_for(driver, lambda d: text_of(d, f'{group_row("orders", "billing")} [data-field="dead"]') == "2", "dead 2 in the overview")

    # Redrive all.
    css(driver, "#redrive-all").click()
    accept_confirm(driver, "all 2 dead letters")
    wait_for(driver, lambda d: group_state(server, "orders", "billing")["dead"] == 0, "dead 0 in the API")
    wait_for(driver, lambda d: visible(d, "no-dead"), "no dead letters on the page")
    # The other group was not touched.
    assert group_state(server, "orders", "audit")["dead"] == 0
    assert driver.execute_script("return window.__e2eMarker") == "still here", "the page reloaded"
    assert no_alert(driver)


def test_phone_layout(server, driver):
    # One more dead letter, so the phone shot shows one.
    lease = server.ok("POST", "/v1/logs/orders/groups/audit/acquire", {"consumer": "auditor", "max": 1})["leases"][0]
    server.ok(
        "POST",
        "/v1/logs/orders/groups/audit/settle",
        {"settlements": [{"index": lease["index"], "token": lease["token"], "outcome": "dead", "reason": "schema mismatch: amount is not a number"}]},
    )
    driver.set_window_size(*PHONE)
    open_page(driver, server)
    # Nothing may make the whole page scroll sideways; wide tables scroll in their own box.
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
    full_page_screenshot(driver, "overview-phone.png", PHONE)
    css(driver, group_row("orders", "audit")).click()
    wait_for(driver, lambda d: visible(d, "detail"), "the group drill-down")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#dead-table tbody tr"), "dead letters")
    button = css(driver, "#dead-table .redrive-one")
    assert button.is_displayed() and button.rect["x"] + button.rect["width"] <= PHONE[0], "redrive button off screen"
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"drill-down is {overflow}px wider than a phone screen"
    full_page_screenshot(driver, "group-phone.png", PHONE)


def test_only_own_api_is_fetched(server, driver):
    open_page(driver, server)
    css(driver, group_row("orders", "billing")).click()
    wait_for(driver, lambda d: visible(d, "detail"), "the group drill-down")
    time.sleep(2.5)  # at least one live refresh
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    assert urls, "no API calls seen"
    foreign = [u for u in urls if not u.startswith(server.url + "/v1/")]
    assert not foreign, f"fetches outside the server's JSON API: {foreign}"
    # ...and only documented endpoints of it (the ones in /openapi.json), no private ones.
    documented = [
        re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        for template in server.ok("GET", "/openapi.json")["paths"]
    ]
    for url in urls:
        path = url.removeprefix(server.url).split("?")[0]
        assert any(p.match(path) for p in documented), f"{path} is not in /openapi.json"
    external = driver.execute_script(
        "return [...document.querySelectorAll('[src],link[href]')].map((e) => e.src || e.href)"
        ".filter((url) => !url.startsWith('data:'))"
    )
    assert not external, f"external assets: {external}"
    # The server forbids anything else too, and the page breaks none of its rules.
    with urllib.request.urlopen(server.url + "/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"] or ""
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy, policy
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"errors in the browser console: {errors}"


def test_auth_token(driver):
    server = Server("--auth-token", "s3cret-token")
    try:
        populate(server)
        driver.get(server.url + "/")
        wait_for(driver, lambda d: visible(d, "auth"), "the token prompt")
        assert not driver.find_elements(By.CSS_SELECTOR, "section.log"), "data shown without a token"
        screenshot(driver, "auth-prompt.png")
        # A wrong token is refused and the prompt says so.
        css(driver, "#token").send_keys("wrong")
        css(driver, "#auth button[type=submit]").click()
        wait_for(driver, lambda d: visible(d, "auth") and "rejected" in text_of(d, "#auth"), "the prompt again")
        field = css(driver, "#token")
        field.clear()
        field.send_keys("s3cret-token")
        css(driver, "#auth button[type=submit]").click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "section.log"), "the logs, with the token")
        assert not visible(driver, "auth")
        shown = text_of(driver, f'{group_row("orders", "billing")} [data-field="dead"]')
        assert number(shown) == server.ok("GET", "/v1/logs/orders/groups/billing")["dead"]
        # Drill-down and redrive work with the token too.
        css(driver, group_row("orders", "billing")).click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#dead-table tbody tr"), "dead letters")
        css(driver, '#dead-table tr[data-index="2"] .redrive-one').click()
        accept_confirm(driver, "message 2")
        wait_for(driver, lambda d: group_state(server, "orders", "billing")["dead"] == 2, "dead 2 in the API")
        # The token is asked for once: a reload in the same tab keeps it.
        driver.refresh()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "section.log"), "the logs after a reload")
        assert not visible(driver, "auth")
    finally:
        server.stop()


def test_unreachable_banner(driver):
    server = Server()
    try:
        populate(server)
        open_page(driver, server)
        assert not visible(driver, "error")
        server.stop()
        wait_for(driver, lambda d: visible(d, "error"), "the error banner")
        assert "unreachable" in text_of(driver, "#error").lower(), text_of(driver, "#error")
        assert "unreachable" in text_of(driver, "#status")
        screenshot(driver, "unreachable.png")
        # Back on the same address: the banner goes away by itself.
        server = Server(addr=server.addr)
        wait_for(driver, lambda d: not visible(d, "error"), "the banner to clear", timeout=15)
        assert "live" in text_of(driver, "#status")
    finally:
        server.stop()


# ---------------------------------------------------------------- the runner


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the mamamia binary")
    parser.add_argument("--out", required=True, help="where screenshots go")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("only", nargs="*", help="run only these tests")
    ARGS = parser.parse_args()
    os.makedirs(ARGS.out, exist_ok=True)

    shared = [test_overview_matches_api, test_drill_down_and_redrive, test_phone_layout, test_only_own_api_is_fetched]
    alone = [test_auth_token, test_unreachable_banner]
    wanted = lambda test: not ARGS.only or any(name in test.__name__ for name in ARGS.only)
    passed, failed = 0, 0

    def run(test, *args):
        nonlocal passed, failed
        driver = browser()
        started = time.monotonic()
        try:
            test(*args, driver)
            passed += 1
            print(f"ok   {test.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {test.__name__}", flush=True)
            traceback.print_exc()
            screenshot(driver, f"failed-{test.__name__}.png")
        finally:
            driver.quit()
            shutil.rmtree(driver.profile_dir, ignore_errors=True)

    server = Server()
    try:
        populate(server)
        for test in filter(wanted, shared):
            run(test, server)
    finally:
        server.stop()
    for test in filter(wanted, alone):
        run(test)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
