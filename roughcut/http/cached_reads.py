"""Hot reads through the response cache (domain/read_cache.py): a hit answers with the stored body and its
ETag (304 to a matching If-None-Match) without a query or a render; a miss renders and stores.

The caller is authenticated before the lookup and every key holds the caller's id, so an entry is only
ever served to the user it was rendered for; access changes (a member removed) bump the versions the
entry was stored under, so the next read asks the database again and gets its 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain.read_cache import EPOCH, CachedRead, CacheKey, Lookup
from roughcut.http.jsonutil import encode, etag_of, tagged_response
from roughcut.metrics import CACHE_READS

# A cached read's lookup, made by the rate-limit middleware together with the limits (one Redis round trip):
# `cached_read` uses it when its key is the one the handler asks for.
PRE_LOOKUP: web.RequestKey[tuple[CacheKey, Lookup]] = web.RequestKey("pre_lookup")


async def cached_read(
    request: web.Request, key: CacheKey, render: Callable[[], Awaitable[Any]], *, one_resource: bool = True
) -> web.Response:
    """The read `key` from the cache, else `render()` it (raising as the uncached read would) and store it.

    A read of one resource answers with its ETag (API.md); a page of a list answers as it always did, without.
    """
    cache = request.config_dict.get(keys.RESPONSE_CACHE)
    pre = request.get(PRE_LOOKUP)
    if cache is None:
        lookup = Lookup(None, None)
    elif pre is not None and pre[0] == key:
        lookup = pre[1]
    else:
        lookup = await cache.get(key)
    if lookup.found is not None:
        CACHE_READS.labels(key.resource, "hit").inc()
        value = lookup.found
    else:
        if cache is not None:
            CACHE_READS.labels(key.resource, "miss").inc()
        body = encode(await render())
        value = CachedRead(etag_of(body), body)
        if cache is not None and lookup.stamp is not None:
            await cache.put(key, lookup.stamp, value, request.config_dict[keys.SETTINGS].response_cache_ttl)
    if one_resource:
        return tagged_response(request, value.body, value.etag)
    return web.Response(body=value.body, content_type="application/json")


async def drop_all(request: web.Request) -> None:
    """Make every cached read stale, on every node: for a change other people's reads show that no project
    event names (a nickname or an avatar: members, owners and comment authors show them)."""
    cache = request.config_dict.get(keys.RESPONSE_CACHE)
    if cache is not None:
        await cache.bump([EPOCH])
