"""The web server of ``--http``: the standard library's threading HTTP server, server-sent events
and the safety rules every page shares.

- It binds 127.0.0.1 unless a host is given. Bound to any other address (127.0.0.2 and 0.0.0.0
  included) it needs a token, generated at start and printed in the URL as Jupyter does, for
  every page, asset, event stream and API call: ``?token=`` (the page then keeps it in a cookie
  for the port) or the ``X-Edgehar-Token`` header.
- On loopback the ``Host`` header must name loopback too (a DNS-rebinding page cannot reach it).
- Writes are POST only, from the same origin (``Origin`` matches ``Host``) and, with a token,
  carry it in the ``X-Edgehar-Token`` header, which no cross-site form can set.
- Static files are served from a fixed list of the package's files: no path reaches the disk.

Each open event stream is one thread (:class:`Feed`) that sleeps until its view has something
new (by default it looks every ``PUSH_S``) and sends it; with no page open nothing runs but the
server's loop, which sleeps until a connection comes.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from edgehar.errors import EdgeharError, OptionError

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
"""Hosts served without a token."""
KEEPALIVE_S = 15.0
"""An event stream quiet this long gets a comment (proxies close idle connections)."""
PUSH_S = 1.0
"""How often an event stream looks for changes, unless its feed is woken when they come."""
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def parse_bind(spec: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (``[::1]:8000`` for IPv6) -> (host, port); host 127.0.0.1 when not given."""
    host, sep, port = str(spec).rpartition(":")
    if not sep:
        host = ""
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise OptionError(f"--http {spec!r}: expected [HOST:]PORT with PORT 0..65535, e.g. 8000 or "
                          "0.0.0.0:8000")
    return host, int(port)


def needs_token(host: str) -> bool:
    """Anything but 127.0.0.1, ::1 and localhost needs the token (127.0.0.2 too: other users of
    the machine, containers sharing its network, may reach it)."""
    return host not in LOOPBACK_NAMES


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def event(name: str, data) -> bytes:
    """One server-sent event, its data as compact JSON."""
    return f"event: {name}\ndata: {_compact_json(data)}\n\n".encode()


Events = list[tuple[str, object] | bytes]
"""Events to send: (name, data to send as JSON), or already encoded by :func:`event`."""


class Feed(ABC):
    """One page's event stream (a route's answer that keeps the connection open): :meth:`first`
    on connect, then after each :meth:`wait` :meth:`next`, what changed since (nothing when
    nothing did). It runs on the connection's own thread, which alone writes to the page: the
    stream never waits for a page."""

    done = False
    """No more events will come (the stream ended): the connection closes."""

    @abstractmethod
    def first(self) -> Events:
        """The events a page gets on connecting."""

    @abstractmethod
    def next(self) -> Events:
        """The events since the last call ([] when nothing changed)."""

    def wait(self, server: WebServer) -> bool:
        """Sleep until :meth:`next` may have something (here ``PUSH_S``); True once the server
        closes."""
        return server.wait(PUSH_S)

    def wake(self) -> None:  # noqa: B027  (a hook: the default needs nothing)
        """End a :meth:`wait` now (the server closes)."""

    def close(self) -> None:  # noqa: B027  (a hook: the default needs nothing)
        """The connection ended."""


@dataclass
class Response:
    body: bytes | str | dict | list
    status: int = 200
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body, separators=(",", ":")).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


class HttpError(Exception):
    """Answer the request with ``status`` and a one-line JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    token: str
    """The server's token ('' on loopback), for pages that embed it for their POSTs."""

    def param(self, name: str) -> str:
        if name not in self.query:
            raise HttpError(400, f"missing parameter {name}")
        return self.query[name]

    def json(self) -> dict:
        try:
            data = json.loads(self.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise HttpError(400, f"body is not JSON ({err})") from None
        if not isinstance(data, dict):
            raise HttpError(400, "body must be a JSON object")
        return data


Route = Callable[[Request], "Response | Feed | dict | list"]
"""A page or API call: a JSON answer may be given as a dict or list."""


def static_file(name: str) -> bytes:
    return resources.files("edgehar.services.web").joinpath("static").joinpath(name).read_bytes()


STATIC = frozenset(p.name for p in resources.files("edgehar.services.web").joinpath("static").iterdir()
                   if p.is_file())


def page(name: str, request: Request, **values) -> Response:
    """A static HTML page, its ``{{head}}`` the pages' common head, with ``{{token}}`` and
    ``values`` filled in (HTML-escaped)."""
    html = static_file(name).decode().replace("{{head}}\n", static_file("head.html").decode())
    for key, value in {"token": request.token, **values}.items():
        html = html.replace("{{" + key + "}}", _html_escape(str(value)))
    return Response(html, content_type="text/html; charset=utf-8")


def _html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class WebServer:
    """Serves ``routes`` ({(method, path): handler}) and the package's static files on a thread."""

    def __init__(self, bind: str, routes: dict[tuple[str, str], Route], *, token: str | None = None):
        host, port = parse_bind(bind)
        self.host = host
        self.token = (token or secrets.token_urlsafe(24)) if needs_token(host) else ""
        self.routes = routes
        self._open = threading.Lock()
        """Held while the server is open: event streams wait on it between turns (:meth:`wait`)."""
        self._open.acquire()
        self._closed = False
        handler = type("Handler", (_Handler,), {"app": self})
        try:
            family = _family(host)
            server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family,
                                                                  "daemon_threads": True})
            self.httpd = server_class((host, port), handler)
        except OSError as err:
            raise OptionError(f"--http {bind}: cannot listen ({err.strerror or err})") from None
        self.port = self.httpd.server_address[1]
        self._feeds: dict[threading.Thread, Feed] = {}
        """The open event streams, by their threads."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 3600},
                                        name="http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self, what: str = "page") -> WebServer:
        self._thread.start()
        print(f"{what}: {self.url}", file=sys.stderr, flush=True)
        return self

    @property
    def closing(self) -> bool:
        return self._closed

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or until :meth:`close`; True once closing. One C call (an
        ``Event.wait`` runs some twenty lines of Python each time, a page's every second)."""
        if self._open.acquire(timeout=seconds):
            self._open.release()  # for the other waiters
            return True
        return False

    def close(self) -> None:
        """Stop serving. The server's loop sleeps until a connection comes (it costs the stream
        nothing while idle): one made here wakes it to see the shutdown. Open event streams send
        what is left first (the end of the stream), for a second at most."""
        if not self._closed:
            self._closed = True
            self._open.release()
        for thread, feed in list(self._feeds.items()):
            feed.wake()
            thread.join(timeout=1.0)
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()
        local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        for _ in range(50):  # until the loop has seen the shutdown (it may wake before it is asked)
            with contextlib.suppress(OSError):
                socket.create_connection((local, self.port), timeout=1).close()
            self._thread.join(timeout=0.1)
            if not self._thread.is_alive():
                break
        self.httpd.server_close()


