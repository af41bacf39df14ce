"""The experiments: pages of the book, their notebooks, parameters, defaults and allowed values.

An *experiment* is a page of the book: a notebook ``<paper>/<name>.ipynb`` under the notebooks
folder, or an entry of its ``pages.toml`` (one notebook executed with fixed page parameters, see
:func:`load_pages`). Its key is the page key (``ift/01_gaussian_2d``); a short alias drops the
number (``ift/gaussian_2d``) where that is unambiguous.

The parameters and their defaults are read from the notebook's cell tagged ``parameters``
(:func:`parse_parameters`); what each parameter allows is the library's own validation, run
without the experiment: :func:`validate` executes the notebook's parameters cell and the
validating prefix of its first code cell (:func:`validating_prefix`: the statements up to the
last ``check_*`` / ``select_profile`` / ``setup*`` call), so a bad value raises
:class:`~wgf_core.errors.ParameterError` before anything is submitted. Before that, the names
must be ASCII identifiers and each value must have the kind that the library's check names
(:func:`check_kinds`: a number for a numeric parameter, one value for a choice), so text such
as ``"5"``, ``True`` for a number, or a list for a choice is refused with the parameter named.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ParameterError

__all__ = ["PAGES_FILE", "RESERVED_PARAMETERS", "Parameter", "Experiment", "load_pages", "load_sweeps",
           "sweep_sources", "notebook_header",
           "discover_pages", "parameters_cell", "parse_parameters", "validating_prefix", "catalog", "resolve",
           "check_names", "value_kind", "check_kinds", "validate", "allowed_values"]

#: The registry of notebooks executed into several pages, in the notebooks folder (see :func:`load_pages`).
PAGES_FILE = "pages.toml"
#: Parameters the runner sets itself, so a page entry cannot: ``page`` is the page key.
RESERVED_PARAMETERS = ("profile", "device", "seed", "page")
#: Calls whose statements belong to a notebook's validation (the first code cell, up to the last of them).
_VALIDATING_CALL = re.compile(r"^(check_\w+|select_profile|setup\w*)$")
_PARAM_ERROR = re.compile(r"parameter '(\w+)' = .* is not allowed: (.*)$", re.DOTALL)


@dataclass(frozen=True)
class Parameter:
    """One line of a ``parameters`` cell: ``name = default  # help``."""

    name: str
    default: Any
    help: str = ""


@dataclass
class Experiment:
    """One page: its ``source`` notebook, its key ``<paper>/<name>``, the page's ``fixed`` parameters.

    ``fixed`` holds ``page`` (the record's key) and the entry's own parameters for a page of
    ``pages.toml``; it is empty for a plain notebook. ``declared`` are the source notebook's
    parameters (:class:`Parameter` by name, in the cell's order; filled by :func:`catalog`).
    """

    source: Path
    paper: str
    name: str
    title: str = ""
    figure: str = ""
    fixed: dict = field(default_factory=dict)
    declared: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.paper}/{self.name}"

    @property
    def alias(self) -> str:
        """The key without the number of the page (``ift/01_gaussian_2d`` -> ``ift/gaussian_2d``)."""
        return f"{self.paper}/{re.sub(r'^[0-9]+_', '', self.name)}"


