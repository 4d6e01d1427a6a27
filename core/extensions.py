"""Extensions: plugins that wrap driver calls or listen to engine events, across driver kinds.

An extension is declared under the entry-point group ``berth.extensions``; the
entry point may name

- a **module**: its module-level functions marked with :data:`berth.hookimpl` are the hooks;
- a **class**: instantiated once per process, with no arguments (an extension reads
  its own settings, e.g. from the environment);
- any other **object**: used as it is.

It may implement, in one object, wrappers of the hooks of any driver kind
(``graph_*``, ``net_*``, ``exec_*``, always ``wrapper=True`` or ``hookwrapper=True``:
an extension never answers an operation hook) and listeners of the engine events
(``berth_*``, :mod:`berth.hookspecs.events`). Each manager registers only the hooks
of its own kind, so one extension wraps graph and exec calls alike. Like a driver, it
declares the contract version it was written for (``contract = "2.0"``).

An extension that fails to load or to validate is skipped, and the daemon says why,
naming its distribution (log, ``info`` warnings, ``plugins ls``); one disabled in the
config (``disabled-extensions``) is listed as such.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterable

import pluggy

from berth import PROJECT
from berth.errors import ConfigError
from berth.pluginmanager import KINDS, DriverKind, contract_problem, hook_names, hookimpls, is_wrapper, normalise

log = logging.getLogger(__name__)

GROUP = "berth.extensions"
EVENTS_PREFIX = "berth_"
EVENTS_SPEC = "berth.hookspecs.events"


@dataclass
class Extension:
    """One installed extension: where it comes from and, once loaded, its plugin object."""

    name: str
    distribution: str = ""
    target: str = ""
    entry_point: Any = None
    plugin: Any = None
    load_error: str = ""
    disabled: bool = False

    @property
    def origin(self) -> str:
        return "built-in" if self.distribution == PROJECT else self.distribution

    @property
    def what(self) -> str:
        return f"extension {self.name!r} from distribution {self.distribution!r}"

    @property
    def hooks(self) -> list[str]:
        return sorted(hookimpls(self.plugin)) if self.plugin is not None else []

    def hooks_of(self, kind: DriverKind) -> set[str]:
        """The hooks of driver kind ``kind`` this extension wraps."""
        return {name for name in self.hooks if name.startswith(kind.prefix)}

    def event_hooks(self) -> set[str]:
        return {name for name in self.hooks if name.startswith(EVENTS_PREFIX)}

    def load(self) -> Any:
        """Import and instantiate the plugin, then validate it; on failure remember why."""
        if self.plugin is None and not self.load_error:
            try:
                obj = self.entry_point.load()
                plugin = obj() if isinstance(obj, type) else obj
            except Exception as exc:  # a broken extension must not take the daemon down
                self.load_error = f"{self.what} failed to load ({self.target}): {type(exc).__name__}: {exc}"
            else:
                self.load_error = validate(plugin, self.what)
                self.plugin = None if self.load_error else plugin
            if self.load_error:
                log.warning(self.load_error)
        return self.plugin


def discover() -> dict[str, Extension]:
    """Every installed extension by normalised name; two distributions declaring one name is an error."""
    found: dict[str, Extension] = {}
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist else "unknown"
        name = normalise(ep.name)
        if name in found and found[name].distribution != dist:
            raise ConfigError(f"extension name {name!r} is declared by both {found[name].distribution!r} "
                              f"and {dist!r}; uninstall one of them")
        found[name] = Extension(name, dist, ep.value, entry_point=ep)
    return found


def load_extensions(disabled: Iterable[str] = (), only: Iterable[str] | None = None) -> list[Extension]:
    """Every installed extension, loaded unless disabled by name (``only``: load just these, for the kits).

    Failed ones are returned too, with their ``load_error``; a name in ``only`` that is
    not installed is an error listing the installed ones.
    """
    off = {normalise(n) for n in disabled}
    found = discover()
    if only is not None:
        wanted = [normalise(n) for n in only]
        unknown = [n for n in wanted if n not in found]
        if unknown:
            raise ConfigError(f"extension(s) {', '.join(unknown)} not installed (group {GROUP}); installed: "
                              f"{', '.join(sorted(found)) or '(none)'}")
        found = {n: found[n] for n in wanted}
    for ext in found.values():
        if ext.name in off:
            ext.disabled = True
        else:
            ext.load()
    return list(found.values())


def validate(plugin: object, what: str) -> str:
    """"" when ``plugin`` is a usable extension, else the reason, naming it."""
    problem = contract_problem(getattr(plugin, "contract", None), what)
    if problem:
        return problem
    impls = hookimpls(plugin)
    if not impls:
        return f"{what} implements no hook (mark its methods with @berth.hookimpl)"
    known = {name for kind in KINDS.values() for name in hook_names(kind)}
    events = {name for name in dir(importlib.import_module(EVENTS_SPEC)) if name.startswith(EVENTS_PREFIX)}
    unknown = sorted(n for n in impls if n not in known | events)
    if unknown:
        return f"{what} implements hooks no contract defines: {', '.join(unknown)}"
    answering = sorted(n for n, opts in impls.items() if n in known and not is_wrapper(opts))
    if answering:
        return (f"{what} implements {', '.join(answering)} without wrapper=True: an extension wraps driver "
                "calls (@hookimpl(wrapper=True) or hookwrapper=True), it cannot answer them")
    return _signature_problem(plugin, what)


def _signature_problem(plugin: object, what: str) -> str:
    """Register ``plugin`` with every contract's specs: pluggy checks argument names and options."""
    pm = pluggy.PluginManager(PROJECT)
    for module in [kind.spec_module for kind in KINDS.values()] + [EVENTS_SPEC]:
        pm.add_hookspecs(importlib.import_module(module))
    try:
        pm.register(plugin)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        return f"{what} does not match the contract: {exc}"
    return ""


def as_extension(obj: object) -> Extension:
    """``obj`` itself when it is an :class:`Extension`, else a plain plugin object wrapped as one."""
    if isinstance(obj, Extension):
        return obj
    return Extension(getattr(obj, "name", type(obj).__name__), plugin=obj)


def inventory_rows(extensions: Iterable[Extension]) -> list[dict[str, Any]]:
    """Rows for ``plugins ls`` / ``info``: name, distribution, hooks wrapped, why not loaded."""
    rows = []
    for ext in sorted(extensions, key=lambda e: e.name):
        unavailable = ext.load_error or ("disabled in the config (disabled-extensions)" if ext.disabled else "")
        plugin = ext.plugin
        description = getattr(plugin, "description", "") or ((getattr(plugin, "__doc__", "") or "").strip().split("\n")[0]
                                                             if plugin is not None else "")
        rows.append({"Kind": "extension", "Name": ext.name, "Origin": ext.origin, "Priority": 0,
                     "Description": description, "Unavailable": unavailable, "Hooks": ext.hooks,
                     "Wraps": wraps_summary(ext.hooks), "Selected": plugin is not None})
    return rows


def wraps_summary(hooks: list[str]) -> str:
    """What an extension wraps, per kind, for ``plugins ls``: "graph: all 13 hooks; exec: exec_create"."""
    parts = []
    for kind in KINDS.values():
        mine = [h for h in hooks if h.startswith(kind.prefix)]
        if mine:
            every = len(hook_names(kind))
            parts.append(f"{kind.name}: all {every} hooks" if len(mine) == every else f"{kind.name}: {', '.join(mine)}")
    listens = [h for h in hooks if h.startswith(EVENTS_PREFIX)]
    if listens:
        parts.append(f"events: {', '.join(listens)}")
    return "; ".join(parts)
