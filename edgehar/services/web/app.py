"""The servers of ``stream --http``, ``serve --http`` and ``review``: each a :class:`WebServer` with
its views' routes."""

from __future__ import annotations

from edgehar.bundle import Bundle
from edgehar.services.web.fleet import FleetView
from edgehar.services.web.live import LiveView
from edgehar.services.web.review import Review
from edgehar.services.web.server import WebServer


def serve_live(bind: str, bundle: Bundle, title: str, hop: int) -> tuple[LiveView, WebServer]:
    """Start the live page of one stream (windows every ``hop`` samples); the caller feeds the
    view and closes the server."""
    rate_hz = bundle.pipeline.sample_rate_hz
    view = LiveView(bundle.classes, bundle.name, title, rate_hz, hop_s=hop / rate_hz)
    server = WebServer(bind, view.routes())
    return view, server.start("live page")


def serve_fleet(bind: str, gateway) -> WebServer:
    """Start the fleet page of a gateway, attached as one of its observers."""
    view = FleetView(gateway.bundle.classes, gateway.bundle.name, gateway.bundle.pipeline.sample_rate_hz)
    gateway.observers.append(view)
    server = WebServer(bind, view.routes())
    return server.start("fleet page")


def serve_review(bind: str, review: Review) -> WebServer:
    """Start the review pages of a folder; the caller closes the server."""
    return WebServer(bind, review.routes()).start(f"review of {review.folder}")
