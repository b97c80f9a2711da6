"""Memory and time attacks on user templates: how fast each is stopped, and at what cost.

Every attack of the test corpus is rendered until the sandbox refuses it; the figures are
the wall time to the refusal, the peak of Python allocations during it (tracemalloc, in a
second run) and the growth of the process's peak RSS over the whole series, next to a plain
template rendered the same way as the baseline.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import TemplateContext, TemplateError, render_template
from tests.connectors.test_sandbox_resources import ATTACKS

BASELINE = "{% for i in range(1000) %}{{ row.name | upper }}{% endfor %}"


def timed(template: str, context: TemplateContext) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        render_template(template, context)
        refused = False
    except TemplateError:
        refused = True
    return time.perf_counter() - started, refused


def peak_bytes(template: str, context: TemplateContext) -> int:
    tracemalloc.start()
    try:
        timed(template, context)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    context = TemplateContext(row={"name": "Ada"})
    baseline_s, _ = timed(BASELINE, context)
    baseline_peak = peak_bytes(BASELINE, context)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"baseline: a 1,000-step template renders in {baseline_s * 1000:.1f} ms, "
          f"peak {baseline_peak / 1e6:.2f} MB")  # fmt: skip
    print(f"{'attack':<30} {'refused':>8} {'time ms':>9} {'peak MB':>9}")
    worst_s = worst_peak = 0.0
    not_refused = []
    for name, template in ATTACKS.items():
        seconds, refused = timed(template, context)
        peak = peak_bytes(template, context)
        worst_s, worst_peak = max(worst_s, seconds), max(worst_peak, peak)
        if not refused:
            not_refused.append(name)
        print(f"{name:<30} {'yes' if refused else 'NO':>8} {seconds * 1000:>9.1f} "
              f"{peak / 1e6:>9.1f}")  # fmt: skip
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"{len(ATTACKS)} attacks, {len(ATTACKS) - len(not_refused)} refused; "
        f"worst time {worst_s * 1000:.0f} ms ({worst_s / baseline_s:.0f}x the baseline), "
        f"worst peak {worst_peak / 1e6:.1f} MB; process peak RSS grew {rss_growth:.1f} MB"
    )
    return 1 if not_refused else 0


if __name__ == "__main__":
    sys.exit(main())
