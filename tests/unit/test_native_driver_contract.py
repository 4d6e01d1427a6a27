"""The native driver plugs into berth's exec contract: discovery, probe, hook signatures."""

from __future__ import annotations

import os

import pluggy
import pytest

from berth import PROJECT
from berth.hookspecs import execution
from berth.plugins.execdrivers.native.driver import NativeDriver


def test_class_attributes_and_probe():
    assert NativeDriver.name == "native" and NativeDriver.priority == 10 and NativeDriver.description
    reason = NativeDriver.probe("/run/berth/native")
    if os.geteuid() == 0:
        assert reason is None
    else:
        assert "root" in reason


def test_every_hook_matches_the_spec(tmp_path):
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(execution)
    driver = NativeDriver(str(tmp_path / "native"), {})
    pm.register(driver)
    pm.check_pending()  # raises on a hook the spec does not know
    implemented = {impl.name for impl in pm.hook.__dict__.values() if hasattr(impl, "get_hookimpls") and impl.get_hookimpls()}
    required = {"exec_create", "exec_start", "exec_kill", "exec_wait", "exec_state", "exec_delete"}
    assert required <= implemented
    assert {"exec_exec", "exec_exec_wait", "exec_pause", "exec_resume", "exec_stats", "exec_list",
            "exec_restore", "exec_resize", "exec_update", "exec_top"} <= implemented


def test_unknown_container_is_not_found_and_delete_is_idempotent(tmp_path):
    from berth.errors import NotFound

    driver = NativeDriver(str(tmp_path / "native"), {})
    with pytest.raises(NotFound):
        driver.exec_state(container_id="nope")
    with pytest.raises(NotFound):
        driver.exec_state(container_id="../escape")
    assert driver.exec_delete(container_id="nope", force=False)
    assert driver.exec_list() == []
