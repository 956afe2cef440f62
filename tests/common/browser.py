"""Headless Debian Chromium driven through Selenium, for the integration tests.

Test scripts do `sys.dont_write_bytecode = True` (no __pycache__ in the
source tree), `sys.path.insert(0, <this folder>); import browser`, then
`driver = browser.open()`, `driver.get(url)`, the waits and checks below, and
`browser.close(driver)`. Only Debian's /usr/bin/chromium and /usr/bin/chromedriver
are used (tests/common/browser.rs installs them): nothing is downloaded.
"""

import atexit
import base64
import builtins
import json
import os
import shutil
import tempfile
import weakref

# Selenium Manager is skipped anyway when the Service names a driver; this keeps
# it from reaching for the internet should it ever run.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Per driver: its profile folder, out_dir, and the log entries seen so far
# (get_log drains Chromium's buffer, so each read is kept here).
_state = weakref.WeakKeyDictionary()

_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
]


def open(out_dir=None, width=1280, height=800):
    """Starts headless Chromium and returns its WebDriver.

    The browser gets a fresh profile (removed by close()) and logs console
    messages and network requests for console_errors() and requests().
    With out_dir, chromedriver's log goes to out_dir/chromedriver.log and
    screenshot() may be given None for its folder.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    profile = tempfile.mkdtemp(prefix="browser-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    log = None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        log = os.path.join(out_dir, "chromedriver.log")
    service = Service(executable_path=CHROMEDRIVER, log_output=log)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    _state[driver] = {"profile": profile, "out_dir": out_dir, "console": [], "requests": []}
    # The driver starts on Chromium's chrome:// new-tab page (a start URL in
    # the arguments does not change that); leave it and drop what it logged.
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get_log("performance")
    return driver


def close(driver):
    """Quits the browser and chromedriver and removes the profile folder."""
    state = _state.pop(driver, None)
    try:
        driver.quit()
    finally:
        if state is not None:
            shutil.rmtree(state["profile"], ignore_errors=True)


@atexit.register
def _close_all():
    # A script that dies before close() must not leave Chromium running.
    for driver in list(_state.keys()):
        try:
            close(driver)
        except Exception:
            pass


def _drain(driver):
    """Moves whatever Chromium has logged since the last read into _state."""
    state = _state[driver]
    state["console"].extend(driver.get_log("browser"))
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            state["requests"].append(message["params"]["request"]["url"])


def console_errors(driver):
    """Every SEVERE browser-log entry so far: console.error() calls, uncaught
    exceptions, and resources that failed to load. Each is a dict with
    level, message (e.g. 'http://host/page 12:17 "boom"'), source, timestamp."""
    _drain(driver)
    return [e for e in _state[driver]["console"] if e.get("level") == "SEVERE"]


def requests(driver):
    """Every URL the browser has requested so far, in order, repeats kept."""
    _drain(driver)
    return list(_state[driver]["requests"])


_LOCAL = ("data:", "blob:", "about:", "chrome:", "chrome-untrusted:", "chrome-extension:", "devtools:")


def foreign_requests(driver, origin):
    """The requested URLs that leave `origin` (e.g. 'http://127.0.0.1:8000'),
    leaving out data:, blob:, about: and the browser's own chrome...: and
    devtools: schemes, which never reach the network."""
    return [u for u in requests(driver) if not u.startswith(origin) and not u.startswith(_LOCAL)]


def wait(driver, css, timeout=10):
    """Waits until an element matching `css` is present and visible; returns it."""
    return WebDriverWait(driver, timeout).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, css)),
        f"no visible {css!r} after {timeout}s",
    )


def wait_gone(driver, css, timeout=10):
    """Waits until no element matching `css` is visible (absent or hidden)."""
    WebDriverWait(driver, timeout).until(
        EC.invisibility_of_element_located((By.CSS_SELECTOR, css)),
        f"{css!r} still visible after {timeout}s",
    )


def wait_text(driver, css, text, timeout=10):
    """Waits until an element matching `css` has `text` in its visible text;
    returns that element."""

    def found(d):
        return next((e for e in d.find_elements(By.CSS_SELECTOR, css) if text in e.text), False)

    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        found, f"no {css!r} with text {text!r} after {timeout}s"
    )


def wait_js(driver, expression, timeout=10):
    """Waits until the JavaScript `expression` is truthy in the page; returns
    its value."""
    return WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(f"return ({expression});"),
        f"`{expression}` not truthy after {timeout}s",
    )


def screenshot(driver, out_dir, name):
    """Saves the whole page, below the fold too, as out_dir/name.png and
    returns the path (out_dir None: the one given to open())."""
    out_dir = out_dir if out_dir is not None else _state[driver]["out_dir"]
    if out_dir is None:
        raise ValueError("screenshot needs an out_dir, here or in open()")
    os.makedirs(out_dir, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    # captureBeyondViewport with a clip of the full content renders the page
    # whole without resizing the window.
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path = os.path.join(out_dir, f"{name}.png")
    # builtins.open: this module's open() starts a browser.
    with builtins.open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    return path


def load_time_ms(driver, timeout=10):
    """Milliseconds from navigation start to the end of the load event
    (Navigation Timing), waiting for that event if it has not ended yet."""
    return wait_js(
        driver,
        "(performance.getEntriesByType('navigation')[0] || {}).loadEventEnd",
        timeout,
    )


def until_ready_ms(driver, css, timeout=10):
    """Milliseconds from navigation start until an element matching `css`
    (the page's "data loaded" marker) is in the document, by the page's own
    clock (performance.now()). A MutationObserver catches the moment the
    marker appears; if it was already there (driver.get() waits for the load
    event), the number is the time of this call, an upper bound."""
    old = driver.timeouts.script
    driver.set_script_timeout(timeout + 5)
    try:
        ms = driver.execute_async_script(
            """
            const [css, timeout, done] = arguments;
            if (document.querySelector(css)) return done(performance.now());
            const observer = new MutationObserver(() => {
              if (document.querySelector(css)) {
                observer.disconnect();
                done(performance.now());
              }
            });
            observer.observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
            setTimeout(() => { observer.disconnect(); done(null); }, timeout * 1000);
            """,
            css,
            timeout,
        )
    finally:
        driver.set_script_timeout(old)
    if ms is None:
        raise TimeoutError(f"no {css!r} after {timeout}s")
    return ms
