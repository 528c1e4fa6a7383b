"""What the channels that speak HTTP (Bark, webhooks) share: reading an answer, judging a failed call.

A failed call is transient when the network or the server may recover (timeouts, refused connections,
resets), and permanent when trying again cannot help: the address is not valid, or the outbound guard
refused it (a private or metadata address, `shared.outbound`), which no retry will change.
"""

from __future__ import annotations

import aiohttp

from shared.failures import PermanentError, TransientError
from shared.outbound import TargetRefusedError, refusal

# What an HTTP call of a channel can end in besides an answer: `call_failure` says what each means.
CALL_ERRORS = (TimeoutError, aiohttp.ClientError, OSError, TargetRefusedError)


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of the answer: a hostile server cannot make us hold a large body."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def call_failure(error: BaseException, what: str, *, timeout: float) -> PermanentError | TransientError:
    """The failure a channel raises for an HTTP call to `what` that ended in `error`."""
    if isinstance(error, TimeoutError):
        return TransientError(f"{what} timed out after {timeout:g}s")
    if isinstance(error, aiohttp.InvalidURL):
        return PermanentError(f"{what} address is not valid")
    refused = refusal(error)
    if refused is not None:
        return PermanentError(f"{what} refused: {refused}")
    return TransientError(f"{what} unreachable: {type(error).__name__}: {error}")
