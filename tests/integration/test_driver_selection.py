"""Driver selection through berthd: flags, environment, the data-root's memory, third-party drivers."""

import pytest


def out(result) -> str:
    return result.stdout.decode()


@pytest.mark.parametrize("variable", ["BERTH_STORAGE_DRIVER", "DOCKER_DRIVER"])
def test_storage_driver_from_environment(make_daemon, variable):
    d = make_daemon(env={variable: "vfs"}).start()
    assert "Storage Driver: vfs" in out(d.cli("info"))


def test_bogus_driver_name_fails_listing_the_drivers(make_daemon):
    d = make_daemon(args=["-s", "bogus"])
    with pytest.raises(RuntimeError) as failure:
        d.start(timeout=10)
    message = str(failure.value)
    assert "graph driver 'bogus' (from flag --storage-driver) is not recognized" in message
    assert "Choose one of:" in message and "vfs" in message and "example" in message


def test_data_root_remembers_its_graph_driver(make_daemon):
    first = make_daemon(args=["-s", "vfs"]).start()
    first.stop()
    second = make_daemon(args=["-s", "example"], base=first.base)
    with pytest.raises(RuntimeError) as failure:
        second.start(timeout=10)
    assert "was written by graph driver 'vfs'" in str(failure.value)
    assert "--storage-driver vfs" in str(failure.value)
    third = make_daemon(base=first.base).start()  # nothing requested: the remembered driver is used
    assert "Storage Driver: vfs" in out(third.cli("info"))


def test_third_party_driver_is_listed_selected_and_used(make_daemon):
    d = make_daemon(args=["-s", "example"]).start()
    listing = out(d.cli("plugins", "ls"))
    row = next(line for line in listing.splitlines() if line.split()[:2] == ["graph", "example"])
    assert "berth-example" in row and "*" in row
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    result = d.cli("run", "--rm", "busybox", "cat", "/etc/hostname")
    assert result.returncode == 0, result.stderr.decode() + d.log()
    assert "Storage Driver: example" in out(d.cli("info"))


def test_plugins_ls_lists_every_kind(make_daemon):
    d = make_daemon(args=["-s", "vfs"]).start()
    kinds = {line.split()[0] for line in out(d.cli("plugins", "ls")).splitlines()[1:]}
    assert kinds == {"graph", "exec", "network", "extension"}  # the suite installs an example extension
