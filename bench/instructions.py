"""Instructions per event, counted by callgrind: a figure this machine's noise does not move.

Runs `journey process` and the worker's in-memory processing (`processor_bench.run`)
under `valgrind --tool=callgrind` on the same generated input at two sizes, in three
modes: the analytics and the propensity model off; the analytics on; both on (the model
publishing from its tenth label of each outcome, so its steady cost is counted).
Start-up (imports, settings, the first allocation of every table) costs the same at
both sizes, so the difference divided by the difference in events is the cost of one
event. Each run's instructions are
attributed to the block they were spent in: the compiled core's own code by its
module (mypyc names functions `CPyDef_<module>___...`), orjson, msgspec, hashing,
allocation, garbage collection, and the interpreter: the Python around the core (the
runners, the codec's Python part, metrics) and the dict and object work the compiled
core asks of libpython, which a flat profile cannot give back to the module that
asked (callgrind's inclusive costs count re-entered code twice).

    python bench/instructions.py [--sizes 2000 6000] [--customers 300]

About two minutes on two cores (callgrind runs about 50 times slower than native).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import CORE_MODE  # noqa: E402
from pipeline.tools.generate import generate  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PUBLISHING_FROM = 10
"""The propensity model's `min_labels` in the runs that have it on."""
_NAMES = {"off": "analytics_off", "on": "analytics_on", "propensity": "propensity_on"}
"""A mode's name in `results/instructions.json` (the first two as earlier builds wrote)."""

_ALLOCATION = re.compile(
    r"(_?PyObject_(Malloc|Free|Realloc|Calloc)|.*dealloc.*|malloc|free|_int_free|_int_malloc"
    r"|cfree|PyMem_.*|_Py_Dealloc|PyObject_GC_Del|_PyObject_GC_New|gc_alloc|_PyObject_GC_Link)$"
)
_GC = re.compile(r"(gc_collect_main|visit_reachable|visit_decref|subtract_refs|update_refs"
                 r"|move_unreachable|deduce_unreachable|gc_collect_.*|.*_traverse)$")  # fmt: skip
_MYPYC = re.compile(r"CPyDef_(\w+?)___")


def block(obj: str, function: str) -> str:
    """The block an instruction spent in `function` of shared object `obj` belongs to."""
    function = function.split("'")[0]  # callgrind marks recursion levels with '2, '3
    name = obj.rsplit("/", 1)[-1]
    if "__mypyc" in name or name.startswith("pipeline.domain"):
        module = _MYPYC.match(function)
        return f"core: {module.group(1)}" if module else "core: runtime"
    for library in ("orjson", "msgspec", "zstandard"):
        if library in obj:
            return library
    if "_blake2" in name or "libcrypto" in name:
        return "hashing"
    if _ALLOCATION.match(function):
        return "allocation"
    if _GC.match(function):
        return "garbage collection"
    if "libpython" in name or name.startswith("python"):
        return "interpreter"
    return "other"


def costs_by_block(path: Path) -> Counter[str]:
    """Instructions by the block they were spent in (self cost), from a callgrind output
    file (names compressed as `(n) name`; a call's inclusive cost, on the line after
    `calls=`, is not a self cost). What the compiled core asks of Python objects (dict
    lookups, allocation) is spent in libpython: `interpreter` and `allocation`."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    obj = function = ""
    spent: Counter[tuple[str, str]] = Counter()
    in_call = False

    def named(kind: str, text: str) -> str:
        match = re.match(r"\((\d+)\)(?: (.*))?$", text)
        if not match:
            return text
        number, name = match.groups()
        if name is not None:
            names[kind][number] = name
            return name
        return names[kind][number]

    with path.open() as lines:
        for line in lines:
            if line[0].isdigit() or line[0] in "+-*":
                fields = line.split()
                if not in_call and len(fields) > 1:
                    spent[obj, function] += int(fields[1])
                in_call = False
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "ob":
                obj = named("ob", value)
            elif key == "fn":
                function = named("fn", value)
            elif key in ("cob", "cfn"):
                named(key[1:], value)
            elif key == "calls":
                in_call = True
    where: Counter[str] = Counter()
    for (obj, function), n in spent.items():
        where[block(obj, function)] += n
    return where


Costs = Counter[str]


def _callgrind(command: list[str], env: dict[str, str], out: Path) -> Costs:
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return costs_by_block(out)


MODES = {"off": ("off", "off"), "on": ("on", "off"), "propensity": ("on", "on")}
"""The runs' names, and the analytics and the propensity model in each."""


