"""The status page's login session and CSRF protection, over real HTTP with a cookie jar."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

from handlers.actor import Role
from handlers.tokens import TokenStore
from web.i18n import LANGUAGES, TEXTS


class Browserless:
    """Just enough of a browser: cookies kept, redirects followed, forms posted."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, language: str = "en") -> tuple[int, str, str]:
        request = urllib.request.Request(self.base + path, headers={"Accept-Language": language})
        return self._open(request)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def test_login_needs_the_forms_csrf_token(base_url: str, tokens: TokenStore) -> None:
    token = tokens.create(Role.HR, None)
    browser = Browserless(base_url)
    status, url, html = browser.get("/")
    assert url.endswith("/login")
    assert 'lang="en"' in html
    assert browser.post("/login", {"token": token})[0] == 400
    assert browser.post("/login", {"token": token, "csrf_token": "forged"})[0] == 400
    status, url, html = browser.post("/login", {"token": token, "csrf_token": _csrf(html)})
    assert status == 200
    assert url == base_url + "/"
    assert "Cycli per fase" in html  # POP_LANGUAGE=nl when the browser says nothing


def test_logout_needs_the_csrf_token_and_ends_the_session(
    base_url: str, tokens: TokenStore
) -> None:
    token = tokens.create(Role.HR, None)
    browser = Browserless(base_url)
    _status, _url, login_page = browser.get("/login")
    _status, _url, page = browser.post("/login", {"token": token, "csrf_token": _csrf(login_page)})
    assert browser.post("/logout", {})[0] == 400
    assert browser.get("/")[1] == base_url + "/"  # still logged in
    browser.post("/logout", {"csrf_token": _csrf(page)})
    assert browser.get("/")[1].endswith("/login")


def test_revoking_the_token_ends_its_sessions(base_url: str, tokens: TokenStore) -> None:
    token = tokens.create(Role.HR, None)
    browser = Browserless(base_url)
    _status, _url, login_page = browser.get("/login")
    browser.post("/login", {"token": token, "csrf_token": _csrf(login_page)})
    assert browser.get("/")[1] == base_url + "/"
    assert tokens.revoke(token)
    assert browser.get("/")[1].endswith("/login")


def test_dutch_by_accept_language_and_by_the_switch(base_url: str, tokens: TokenStore) -> None:
    browser = Browserless(base_url)
    assert "Inloggen" in browser.get("/login", language="nl-NL,nl;q=0.9")[2]
    assert "Log in" in browser.get("/login", language="en-GB")[2]
    assert "Inloggen" in browser.get("/login?lang=nl", language="en-GB")[2]
    assert "Inloggen" in browser.get("/login", language="en-GB")[2]  # the switch is remembered


def test_every_text_exists_in_dutch_and_english() -> None:
    missing = [key for key, texts in TEXTS.items() if set(texts) != set(LANGUAGES)]
    assert not missing
