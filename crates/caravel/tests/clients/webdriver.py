"""A small W3C WebDriver client (https://www.w3.org/TR/webdriver2/) over
http.client, for the console's browser tests: Debian's chromedriver drives
Debian's headless Chromium. Only what the tests use: open a page, find
elements by CSS selector, type, click, read text and attributes, run a
script, wait for a condition, take screenshots."""

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebDriverError(Exception):
    pass


class Browser:
    """One headless Chromium, started with its own chromedriver and an
    empty profile; `close()` ends both."""

    def __init__(self, width=1280, height=900, downloads=None):
        driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="caravel-chromium-")
        self.driver = subprocess.Popen([driver, f"--port={self.port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        # The flags keep Chromium off the network (this machine has none
        # beyond loopback) and fit a root user in a container.
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                "--lang=en-US"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium") or "/usr/bin/chromium", "args": args,
                # Downloads land in DOWNLOADS without asking.
                "prefs": {"download.default_directory": downloads or self.profile,
                          "download.prompt_for_download": False},
            },
        }}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = json.dumps(body) if body is not None else None
        c.request(method, path, data, {"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        answer = json.loads(r.read() or b"{}")
        c.close()
        value = answer.get("value")
        if r.status >= 400:
            raise WebDriverError(f"{method} {path}: {r.status} {value}")
        return value if path != "/session" else answer.get("value", answer)

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def close(self):
        if self.session is None:
            return
        try:
            self._call("DELETE", f"/session/{self.session}")
        except (OSError, WebDriverError):
            pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
        self.session = None

    # ---- pages and scripts ----

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def alert_text(self):
        """The text of an open alert/confirm dialog, or None."""
        try:
            return self.cmd("GET", "/alert/text")
        except WebDriverError:
            return None

    def run(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def set_size(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def wait(self, what, condition, timeout=20):
        """Polls CONDITION (a function) until it gives a true value."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = condition()
                if last:
                    return last
            except WebDriverError as e:
                last = e
            time.sleep(0.1)
        raise WebDriverError(f"timed out waiting for {what} (last: {last!r:.300})")

    # ---- elements ----

    def find_all(self, css):
        found = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in found]

    def find(self, css, timeout=20):
        """The first element matching CSS, waiting for it to appear."""
        return self.wait(css, lambda: (self.find_all(css) or [None])[0], timeout)

    def again(self, what, action, tries=5):
        """ACTION (given a fresh lookup) until it does not meet an element
        the page replaced meanwhile (a page that redraws itself)."""
        for n in range(tries):
            try:
                return action()
            except WebDriverError as e:
                if "stale element" not in str(e) or n == tries - 1:
                    raise
                time.sleep(0.2)
        raise WebDriverError(f"{what}: the page kept changing")

    def fill(self, css, text):
        """Types TEXT into the field CSS names, as found now."""
        return self.again(css, lambda: self.find(css).type(text))

    def press(self, css):
        """Clicks what CSS names, as found now."""
        return self.again(css, lambda: self.find(css).click())

    def page(self, name, timeout=20):
        """Waits until the console's page NAME has loaded its data."""
        return self.find(f'main[data-page="{name}"][data-ready="1"]', timeout)

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return path


class Element:
    def __init__(self, browser, id):
        self.b, self.id = browser, id

    def click(self):
        # Into the middle of the window first: a sticky header must not sit
        # over the element when the click lands.
        self.b.run("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})", {ELEMENT: self.id})
        self.b.cmd("POST", f"/element/{self.id}/click", {})
        return self

    def type(self, text, clear=True):
        if clear:
            self.b.cmd("POST", f"/element/{self.id}/clear", {})
        self.b.cmd("POST", f"/element/{self.id}/value", {"text": text})
        return self

    @property
    def text(self):
        return self.b.cmd("GET", f"/element/{self.id}/text")

    def attr(self, name):
        return self.b.cmd("GET", f"/element/{self.id}/attribute/{name}")

    def prop(self, name):
        return self.b.cmd("GET", f"/element/{self.id}/property/{name}")

    def find_all(self, css):
        found = self.b.cmd("POST", f"/element/{self.id}/elements", {"using": "css selector", "value": css})
        return [Element(self.b, e[ELEMENT]) for e in found]

    def find(self, css):
        found = self.find_all(css)
        if not found:
            raise WebDriverError(f"no {css} inside the element")
        return found[0]

    def screenshot(self, path):
        png = base64.b64decode(self.b.cmd("GET", f"/element/{self.id}/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return path
