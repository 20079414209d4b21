"""A load generator in its own process: `python -m bench.load URL METHOD SECONDS CONCURRENCY`.

Prints completed requests per second. Loopback only; bounded in time and request count.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

import httpx

MAX_REQUESTS = 200_000


async def run(url: str, method: str, seconds: float, concurrency: int, ids: list[str]) -> float:
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            number = next(counter)
            if number >= MAX_REQUESTS:
                return
            if method == "GET":
                response = await client.get(url.replace("{id}", ids[number % len(ids)]))
            else:
                tag = f"load{number}-{time.perf_counter_ns()}"
                body = {
                    "first_name": "Load",
                    "last_name": "Test",
                    "email": f"{tag}@x.io",
                    "username": tag,
                }
                response = await client.post(url, json=body)
            if response.status_code >= 400:
                raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:200]}")
            done += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


if __name__ == "__main__":
    url, method, seconds, concurrency = (
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]),
        int(sys.argv[4]),
    )
    ids = json.loads(sys.stdin.read() or "[]")
    print(f"{asyncio.run(run(url, method, seconds, concurrency, ids)):.1f}")
