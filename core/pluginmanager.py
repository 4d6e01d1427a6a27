"""Driver discovery, validation and selection; one pluggy manager per driver kind.

Drivers are found through entry points (groups ``berth.graphdrivers``,
``berth.netdrivers``, ``berth.execdrivers``); berth's built-ins are declared in its
own pyproject exactly like a third party's. Extensions (tracing, quotas, event
listeners) come from ``berth.extensions`` (:mod:`berth.extensions`) and are
registered in every manager whose hooks they implement.

Only the selected driver is imported when a name is given; auto-detection imports
candidates to ask their ``probe()``. A driver that fails to import, or that was
written for another contract version, is reported with its distribution's name and
never crashes discovery.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Iterable

import pluggy

from berth import PROJECT, __version__
from berth.errors import ConfigError
from berth.hookspecs import CONTRACT

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class DriverKind:
    """What distinguishes the three driver kinds."""

    name: str  # "graph"
    group: str  # entry-point group
    spec_module: str  # hookspec module
    prefix: str  # hook-name prefix
    required: tuple[str, ...]
    setting: str  # config setting holding the requested name
    flag: str  # berthd flag that selects it


GRAPH = DriverKind(
    "graph", "berth.graphdrivers", "berth.hookspecs.graph", "graph_",
    ("graph_create", "graph_create_rw", "graph_remove", "graph_mount", "graph_unmount", "graph_exists"),
    "storage_driver", "--storage-driver",
)
EXEC = DriverKind(
    "exec", "berth.execdrivers", "berth.hookspecs.execution", "exec_",
    ("exec_create", "exec_start", "exec_kill", "exec_wait", "exec_state", "exec_delete"),
    "exec_driver", "--exec-driver",
)
NETWORK = DriverKind(
    "network", "berth.netdrivers", "berth.hookspecs.network", "net_",
    ("net_create_network", "net_delete_network", "net_sandbox", "net_join", "net_leave"),
    "network_driver", "--network-driver",
)
KINDS = {kind.name: kind for kind in (GRAPH, EXEC, NETWORK)}


@dataclass
class DriverEntry:
    """One installed driver, before or after loading."""

    kind: DriverKind
    name: str
    target: str  # "package.module:Class"
    distribution: str
    entry_point: Any = None
    cls: type | None = None
    load_error: str = ""
    unavailable: str = ""  # probe's reason, "" when usable or not probed

    @property
    def origin(self) -> str:
        return "built-in" if self.distribution == PROJECT else self.distribution

    @property
    def priority(self) -> int:
        return int(getattr(self.cls, "priority", 0)) if self.cls else -1

    def load(self) -> type | None:
        """Import the driver class; on failure remember why, naming the distribution."""
        if self.cls is None and not self.load_error:
            try:
                self.cls = self.entry_point.load() if self.entry_point else _import_target(self.target)
            except Exception as exc:  # a broken plugin must not take the daemon down
                self.load_error = f"{self.what} failed to import ({self.target}): {type(exc).__name__}: {exc}"
                log.warning(self.load_error)
                return None
            self.load_error = contract_problem(getattr(self.cls, "contract", None), self.what)
            if self.load_error:
                self.cls = None
                log.warning(self.load_error)
        return self.cls

    @property
    def what(self) -> str:
        """How errors name this driver: kind, name and distribution."""
        return f"{self.kind.name} driver {self.name!r} from distribution {self.distribution!r}"

    def probe(self, root: str) -> str:
        """Return "" when the driver can work under ``root`` here, else the reason."""
        cls = self.load()
        if cls is None:
            self.unavailable = self.load_error
            return self.unavailable
        probe = getattr(cls, "probe", None)
        try:
            reason = probe(root) if probe else None
        except Exception as exc:
            reason = f"probe failed: {type(exc).__name__}: {exc}"
        self.unavailable = reason or ""
        return self.unavailable


def contract_problem(declared: object, what: str) -> str:
    """"" when a plugin declaring contract ``declared`` can load here, else an actionable reason.

    Compatible: the same major version, and a minor no newer than berth's (a minor
    release of the contract only adds optional hooks and defaulted fields).
    """
    ours = _version(CONTRACT)
    if declared is None:
        return (f"{what} declares no driver contract version; this berth {__version__} speaks contract "
                f"{CONTRACT}. Check the plugin against docs/plugins.md and add contract = \"{CONTRACT}\" "
                "to its class (or module)")
    theirs = _version(str(declared))
    if theirs is None:
        return f"{what} declares contract {declared!r}; a contract version is \"MAJOR.MINOR\" (berth speaks {CONTRACT})"
    if theirs[0] == ours[0] and theirs[1] <= ours[1]:
        return ""
    if theirs < ours:
        advice = (f"update the plugin to contract {CONTRACT} (docs/plugins.md, \"Contract versions\", lists what "
                  f"changed), or run a berth that speaks contract {declared}")
    else:
        advice = f"upgrade berth to a release that speaks contract {declared}, or install an older release of the plugin"
    return (f"{what} was written for driver contract {declared}, but this berth {__version__} speaks contract "
            f"{CONTRACT}: {advice}")


def _version(text: str) -> tuple[int, int] | None:
    major, dot, minor = text.strip().partition(".")
    if not (major.isdigit() and (not dot or minor.isdigit())):
        return None
    return int(major), int(minor or 0)


def _import_target(target: str) -> type:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def discover(kind: DriverKind) -> dict[str, DriverEntry]:
    """Every driver of ``kind`` declared by an installed distribution, by normalised name.

    Two distributions declaring the same name is an error naming both, as conda does.
    """
    found: dict[str, DriverEntry] = {}
    for ep in metadata.entry_points(group=kind.group):
        dist = ep.dist.name if ep.dist else "unknown"
        name = normalise(ep.name)
        if name in found and found[name].distribution != dist:
            raise ConfigError(
                f"{kind.name} driver name {name!r} is declared by both {found[name].distribution!r} "
                f"and {dist!r}; uninstall one of them"
            )
        found[name] = DriverEntry(kind, name, ep.value, dist, entry_point=ep)
    return found


def normalise(name: str) -> str:
    """Driver names are case-insensitive and ``_``/``-`` are the same (fuse_overlay = fuse-overlay)."""
    return name.strip().lower().replace("_", "-")


@dataclass
class Selection:
    """The outcome of selecting a driver of one kind."""

    entry: DriverEntry
    how: str  # where the choice came from ("flag --storage-driver", "auto-detected", ...)
    candidates: dict[str, DriverEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def select(kind: DriverKind, requested: str | None, how: str, root: str,
           candidates: dict[str, DriverEntry] | None = None) -> Selection:
    """Pick the driver named ``requested`` (from ``how``), or auto-detect by priority.

    Raises :class:`ConfigError` for an unknown name (listing the installed ones), a
    driver that fails to import, or one whose probe says it cannot work here.
    """
    candidates = discover(kind) if candidates is None else candidates
    if requested:
        name = normalise(requested)
        entry = candidates.get(name)
        if entry is None:
            raise ConfigError(
                f"{kind.name} driver {requested!r} (from {how}) is not recognized. "
                f"Choose one of: {', '.join(sorted(candidates)) or '(none installed)'}"
            )
        reason = entry.probe(root)
        if reason:
            raise ConfigError(f"{kind.name} driver {name!r} (from {how}) cannot be used: {reason}")
        return Selection(entry, how, candidates)
    for entry in candidates.values():
        entry.load()
    ranked = sorted((e for e in candidates.values() if e.cls is not None), key=lambda e: -e.priority)
    for entry in ranked:
        if not entry.probe(root):
            return Selection(entry, "auto-detected", candidates)
    reasons = "; ".join(f"{e.name}: {e.unavailable or e.load_error}" for e in candidates.values())
    raise ConfigError(f"no {kind.name} driver can work on this host ({reasons or 'none installed'})")


# ---------------------------------------------------------------------------
# managers
# ---------------------------------------------------------------------------


def spec_module(kind: DriverKind) -> ModuleType:
    return importlib.import_module(kind.spec_module)


def hook_names(kind: DriverKind) -> list[str]:
    module = spec_module(kind)
    return [n for n in dir(module) if n.startswith(kind.prefix) and callable(getattr(module, n))]


def hookimpls(plugin: object) -> dict[str, dict]:
    """The hooks ``plugin`` implements (marked with berth.hookimpl), by hook name, with their options."""
    marker = PROJECT + "_impl"
    found = {}
    for attr in dir(plugin):
        opts = getattr(getattr(plugin, attr, None), marker, None)
        if isinstance(opts, dict):
            found[opts.get("specname") or attr] = opts
    return found


def implemented_hooks(plugin: object, prefix: str) -> set[str]:
    """Names of the hooks (with ``prefix``) that ``plugin`` marks with berth.hookimpl."""
    return {name for name in hookimpls(plugin) if name.startswith(prefix)}


def is_wrapper(opts: dict) -> bool:
    return bool(opts.get("wrapper") or opts.get("hookwrapper"))


class KindManager(pluggy.PluginManager):
    """A pluggy manager that can register a chosen subset of a plugin's hooks.

    Core defaults are registered only for the hooks the driver does not implement
    (so a driver's answer never falls through to them), and an extension only with
    its hooks of this manager's kind (so one extension can span kinds).
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self._only: dict[int, frozenset[str]] = {}

    def register_only(self, plugin: object, hooks: Iterable[str], name: str | None = None) -> str | None:
        self._only[id(plugin)] = frozenset(hooks)
        return self.register(plugin, name=name)

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        only = self._only.get(id(plugin))
        if opts is not None and only is not None and (opts.get("specname") or name) not in only:
            return None
        return opts


def build_manager(kind: DriverKind, driver: object, driver_name: str,
                  defaults: Iterable[object] = (), extensions: Iterable[object] = ()) -> pluggy.PluginManager:
    """A manager with the kind's specs, the one driver, core defaults for what it lacks, and extensions.

    Refused, naming the driver and the hook: a missing required hook, a hook the
    contract does not define (a typo, or an older contract), a driver hook marked
    as a wrapper. Afterwards every hook has exactly one implementation that answers.
    """
    from berth.extensions import as_extension

    pm = KindManager()
    pm.add_hookspecs(spec_module(kind))
    offered = _check_driver_hooks(kind, driver, driver_name)
    for default in defaults:
        pm.register_only(default, implemented_hooks(default, kind.prefix) - offered, name=f"default:{type(default).__name__}")
    pm.register(driver, name=f"driver:{driver_name}")
    for ext in map(as_extension, extensions):
        hooks = ext.hooks_of(kind)
        if hooks:
            pm.register_only(ext.plugin, hooks, name=f"extension:{ext.name}")
    pm.check_pending()
    _check_one_answer(kind, pm, driver_name)
    return pm


def _check_driver_hooks(kind: DriverKind, driver: object, driver_name: str) -> set[str]:
    impls = {name: opts for name, opts in hookimpls(driver).items() if name.startswith(kind.prefix)}
    known = set(hook_names(kind))
    unknown = sorted(set(impls) - known)
    if unknown:
        raise ConfigError(
            f"{kind.name} driver {driver_name!r} implements hooks the contract does not define: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    missing = [h for h in kind.required if h not in impls]
    if missing:
        raise ConfigError(f"{kind.name} driver {driver_name!r} does not implement required hook(s): {', '.join(missing)}")
    wrappers = sorted(name for name, opts in impls.items() if is_wrapper(opts))
    if wrappers:
        raise ConfigError(f"{kind.name} driver {driver_name!r} marks {', '.join(wrappers)} as wrapper(s); a driver "
                          "answers its hooks (plain @hookimpl), only extensions wrap them")
    return set(impls)


def _check_one_answer(kind: DriverKind, pm: pluggy.PluginManager, driver_name: str) -> None:
    """Every hook of the kind must have exactly one answering (non-wrapper) implementation."""
    for name in hook_names(kind):
        answering = [impl.plugin_name for impl in getattr(pm.hook, name).get_hookimpls()
                     if not (impl.wrapper or impl.hookwrapper)]
        if len(answering) != 1:
            raise ConfigError(
                f"{kind.name} driver {driver_name!r}: hook {name} would be answered by "
                f"{', '.join(answering) or 'nothing'}; exactly one implementation (the driver's, or the core "
                "default for an optional hook it lacks) must answer"
            )


def inventory(root_for: dict[str, str]) -> list[dict[str, Any]]:
    """Every installed driver per kind for ``plugins ls`` / ``info``: name, origin, why unavailable.

    ``root_for`` maps kind name to the root each driver is probed for. Probing imports
    each driver; the engine calls this once and marks which drivers it selected.
    """
    rows = []
    for kind in KINDS.values():
        for name, entry in sorted(discover(kind).items()):
            reason = entry.probe(root_for.get(kind.name, "/"))
            rows.append({
                "Kind": kind.name,
                "Name": name,
                "Origin": entry.origin,
                "Priority": entry.priority,
                "Description": getattr(entry.cls, "description", "") if entry.cls else "",
                "Unavailable": reason,
            })
    return rows
