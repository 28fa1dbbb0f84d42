"""Typst previews: what the largest valid resume costs, and 8 concurrent previews with a
lock per compiler, a compiler per thread, and the pool of preview processes.

    python bench/previews.py

1. The largest valid resumes (``MAX_DOCUMENT_BYTES`` of JSON, each field within its
   limit) in three shapes — unbreakable words (the line breaker's worst case), prose,
   and the most list items — as a preview (SVG pages, through the pool) and as a PDF
   (as a worker renders it); and, for the record, the 900 KB single highlight that the
   models accepted before they limited a highlight's length.
2. A two-page resume previewed 64 times by 8 threads at once, each strategy in a fresh
   process: previews a second, p50 and p95 latency, the cores used and the process
   tree's memory (PSS, preview processes included).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from exportd.documents.models import MAX_DOCUMENT_BYTES, Resume
from exportd.documents.preview_pool import PreviewPool
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import builtin_catalogue

CLASSIC = builtin_catalogue().get("classic")
assert CLASSIC is not None
OPTIONS = RenderOptions("a4", watermark=True, max_pages=500)
REPEATS = 3
CONCURRENT, PREVIEWS = 8, 64


def stored_size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())


def filled(item: Callable[[], str], base: dict[str, Any], per_work: int = 30) -> dict[str, Any]:
    """``base`` with work highlights added until the next one would pass the limit."""
    content = json.loads(json.dumps(base))
    content["work"] = []
    while True:
        work = {"organisation": "Organisation", "role": "Role", "highlights": []}
        content["work"].append(work)
        for _ in range(per_work):
            work["highlights"].append(item())
            if stored_size(content) > MAX_DOCUMENT_BYTES or len(content["work"]) > 50:
                work["highlights"].pop()
                return Resume.model_validate(content).model_dump(mode="json")


def shapes() -> dict[str, dict[str, Any]]:
    rnd = random.Random(7)

    def word(n: int) -> str:
        return "".join(rnd.choice("abcdefghijklmnop") for _ in range(n))

    def prose(n: int) -> str:
        return " ".join(word(rnd.randint(2, 9)) for _ in range(n))[:500]

    unbreakable = {
        "profile": {
            "name": word(200),
            "headline": word(300),
            "summary": word(5000),
            "links": [{"label": word(100), "url": "https://" + word(492)} for _ in range(5)],
        },
        "education": [{"institution": word(200), "notes": word(2000)}],
        "skills": [word(100) for _ in range(20)],
    }
    return {
        "unbreakable words": filled(lambda: word(500), unbreakable),
        "prose": filled(lambda: prose(80), {"profile": {"name": "Ada", "summary": prose(800)}}),
        "most list items": most_items(),
    }


def most_items() -> dict[str, Any]:
    """Every list at its longest with one-letter entries: the most layout per byte (16
    titled sections, as the templates take 20 sections in all)."""
    content = {
        "profile": {"name": "Ada", "links": [{"label": "x", "url": "https://x"}] * 20},
        "work": [{"organisation": "O", "role": "R", "highlights": ["x"] * 30}] * 50,
        "education": [{"institution": "I"}] * 30,
        "skills": ["x"] * 100,
        "sections": [{"title": f"S{i}", "items": ["x"] * 50} for i in range(16)],
    }
    return Resume.model_validate(content).model_dump(mode="json")


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = call()
    return (time.perf_counter() - started) * 1000, out


def largest(pool: PreviewPool) -> None:
    renderer = Renderer()
    print(f"largest valid resumes ({MAX_DOCUMENT_BYTES:,} bytes at most), ms over {REPEATS}:")
    print(f"{'shape':18} {'bytes':>6} {'pages':>5} {'preview p50':>11} {'max':>6} {'pdf p50':>8}")
    for name, data in shapes().items():
        previews, pdfs = [], []
        pages = 0
        for i in range(REPEATS):
            data["profile"]["name"] = f"Ada {i} {random.random()}"  # no cached layout
            ms, out = timed(lambda d=data: pool.svg_pages(CLASSIC, d, OPTIONS))
            previews.append(ms)
            pages = len(out)
            pdfs.append(timed(lambda d=data: renderer.render(CLASSIC, d, "pdf", OPTIONS))[0])
        print(
            f"{name:18} {stored_size(data):>6} {pages:>5} {statistics.median(previews):>11.0f} "
            f"{max(previews):>6.0f} {statistics.median(pdfs):>8.0f}"
        )
    before = {
        "profile": {"name": "Ada"},
        "work": [{"organisation": "O", "role": "R", "highlights": ["word " * 180_000]}],
    }
    ms, out = timed(lambda: renderer.typst(CLASSIC, before, OPTIONS, "svg"))
    print(f"before the limits: one 900 KB highlight, {len(out)} pages: {ms:,.0f} ms\n")


def typical(i: int) -> dict[str, Any]:
    return Resume.model_validate(
        {
            "profile": {"name": f"Ada {i}", "headline": "Analyst", "summary": "Wrote. " * 60},
            "work": [
                {
                    "organisation": f"Org {k}",
                    "role": "Engineer",
                    "start": "2010",
                    "highlights": [
                        f"Did thing {j} with care and rigour, shipping it." for j in range(6)
                    ],
                }
                for k in range(8)
            ],
            "skills": ["Python", "Typst", "SQL"] * 5,
        }
    ).model_dump(mode="json")


def strategies() -> dict[str, tuple[Callable[[int], Any], Callable[[], None]]]:
    shared, lock = Renderer(), threading.Lock()

    def locked(i: int) -> Any:
        with lock:
            return shared.typst(CLASSIC, typical(i), OPTIONS, "svg")

    local = threading.local()

    def per_thread(i: int) -> Any:
        if not hasattr(local, "renderer"):
            local.renderer = Renderer()
        return local.renderer.typst(CLASSIC, typical(i), OPTIONS, "svg")

    one, two = (PreviewPool(processes=n, timeout_s=60, font_dirs=[]) for n in (1, 2))
    return {
        "lock per compiler": (locked, lambda: None),
        "compiler per thread": (per_thread, lambda: None),
        "pool, 1 process": (lambda i: one.svg_pages(CLASSIC, typical(i), OPTIONS), one.close),
        "pool, 2 processes": (lambda i: two.svg_pages(CLASSIC, typical(i), OPTIONS), two.close),
    }


def tree() -> list[psutil.Process]:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def concurrent(name: str) -> None:
    """One strategy, in a fresh process (``main`` starts one per strategy): its memory is
    its own, not what an earlier strategy's compiles left behind."""
    preview, close = strategies()[name]
    with ThreadPoolExecutor(CONCURRENT) as threads:  # warm every thread and process
        list(threads.map(preview, range(-2 * CONCURRENT, 0)))
    latencies: list[float] = []

    def one(i: int) -> None:
        latencies.append(timed(lambda: preview(i))[0])

    cpu = sum(sum(p.cpu_times()[:2]) for p in tree())
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as threads:
        list(threads.map(one, range(PREVIEWS)))
    wall = time.perf_counter() - started
    cores = (sum(sum(p.cpu_times()[:2]) for p in tree()) - cpu) / wall
    pss = sum(p.memory_full_info().pss for p in tree()) / 2**20
    latencies.sort()
    print(
        f"{name:20} {PREVIEWS / wall:>6.1f} {statistics.median(latencies):>7.0f} "
        f"{latencies[int(PREVIEWS * 0.95) - 1]:>7.0f} {cores:>6.2f} {pss:>7.0f}",
        flush=True,
    )
    close()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--strategy":
        concurrent(sys.argv[2])
        return
    print(f"load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores\n")
    pool = PreviewPool(processes=1, timeout_s=60, font_dirs=[])
    try:
        largest(pool)
    finally:
        pool.close()
    print(f"{PREVIEWS} previews of a two-page resume, {CONCURRENT} threads at once:")
    print(f"{'strategy':20} {'per s':>6} {'p50 ms':>7} {'p95 ms':>7} {'cores':>6} {'PSS MB':>7}")
    for name in strategies():
        subprocess.run([sys.executable, __file__, "--strategy", name], check=True)
    print(f"load average {psutil.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
