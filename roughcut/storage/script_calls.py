"""Lua script calls that can run on their own or several in one Redis round trip.

A store (the rate limiter, the response cache) describes a call as a ScriptCall and reads its answer itself;
`run_together` sends several calls in one pipeline of EVALSHA without MULTI (each script is atomic on its own,
and no caller needs them to be atomic together). redis-py's own pipeline scripts would first ask SCRIPT EXISTS,
a second round trip on every execute; instead a call that Redis answers NOSCRIPT (first use, or a Redis that
restarted empty) is run again on its own through its Script object, which loads it. NOSCRIPT means the script
did not run, so running it again counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One run of `script` with `keys` and `args`."""

    script: AsyncScript
    keys: list[str]
    args: list[Any]

    async def run(self, client: Redis) -> Any:
        """Run it on its own (loading the script first if Redis does not hold it)."""
        return await self.script(keys=self.keys, args=self.args, client=client)


async def run_together(client: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run `calls` in one round trip; each result is the script's answer or the RedisError/OSError it met
    (a lost connection, after the client's retries, fails every call)."""
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
    try:
        answers: list[Any] = await pipe.execute(raise_on_error=False)
    except (RedisError, OSError) as exc:
        return [exc] * len(calls)
    for i, answer in enumerate(answers):
        if isinstance(answer, NoScriptError):
            try:
                answers[i] = await calls[i].run(client)
            except (RedisError, OSError) as exc:
                answers[i] = exc
    return answers