# ----------------------------------------------------------------------------- pages
def load_pages(notebooks_dir: Path) -> dict:
    """The pages that ``<notebooks_dir>/pages.toml`` executes from a shared notebook, by page key.

    One table per page, keyed ``"<paper>/<page name>"``::

        [pages."ift/01_gaussian_2d"]
        source = "ift/01_particles_2d.ipynb"    # relative to notebooks_dir, in the same paper folder
        title = "IFT vs MMD flow: 2-D Gaussian target"   # the page's heading, TOC and table entry
        figure = "Fig. 3(a), Fig. 4"            # what it reproduces (landing table); optional
        parameters = { target = "gaussian" }    # papermill parameters of this page

    A notebook named as a ``source`` is executed once per entry and is not a page itself. Each
    run also gets ``page`` = the page key (the notebook declares a ``page`` parameter and records
    under it, so the claims registered for that key are decided there). Returns
    ``{key: {"source": Path, "title", "figure", "parameters"}}``; a malformed entry raises
    ``ValueError`` naming it.
    """
    import tomllib

    path = Path(notebooks_dir) / PAGES_FILE
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    unknown = set(data) - {"pages", "sweeps"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}; pages go under [pages.\"<paper>/<name>\"], "
                         "sweeps under [sweeps.\"<paper>/<name>\"]")
    pages = {}
    for key, entry in data.get("pages", {}).items():
        where = f"{path}: page {key!r}"
        if not re.fullmatch(r"[A-Za-z0-9][\w-]*/[A-Za-z0-9][\w.-]*", key):
            raise ValueError(f"{where}: the key must be '<paper>/<page name>'")
        extra = set(entry) - {"source", "title", "figure", "parameters"}
        if extra:
            raise ValueError(f"{where}: unknown fields {sorted(extra)} (source, title, figure, parameters)")
        source = Path(notebooks_dir) / str(entry.get("source", ""))
        if source.suffix != ".ipynb" or not source.is_file():
            raise ValueError(f"{where}: source {entry.get('source')!r} is not a notebook under {notebooks_dir}")
        if source.parent.name != key.split("/")[0] or source.parent.parent.resolve() != Path(notebooks_dir).resolve():
            raise ValueError(f"{where}: source {entry['source']!r} is not in the paper folder {key.split('/')[0]!r}")
        if not str(entry.get("title", "")).strip():
            raise ValueError(f"{where}: a page needs a title")
        params = entry.get("parameters", {})
        if not isinstance(params, dict) or set(params) & set(RESERVED_PARAMETERS):
            raise ValueError(f"{where}: parameters must be a table without {', '.join(RESERVED_PARAMETERS)} "
                             "(the build sets those)")
        pages[key] = {"source": source, "title": str(entry["title"]).strip(), "figure": str(entry.get("figure", "")),
                      "parameters": dict(params)}
    sources = {e["source"].resolve() for e in pages.values()}
    for key in pages:
        other = Path(notebooks_dir) / f"{key}.ipynb"
        if other.exists() and other.resolve() not in sources:
            raise ValueError(f"{path}: page {key!r} has the name of the notebook {other.name}, which is a page itself")
    return pages


def load_sweeps(notebooks_dir: Path) -> dict:
    """The sweeps the book runs (``[sweeps."<paper>/<name>"]`` tables of ``pages.toml``), by sweep key.

    ::

        [sweeps."ift/conventions_2d"]
        source = "ift/conventions_2d.ipynb"   # the experiment each run executes (not a page itself)
        title = "..."                          # the sweep page's heading
        parameters = { target = "gaussian" }   # fixed for every run
        grid = { bandwidth = ["2sigma2", "sigma2"], energy = ["half", "full"] }   # the product is swept
        seeds = 2                              # seeds per parameter set: base, base + 1, ...
        metrics = ["mmd_final", "ift_final"]   # the record's metrics the page shows
        labels = ["MMD flow", "IFT"]           # their labels
        why = "..."                            # why this many seeds (the page says it)

    Returns ``{key: entry}`` with ``source`` a Path; a malformed entry raises ``ValueError`` naming it.
    """
    import tomllib

    path = Path(notebooks_dir) / PAGES_FILE
    if not path.exists():
        return {}
    out = {}
    fields = {"source", "title", "parameters", "grid", "seeds", "metrics", "labels", "why", "floor"}
    for key, entry in tomllib.loads(path.read_text()).get("sweeps", {}).items():
        where = f"{path}: sweep {key!r}"
        if not re.fullmatch(r"[A-Za-z0-9][\w-]*/[A-Za-z0-9][\w.-]*", key):
            raise ValueError(f"{where}: the key must be '<paper>/<name>'")
        extra = set(entry) - fields
        if extra:
            raise ValueError(f"{where}: unknown fields {sorted(extra)} ({', '.join(sorted(fields))})")
        source = Path(notebooks_dir) / str(entry.get("source", ""))
        if source.suffix != ".ipynb" or not source.is_file():
            raise ValueError(f"{where}: source {entry.get('source')!r} is not a notebook under {notebooks_dir}")
        grid = entry.get("grid", {})
        if not grid or not all(isinstance(v, list) and v for v in grid.values()):
            raise ValueError(f"{where}: grid must map each swept parameter to a non-empty list")
        seeds = entry.get("seeds", 1)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"{where}: seeds must be an integer >= 1")
        metrics, labels = list(entry.get("metrics", [])), list(entry.get("labels", entry.get("metrics", [])))
        if not metrics or len(labels) != len(metrics):
            raise ValueError(f"{where}: metrics (non-empty) and labels (one per metric) are needed")
        params = dict(entry.get("parameters", {}))
        if set(params) & (set(RESERVED_PARAMETERS) | set(grid)):
            raise ValueError(f"{where}: parameters must not name {', '.join(RESERVED_PARAMETERS)} or a swept one")
        out[key] = dict(source=source, title=str(entry.get("title", key)), parameters=params, grid=dict(grid),
                        seeds=seeds, metrics=metrics, labels=labels, why=str(entry.get("why", "")),
                        floor=entry.get("floor"))
    return out


