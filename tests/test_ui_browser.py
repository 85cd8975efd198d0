"""The web UI in a real Chromium against a real `shipyard server` with real deployments:
sign-in, a version's lineage, users' HTML that never runs, a canary watched step by step
without a reload and then rolled back from the page, a read-only token, and an
accessibility scan (axe-core) of every main page.

Each test leaves a screenshot of the page it checks in ``SHIPYARD_SCREENSHOTS`` (the
README's pictures come from ``make screenshots``, which points it at docs/screenshots)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import example_project
from deploy_helpers import ControlPlane, Load, echo_home, free_port, register_identity
from test_serving import SHIPYARD
from webhook_helpers import webhook

AXE = Path(__file__).resolve().parents[1] / ".venv/node/node_modules/axe-core/axe.min.js"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane whose model ``echo`` v1 serves, with a hostile model beside it."""
    tmp = tmp_path_factory.mktemp("ui-browser")
    control = ControlPlane(echo_home(tmp), free_port())
    control.start()
    register_identity(control, tmp, "hostile", "--tag", f"note={HOSTILE}",
                      "--description", HOSTILE, "--param", f"layers={HOSTILE}")  # fmt: skip
    deployed = control.cli("deploy", "echo", "--version", "1", "--port", str(free_port()))
    assert deployed.returncode == 0, deployed.stderr
    yield control
    control.cleanup()


def url(plane: ControlPlane, path: str = "/") -> str:
    return f"http://127.0.0.1:{plane.port}{path}"


def sign_in(driver: Any, plane: ControlPlane, path: str, token: str | None = None) -> None:
    """Open ``path``, be sent to the sign-in page, paste the token, land on ``path``."""
    driver.get(url(plane, path))
    assert "/signin" in driver.current_url
    driver.find_element(By.ID, "token").send_keys(token or plane.token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url == url(plane, path))


def follow(driver: Any, link: str, to: str) -> None:
    """Click the link named ``link`` and wait for ``to`` to be the page shown."""
    driver.find_element(By.LINK_TEXT, link).click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url == to)


def text_of(driver: Any, element_id: str) -> str:
    """An element's text, read in one step (a live panel may be replaced at any moment)."""
    script = "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';"
    return str(driver.execute_script(script, element_id))


def shot(driver: Any, name: str) -> None:
    folder = os.environ.get("SHIPYARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the open page."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs it (scripts/ui-test-deps.sh)")
    driver.execute_script(AXE.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))));"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_sign_in_opens_a_versions_lineage(page: Any, plane: ControlPlane) -> None:
    sign_in(page, plane, "/models/echo/versions/2")
    heading = page.find_element(By.TAG_NAME, "h1").text
    assert heading.startswith("echo") and "v2" in heading
    lineage = page.find_element(By.CSS_SELECTOR, "section[aria-labelledby=lineage]").text
    digest = plane.api("GET", "models/echo/versions/2")["content_digest"]
    assert digest.removeprefix("sha256:")[:12] in lineage and "Registered" in lineage
    shot(page, "version-lineage")
    follow(page, "Models", url(plane, "/"))
    assert "echo" in page.find_element(By.TAG_NAME, "table").text
    shot(page, "models")
    follow(page, "echo", url(plane, "/models/echo"))
    page.find_element(By.ID, "cmp-a").clear()
    page.find_element(By.ID, "cmp-a").send_keys("2")
    page.find_element(By.XPATH, "//button[text()='Compare']").click()  # v2 with v5, the latest
    WebDriverWait(page, 10).until(lambda d: "/compare?a=2&b=5" in d.current_url)
    differing = [row.text for row in page.find_elements(By.CSS_SELECTOR, "tr.differs")]
    assert any(row.startswith("content sha256:") and "≠" in row for row in differing), differing
    assert not any(row.startswith("flavor") for row in differing)  # both custom: same


