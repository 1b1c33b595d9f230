"""One GET with retries, shared by the HTTP range source and the logit-cache server client.

Standard library only (urllib), so the client adds no HTTP dependency to a trainer's
environment.  Transient failures (connection errors, timeouts, a body cut short, 5xx) are
retried with exponential backoff, except ``LC_ERR_SHARD_CORRUPT``: the bytes on the server
are bad and asking again cannot fix them.
"""
from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Callable, Collection, Mapping, Optional, Tuple

from .errors import SHARD_CORRUPT, SOURCE_READ, HttpError, LogitCacheError

#: Server codes that retrying cannot fix even though the status is 5xx.
NON_RETRYABLE_CODES = frozenset({SHARD_CORRUPT})


def parse_error(status: int, body: bytes, url: str) -> HttpError:
    """An ``HttpError`` from a ``{code, message}`` JSON body, or from whatever text came back."""
    code, message = None, body[:200].decode("utf-8", "replace") or "(empty body)"
    try:
        obj = json.loads(body)
        if isinstance(obj, Mapping):
            code = obj.get("code") if isinstance(obj.get("code"), str) else None
            message = str(obj.get("message", message))
    except ValueError:
        pass
    return HttpError(status, code, message, url)


def http_get(
    url: str,
    headers: Mapping[str, str],
    *,
    token: Optional[str] = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    accept_statuses: Collection[int] = (),
    check_head: Optional[Callable[[int, Mapping[str, str]], None]] = None,
) -> Tuple[int, Mapping[str, str], bytes]:
    """``(status, headers, body)`` of a 2xx answer, or of an error status listed in
    ``accept_statuses`` (e.g. 416 for a range past an empty file); otherwise raises.
    ``check_head(status, headers)`` runs on a 2xx answer before its body is read, so it can
    refuse (raise) without buffering, e.g. a whole file sent to a Range request."""
    send = dict(headers)
    if token:
        send["Authorization"] = f"Bearer {token}"
    last: Optional[Exception] = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * (2 ** (attempt - 1)))
        try:
            req = urllib.request.Request(url, headers=send, method="GET")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if check_head is not None:
                    check_head(resp.status, resp.headers)
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            body = e.read() or b""
            if e.code in accept_statuses:
                return e.code, e.headers, body
            err = parse_error(e.code, body, url)
            if e.code >= 500 and err.code not in NON_RETRYABLE_CODES:
                last = err
                continue
            raise err from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as e:
            # includes a body cut short (IncompleteRead): transient, worth another try
            last = e
            continue
    if isinstance(last, HttpError):
        raise last
    raise LogitCacheError(f"GET {url}: failed after {retries + 1} attempts: {last}", SOURCE_READ) from last
