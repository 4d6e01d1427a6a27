"""The privileges a managed plugin's config asks for, as ``docker plugin install`` lists them."""

from __future__ import annotations

from berth.api.plugins import plugin_privileges


def test_a_plugin_that_asks_for_nothing_has_no_privileges():
    assert plugin_privileges({"network": {"type": "bridge"}, "mounts": [{"destination": "/data"}]}) == []


def test_every_kind_of_privilege_in_dockerds_order():
    config = {"network": {"type": "host"}, "ipchost": True, "pidhost": True,
              "mounts": [{"source": "/var/lib/docker/plugins/"}, {"destination": "/tmp"}],
              "linux": {"devices": [{"path": "/dev/fuse"}], "allowAllDevices": True,
                        "capabilities": ["CAP_SYS_ADMIN"]}}
    assert plugin_privileges(config) == [
        {"Name": "network", "Description": "permissions to access a network", "Value": ["host"]},
        {"Name": "host ipc namespace", "Description": "allow access to host ipc namespace", "Value": ["true"]},
        {"Name": "host pid namespace", "Description": "allow access to host pid namespace", "Value": ["true"]},
        {"Name": "mount", "Description": "host path to mount", "Value": ["/var/lib/docker/plugins/"]},
        {"Name": "device", "Description": "host device to access", "Value": ["/dev/fuse"]},
        {"Name": "allow-all-devices", "Description": "allow 'rwm' access to all devices", "Value": ["true"]},
        {"Name": "capabilities", "Description": "list of additional capabilities required",
         "Value": ["CAP_SYS_ADMIN"]},
    ]
