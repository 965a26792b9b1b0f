"""The web console (/ui/) in headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
Selenium) against the local stack: one browser session walks the whole flow a team lead would.

A new admin signs in with a token, creates a Text + Choices project, sees only the models that fit,
gets the API's error at the threshold field, imports tasks (one of them an HTML payload that must
render as text), labels through the API, watches the training panel reach a promoted version with
its metrics and learning curve, rolls back to the first version and sees its pre-annotation job's
progress and the pin, tries a prediction, adds a custom model (a fake ML backend on
loopback) and sees its health, creates a reader token; the reader then finds every control disabled.

Screenshots go to a temporary directory, or to $ACTIVELABEL_CONSOLE_SCREENSHOTS (`make
console-screenshots` writes docs/console/). First-load transfer size and per-panel timings are
printed (reported, not asserted). Without chromium the test skips, unless $ACTIVELABEL_REQUIRE_BROWSER
is set (`make test` sets it after installing the browser), where it fails.
"""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

from activelabel_client.datasets import SMS_LABEL_CONFIG
from tests.functional.ls_fakes import FakeMLBackend, NotAnMLBackend, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
XSS = "<img src=x onerror=alert(1)>"
MIN_COMPLETIONS = 4
TWO_CONTROLS = """<View><Text name="text" value="$text"/>
<Choices name="topic" toName="text"><Choice value="sport"/><Choice value="news"/></Choices>
<Choices name="tone" toName="text"><Choice value="calm"/><Choice value="angry"/></Choices>
<TextArea name="comment" toName="text"/></View>"""
TEXTS = [  # (text, label): small, both classes, the XSS text among them
    ("WIN a FREE prize now, txt CLAIM to 80082", "spam"),
    ("are we still on for lunch tomorrow?", "ham"),
    ("free entry to win cash, reply WIN", "spam"),
    ("I'll call you when I get home", "ham"),
    ("claim your free ringtone prize today", "spam"),
    ("see you at the station at six", "ham"),
    ("you have won a free holiday, txt YES", "spam"),
    ("can you pick up some milk on the way", "ham"),
    (XSS, None),
    ("urgent: your prize is waiting, call now", None),
    ("thanks for dinner last night", None),
]


# what the page's own files cost to load (the API calls after sign-in are not counted)
TRANSFER = """
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter(r => r.name.includes('/ui/'));
    return {document: nav.transferSize, resources: res.map(r => [r.name, r.transferSize, r.encodedBodySize]),
            total: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0)};"""


def browser_missing():
    if CHROMIUM and CHROMEDRIVER:
        return None
    return ("headless Chromium not found (need Debian's `chromium` and `chromium-driver`: "
            "`make browser` installs them with apt-get; `make test` does it first)")


