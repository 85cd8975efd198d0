"""The web UI over real HTTP from a real `shipyard server`: sign-in with a token, the cookie's
flags, the security headers, escaping of users' strings, and refusals. (The browser tests
of the pages come with the rest of the UI.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from deploy_helpers import ControlPlane, free_port, register_identity
from shipyard.store import open_stores
from store_helpers import draft

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    tmp = tmp_path_factory.mktemp("ui")
    control = ControlPlane(tmp / "home", free_port())
    control.start()
    register_identity(control, tmp, "demo", "--tag", f"note={SCRIPT}")
    yield control
    control.cleanup()


def token(plane: ControlPlane) -> str:
    return str(json.loads((plane.home / "run" / "server.json").read_text())["token"])


@pytest.fixture
def client(plane: ControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{plane.port}", timeout=10) as opened:
        yield opened


def sign_in(plane: ControlPlane, client: httpx.Client) -> None:
    done = client.post("/signin", data={"token": token(plane), "next": "/models/demo"})
    assert done.status_code == 303 and done.headers["location"] == "/models/demo"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_pages_need_a_sign_in_and_a_wrong_token_is_refused(
    plane: ControlPlane, client: httpx.Client
) -> None:
    page = client.get("/models/demo")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=%2Fmodels%2Fdemo"
    filtered = client.get("/events?kind=alias.set&actor=tester")  # the query comes back too
    assert (
        filtered.headers["location"] == "/signin?next=%2Fevents%3Fkind%3Dalias.set%26actor%3Dtester"
    )
    back = client.post("/signin", data={"token": token(plane), "next": "/events?kind=alias.set"})
    assert back.headers["location"] == "/events?kind=alias.set"
    first = client.cookies["shipyard_session"]
    again = client.post("/signin", data={"token": token(plane)})  # signing in again: a new
    assert again.status_code == 303 and client.cookies["shipyard_session"] != first  # session
    client.cookies.clear()
    client.cookies.set("shipyard_session", first)
    assert client.get("/").status_code == 303  # the old one ended with it
    client.cookies.clear()
    wrong = client.post("/signin", data={"token": "shp_nope"})
    assert wrong.status_code == 401 and "missing or wrong token" in wrong.text
    assert "shipyard_session" not in client.cookies
    elsewhere = client.post("/signin", data={"token": token(plane)},
                            headers={"origin": "https://evil.example"})  # fmt: skip
    assert elsewhere.status_code == 403
    offsite = client.post("/signin", data={"token": token(plane), "next": "//evil.example"})
    assert offsite.headers["location"] == "/"


def test_a_versions_lineage_shows_its_users_strings_escaped_under_a_strict_csp(
    plane: ControlPlane, client: httpx.Client
) -> None:
    sign_in(plane, client)
    page = client.get("/models/demo/versions/1")
    assert page.status_code == 200
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "Lineage" in page.text and "custom" in page.text
    assert client.get("/").status_code == 200 and "demo" in client.get("/").text
    assert client.get("/models/nope").status_code == 404
    assert client.get("/models/demo/versions/x").status_code == 400


def test_a_models_versions_come_fifty_a_page_newest_first(
    plane: ControlPlane, client: httpx.Client
) -> None:
    stores = open_stores(plane.home)
    try:
        for number in range(55):
            stores.metadata.add_version("many", draft(f"many-{number}"))
    finally:
        stores.close()
    sign_in(plane, client)
    first = client.get("/models/many").text
    shown = [int(n) for n in re.findall(r"/models/many/versions/(\d+)\">v", first)]
    assert shown == list(range(55, 5, -1)) and "page 1 of 2" in first
    second = client.get("/models/many?page=2").text
    assert [int(n) for n in re.findall(r"/models/many/versions/(\d+)\">v", second)] == [
        5,
        4,
        3,
        2,
        1,
    ]
    assert client.get("/models/many?page=3").status_code == 400


def test_sign_out_needs_the_sessions_csrf_secret(plane: ControlPlane, client: httpx.Client) -> None:
    sign_in(plane, client)
    assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    page = client.get("/").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/signout", data={"csrf": csrf}).status_code == 303
    assert client.get("/").status_code == 303  # signed out
