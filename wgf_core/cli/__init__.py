"""The ``wgf`` command: list, run and sweep the experiments on Dask, and tabulate the runs.

::

    wgf list [EXPERIMENT ...] [--json]
    wgf run ift/gaussian_2d -p profile=paper -p device=cuda --seeds 0-4 [--out DIR]
    wgf sweep ift/gaussian_2d -p profile=ci -p sigma=1,5,10 -p tau=10,50 --seeds 0-2 [--out DIR]
    wgf report DIR
    wgf claims check | lock | amend ID --change ... --reason ... --results-seen yes|no

``run`` and ``sweep`` validate every parameter set and option before anything is submitted (an
unknown name or a refused value, ``--seeds`` beyond :data:`~wgf_core.cli.sweep.MAX_SEEDS`, an
``--out`` that is a file, ``--timeout`` or ``--jobs`` below 1, a malformed scheduler address
exits with status 2 and one line naming the parameter, the value and what is allowed), skip the
runs already done, and execute the rest on a Dask ``LocalCluster`` (one single-threaded worker
process per core, ``--jobs``) or on an existing cluster (``--scheduler tcp://HOST:PORT`` or
``DASK_SCHEDULER_ADDRESS``; one that does not answer within
:data:`~wgf_core.cli.runner.CONNECT_TIMEOUT` seconds: status 2). Exit status 1 if a run failed,
130 if interrupted. ``report`` lists a run folder it cannot read as ``corrupt: <file>: <reason>``
(a row of status ``corrupt`` in the tables) and then exits with status 1. The modules: :mod:`~wgf_core.cli.catalog` (experiments, parameters, validation),
:mod:`~wgf_core.cli.sweep` (parsing, planning, :func:`~wgf_core.cli.sweep.sweep`),
:mod:`~wgf_core.cli.runner` (Dask execution), :mod:`~wgf_core.cli.report` (tables).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .sweep import MAX_SEEDS

    ap = argparse.ArgumentParser(prog="wgf", description="Run the compendium's experiments and tabulate the runs.")
    ap.add_argument("--notebooks-dir", type=Path, default=None,
                    help="the notebooks folder (default: WGF_NOTEBOOKS_DIR, else the checkout's notebooks/)")
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the experiments, their parameters, defaults and allowed values")
    ls.add_argument("experiments", nargs="*", help="only these (keys or aliases)")
    ls.add_argument("--json", action="store_true", help="as JSON")
    for name, many in (("run", False), ("sweep", True)):
        p = sub.add_parser(name, help="run one experiment" if not many else "run the product of the values given")
        p.add_argument("experiment", help="a page key or alias, e.g. ift/gaussian_2d (wgf list)")
        p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE" + (",VALUE..." if many else ""),
                       help="a notebook parameter" + (" and its values, comma-separated" if many else ""))
        p.add_argument("--seeds", default="0", help=f"seeds, e.g. 0-4 or 0,3,7 (default 0; at most {MAX_SEEDS})")
        p.add_argument("--out", type=Path, default=Path("runs"), help="folder of the runs (default ./runs)")
        p.add_argument("--jobs", type=int, default=None, help="local workers, >= 1 (default: CPU cores; 1 on a GPU)")
        p.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler (default: DASK_SCHEDULER_ADDRESS, else local)")
        p.add_argument("--force", action="store_true", help="rerun the runs already done")
        p.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds, >= 1 (default 3600)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp = sub.add_parser("report", help="tidy table of the runs in DIR (CSV and Parquet) and its summary")
    rp.add_argument("dir", type=Path)
    cp = sub.add_parser("claims", help="the claims registry's lock: check, register new claims, amend")
    csub = cp.add_subparsers(dest="claims_command", required=True)
    csub.add_parser("check", help="list the claims changed without an amendment; exit 1 if any")
    csub.add_parser("lock", help="register the claims that have no registration yet")
    am = csub.add_parser("amend", help="record a dated amendment of a claim with its current hash")
    am.add_argument("claim", help="the claim id")
    am.add_argument("--change", required=True, help="what changed")
    am.add_argument("--reason", required=True, help="why")
    am.add_argument("--results-seen", required=True, choices=("yes", "no"),
                    help="whether results of the claim had been seen before the change")
    am.add_argument("--earlier", default="", help="the earlier criterion, for a loosening")
    am.add_argument("--decided-by", default="current", choices=("current", "earlier"),
                    help="which criterion decides the verdict (default current)")
    return ap


def _claims(args) -> int:
    from ..claims import lock

    if args.claims_command == "check":
        changed = lock.verify()
        if changed:
            print(lock.report(changed))
            print(f"{len(changed)} claim(s) changed without an amendment")
            return 1
        print(f"{len(lock.load_lock())} claims registered; none changed without an amendment")
        return 0
    if args.claims_command == "lock":
        new = lock.register()
        print(f"registered {len(new)} claim(s)" + (": " + ", ".join(new) if new else ""))
        return 0
    try:
        entry = lock.amend(args.claim, change=args.change, reason=args.reason, results_seen=args.results_seen == "yes",
                           earlier=args.earlier, decided_by=args.decided_by)
    except KeyError as exc:
        raise _usage(str(exc).strip("'\""))
    print(f"amendment of {entry['claim']} recorded ({entry['date']}, hash {entry['hash'][:12]})")
    return 0


def _describe(exp) -> dict:
    from .catalog import allowed_values

    return {"key": exp.key, "alias": exp.alias, "title": exp.title, "source": str(exp.source),
            "parameters": [{"name": p.name, "default": p.default, "help": p.help,
                            "fixed": exp.fixed.get(p.name), "allowed": "" if p.name in exp.fixed else
                            allowed_values(exp, p.name)} for p in exp.declared.values()]}


def _list(args, cat) -> int:
    from .catalog import resolve

    exps = [resolve(n, cat) for n in args.experiments] if args.experiments else list(cat.values())
    info = [_describe(e) for e in exps]
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    for e in info:
        print(f"{e['key']}  (alias {e['alias']})  {e['title']}")
        for p in e["parameters"]:
            what = f"fixed: {p['fixed']!r}" if p["fixed"] is not None else p["allowed"] or "any value"
            print(f"    {p['name']:<20} = {p['default']!r:<12} {what}" + (f"   # {p['help']}" if p["help"] else ""))
    return 0


def _run(args, cat, many: bool) -> int:
    from .catalog import resolve
    from .runner import Runner, default_jobs
    from .sweep import (
        check_options,
        check_out,
        check_scheduler,
        grid,
        parse_assignments,
        parse_seeds,
        plan,
        validate_all,
    )

    exp = resolve(args.experiment, cat)
    check_options(args.timeout, args.jobs, ("--timeout", "--jobs"))
    check_out(args.out, "--out")
    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    check_scheduler(address, "--scheduler" if args.scheduler else "DASK_SCHEDULER_ADDRESS")
    values = parse_assignments(args.param, many=many)
    seeds = parse_seeds(args.seeds)
    sets = grid(values if many else {k: [v] for k, v in values.items()})
    validate_all(exp, sets, seeds, remote=bool(address))
    todo, done = plan(exp, sets, seeds, args.out, timeout=args.timeout, force=args.force)
    print(f"{exp.key}: {len(sets)} parameter set(s) x {len(seeds)} seed(s) = {len(todo) + len(done)} run(s): "
          f"{len(done)} already done, {len(todo)} to run; in {args.out}", flush=True)
    failed = 0
    if todo:
        device = "cuda" if any(s.gpu for s in todo) else "cpu"
        with Runner(jobs=min(args.jobs or default_jobs(device), len(todo)), device=device,
                    scheduler=args.scheduler) as runner:
            for spec, state in runner.run(todo, progress=not args.no_progress):
                if state.get("status") != "ok":
                    failed += 1
                    print(f"  failed: {spec.output.parent}: {state.get('error')}", file=sys.stderr, flush=True)
    print(f"done: {len(todo) - failed} ran, {failed} failed, {len(done)} skipped. Table: wgf report {args.out}")
    return 1 if failed else 0


def _report(args) -> int:
    from .report import write_report

    if not args.dir.is_dir():
        raise _usage(f"DIR = {str(args.dir)!r} is not a folder")
    try:
        res = write_report(args.dir)
    except OSError as exc:  # the tables cannot be written there
        print(f"wgf report: error: cannot write the tables in {str(args.dir)!r}: {type(exc).__name__}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    for r in res["summary"]:
        params = ", ".join(f"{k[6:]}={v!r}" for k, v in r.items() if k.startswith("param:"))
        secs = f"{r['seconds:mean']:.1f} s/run" if "seconds:mean" in r else ""
        bad = f", {r['corrupt']} corrupt" if r.get("corrupt") else ""
        print(f"{r['experiment']} [{params}]: {r['ok']}/{r['runs']} ok{bad} {secs}")
    for r in res["corrupt"]:
        print(f"  {r['error']}")
    print(f"{len(res['rows'])} run(s): " + ", ".join(str(f) for f in res["files"]))
    if res["corrupt"]:
        print(f"wgf report: {len(res['corrupt'])} run folder(s) corrupt (listed above, status 'corrupt' in the "
              "tables): rerun them, e.g. with --force, or remove them", file=sys.stderr)
        return 1
    return 0


class _UsageError(Exception):
    pass


def _usage(msg: str) -> _UsageError:
    return _UsageError(msg)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``wgf`` command (``python -m wgf_core.cli``); returns the exit status."""
    from ..errors import ParameterError
    from .runner import ClusterError

    args = _parser().parse_args(argv)
    try:
        if args.command == "report":
            return _report(args)
        if args.command == "claims":
            return _claims(args)
        from .catalog import catalog
        from .sweep import default_notebooks_dir

        cat = catalog(args.notebooks_dir or default_notebooks_dir())
        if args.command == "list":
            return _list(args, cat)
        return _run(args, cat, many=args.command == "sweep")
    except (ParameterError, _UsageError) as exc:
        print(f"wgf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ClusterError as exc:  # e.g. GPU runs on a cluster without GPU workers
        print(f"wgf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wgf {args.command}: interrupted; the runs that finished are recorded", file=sys.stderr)
        return 130
