"""A swarm outlives a berthd restart: its tasks' containers are re-adopted, an autolocked swarm comes back locked."""

from __future__ import annotations

import pytest

from tests.e2e.test_swarm_mode import SECOND, running_tasks, wait_for

docker = pytest.importorskip("docker")


@pytest.fixture
def node(make_daemon, sandbox_netns):
    """A berthd in its own namespace, in a swarm; the swarm is left (its containers removed) at the end."""
    daemon = make_daemon(["-s", "vfs", "--bip", "10.234.0.1/24"], netns=sandbox_netns).start()
    assert daemon.cli("image", "bootstrap", "busybox").returncode == 0, daemon.log()
    client = docker.APIClient(base_url=daemon.host, version="1.41", timeout=60)
    yield daemon, client
    try:
        client.leave_swarm(force=True)
    except docker.errors.APIError:
        pass
    client.close()


def restart(daemon) -> None:
    daemon.stop()
    daemon.start()


def test_the_swarm_and_its_running_task_survive_a_restart(node):
    daemon, client = node
    client.init_swarm("127.0.0.1", listen_addr="0.0.0.0:2377")
    spec = docker.types.ContainerSpec("busybox", ["sleep", "60"], stop_grace_period=SECOND // 10)
    service = client.create_service(docker.types.TaskTemplate(spec), name="web")
    task = wait_for(lambda: running_tasks(client, service["ID"]))[0]
    restart(daemon)
    assert client.info()["Swarm"]["LocalNodeState"] == "active"
    assert [t["ID"] for t in running_tasks(client, service["ID"])] == [task["ID"]]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    assert client.inspect_container(container)["State"]["Running"] is True


def test_an_autolocked_swarm_comes_back_locked_until_unlocked(node):
    daemon, client = node
    client.init_swarm("127.0.0.1", listen_addr="0.0.0.0:2377",
                      swarm_spec=client.create_swarm_spec(autolock_managers=True))
    key = client.get_unlock_key()["UnlockKey"]
    restart(daemon)
    assert client.info()["Swarm"]["LocalNodeState"] == "locked"
    with pytest.raises(docker.errors.APIError) as refused:
        client.services()
    assert refused.value.status_code == 503 and "needs to be unlocked" in refused.value.explanation
    with pytest.raises(docker.errors.APIError) as wrong:
        client.unlock_swarm("SWMKEY-1-" + "A" * 43)
    assert (wrong.value.status_code, wrong.value.explanation) == (
        401, "swarm could not be unlocked: invalid key provided")
    client.unlock_swarm(key)
    assert client.info()["Swarm"]["LocalNodeState"] == "active"
