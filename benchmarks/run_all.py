"""Run every skae benchmark and write the result tables into benchmarks/README.md.

    python benchmarks/run_all.py                      # full set (~10 min, 2 idle cores)
    python benchmarks/run_all.py --quick --no-write   # tiny sizes, a smoke run
    python benchmarks/run_all.py --only mlp,torch     # some of them
    python benchmarks/run_all.py --unset-openblas-env # children without OPENBLAS_*

The tables replace the section between the ``results`` markers of
``benchmarks/README.md`` (with ``--only``, the other benchmarks' tables stay),
headed by the machine (as a benchmark subprocess sees it: BLAS libraries, their
kernel and threads); each table carries its date and the load average before
and after it (the numbers are only as quiet as the machine).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import io
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _common

BENCHMARKS = ["threads", "overhead", "mlp", "torch", "pca", "scaling"]
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


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


def run_all(
    names=BENCHMARKS, quick=False, unset_openblas_env=False, write=None, keep=None
):
    """Run the named benchmarks; return the markdown section and the rows.

    ``keep`` maps benchmark names to earlier result blocks that are kept for
    the benchmarks not run now. ``write(section)``, if given, is called after
    each benchmark with the section so far, so that a long run keeps what it
    measured. A benchmark that fails is reported in its place and the others
    still run.
    """
    argv = ["--quick"] if quick else []
    if unset_openblas_env:
        argv.append("--unset-openblas-env")
    _common.UNSET_OPENBLAS_ENV = unset_openblas_env
    info = _common.child_machine_info()
    header = "\n".join(
        [
            "Machine (as a benchmark subprocess sees it, at the last run):\n",
            _common.describe_machine(info),
        ]
    )
    blocks = dict(keep or {})
    all_rows = {}

    def section():
        parts = [header]
        parts += [_block(n, blocks[n]) for n in BENCHMARKS if n in blocks]
        return "\n\n".join(parts)

    for name in names:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        load_before = _load()
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        t0 = time.perf_counter()
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                rows = mod.main(argv)
        except Exception as exc:  # report it, go on with the others
            rows = []
            buf.write(f"## bench_{name} failed\n\n`{type(exc).__name__}: {exc}`\n")
        out = buf.getvalue().strip()
        print(out + "\n", flush=True)
        elapsed = time.perf_counter() - t0
        all_rows[name] = rows
        title, _, table = out.partition("\n")
        flags = " ".join(argv)
        blocks[name] = "\n".join(
            [
                "#" + title,
                "",
                f"`python benchmarks/bench_{name}.py{' ' + flags if flags else ''}`"
                f", {now}: {elapsed:.0f} s, load average (1/5/15 min) "
                f"{load_before} before, {_load()} after.",
                "",
                table.strip(),
            ]
        )
        if write is not None:
            write(section())
    return section(), all_rows


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
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {BENCHMARKS}")
    write = None if args.no_write else write_readme
    keep = None if args.no_write else _old_blocks()
    section, rows = run_all(names, args.quick, args.unset_openblas_env, write, keep)
    if write is not None:
        print(f"wrote {README}")
    return rows


if __name__ == "__main__":
    main()
