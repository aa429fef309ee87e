"""Run skae's benchmarks, save their raw results as JSON, render the README tables.

    python benchmarks/run_all.py                      # full set (see README)
    python benchmarks/run_all.py --quick --no-write   # tiny sizes, a smoke run
    python benchmarks/run_all.py --only mlp,torch     # some of them
    python benchmarks/run_all.py --render-only        # tables from the JSON only
    python benchmarks/run_all.py --unset-openblas-env # children without OPENBLAS_*

Each benchmark writes its raw results to ``benchmarks/results/<name>.json``
(rows, spreads, the machine and libraries as a benchmark subprocess sees them,
threadpoolctl's view of the BLAS kernel that ran, the load average at start and
end). The README's tables are rendered from those files only: the section
between the ``results`` markers of ``benchmarks/README.md`` is rewritten with
one block per benchmark that has a results file (``--render-only`` does just
that, without running anything). A benchmark that fails is reported in its
place and the others still run. ``--quick`` runs save their JSON in a temporary
directory, never over the committed results.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _common

# In the order of the README; run by default unless marked separate.
BENCHMARKS = [
    "threads",
    "overhead",
    "mlp",
    "torch",
    "pca",
    "scaling",
    "panel",
    "quality_time",
]
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _block(name: str, body: str) -> str:
    return f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"


def _old_blocks(path: str = README) -> dict[str, str]:
    """The per-benchmark blocks currently in the README, by name."""
    blocks = {}
    if not os.path.exists(path):
        return blocks
    with open(path) as f:
        text = f.read()
    for name in BENCHMARKS:
        head, sep, rest = text.partition(f"<!-- bench:{name} -->")
        body, sep2, _ = rest.partition(f"<!-- /bench:{name} -->")
        if sep and sep2:
            blocks[name] = body
    return blocks


def _header(info: dict) -> str:
    return "\n".join(
        [
            "Machine (as a benchmark subprocess sees it, at the latest run):\n",
            _common.describe_machine(info),
        ]
    )


def render_section(results: dict[str, dict], keep: dict[str, str] | None = None):
    """The README section: the newest result's machine, then one block per
    benchmark (rendered from its result; else the kept block, if any)."""
    blocks = dict(keep or {})
    for name, result in results.items():
        blocks[name] = _common.render_result(result)
    header = ""
    if results:
        newest = max(results.values(), key=lambda r: r.get("started_utc", ""))
        header = _header(newest["machine"])
    parts = [header] if header else []
    parts += [_block(n, blocks[n]) for n in BENCHMARKS if n in blocks]
    return "\n\n".join(parts)


def saved_results(names=BENCHMARKS, results_dir=None) -> dict[str, dict]:
    """The results files present, by benchmark name."""
    results_dir = results_dir or _common.RESULTS_DIR
    out = {}
    for name in names:
        path = os.path.join(results_dir, f"{name}.json")
        if os.path.exists(path):
            out[name] = _common.load_result(path)
    return out


def run_all(
    names=BENCHMARKS,
    quick=False,
    unset_openblas_env=False,
    write=None,
    keep=None,
    results_dir=None,
):
    """Run the named benchmarks; return the markdown section and the rows.

    Each benchmark's ``main`` writes its JSON into ``results_dir`` (default
    ``benchmarks/results``; a temporary directory for ``quick`` runs) and the
    section is rendered from those files. ``keep`` maps benchmark names to
    result blocks used for benchmarks without a result. ``write(section)``, if
    given, is called after each benchmark with the section so far.
    """
    argv = ["--quick"] if quick else []
    if unset_openblas_env:
        argv.append("--unset-openblas-env")
    _common.UNSET_OPENBLAS_ENV = unset_openblas_env
    tmp = None
    if results_dir is None and quick:
        tmp = tempfile.TemporaryDirectory(prefix="skae-bench-")
        results_dir = tmp.name
    results_dir = results_dir or _common.RESULTS_DIR
    results = {}
    failed = {}
    all_rows = {}
    try:
        for name in names:
            mod = importlib.import_module(f"benchmarks.bench_{name}")
            path = os.path.join(results_dir, f"{name}.json")
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):
                    rows = mod.main([*argv, "--out", path])
                results[name] = _common.load_result(path)
            except Exception as exc:  # report it, go on with the others
                rows = []
                failed[name] = (
                    f"### bench_{name} failed\n\n`{type(exc).__name__}: {exc}`"
                )
            print(buf.getvalue().strip() + "\n", flush=True)
            all_rows[name] = rows
            if write is not None:
                write(render_section(results, {**(keep or {}), **failed}))
        section = render_section(results, {**(keep or {}), **failed})
    finally:
        if tmp is not None:
            tmp.cleanup()
    return section, all_rows


def write_readme(section: str, path: str = README) -> None:
    with open(path) as f:
        text = f.read()
    head, sep, rest = text.partition(START)
    if not sep:
        raise ValueError(f"{path} has no {START} marker")
    _, sep2, tail = rest.partition(END)
    if not sep2:
        raise ValueError(f"{path} has no {END} marker")
    with open(path, "w") as f:
        f.write(head + START + "\n" + section.strip() + "\n" + END + tail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--unset-openblas-env", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: render the README tables from benchmarks/results/*.json",
    )
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {BENCHMARKS}")
    write = None if args.no_write or args.quick else write_readme
    if args.render_only:
        # Every benchmark with a results file; the others keep their block.
        section = render_section(saved_results(), _old_blocks())
        if write is None:
            print(section)
        else:
            write(section)
            print(f"wrote {README} from {_common.RESULTS_DIR}")
        return {}
    keep = {}
    if write is not None:
        keep = {**_old_blocks(), **_rendered(saved_results())}
    section, rows = run_all(names, args.quick, args.unset_openblas_env, write, keep)
    if write is not None:
        print(f"wrote {README}")
    return rows


def _rendered(results: dict[str, dict]) -> dict[str, str]:
    return {name: _common.render_result(r) for name, r in results.items()}


if __name__ == "__main__":
    main()
