"""Content-type rules shared by page fetching and WARC input: what counts as HTML."""

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def looks_like_html(body: bytes) -> bool:
    """Sniff an HTML document when the server sent no usable Content-Type."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    return head.startswith(_HTML_SNIFF) or b"<html" in head