def test_shipyard_ui_prints_a_link_that_signs_a_browser_in_once(
    page: Any, plane: ControlPlane
) -> None:
    shown = plane.cli("ui", "--no-open")
    assert shown.returncode == 0, shown.stderr
    link = shown.stdout.split()[-1]
    assert link.startswith(url(plane, "/signin/link/")) and plane.token not in shown.stdout
    page.get(link)  # opened by the user (Sec-Fetch-Site: none): signed in at once
    assert page.current_url == url(plane, "/")
    assert "echo" in page.find_element(By.TAG_NAME, "main").text  # the models page
    page.execute_cdp_cmd("Network.clearBrowserCookies", {})
    page.get(link)  # a second time: refused
    assert "used, expired or unknown" in page.find_element(By.TAG_NAME, "main").text
    # reached from another site, a link only asks (a click, a POST from this origin)
    again = plane.cli("ui", "--no-open").stdout.split()[-1]
    with httpx.Client() as client:
        asked = client.get(again, headers={"sec-fetch-site": "cross-site"})
        identity = plane.api("GET", "info")["identity"]["name"]
        assert asked.status_code == 200 and f"Sign in as {identity}?" in asked.text
        assert "shipyard_session" not in asked.headers.get("set-cookie", "")
        forged = client.post(again, headers={"origin": "https://evil.example"})
        assert forged.status_code == 403 and "shipyard_session" not in forged.headers.get(
            "set-cookie", ""
        )
    page.get(url(plane, "/signin"))  # the page's own button, from this origin, signs in
    page.execute_script("window.location = arguments[0]", again)  # not typed: it asks
    button = WebDriverWait(page, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "main button"))
    assert button.text == f"Sign in as {identity}"
    button.click()
    WebDriverWait(page, 10).until(lambda d: d.current_url == url(plane, "/"))