def _family(host: str):
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            return socket.AF_INET6
    return socket.AF_INET


class _Handler(BaseHTTPRequestHandler):
    app: WebServer
    protocol_version = "HTTP/1.1"
    server_version = "edgehar"

    def log_message(self, format, *args) -> None:  # noqa: A002  (the base class's name)
        pass  # stderr carries the stream's summary; requests are not logged there

    def do_GET(self) -> None:  # noqa: N802  (the base class's name)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self._check(method, query)
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1_000_000:
                raise HttpError(413, "request body too large")
            body = self.rfile.read(length) if length else b""
            if method == "GET" and url.path == "/favicon.ico":
                answer = Response(b"", status=204, content_type="image/x-icon")
            elif method == "GET" and url.path.startswith("/static/"):
                name = url.path[len("/static/"):]
                if name not in STATIC:
                    raise HttpError(404, "no such file")
                suffix = name[name.rfind("."):]
                answer = Response(static_file(name), content_type=STATIC_TYPES.get(suffix, "text/plain"),
                                  headers={"Cache-Control": "max-age=3600"})
            else:
                route = self.app.routes.get((method, url.path))
                if route is None:
                    raise HttpError(404 if method == "GET" else 405, f"no {method} {url.path}")
                answer = route(Request(method, url.path, query, body, self.app.token))
                if isinstance(answer, dict | list):
                    answer = Response(answer)
        except HttpError as err:
            answer = Response({"error": str(err)}, status=err.status)
        except EdgeharError as err:
            answer = Response({"error": str(err)}, status=422)
        except Exception:  # a bug: the page gets a 500, the server's stderr the traceback
            traceback.print_exc()
            answer = Response({"error": "internal error (the server's output has the details)"}, status=500)
        if isinstance(answer, Feed):
            self._events(answer)
        else:
            self._send(answer, query)

    def _check(self, method: str, query: dict) -> None:
        """Refuse what the safety rules (module docstring) do not allow."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if not self.app.token and host not in LOOPBACK_NAMES:
            raise HttpError(403, f"Host {host!r} is not loopback")
        if self.app.token:
            given = query.get("token") or self.headers.get("X-Edgehar-Token") or self._cookie()
            if not hmac.compare_digest(given.encode(), self.app.token.encode()):
                raise HttpError(403, "a token is needed: open the URL printed at start (…/?token=…)")
        if method == "POST":
            origin = self.headers.get("Origin")
            if origin != f"http://{self.headers.get('Host')}":
                raise HttpError(403, "writes are accepted from this server's own pages only")
            if self.app.token and self.headers.get("X-Edgehar-Token") != self.app.token:
                raise HttpError(403, "writes need the X-Edgehar-Token header")

    def _cookie_name(self) -> str:
        return f"edgehar_token_{self.app.port}"

    def _cookie(self) -> str:
        morsel = SimpleCookie(self.headers.get("Cookie") or "").get(self._cookie_name())
        return morsel.value if morsel else ""

    def _send(self, answer: Response, query: dict) -> None:
        body = answer.encoded()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        self.send_header("Referrer-Policy", "no-referrer")
        if self.app.token and query.get("token"):
            self.send_header("Set-Cookie", f"{self._cookie_name()}={self.app.token}; Path=/; HttpOnly; "
                             "SameSite=Strict")
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _events(self, feed: Feed) -> None:
        """Hold the connection: the feed's first events, then what is new after each of its
        waits, a comment after KEEPALIVE_S without any; until the feed is done, the client goes
        or the server closes (then what is left is sent)."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        thread = threading.current_thread()
        self.app._feeds[thread] = feed
        try:
            self._write(feed.first())
            written = time.monotonic()
            while not feed.done:
                closing = feed.wait(self.app)
                events = feed.next()
                if events:
                    self._write(events)
                    written = time.monotonic()
                elif time.monotonic() - written >= KEEPALIVE_S:
                    self.wfile.write(b": keepalive\n\n")
                    written = time.monotonic()
                if closing:
                    break
        except OSError:
            pass  # the client went away
        finally:
            self.app._feeds.pop(thread, None)
            feed.close()

    def _write(self, events: Events) -> None:
        """Events as one write (one system call)."""
        self.wfile.write(b"".join(e if isinstance(e, bytes) else event(*e) for e in events))
