"""Extensions (berth.extensions): entry-point shapes, validation, cross-kind registration, inventory."""

import types
import pytest

from berth import __version__, extensions, hookimpl
from berth.drivers import open_driver
from berth.errors import ConfigError
from berth.events import EventBus
from berth.hookspecs import CONTRACT
from tests.unit.fake_drivers import Complete, install_entry_points


class GraphAndExec:
    """Wraps a graph hook and an exec hook, and listens to container events."""

    contract = CONTRACT

    def __init__(self):
        self.calls = []

    @hookimpl(wrapper=True)
    def graph_mount(self, layer_id):
        path = yield
        self.calls.append(("graph_mount", layer_id))
        return path

    @hookimpl(hookwrapper=True)
    def exec_list(self):
        outcome = yield
        self.calls.append(("exec_list", outcome.get_result()))

    @hookimpl
    def berth_container_event(self, action, container_id, attributes):
        self.calls.append(("event", action))


@pytest.fixture
def installed(monkeypatch):
    """Replace the installed extensions with (name, object-or-exception, distribution) triples."""
    return lambda *eps: install_entry_points(monkeypatch, extensions.GROUP, *eps)


def test_one_extension_wraps_hooks_of_two_kinds_and_listens_to_events(installed):
    installed(("spans", GraphAndExec))  # a class: instantiated once, without arguments
    (ext,) = extensions.load_extensions()
    assert ext.load_error == "" and ext.hooks == ["berth_container_event", "exec_list", "graph_mount"]
    graph = open_driver("graph", Complete("/tmp", {}), "complete", [ext])
    from tests.unit.test_driver_contract import PausesNothing

    execd = open_driver("exec", PausesNothing(), "pauses-nothing", [ext])
    EventBus([ext])._deliver({"Type": "container", "Action": "start", "Actor": {"ID": "c1", "Attributes": {}}})
    graph.mount("l1")
    execd.list()
    assert ext.plugin.calls == [("event", "start"), ("graph_mount", "l1"), ("exec_list", [])]


def test_a_module_and_an_instance_are_extensions_too(installed):
    module = types.ModuleType("acme_module_ext")
    module.contract = CONTRACT

    @hookimpl(wrapper=True)
    def graph_status():
        return [*(yield), ("Wrapped", "yes")]

    module.graph_status = graph_status
    installed(("as-module", module), ("as-instance", GraphAndExec()))
    loaded = {e.name: e for e in extensions.load_extensions()}
    assert loaded["as-module"].plugin is module and loaded["as-instance"].hooks[-1] == "graph_mount"
    graph = open_driver("graph", Complete("/tmp", {}), "complete", [loaded["as-module"]])
    assert graph.status() == [("Wrapped", "yes")]


class Answers:
    contract = CONTRACT

    @hookimpl
    def graph_mount(self, layer_id, mount_label):
        return "/elsewhere"


class Typo:
    contract = CONTRACT

    @hookimpl(wrapper=True)
    def graph_mountt(self):
        return (yield)


class WrongArgument:
    contract = CONTRACT

    @hookimpl(wrapper=True)
    def graph_mount(self, layer):
        return (yield)


class Unversioned:
    @hookimpl(wrapper=True)
    def graph_mount(self):
        return (yield)


class OlderMajor:
    contract = "1.0"

    @hookimpl(wrapper=True)
    def graph_mount(self):
        return (yield)


@pytest.mark.parametrize("plugin, reason", [
    (OlderMajor, f"was written for driver contract 1.0, but this berth {__version__} speaks contract {CONTRACT}: "
                 f"update the plugin to contract {CONTRACT}"),
    (Answers, "implements graph_mount without wrapper=True"),
    (Typo, "implements hooks no contract defines: graph_mountt"),
    (WrongArgument, "does not match the contract"),
    (Unversioned, "declares no driver contract version"),
])
def test_an_extension_breaking_the_rules_is_skipped_naming_its_distribution(installed, plugin, reason):
    installed(("bad", plugin, "acme-bad"))
    (ext,) = extensions.load_extensions()
    assert ext.plugin is None
    assert ext.load_error.startswith("extension 'bad' from distribution 'acme-bad'") and reason in ext.load_error


def test_an_extension_that_fails_to_import_names_its_distribution(installed):
    installed(("broken", ModuleNotFoundError("No module named 'acme_gone'"), "acme-broken"))
    (ext,) = extensions.load_extensions()
    assert "'broken' from distribution 'acme-broken' failed to load" in ext.load_error
    assert "ModuleNotFoundError" in ext.load_error


def test_a_disabled_extension_is_not_loaded_and_says_so(installed):
    installed(("spans", GraphAndExec))
    (ext,) = extensions.load_extensions(disabled=["Spans"])
    assert ext.disabled and ext.plugin is None
    (row,) = extensions.inventory_rows([ext])
    assert row["Unavailable"] == "disabled in the config (disabled-extensions)" and row["Selected"] is False


def test_inventory_lists_name_distribution_and_hooks(installed):
    installed(("spans", GraphAndExec, "acme-spans"))
    (row,) = extensions.inventory_rows(extensions.load_extensions())
    assert row == {"Kind": "extension", "Name": "spans", "Origin": "acme-spans", "Priority": 0,
                   "Description": "Wraps a graph hook and an exec hook, and listens to container events.",
                   "Unavailable": "", "Hooks": ["berth_container_event", "exec_list", "graph_mount"],
                   "Wraps": "graph: graph_mount; exec: exec_list; events: berth_container_event", "Selected": True}


def test_loading_only_named_extensions_refuses_an_unknown_name(installed):
    installed(("spans", GraphAndExec))
    with pytest.raises(ConfigError, match="extension.s. nope not installed .*installed: spans"):
        extensions.load_extensions(only=["nope"])
    assert [e.name for e in extensions.load_extensions(only=["spans"])] == ["spans"]


def test_two_distributions_declaring_one_extension_name_is_an_error(installed):
    installed(("spans", GraphAndExec, "dist-a"), ("spans", GraphAndExec, "dist-b"))
    with pytest.raises(ConfigError, match="'dist-a' and 'dist-b'"):
        extensions.discover()


def test_the_example_timing_extension_validates():
    from berth_timing import TimingCSV  # installed for the suite by tests/plugins/install.py

    assert extensions.validate(TimingCSV(), "extension 'timing'") == ""