_NUM = r"[A-Z]?\d+(?:\([a-z]\)|[a-z])?"
_FIG_RE = re.compile(rf"\b(?:Fig(?:ure|s?\.)?|Figures?|Table|Tab\.|Section|Sec\.)\s*~?\s*{_NUM}"
                     rf"(?:\s*(?:,|and|&|-|–)\s*{_NUM})*"
                     r"|\bAppendix\s+[A-Z](?:\.\d+)?(?:,\s*example\s+\d+)?", re.IGNORECASE)


def notebook_header(path: Path) -> tuple[str, str]:
    """(title, figure reference) from the first markdown cell of a notebook."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return Path(path).stem, ""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        text = "".join(cell.get("source", ""))
        title = ""
        for line in text.splitlines():
            if line.startswith("# "):
                title = line[2:].strip()
                break
        figs = []
        for m in _FIG_RE.finditer(text):
            f = re.sub(r"\s+", " ", m.group(0)).strip()
            if f not in figs:
                figs.append(f)
        return title or Path(path).stem, ", ".join(figs[:3])
    return Path(path).stem, ""


def discover_pages(notebooks_dir: Path) -> list[Experiment]:
    """Every page under ``notebooks_dir``, sorted by key, without their parameters (cheap).

    A page is either a ``<paper>/<name>.ipynb`` (names starting with ``_`` or ``.`` are skipped)
    or an entry of ``pages.toml`` (:func:`load_pages`), whose source notebook is then not a page
    of its own; an entry's ``fixed`` parameters are ``page`` (its key) and the entry's own.
    """
    notebooks_dir = Path(notebooks_dir)
    pages = load_pages(notebooks_dir)
    sources = {e["source"].resolve() for e in pages.values()}
    sources |= {e["source"].resolve() for e in load_sweeps(notebooks_dir).values()}  # swept, not pages
    found = []
    for p in sorted(notebooks_dir.glob("*/*.ipynb")):
        if p.name.startswith(("_", ".")) or p.parent.name.startswith(("_", ".")) or p.resolve() in sources:
            continue
        title, figure = notebook_header(p)
        found.append(Experiment(source=p, paper=p.parent.name, name=p.stem, title=title, figure=figure))
    for key, entry in pages.items():
        paper, name = key.split("/")
        found.append(Experiment(source=entry["source"], paper=paper, name=name, title=entry["title"], figure=entry["figure"],
                                fixed={"page": key, **entry["parameters"]}))
    return sorted(found, key=lambda e: e.key)


# ----------------------------------------------------------------------------- parameters
def _code_cells(source: Path) -> list[dict]:
    nb = json.loads(Path(source).read_text())
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def parameters_cell(source: Path) -> tuple[str, str]:
    """Sources of the notebook's ``parameters`` cell and of the code cell after it (``""`` if none)."""
    cells = _code_cells(source)
    for i, c in enumerate(cells):
        if "parameters" in c.get("metadata", {}).get("tags", []):
            nxt = "".join(cells[i + 1]["source"]) if i + 1 < len(cells) else ""
            return "".join(c["source"]), nxt
    raise ValueError(f"{source}: no cell tagged 'parameters'")


def parse_parameters(cell: str) -> dict:
    """The ``name = default  # help`` lines of a parameters cell, as :class:`Parameter` by name.

    Defaults are Python literals (``ast.literal_eval``); a default that is not a literal is kept
    as its source text. The help is the comment at the end of the assignment's line.
    """
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(cell).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = ast.get_source_segment(cell, value)
        out[name] = Parameter(name, default, comments.get(node.end_lineno, ""))
    return out


def validating_prefix(cell: str) -> str:
    """The statements of a notebook's first code cell that validate its parameters.

    Every statement up to the last one that calls ``check_*`` (other than
    ``check_notebook_parameters``, which reads the kernel's history), ``select_profile`` or a
    driver's ``setup*``; imports included, the experiment itself not. ``""`` if none does.
    """
    tree = ast.parse(cell)
    last = -1
    for i, stmt in enumerate(tree.body):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if _VALIDATING_CALL.match(name) and name != "check_notebook_parameters":
                    last = i
    lines = cell.splitlines()
    return "\n".join(lines[:tree.body[last].end_lineno]) + "\n" if last >= 0 else ""