def offline(source: Path, mode: str, work: Path) -> Costs:
    analytics, propensity = MODES[mode]
    env = {**os.environ, "JOURNEY_ANALYTICS": analytics, "JOURNEY_PROPENSITY": propensity,
           "JOURNEY_PROPENSITY_MIN_LABELS": str(PUBLISHING_FROM)}  # fmt: skip
    out_dir = work / f"out-{mode}-{source.stem}"
    command = [sys.executable, "-c", "from pipeline.cli import main; main()", "process",
               "--input", str(source), "--output-dir", str(out_dir)]  # fmt: skip
    return _callgrind(command, env, work / f"offline-{mode}-{source.stem}.out")


def worker(source: Path, mode: str, work: Path) -> Costs:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--worker-run", str(source), "--mode", mode]
    return _callgrind(command, env, work / f"worker-{mode}-{source.stem}.out")


def _worker_run(source: Path, mode: str) -> None:
    """Under callgrind: the worker's processing of `source` (key TAB value lines)."""
    from bench.processor_bench import run

    analytics, propensity = MODES[mode]
    records = [tuple(line.split(b"\t", 1)) for line in source.read_bytes().splitlines()]
    run([(k.decode(), v) for k, v in records], 3_600_000 if analytics == "on" else 0,
        propensity == "on")  # fmt: skip


def _write_inputs(sizes: list[int], customers: int, work: Path) -> dict[int, tuple[Path, Path]]:
    """Per size: the JSONL input of `journey process` and the keyed lines of the worker."""
    inputs = {}
    for size in sizes:
        records = list(generate(size, customers, seed=11))
        jsonl, keyed = work / f"events-{size}.jsonl", work / f"keyed-{size}.txt"
        jsonl.write_bytes(b"".join(r.value + b"\n" for r in records))
        keyed.write_bytes(b"".join(r.key.encode() + b"\t" + r.value + b"\n" for r in records))
        inputs[size] = (jsonl, keyed)
    return inputs


def _per_event(small: Counter[str], large: Counter[str], events: int) -> dict[str, float]:
    return {b: (large[b] - small[b]) / events for b in large.keys() | small.keys()}


def _report(title: str, small: Costs, large: Costs, events: int) -> dict[str, object]:
    """Print and return one run's instructions per event, by block."""
    spent = _per_event(small, large, events)
    total = sum(spent.values())
    print(f"{title}: {total / 1000:,.1f}k instructions per event")
    for name, n in sorted(spent.items(), key=lambda item: -item[1]):
        if n >= 50:
            print(f"  {name:<28} {n / 1000:>8.1f}k")
    return {"per_event": round(total), "blocks": {b: round(n) for b, n in sorted(spent.items())
                                                  if n >= 50}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 6000])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--worker-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_run:
        _worker_run(args.worker_run, args.mode)
        return
    small, large = sorted(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = _write_inputs([small, large], args.customers, work)
        jobs = {
            (path, mode, size): (run, inputs[size][0 if path == "offline" else 1])
            for path, run in (("offline", offline), ("worker", worker))
            for mode in MODES
            for size in (small, large)
        }
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            futures = {job: pool.submit(run, source, job[1], work)
                       for job, (run, source) in jobs.items()}  # fmt: skip
            costs = {}
            for done, (job, future) in enumerate(futures.items(), 1):
                costs[job] = future.result()
                print(f"[{done}/{len(futures)}] {job[0]}, {job[1]}, {job[2]:,} events",
                      file=sys.stderr, flush=True)  # fmt: skip
    figures: dict[str, object] = {"core": CORE_MODE, "sizes": [small, large]}
    for path in ("offline", "worker"):
        per_event = {}
        for mode, (analytics, propensity) in MODES.items():
            report = _report(
                f"{path}, analytics {analytics}, propensity {propensity}",
                costs[path, mode, small],
                costs[path, mode, large],
                large - small,
            )
            figures[f"{path}_{_NAMES[mode]}"] = report
            per_event[mode] = report["per_event"]
        share = (per_event["propensity"] - per_event["on"]) / per_event["on"]
        figures[f"{path}_propensity_share"] = round(share, 3)
        print(f"{path}: the propensity path costs {share:.1%} of the processing without it")
    print(f"core {CORE_MODE}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "instructions.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
