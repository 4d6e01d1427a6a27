"""Driver discovery, selection and manager validation (berth.pluginmanager)."""

import pytest

from berth import pluginmanager as pm
from berth.drivers import GraphDriver, open_driver
from berth.errors import ConfigError
from tests.unit.fake_drivers import install_entry_points


@pytest.fixture
def entry_points(monkeypatch):
    """Replace installed graph drivers with the given (name, target, distribution) triples."""
    return lambda *eps: install_entry_points(monkeypatch, pm.GRAPH.group, *eps)


T = "tests.unit.fake_drivers:"


def test_unknown_name_lists_the_installed_drivers(entry_points):
    entry_points(("complete", T + "Complete"), ("with-status", T + "WithStatus"))
    with pytest.raises(ConfigError, match=r"'bogus' \(from env BERTH_STORAGE_DRIVER\) is not recognized\. "
                                          r"Choose one of: complete, with-status"):
        pm.select(pm.GRAPH, "bogus", "env BERTH_STORAGE_DRIVER", "/tmp")


def test_names_are_normalised(entry_points):
    entry_points(("with_status", T + "WithStatus"))
    assert pm.select(pm.GRAPH, "With-Status", "flag", "/tmp").entry.name == "with-status"


def test_auto_detection_takes_the_highest_priority_driver_whose_probe_passes(entry_points):
    entry_points(("complete", T + "Complete"), ("unsupported", T + "Unsupported"), ("missing", T + "MissingMount"))
    selection = pm.select(pm.GRAPH, None, "", "/tmp")
    assert selection.entry.name == "complete"
    assert selection.how == "auto-detected"
    assert selection.candidates["unsupported"].unavailable == "needs a kernel feature this host lacks"


def test_explicitly_selected_driver_that_cannot_work_here_says_why(entry_points):
    entry_points(("unsupported", T + "Unsupported"))
    with pytest.raises(ConfigError, match="'unsupported' .* cannot be used: needs a kernel feature"):
        pm.select(pm.GRAPH, "unsupported", "flag --storage-driver", "/tmp")


def test_a_driver_that_fails_to_import_is_reported_with_its_distribution(entry_points):
    entry_points(("broken", "tests.unit.no_such_module:Driver", "acme-broken"), ("complete", T + "Complete"))
    selection = pm.select(pm.GRAPH, None, "", "/tmp")  # discovery survives the broken plugin
    assert selection.entry.name == "complete"
    broken = selection.candidates["broken"]
    assert "distribution 'acme-broken'" in broken.load_error and "ModuleNotFoundError" in broken.load_error
    with pytest.raises(ConfigError, match="acme-broken"):
        pm.select(pm.GRAPH, "broken", "flag", "/tmp")


def test_two_distributions_declaring_one_name_is_an_error_naming_both(entry_points):
    entry_points(("complete", T + "Complete", "dist-a"), ("complete", T + "WithStatus", "dist-b"))
    with pytest.raises(ConfigError, match="'dist-a' and 'dist-b'"):
        pm.discover(pm.GRAPH)


def _manager(driver, extensions=()):
    return open_driver("graph", driver, driver.name, extensions).pm


def test_missing_required_hook_fails_naming_driver_and_hook():
    from tests.unit.fake_drivers import MissingMount

    with pytest.raises(ConfigError, match="'missing-mount' does not implement required hook\\(s\\): graph_mount"):
        _manager(MissingMount("/tmp", {}))


def test_hook_the_contract_does_not_define_is_rejected():
    from tests.unit.fake_drivers import Typo

    with pytest.raises(ConfigError, match="graph_mountt"):
        _manager(Typo("/tmp", {}))


def test_core_defaults_answer_only_when_the_driver_does_not():
    from tests.unit.fake_drivers import Complete, WithStatus

    plain = GraphDriver(_manager(Complete("/tmp", {})), "complete", None)
    assert plain.status() == []
    rich = GraphDriver(_manager(WithStatus("/tmp", {})), "with-status", None)
    assert rich.status() == [("Backing Filesystem", "testfs")]


def test_wrapper_extensions_see_every_driver_call():
    from tests.unit.fake_drivers import Complete, Tracer

    tracer = Tracer()
    graph = GraphDriver(_manager(Complete("/tmp", {}), [tracer]), "complete", None)
    graph.create("a", None)
    assert graph.mount("a") == "/mnt/a"
    assert tracer.seen == [("a", "/mnt/a")]


def test_unexpected_driver_exceptions_name_driver_operation_and_object():
    from berth.errors import DriverError
    from tests.unit.fake_drivers import Complete

    class Failing(Complete):
        from berth import hookimpl

        @hookimpl
        def graph_mount(self, layer_id, mount_label):
            raise OSError("disk on fire")

    graph = GraphDriver(_manager(Failing("/tmp", {})), "failing", None)
    with pytest.raises(DriverError, match="graph driver 'failing': graph_mount abc: OSError: disk on fire"):
        graph.mount("abc")


def test_every_hook_of_every_contract_has_a_docstring():
    for kind in pm.KINDS.values():
        module = pm.spec_module(kind)
        for name in pm.hook_names(kind):
            assert (getattr(module, name).__doc__ or "").strip(), f"{kind.name} hook {name} has no docstring"


def test_builtin_drivers_are_declared_as_entry_points_like_third_party_ones():
    names = {kind: set(pm.discover(k)) for kind, k in pm.KINDS.items()}
    assert {"vfs"} <= names["graph"]
    assert {"native"} <= names["exec"]
    assert {"host", "none"} <= names["network"]
    assert all(e.origin == "built-in" for e in pm.discover(pm.EXEC).values() if e.name == "native")
