"""Local web pages: the live stream, the fleet and the review of recordings (see docs/web.md)."""