@pytest.fixture(scope="module")
def stack():
    missing = browser_missing()
    if missing:
        if os.environ.get("ACTIVELABEL_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt: `make venv`")
    from chalicelib.local.server import start_stack

    running = start_stack(port=0, schedule_every=None)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def driver(stack):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="activelabel-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots():
    target = os.environ.get("ACTIVELABEL_CONSOLE_SCREENSHOTS")
    path = Path(target) if target else Path(tempfile.mkdtemp(prefix="activelabel-console-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def admin_call(stack, method, path, body=None, token=None):
    answer = requests.request(method, f"{stack.url}{path}", json=body, timeout=30,
                              headers={"Authorization": f"Token {token or stack.admin_token}"})
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer.json()


class Page:
    """Small waits over the Selenium driver."""

    def __init__(self, driver, shots):
        from selenium.webdriver.common.by import By

        self.d, self.by, self.shots = driver, By, shots

    def wait(self, condition, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except Exception as exc:  # stale elements while a panel re-renders
                last = exc
            time.sleep(0.05)
        shown = [el.text for el in self.all(".error") if el.text]
        raise AssertionError(f"timed out waiting for {what} (last error: {last!r}); errors on the page: {shown}; "
                             f"console log: {self.console_errors()}")

    def one(self, css):
        return self.d.find_element(self.by.CSS_SELECTOR, css)

    def all(self, css):
        return self.d.find_elements(self.by.CSS_SELECTOR, css)

    def text(self, css):
        return self.one(css).text

    def fill(self, css, value):
        el = self.one(css)
        el.clear()
        if len(value) < 80:
            el.send_keys(value)
        else:  # typing long text key by key is slow: set it, then type its last character
            self.d.execute_script("arguments[0].value = arguments[1];", el, value[:-1])
            el.send_keys(value[-1])
        return el

    def panel(self, panel_id):
        """Wait until the panel's API answer has been rendered (data-ready)."""
        return self.wait(lambda: self.one(f'section[data-panel="{panel_id}"][data-ready="true"]'),
                         what=f"panel {panel_id}")

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0];", hash_)

    def shot(self, name):
        self.d.execute_script("window.scrollTo(0, 0)")
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(1200, max(700, min(int(height) + 140, 2400)))
        self.d.save_screenshot(str(self.shots / f"{name}.png"))
        self.d.set_window_size(1200, 1000)

    def console_errors(self):
        try:
            return [e["message"] for e in self.d.get_log("browser") if e["level"] == "SEVERE"]
        except Exception:
            return []


def test_console_flow(stack, driver, shots):
    page = Page(driver, shots)
    started = time.monotonic()
    lead = admin_call(stack, "POST", "/api/tokens", {"name": "team lead", "role": "admin", "projects": "*"})

    # ---- first load: the redirect to /ui/, the sign-in form, what was transferred
    driver.get(f"{stack.url}/ui")
    page.wait(lambda: page.one("#signin"), what="sign-in form")
    assert driver.current_url.endswith("/ui/")
    transfer = driver.execute_script(TRANSFER)
    origins = {r[0].split("/ui/")[0] for r in transfer["resources"]}
    assert origins <= {stack.url}, origins  # nothing from another origin
    assert transfer["total"] < 200_000, transfer  # the page's weight budget (sizes, not timings)
    page.shot("01-sign-in")

    page.fill("#token", "not-a-token")
    page.one("#signin button[type=submit]").click()
    page.wait(lambda: "401" in page.text("#signin p.error") or "token" in page.text("#signin p.error").lower(),
              what="the sign-in error")
    assert driver.execute_script("return sessionStorage.getItem('activelabel.token')") is None

    page.fill("#token", lead["token"])
    page.one("#signin button[type=submit]").click()
    page.panel("projects")
    assert page.text("#role") == "admin"
    assert lead["token"] not in driver.current_url
    assert driver.execute_script("return sessionStorage.getItem('activelabel.token')") == lead["token"]

    # ---- a Text + Choices project from a label config
    page.fill("#new-project input[name=title]", "SMS spam")
    page.fill("#new-project textarea[name=label_config]", SMS_LABEL_CONFIG)
    page.shot("02-projects")
    page.one("#new-project button[type=submit]").click()
    page.panel("ml")
    project_id = driver.execute_script("return location.hash").split("/")[2]
    assert page.text("h1") == "SMS spam"

    # only the fitting models: what GET /models answers, and no image/tabular model
    fitting = {m["name"] for m in admin_call(stack, "GET", f"/api/projects/{project_id}/models")["models"]}
    shown = {el.get_attribute("data-model") for el in page.all("#models label.choice")}
    assert shown == fitting | {"custom"} and "text_classifier" in shown
    assert not shown & {"image_classifier", "tabular", "ner_tagger"}
    assert page.one("#custom-backend").is_displayed() is False

    # a wrong threshold: the API's error at the field, nothing saved
    page.fill("#f-min_completions", str(MIN_COMPLETIONS))
    page.fill("#f-retrain_every", str(MIN_COMPLETIONS))
    page.fill("#f-agreement_threshold", "2")
    page.one("#ml-save").click()
    error = page.wait(lambda: page.text('[data-field="agreement_threshold"] p.error'), what="the threshold error")
    assert "agreement_threshold" in error and "[0, 1]" in error
    assert admin_call(stack, "GET", f"/api/projects/{project_id}/ml")["min_completions"] != MIN_COMPLETIONS
    page.shot("03-ml-settings-error")
    page.fill("#f-agreement_threshold", "0.5")
    page.one("#ml-save").click()
    page.wait(lambda: page.text("#ml-status") == "Saved.", what="saved")
    assert page.text('[data-field="agreement_threshold"] p.error') == ""
    saved = admin_call(stack, "GET", f"/api/projects/{project_id}/ml")
    assert saved["min_completions"] == saved["retrain_every"] == MIN_COMPLETIONS
    assert saved["agreement_threshold"] == 0.5

    # ---- import tasks; the HTML payload renders as text
    page.go(f"#/projects/{project_id}/tasks")
    page.panel("tasks")
    page.fill("#import-form textarea", json.dumps([{"data": {"text": t}} for t, _ in TEXTS]))
    page.one("#import").click()
    page.wait(lambda: len(page.all("#tasks tbody tr")) == len(TEXTS), what="the imported tasks")
    cells = [el.text for el in page.all("#tasks tbody tr td:nth-child(2)")]
    assert any(cell == f"text: {XSS}" for cell in cells), cells
    assert page.all("#tasks img") == [] and page.all("img") == []
    assert driver.execute_script("return document.querySelectorAll('[onerror]').length") == 0
    task_ids = [el.get_attribute("data-task") for el in page.all("#tasks tbody tr")]

    # ---- label through the API (4, then 4 more); the training panel follows the state to a
    # promoted version, then to a second one (retrain_every 4), with metrics and the curve
    def label(pairs):
        for task_id, label_ in pairs:
            admin_call(stack, "POST", f"/api/projects/{project_id}/tasks/{task_id}/completions", {
                "completed_by": "ann-1",
                "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                            "value": {"choices": [label_]}}]})

    labeled = [(task_id, label_) for task_id, (_, label_) in zip(task_ids, TEXTS) if label_]
    page.go(f"#/projects/{project_id}/training")
    page.panel("training")
    assert page.text("#train-state") == "idle" and page.text("#active-version") == "none yet"
    states = []

    def active_version():
        state = page.text("#train-state")
        if not states or states[-1] != state:
            states.append(state)
        rows = page.all("#versions tr.active")
        return state == "idle" and rows and rows[0].get_attribute("data-version")

    label(labeled[:MIN_COMPLETIONS])
    first = page.wait(active_version, timeout=40, what="a promoted model version")
    label(labeled[MIN_COMPLETIONS:])
    second = page.wait(lambda: (active_version() or first) != first and active_version(), timeout=40,
                       what="a second model version")
    page.wait(lambda: len(page.all("#learning-curve circle.point.active")) == 1, what="the curve")
    # the panel re-renders itself every few seconds: read it through wait(), which retries stale elements
    version_row = page.wait(lambda: page.text("#versions tr.active"), what="the active version's row")
    assert "accuracy" in version_row and "macro_f1" in version_row and "object Object" not in version_row
    report = admin_call(stack, "GET", f"/api/projects/{project_id}/report")
    assert [p["model_version"] for p in report["curve"]] == [first, second]
    assert len(report["curve"]) == 2
    page.wait(lambda: len(page.all("#learning-curve circle.point:not(.random)")) == 2, what="two points")
    if report["estimated_savings"]:
        page.wait(lambda: str(report["estimated_savings"]["random_would_need"]) in page.text("#savings"),
                  what="the savings estimate")
    page.shot("05-training")
    # "Train now": a third version on the same labels
    page.wait(lambda: page.one("#train-now").click() or True, what="Train now")
    third = page.wait(lambda: active_version() not in (first, second) and active_version(), timeout=40,
                      what="a third model version")
    assert admin_call(stack, "GET", f"/api/projects/{project_id}/training")["model_version"] == third
    print(f"\ntraining states the panel showed: {' -> '.join(states)}")

    # ---- versions' status and the jobs: "Make active" rolls back to the first version, whose
    # pre-annotation job shows with its progress; a pin shows on its row
    assert "promoted" in page.wait(lambda: page.text(f'#versions tr[data-version="{second}"] td.status-cell'),
                                   what="the second version's status")
    page.wait(lambda: page.one(f'#versions tr[data-version="{first}"] button.make-active').click() or True,
              what="Make active")
    page.wait(lambda: active_version() == first, timeout=40, what="the first version active again")
    job = f"preannotation-{first}-a1"
    progress = page.wait(lambda: page.text(f'#jobs tr[data-job="{job}"][data-state="succeeded"] td.progress-cell'),
                         timeout=40, what="the rollback's pre-annotation job, done")
    unlabeled = len(TEXTS) - len(labeled)
    assert progress.strip() == f"{len(TEXTS)} / {len(TEXTS)}", progress
    assert f"{unlabeled} stored" in page.text(f'#jobs tr[data-job="{job}"]')
    assert page.all("#jobs tr[data-job^='training']") and page.all("#jobs progress")
    admin_call(stack, "PUT", f"/api/projects/{project_id}/ml", {"pinned_version": int(first.lstrip("v"))})
    page.wait(lambda: "pinned" in page.text(f'#versions tr[data-version="{first}"] td.status-cell'), what="the pin")
    page.shot("05b-versions-and-jobs")
    admin_call(stack, "PUT", f"/api/projects/{project_id}/ml", {"pinned_version": None})

    page.go(f"#/projects/{project_id}/tasks")
    page.panel("tasks")
    page.shot("04-tasks")

    # ---- try a prediction
    page.go(f"#/projects/{project_id}/try")
    page.panel("try")
    page.fill("#try-form textarea", "WIN a FREE prize, txt CLAIM now")
    page.one("#predict").click()
    predicted = page.wait(lambda: page.text("#prediction .predicted"), what="a prediction")
    assert predicted in {"ham", "spam"}
    assert "score" in page.text("#prediction")
    page.shot("06-try-it")

    # ---- a custom model: a URL that is no ML backend is refused at the field; a real one is healthy
    with serving(NotAnMLBackend()) as not_ml, serving(FakeMLBackend(user="u", password="p")) as backend:
        page.go(f"#/projects/{project_id}/ml")
        page.panel("ml")
        page.one('#models input[value="custom"]').click()
        assert page.one("#custom-backend").is_displayed()
        page.fill("#f-custom_backend-url", not_ml.url)
        page.one("#ml-save").click()
        url_error = page.wait(lambda: page.text('[data-field="custom_backend.url"] p.error'), what="the URL error")
        assert "ML backend" in url_error or "setup" in url_error
        page.fill("#f-custom_backend-url", backend.url)
        page.fill("#f-custom_backend-basic_auth_user", "u")
        page.fill("#f-custom_backend-basic_auth_pass", "p")
        page.one("#ml-save").click()
        health = page.wait(lambda: "Healthy" in page.text("#backend-health") and page.text("#backend-health"),
                           what="the backend's health")
        assert backend.url in health and "/health" in backend.paths("GET")
        page.shot("07-custom-model")
        page.go(f"#/projects/{project_id}/try")
        page.panel("try")
        page.fill("#try-form textarea", "free prize, claim now")
        page.one("#predict").click()
        page.wait(lambda: "kw-" in page.text("#prediction"), what="a prediction from the custom backend")
        assert page.text("#prediction .predicted") == "spam"

    # ---- Connect Label Studio
    page.go(f"#/projects/{project_id}/connect")
    page.panel("connect")
    assert page.text("#ls-url") == f"{stack.url}/ls/" and page.text("#ls-user") == f"project-{project_id}"
    page.shot("08-connect-label-studio")

    # ---- a config with two controls a model fits and one none does: the target choice, "needs a custom model"
    two = admin_call(stack, "POST", "/api/projects", {"title": "two questions", "label_config": TWO_CONTROLS})
    page.go(f"#/projects/{two['id']}/ml")
    page.panel("ml")
    assert page.one('[data-field="target"]').is_displayed()
    assert [o.get_attribute("value") for o in page.all("#f-target option")] == ["", "topic", "tone"]
    assert "comment (TextArea): needs a custom model" in page.text("#ml-form .note")

    # ---- Tokens: a reader token for this project, its secret shown once
    page.go("#/tokens")
    page.panel("tokens")
    page.fill("#token-form input[name=name]", "viewer")
    page.one('#token-form select[name=role] option[value="reader"]').click()
    page.fill("#token-form input[name=projects]", project_id)
    page.one("#create-token").click()
    reader_token = page.wait(lambda: page.text("#token-secret"), what="the new token's secret")
    assert any("viewer" in row.text for row in page.all("#tokens tbody tr"))
    page.shot("09-tokens")

    # ---- the reader: everything visible, nothing changeable
    page.one("#signout").click()
    page.wait(lambda: page.one("#signin"), what="sign-in form")
    page.fill("#token", reader_token)
    page.one("#signin button[type=submit]").click()
    page.panel("projects")
    assert page.text("#role") == "read-only" and not page.all('#nav a[href="#/tokens"]')
    assert [el.text for el in page.all("#projects tbody tr td:first-child")] == ["SMS spam"]  # its scope only
    assert all(not el.is_enabled() for el in page.all("#new-project input, #new-project textarea, #new-project button"))
    page.go(f"#/projects/{project_id}/ml")
    page.panel("ml")
    controls = page.all("#ml-form input, #ml-form select, #ml-form button")
    assert controls and all(not el.is_enabled() for el in controls)
    page.shot("10-reader-read-only")
    page.go(f"#/projects/{project_id}/training")
    page.panel("training")
    assert page.wait(lambda: page.one("#train-now").get_attribute("disabled") is not None, what="Train now")
    page.go(f"#/projects/{project_id}/tasks")
    page.panel("tasks")
    assert not page.one("#import").is_enabled() and not page.one("#import-form textarea").is_enabled()
    page.go(f"#/projects/{project_id}/connect")
    page.panel("connect")
    assert page.all(".readonly-note") and not page.all("#ls-pass")
    assert admin_call(stack, "GET", f"/api/projects/{project_id}/ml")["model"] == "custom"  # unchanged

    # a reload: the tab keeps its token, the files revalidate (ETag -> 304)
    driver.refresh()
    page.panel("connect")  # the same page: the hash is kept
    assert page.text("#role") == "read-only"
    reload_bytes = driver.execute_script(TRANSFER)["total"]
    assert reload_bytes < transfer["total"], (reload_bytes, transfer)

    # nothing the page did broke its CSP or threw
    errors = page.console_errors()
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors

    timings = driver.execute_script("return window.activelabelConsole.timings")
    per_panel = {}
    for t in timings:
        per_panel.setdefault(t["panel"], []).append(t)
    print(f"\nconsole first load: {transfer['total']} bytes transferred "
          f"(document {transfer['document']}, {len(transfer['resources'])} resources); reload {reload_bytes} bytes; "
          f"flow {time.monotonic() - started:.1f} s; screenshots in {shots}")
    for name, rows in per_panel.items():
        ready = sorted(r["ready_after_api_ms"] for r in rows)
        api = sorted(r["api_ms"] for r in rows)
        print(f"  panel {name:9s} ready after the API's answer: median {ready[len(ready) // 2]:.1f} ms, "
              f"max {ready[-1]:.1f} ms; API {api[len(api) // 2]:.1f} ms median ({len(rows)} renders)")