def catalog(notebooks_dir: Path) -> dict:
    """Every experiment under ``notebooks_dir`` with its declared parameters, by key (see :class:`Experiment`)."""
    out = {}
    for exp in discover_pages(notebooks_dir) + sweep_sources(notebooks_dir):
        exp.declared = parse_parameters(parameters_cell(exp.source)[0])
        out[exp.key] = exp
    return out


def sweep_sources(notebooks_dir: Path) -> list[Experiment]:
    """The notebooks that the book's sweeps execute (:func:`load_sweeps`): experiments of the ``wgf``
    command, named after the notebook, that are not pages of the book."""
    found = {}
    for entry in load_sweeps(notebooks_dir).values():
        p = entry["source"]
        title, figure = notebook_header(p)
        found[p.resolve()] = Experiment(source=p, paper=p.parent.name, name=p.stem, title=title, figure=figure)
    return list(found.values())


def resolve(name: str, experiments: Mapping[str, Experiment]) -> Experiment:
    """The experiment called ``name``: a page key or an unambiguous alias (:attr:`Experiment.alias`).

    Raises :class:`ParameterError` naming the closest experiments otherwise.
    """
    if name in experiments:
        return experiments[name]
    hits = [e for e in experiments.values() if e.alias == name]
    if len(hits) == 1:
        return hits[0]
    names = sorted(experiments) + sorted({e.alias for e in experiments.values()})
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = ("ambiguous: " + ", ".join(e.key for e in hits) if len(hits) > 1 else
            f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "")
    raise ParameterError(f"experiment {name!r} is not known: {hint}`wgf list` lists them ({', '.join(sorted(experiments))})")


def check_names(exp: Experiment, params: Mapping[str, Any]) -> None:
    """Refuse a name that is not an ASCII identifier, one the notebook does not declare (naming the
    closest one) or one the page fixes."""
    from ..validation import check_parameter_name, check_parameter_names

    for name in params:
        check_parameter_name(name)
    check_parameter_names("\n".join(f"{k} = None" for k in exp.declared),
                          "\n".join(f"{k} = None" for k in params))
    fixed = sorted(set(params) & set(exp.fixed))
    if fixed:
        raise ParameterError(f"parameter {fixed[0]!r} is fixed by the page {exp.key!r} "
                             f"(= {exp.fixed[fixed[0]]!r}): run another page, `wgf list` lists them")


def _local_device(value: Any) -> Any:
    """``value``, or ``"cpu"`` for a well-formed GPU device that this machine lacks (the workers may have it)."""
    import torch

    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError):
        return value  # malformed: let the library's check_device name it
    if dev.type == "cuda" and not torch.cuda.is_available():
        return "cpu"
    if dev.type == "mps" and not torch.backends.mps.is_available():
        return "cpu"
    return value


def value_kind(allowed: str) -> str:
    """The kind of value that the library's ``allowed`` text describes.

    ``"bool"`` (``one of True, False``), ``"choice"`` (``one of ...``), ``"list"`` (a list of
    ...), ``"number"`` (a number or an integer), ``""`` (anything else: the library decides).
    """
    if allowed == "one of True, False":
        return "bool"
    if allowed.startswith("one of"):
        return "choice"
    if re.match(r"(an integer|a finite number|a number)\b", allowed):  # whatever its reason's words
        return "number"
    if re.search(r"\blist\b", allowed):
        return "list"
    if re.search(r"\b(number|integer)\b", allowed):
        return "number"
    return ""


#: What :func:`allowed_values` said, by (notebook, page, parameter): it is asked once per process.
_ALLOWED_CACHE: dict = {}


def _allowed_cached(exp: Experiment, name: str) -> str:
    key = (str(Path(exp.source).resolve()), exp.key, name)
    if key not in _ALLOWED_CACHE:
        _ALLOWED_CACHE[key] = allowed_values(exp, name)
    return _ALLOWED_CACHE[key]


