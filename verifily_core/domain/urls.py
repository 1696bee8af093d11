"""URLs as they may be shown: credentials and query strings replaced by ``***``.

Why one helper: a webhook URL often carries a secret (``https://user:token@host/...`` or
``?token=...``), and such a URL ends up in warnings, in the billing outbox, in ``billing flush``
output and in error messages. Every place that shows or stores a URL for people calls
:func:`redact_url`; only the HTTP request itself uses the URL as configured.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def redact_url(url: str) -> str:
    """``https://***@host:8443/path?***``: user, password, query and fragment masked; the scheme,
    host, port and path kept so the endpoint can still be recognised."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable URL>"
    _userinfo, at, host = parts.netloc.rpartition("@")
    netloc = f"{MASK}@{host}" if at else host
    return urlunsplit(
        (parts.scheme, netloc, parts.path, MASK if parts.query else "", MASK if parts.fragment else "")
    )
