"""The rules every hook call follows (berth.hookspecs): one answer, never None, NotSupported, versions."""

import pytest

from berth import hookimpl, pluginmanager as pm
from berth.drivers import open_driver
from berth.errors import ConfigError, DriverError, NotFound, NotSupported
from berth.hookspecs import CONTRACT
from tests.unit.fake_drivers import Complete, install_entry_points


class PausesNothing:
    """An exec driver whose optional hooks say "not supported" or return nothing."""

    name = "pauses-nothing"
    contract = CONTRACT

    def __init__(self):
        self.paused = []

    @hookimpl
    def exec_create(self, container_id, bundle, spec, io):
        raise NotImplementedError

    @hookimpl
    def exec_start(self, container_id):
        raise NotImplementedError

    @hookimpl
    def exec_kill(self, container_id, signal, all_processes):
        raise NotImplementedError

    @hookimpl
    def exec_wait(self, container_id, timeout):
        raise NotImplementedError

    @hookimpl
    def exec_state(self, container_id):
        raise NotImplementedError

    @hookimpl
    def exec_delete(self, container_id, force):
        raise NotImplementedError

    @hookimpl
    def exec_pause(self, container_id):
        self.paused.append(container_id)  # forgets to return True

    @hookimpl
    def exec_resume(self, container_id):
        raise NotSupported("this driver has no freezer")

    @hookimpl
    def exec_exec_wait(self, container_id, exec_id, timeout):
        raise TimeoutError(f"exec {exec_id} still runs")


def exec_facade():
    return open_driver("exec", PausesNothing(), "pauses-nothing")


def test_a_driver_result_never_falls_through_to_the_core_default():
    """The driver implements exec_pause: the default's "not supported" is not consulted, even for None."""
    facade = exec_facade()
    with pytest.raises(DriverError, match="exec_pause c1 returned None.*True when there is nothing to return"):
        facade.pause("c1")
    assert facade.driver.paused == ["c1"]


def test_not_supported_from_the_driver_is_a_501_naming_driver_and_operation():
    with pytest.raises(NotSupported, match="exec driver 'pauses-nothing' does not support exec_resume "
                                           r"\(c1\): this driver has no freezer") as info:
        exec_facade().resume("c1")
    assert info.value.status == 501


def test_a_hook_the_driver_lacks_is_answered_by_the_default():
    with pytest.raises(NotSupported, match="exec driver 'pauses-nothing' does not support stats"):
        exec_facade().stats("c1")
    assert exec_facade().list() == []


def test_an_exec_wait_timeout_reaches_the_caller_as_timeout_error():
    with pytest.raises(TimeoutError):
        exec_facade().exec_wait("c1", "e1", 0.1)


def test_a_berth_error_from_the_driver_reaches_the_caller_as_it_is():
    class Missing(Complete):
        @hookimpl
        def graph_mount(self, layer_id, mount_label):
            raise NotFound(f"no layer {layer_id}")

    with pytest.raises(NotFound, match="no layer x"):
        open_driver("graph", Missing("/tmp", {}), "missing").mount("x")


def test_every_hook_has_exactly_one_answer_when_the_manager_is_built():
    facade = open_driver("graph", Complete("/tmp", {}), "complete")
    for name in pm.hook_names(pm.GRAPH):
        answering = [i for i in getattr(facade.pm.hook, name).get_hookimpls() if not (i.wrapper or i.hookwrapper)]
        assert len(answering) == 1, name
    impls = {i.plugin_name for i in facade.pm.hook.graph_mount.get_hookimpls()}
    assert impls == {"driver:complete"}


def test_a_driver_hook_marked_as_wrapper_is_refused():
    class Wrapping(Complete):
        @hookimpl(wrapper=True)
        def graph_status(self):
            return (yield)

    with pytest.raises(ConfigError, match="marks graph_status as wrapper"):
        open_driver("graph", Wrapping("/tmp", {}), "wrapping")


def test_every_operation_spec_states_required_or_its_default_and_firstresult():
    for kind in pm.KINDS.values():
        module = pm.spec_module(kind)
        for name in pm.hook_names(kind):
            doc = " ".join(getattr(module, name).__doc__.split())
            assert "stops at the first non-None result" in doc, f"{name}: no firstresult wording"
            assert ("Required;" in doc) == (name in kind.required), f"{name}: required/optional wording"


def test_no_spec_allows_none_as_a_result():
    for kind in pm.KINDS.values():
        module = pm.spec_module(kind)
        for name in pm.hook_names(kind):
            annotation = getattr(module, name).__annotations__.get("return", "")
            assert "None" not in str(annotation), f"{name} -> {annotation}"


# -- contract versions ---------------------------------------------------------------------


def test_the_same_contract_or_an_older_minor_loads():
    assert pm.contract_problem(CONTRACT, "graph driver 'x'") == ""
    major = CONTRACT.split(".")[0]
    assert pm.contract_problem(f"{major}.0", "graph driver 'x'") == ""


def test_an_older_major_is_refused_naming_plugin_and_both_versions():
    problem = pm.contract_problem("1.0", "graph driver 'old' from distribution 'acme-old'")
    assert "graph driver 'old' from distribution 'acme-old' was written for driver contract 1.0" in problem
    assert f"speaks contract {CONTRACT}" in problem and "update the plugin" in problem


def test_a_newer_contract_asks_for_a_newer_berth():
    major, minor = CONTRACT.split(".")
    problem = pm.contract_problem(f"{major}.{int(minor) + 1}", "exec driver 'new'")
    assert "upgrade berth" in problem


def test_a_missing_or_malformed_declaration_says_what_to_write():
    assert f'contract = "{CONTRACT}"' in pm.contract_problem(None, "network driver 'n'")
    assert "MAJOR.MINOR" in pm.contract_problem("two", "network driver 'n'")


class OldDriver(Complete):
    name = "old"
    contract = "1.0"


def test_a_driver_of_another_contract_is_unavailable_and_selecting_it_names_the_versions(monkeypatch):
    install_entry_points(monkeypatch, pm.GRAPH.group, ("old", "tests.unit.test_driver_contract:OldDriver", "acme-old"),
                         ("complete", "tests.unit.fake_drivers:Complete"))
    assert pm.select(pm.GRAPH, None, "", "/tmp").entry.name == "complete"  # auto-detection passes over it
    with pytest.raises(ConfigError, match=r"'old' from distribution 'acme-old' was written for driver contract 1\.0"):
        pm.select(pm.GRAPH, "old", "flag --storage-driver", "/tmp")


def test_the_plugin_guide_names_every_hook_and_the_current_contract():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    for kind in pm.KINDS.values():
        for name in pm.hook_names(kind):
            assert f"`{name}" in guide, f"docs/plugins.md does not document {name}"
    for name in ("berth_container_event", "berth_image_event", "berth_layer_applied"):
        assert name in guide
    assert f'contract = "{CONTRACT}"' in guide and f"**{CONTRACT}**" in guide