def check_kinds(exp: Experiment, params: Mapping[str, Any]) -> None:
    """Refuse a value whose kind is not the one the library's check of that parameter names.

    The parameter's allowed text (:func:`allowed_values`, asked once per process) gives its kind
    (:func:`value_kind`): a numeric parameter refuses text (``"5"``, fullwidth ``"５"``),
    ``True`` / ``False`` and containers (its range is the library's to check); a choice refuses
    a list or a mapping; a ``True`` / ``False`` parameter refuses anything else, ``1`` included.
    ``None`` (the profile's value) always passes, and so does any value of a parameter whose
    check names no kind.
    """
    from ..validation import check_number_type, check_scalar

    def check(name: str, value: Any, allowed: str) -> None:
        kind = value_kind(allowed)
        if kind == "number":
            check_number_type(name, value, allowed)
        elif kind == "choice":
            check_scalar(name, value, allowed)
        elif kind == "bool" and not isinstance(value, bool):
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")

    for name, value in params.items():
        if value is None or name == "seed":
            continue
        try:
            check(name, value, _allowed_cached(exp, name))
        except ParameterError:  # refused: say what is allowed beside the other values given (a size's cap)
            others = {k: v for k, v in params.items() if k != name}
            check(name, value, allowed_values(exp, name, others) or _allowed_cached(exp, name))
            raise


def _unhashable(exc: TypeError, params: Mapping[str, Any]) -> Optional[ParameterError]:
    """The :class:`ParameterError` naming the one container value behind an ``unhashable type`` error."""
    containers = [k for k, v in params.items() if isinstance(v, (list, dict, set, bytearray))]
    if "unhashable" not in str(exc) or len(containers) != 1:
        return None
    name = containers[0]
    return ParameterError(f"parameter {name!r} = {params[name]!r} is not allowed: one value, not a "
                          f"{type(params[name]).__name__} (`wgf list` names what each parameter allows)")


def validate(exp: Experiment, params: Mapping[str, Any], remote: bool = False) -> None:
    """Check one parameter set of ``exp`` as the notebook would, without running the experiment.

    ``params`` are the user's (``profile``, ``device``, ``seed`` and the notebook's own). Unknown,
    non-ASCII or page-fixed names are refused first (:func:`check_names`), then values of the
    wrong kind (:func:`check_kinds`); then the parameters cell and the validating prefix of the
    first code cell (:func:`validating_prefix`) are executed in a fresh namespace with ``params``
    injected. With ``remote`` (the runs go to a cluster, whose workers may have a GPU this
    machine lacks) a GPU device absent here is validated as ``"cpu"``. Raises
    :class:`ParameterError` naming the parameter, the value and what is allowed.
    """
    check_names(exp, params)
    check_kinds(exp, params)
    try:
        _run_validation(exp, params, remote)
    except TypeError as exc:
        err = _unhashable(exc, params)
        if err is None:
            raise
        raise err from None


def _run_validation(exp: Experiment, params: Mapping[str, Any], remote: bool = False) -> None:
    """Execute the parameters cell and the validating prefix of ``exp`` with ``params`` injected."""
    declared, first = parameters_cell(exp.source)
    values = {**exp.fixed, **params}
    if remote and "device" in values:
        values["device"] = _local_device(values["device"])
    ns: dict = {"__name__": "__wgf_validate__"}
    exec(compile(declared, f"{exp.source}:parameters", "exec"), ns)
    ns.update(values)
    prefix = validating_prefix(first)
    if prefix:
        with contextlib.redirect_stdout(io.StringIO()):  # setups print their sizes
            exec(compile(prefix, f"{exp.source}:validation", "exec"), ns)


#: A value no parameter allows (a string no check accepts), to make the library name what is allowed.
_PROBE = "\x00not-a-value"


def allowed_values(exp: Experiment, name: str, base: Optional[Mapping[str, Any]] = None) -> str:
    """What the library's validation allows for parameter ``name`` of ``exp`` (``""``: not checked there).

    Validates ``base`` (default: the notebook's defaults) with ``name`` set to a value no check
    accepts, and reads the allowed set from the :class:`ParameterError` that names ``name``.
    """
    params = {**(base or {}), name: _PROBE}
    try:
        check_names(exp, params)
        _run_validation(exp, params)
    except ParameterError as exc:
        m = _PARAM_ERROR.search(str(exc))
        if m and m.group(1) == name:
            return re.sub(r" \(a number, not text\)$", "", m.group(2).strip())  # what is said of the probe itself
    except Exception:  # noqa: BLE001 - a check outside the library's (e.g. a str method on the probe)
        return ""
    return ""