@pytest.fixture(scope="module")
def runs(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two runs of the digits example: one that registers, one stopped at a gate."""
    project = example_project(tmp_path_factory.mktemp("ui-runs") / "digits", "digits")
    ids = {}
    for name, args in (("good", ()), ("weak", ("--param", "C=0.0002"))):
        done = subprocess.run([SHIPYARD, "run", *args], cwd=project, env=plane.env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == (0 if name == "good" else 3), done.stdout + done.stderr
        ids[name] = plane.api("GET", "runs?limit=1")[0]["id"]
    return ids


def test_a_run_shows_its_stages_gates_cross_validation_plots_and_failed_log(
    page: Any, plane: ControlPlane, runs: dict[str, str]
) -> None:
    sign_in(page, plane, f"/runs/{runs['good']}")
    stages = page.find_element(By.CLASS_NAME, "stages").text
    assert all(name in stages for name in ("train", "validate", "package", "register"))
    bars = page.find_elements(By.CSS_SELECTOR, ".stages .fill")
    assert bars and all(b.value_of_css_property("width") != "0px" for b in bars)  # bars.js
    main = page.find_element(By.TAG_NAME, "main").text
    assert "accuracy >= 0.95" in main and "✓ pass" in main and "Fold 5" in main
    for image in page.find_elements(By.CSS_SELECTOR, ".plots img"):  # drawn, not broken
        assert page.execute_script("return arguments[0].naturalWidth", image) > 100
    assert len(page.find_elements(By.CSS_SELECTOR, ".plots img")) == 2
    shot(page, "run-report")
    page.get(url(plane, f"/runs/{runs['weak']}"))
    main = page.find_element(By.TAG_NAME, "main").text
    assert "✕ fail" in main and "validate's log" in main and "quality gate" in main
    follow(page, "Runs", url(plane, "/runs"))
    listed = page.find_element(By.TAG_NAME, "table").text
    assert runs["good"] in listed and runs["weak"] in listed


def test_html_in_tags_description_and_params_is_shown_as_text_and_never_runs(
    page: Any, plane: ControlPlane
) -> None:
    sign_in(page, plane, "/models/hostile/versions/1")
    assert page.execute_script("return window.pwned === undefined")
    assert page.find_elements(By.CSS_SELECTOR, "main img") == []
    assert page.find_elements(By.CSS_SELECTOR, "main script") == []
    text = page.find_element(By.TAG_NAME, "main").text
    assert text.count(HOSTILE) >= 3  # the tag, the description and the param, as typed
    page.get(url(plane, "/models/hostile"))  # the versions table shows tags and params too
    assert page.find_element(By.TAG_NAME, "table").text.count(HOSTILE) == 2
    assert page.execute_script("return window.pwned === undefined")


def test_a_canary_advances_on_the_page_without_a_reload_then_is_rolled_back_from_it(
    page: Any, plane: ControlPlane
) -> None:
    port = plane.status()["url"].rsplit(":", 1)[1]
    sign_in(page, plane, "/deployments/echo")
    page.execute_script("window.loadedOnce = 'yes'")  # gone if the page were reloaded
    with Load(int(port)) as load:
        load.wait(20)
        started = plane.cli(
            "deploy", "echo", "--version", "2", "--strategy", "canary", "--steps", "25,50",
            "--interval", "4s", "--min-requests", "3", "--no-wait",
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        seen = []

        def step_shown(driver: Any) -> bool:
            rollout = text_of(driver, "rollout")
            if "v1 → v2" not in rollout:  # the first deploy's rollout, until the page updates
                return False
            step = text_of(driver, "step")
            if not seen or seen[-1] != step:
                seen.append(step)
                if step == "2":
                    shot(driver, "deployment-canary")  # mid-canary: half the traffic on v2
            return "succeeded" in rollout

        WebDriverWait(page, 60, poll_frequency=0.2).until(step_shown)
        assert page.execute_script("return window.loadedOnce") == "yes"
        # each step seen as it came (steps 1 and 2 at least: each lasts a scrape or more),
        # and the last one, all traffic, once it succeeded
        assert [int(s) for s in seen] == sorted(int(s) for s in seen), seen
        assert {"1", "2", "3"} <= set(seen), seen
        assert "pass" in text_of(page, "rollout")  # the analysis' verdict

        def charted(driver: Any) -> bool:  # the live charts, from the scraper, as they fill
            live = text_of(driver, "live")
            return "Requests/s" in live and "Requests/s —" not in live.replace("\n", " ")

        WebDriverWait(page, 30, poll_frequency=0.5).until(charted)
        assert page.find_elements(By.CSS_SELECTOR, "#live svg.spark polyline, #live svg circle")
        assert page.execute_script("return window.loadedOnce") == "yes"

        follow(page, "Roll back", url(plane, "/deployments/echo/rollback"))
        assert "Send traffic back" in page.find_element(By.TAG_NAME, "main").text
        page.find_element(By.ID, "reason").send_keys("answers look wrong <b>now</b>")
        page.find_element(By.CSS_SELECTOR, "button.danger").click()
        WebDriverWait(page, 10).until(lambda d: d.current_url == url(plane, "/deployments/echo"))
        load.wait(20)
    assert load.failures == []
    assert plane.status()["desired"]["weights"] == {"1": 100}
    event = plane.events("deployment.rolled_back")[-1]
    assert event["data"]["reason"] == "answers look wrong <b>now</b>"
    assert event["actor"] == plane.api("GET", "info")["identity"]["name"]
    assert "v1 100%" in text_of(page, "desired")
    # each version's own numbers: both took part of the traffic
    every = plane.api("GET", "deployments/echo/metrics?window=5m")["values"]["requests"]
    ones = [plane.api("GET", f"deployments/echo/metrics?window=5m&version={v}")["values"]
            ["requests"] for v in ("1", "2")]  # fmt: skip
    assert all(0 < one < every for one in ones), (ones, every)
    plane.api("PUT", "deployments/echo/traffic", {"weights": {"1": 50, "2": 50}})
    page.get(url(plane, "/deployments/echo?version=2"))
    assert "Live, last 15 minutes, v2" in text_of(page, "live")
    page.get(url(plane, "/deployments/echo?version=7"))
    assert "v7 takes no traffic" in text_of(page, "main")
    plane.api("PUT", "deployments/echo/traffic", {"weights": {"1": 100}})
    page.get(url(plane, "/events?kind=deployment.rolled_back"))
    assert "answers look wrong <b>now</b>" in text_of(page, "events")
    shot(page, "events")


def test_a_traffic_split_is_set_from_the_page_with_a_reason(page: Any, plane: ControlPlane) -> None:
    sign_in(page, plane, "/deployments/echo")
    follow(page, "Split traffic", url(plane, "/deployments/echo/traffic"))
    weights = page.find_element(By.ID, "weights")
    weights.clear()
    weights.send_keys("1=80,2=30")  # 110: refused, nothing changes
    page.find_element(By.ID, "reason").send_keys("A/B test of v2")
    page.find_element(By.CSS_SELECTOR, "button.danger").click()
    WebDriverWait(page, 10).until(lambda d: "sum to 100" in text_of(d, "form-error"))
    assert page.find_element(By.ID, "reason").get_attribute("value") == "A/B test of v2"  # kept
    assert plane.status()["desired"]["weights"] == {"1": 100}
    weights = page.find_element(By.ID, "weights")
    assert weights.get_attribute("value") == "1=80,2=30"  # as typed, to be mended
    weights.clear()
    weights.send_keys("1=80,2=20")
    shown = {e.get_attribute("name"): e.get_attribute("value")
             for e in page.find_elements(By.CSS_SELECTOR, "form input")}  # fmt: skip
    page.find_element(By.CSS_SELECTOR, "button.danger").click()
    WebDriverWait(page, 10).until(lambda d: d.current_url == url(plane, "/deployments/echo"))
    assert plane.status()["desired"]["weights"] == {"1": 80, "2": 20}
    event = plane.events("deployment.traffic")[-1]
    assert event["data"]["reason"] == "A/B test of v2"
    # the same form sent again (a double submit): the deployment has moved on, so it asks
    cookie = page.get_cookie("shipyard_session")["value"]
    with httpx.Client(base_url=url(plane), cookies={"shipyard_session": cookie}) as client:
        again = client.post("/deployments/echo/traffic", data={**shown, "weights": "1=50,2=50"})
        assert again.status_code == 409 and "moved on" in again.text
    assert plane.status()["desired"]["weights"] == {"1": 80, "2": 20}
    # the same session's cookie, without the form's CSRF secret or from another site: refused
    form = {"weights": "1=100", "reason": "forged"}
    with httpx.Client(base_url=url(plane), cookies={"shipyard_session": cookie}) as client:
        assert client.post("/deployments/echo/traffic", data=form).status_code == 403
        csrf = page.find_element(By.NAME, "csrf").get_attribute("value")
        elsewhere = client.post("/deployments/echo/traffic", data={**form, "csrf": csrf},
                                headers={"origin": "https://evil.example"})  # fmt: skip
        assert elsewhere.status_code == 403
    assert plane.status()["desired"]["weights"] == {"1": 80, "2": 20}


def test_alerts_show_each_rules_state_and_a_test_reaches_its_channel(
    page: Any, plane: ControlPlane
) -> None:
    with webhook() as hook:
        rule = {"name": "Flood", "when": "requests > 100000", "window": "2s"}  # stays quiet
        monitor = {"alerts": [rule], "notify": [{"webhook": hook.url, "retries": 1}]}
        plane.api("PUT", "deployments/echo/monitor", {"monitor": monitor, "project": None})
        sign_in(page, plane, "/alerts")
        table = page.find_element(By.TAG_NAME, "table").text
        assert "Flood" in table and "requests > 100000" in table and "inactive" in table
        page.find_element(By.CSS_SELECTOR, "button.small").click()
        WebDriverWait(page, 10).until(lambda d: "sent=Flood" in d.current_url)
        assert "A test of Flood went to its channels" in page.find_element(By.TAG_NAME, "main").text
        assert hook.wait_for(lambda body: body.get("status") == "test")
        history = page.find_element(By.CLASS_NAME, "timeline").text
        assert "alert.test" in history
        assert f"by {plane.api('GET', 'info')['identity']['name']}" in history  # who asked
        shot(page, "alerts")


def test_a_read_only_token_sees_no_action_and_a_forged_one_is_refused(
    page: Any, plane: ControlPlane
) -> None:
    made = plane.cli("tokens", "create", "viewer", "--scope", "read", "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["token"]
    sign_in(page, plane, "/deployments/echo", token=secret)
    assert "read-only" in page.find_element(By.CSS_SELECTOR, "header").text
    assert page.find_elements(By.CSS_SELECTOR, ".actions a") == []
    page.get(url(plane, "/alerts"))
    assert page.find_elements(By.CSS_SELECTOR, "main button") == []
    before = plane.status()["desired"]
    cookie = page.get_cookie("shipyard_session")["value"]
    csrf = page.find_element(By.NAME, "csrf").get_attribute("value")
    with httpx.Client(base_url=url(plane), cookies={"shipyard_session": cookie}) as client:
        forged = client.post("/deployments/echo/rollback", data={"csrf": csrf, "reason": "x"})
        assert forged.status_code == 403 and "needs the deploy scope" in forged.text
        assert client.get("/deployments/echo/abort").status_code == 403
        assert client.post("/alerts/Flood/test", data={"csrf": csrf}).status_code == 403
    assert plane.status()["desired"] == before


def test_the_main_pages_have_no_serious_accessibility_violations(
    page: Any, plane: ControlPlane, runs: dict[str, str]
) -> None:
    sign_in(page, plane, "/")
    for path in ("/", "/models/echo", "/models/echo/versions/1", "/runs",
                 f"/runs/{runs['good']}", f"/runs/{runs['weak']}", "/alerts", "/deployments",
                 "/deployments/echo", "/deployments/echo/rollback", "/events"):  # fmt: skip
        page.get(url(plane, path))
        assert axe_violations(page) == [], path
    page.delete_all_cookies()
    page.get(url(plane, "/signin"))
    assert axe_violations(page) == [], "/signin"


def test_every_main_page_reads_the_same_with_scripts_off(
    page: Any, plane: ControlPlane, runs: dict[str, str]
) -> None:
    sign_in(page, plane, "/")
    page.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        expected = {
            "/": "echo",
            "/models/echo": "Alias history",
            "/models/echo/versions/2": "Lineage",
            "/models/echo/compare?a=1&b=2": "content",
            f"/runs/{runs['good']}": "accuracy >= 0.95",
            "/deployments": "echo",
            "/deployments/echo": "Live, last 15 minutes",
            "/alerts": "Alerts",
            "/events": "rollout.",
        }
        for path, text in expected.items():
            page.get(url(plane, path))
            assert text in page.find_element(By.TAG_NAME, "main").text, path
        page.get(url(plane, f"/runs/{runs['good']}"))  # scripts are off indeed: bars.js did
        bars = page.find_elements(By.CSS_SELECTOR, ".stages .fill")  # not size the bars
        assert bars and all(b.value_of_css_property("width") == "0px" for b in bars)
        page.get(url(plane, "/deployments/echo"))
        assert page.find_elements(By.CSS_SELECTOR, "#live figure")  # the charts: SVG, no script
    finally:
        page.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_pages_are_usable_at_phone_width(page: Any, plane: ControlPlane) -> None:
    sign_in(page, plane, "/deployments/echo")
    page.set_window_size(390, 844)
    try:
        page.get(url(plane, "/deployments/echo"))
        width = page.execute_script("return document.documentElement.clientWidth")
        wide = page.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll'))"
            ".filter(e => e.getBoundingClientRect().right > arguments[0] + 1)"
            ".map(e => e.tagName + '.' + e.className)",
            width,
        )
        assert wide == []  # nothing wider than the screen but the tables, which scroll
    finally:
        page.set_window_size(1280, 800)


def test_the_cli_started_control_plane_prints_where_the_ui_is(plane: ControlPlane) -> None:
    log = (plane.home / "server-test.log").read_text()
    assert f"UI on http://127.0.0.1:{plane.port}/" in log
