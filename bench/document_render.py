"""Resume rendering per engine: cold (a new process's first render) and warm p50/p95,
and peak memory, for the built-in templates: Typst, and the HTML template printed by
WeasyPrint and by Chromium.  Each engine runs in its own process so one's memory does
not count against the other's; memory is the whole process tree's (Chromium runs its
browser and Playwright's driver as child processes).

    python bench/document_render.py   (also part of `make bench`)
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time

import psutil

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import builtin_catalogue

WARM_RUNS = 50
RESUME = {
    "profile": {
        "name": "Ada Lovelace",
        "headline": "Analyst and writer",
        "email": "ada@example.com",
        "location": "London",
        "summary": "Wrote the first published program for a general-purpose computer. " * 4,
    },
    "work": [
        {
            "organisation": f"Company {i}",
            "role": "Engineer",
            "start": "2015-01",
            "end": "2018-06",
            "highlights": [f"Delivered project {j} on time and under budget" for j in range(5)],
        }
        for i in range(6)
    ],
    "education": [{"institution": "University", "qualification": "Mathematics"}],
    "skills": ["Python", "SQL", "Typst", "CSS", "Statistics", "Writing"],
    "sections": [{"title": "Talks", "items": ["Notes on the engine"] * 6}],
}


def tree_rss_mb() -> float:
    """The process tree's proportional set size: shared pages (Chromium's processes share
    many) are split between their sharers instead of counted once per process."""
    me = psutil.Process()
    processes = [me, *me.children(recursive=True)]
    return sum(p.memory_full_info().pss for p in processes if p.is_running()) / 2**20


def measure(template_name: str, fmt: str, engine: str, queue: multiprocessing.Queue) -> None:
    template = builtin_catalogue().get(template_name)
    assert template is not None
    data = Resume.model_validate(RESUME).model_dump(mode="json")
    renderer = Renderer(pdf_engine="chromium" if engine == "chromium" else "weasyprint")
    options = RenderOptions("a4", watermark=True)
    started = time.perf_counter()
    first = renderer.render(template, data, fmt, options)
    cold_ms = (time.perf_counter() - started) * 1000
    times = []
    peak = tree_rss_mb()
    for _ in range(WARM_RUNS):
        started = time.perf_counter()
        renderer.render(template, data, fmt, options)
        times.append((time.perf_counter() - started) * 1000)
        peak = max(peak, tree_rss_mb())
    renderer.close()
    times.sort()
    queue.put(
        {
            "template": template_name,
            "engine": engine,
            "format": fmt,
            "bytes": len(first),
            "cold_ms": round(cold_ms, 1),
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "peak_rss_mb": round(peak, 1),
        }
    )


def main() -> None:
    context = multiprocessing.get_context("spawn")
    rows = []
    cases = (
        ("classic", "pdf", "typst"),
        ("modern", "pdf", "weasyprint"),
        ("modern", "pdf", "chromium"),
        ("modern", "html", "jinja2"),
    )
    for template, fmt, engine in cases:
        queue: multiprocessing.Queue = context.Queue()
        process = context.Process(target=measure, args=(template, fmt, engine, queue))
        process.start()
        rows.append(queue.get(timeout=600))
        process.join()
    print(
        f"{'template':10} {'engine':10} {'fmt':5} {'bytes':>7} {'cold ms':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'peak MB':>8}"
    )
    for r in rows:
        print(
            f"{r['template']:10} {r['engine']:10} {r['format']:5} {r['bytes']:>7} "
            f"{r['cold_ms']:>8} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['peak_rss_mb']:>8}"
        )
    typst, weasy, chromium = (rows[i]["p50_ms"] for i in range(3))
    print(f"Typst renders {weasy / typst:.0f}x faster than WeasyPrint (warm p50)")
    print(
        f"Chromium renders {weasy / chromium:.1f}x faster than WeasyPrint (warm p50), at "
        f"{rows[2]['peak_rss_mb'] / rows[1]['peak_rss_mb']:.1f}x its memory"
    )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
