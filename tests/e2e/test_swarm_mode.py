"""Swarm mode on one node through docker-py, with dockerd's answers (checked side by side with dockerd 20.10).

One berthd in a network namespace of its own (``bridge_daemon``); the module's swarm
is initialised once as docker-py's own tests do (advertise 127.0.0.1, listen on a
random port) and left at the end, which removes every task container.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.conftest import BUSYBOX
from tests.e2e.conftest import DOCKER, DockerCLI, in_netns

docker = pytest.importorskip("docker")

SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def client(bridge_daemon):
    api = docker.APIClient(base_url=bridge_daemon.host, version="1.41", timeout=60)
    yield api
    api.close()


@pytest.fixture(scope="module")
def node(client):
    """The module's swarm (init as docker-py's tests do); left at the end."""
    node_id = client.init_swarm("127.0.0.1", listen_addr=f"0.0.0.0:{random.randrange(10000, 25000)}")
    yield node_id
    try:
        client.leave_swarm(force=True)
    except docker.errors.APIError:
        pass  # a test left it already


@pytest.fixture
def swarm(client, node):
    """The swarm, emptied of services, secrets and configs after the test."""
    yield client
    for service in client.services():
        client.remove_service(service["ID"])
    wait_for(lambda: not client.tasks(), timeout=30)
    for secret in client.secrets():
        client.remove_secret(secret["ID"])
    for config in client.configs():
        client.remove_config(config["ID"])


def wait_for(condition, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {condition}")


def running_tasks(client, service_id: str) -> list[dict]:
    return [t for t in client.tasks(filters={"service": service_id}) if t["Status"]["State"] == "running"]


def container_spec(command: list[str], **extra) -> dict:
    """busybox running ``command``, stopped without the default 10 s grace (PID 1 ignores SIGTERM)."""
    return docker.types.ContainerSpec("busybox", command, stop_grace_period=SECOND // 10, **extra)


# ---------------------------------------------------------------------------
# before the swarm exists
# ---------------------------------------------------------------------------


def test_without_an_advertise_address_a_namespace_with_only_its_bridge_has_no_system_address(client):
    with pytest.raises(docker.errors.APIError) as refused:
        client.init_swarm(listen_addr="0.0.0.0:2377")  # as dockerd in the same kind of namespace
    assert (refused.value.status_code, refused.value.explanation) == (400, "could not find the system's IP address")



def test_an_overlay_network_outside_a_swarm_is_dockerds_refusal(client):
    with pytest.raises(docker.errors.APIError) as refused:
        client.create_network("ov", driver="overlay")
    assert refused.value.status_code == 500 and "This node is not a swarm manager" in refused.value.explanation


# ---------------------------------------------------------------------------
# the swarm
# ---------------------------------------------------------------------------


def test_init_makes_this_node_the_one_manager(client, node):
    swarm = client.info()["Swarm"]
    assert (swarm["LocalNodeState"], swarm["NodeID"], swarm["ControlAvailable"]) == ("active", node, True)
    assert (swarm["NodeAddr"], swarm["Nodes"], swarm["Managers"]) == ("127.0.0.1", 1, 1)
    assert swarm["RemoteManagers"][0]["NodeID"] == node


def test_inspect_shows_swarmkits_defaults_and_a_real_root_ca(client, node):
    swarm = client.inspect_swarm()
    assert swarm["Spec"]["Raft"] == {"SnapshotInterval": 10000, "KeepOldSnapshots": 0,
                                     "LogEntriesForSlowFollowers": 500, "ElectionTick": 10, "HeartbeatTick": 1}
    assert (swarm["DefaultAddrPool"], swarm["SubnetSize"], swarm["DataPathPort"]) == (["10.0.0.0/8"], 24, 4789)
    assert swarm["TLSInfo"]["TrustRoot"].startswith("-----BEGIN CERTIFICATE-----")
    assert swarm["TLSInfo"]["CertIssuerSubject"] == "MBMxETAPBgNVBAMTCHN3YXJtLWNh"  # CN=swarm-ca


def test_a_second_init_or_a_join_is_already_part_of_a_swarm(client, node):
    for call in (lambda: client.init_swarm("127.0.0.1"), lambda: client.join_swarm(["127.0.0.1"], "x")):
        with pytest.raises(docker.errors.APIError) as refused:
            call()
        assert refused.value.status_code == 503 and "already part of a swarm" in refused.value.explanation


def test_an_update_from_an_older_version_is_out_of_sequence(client, node):
    swarm = client.inspect_swarm()
    spec = {**swarm["Spec"], "Raft": {**swarm["Spec"]["Raft"], "SnapshotInterval": 5000}}
    client.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
    assert client.inspect_swarm()["Spec"]["Raft"]["SnapshotInterval"] == 5000
    with pytest.raises(docker.errors.APIError) as refused:
        client.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
    assert refused.value.explanation == "rpc error: code = Unknown desc = update out of sequence"


def test_rotating_the_worker_token_keeps_the_manager_token(client, node):
    before = client.inspect_swarm()
    client.update_swarm(version=before["Version"]["Index"], swarm_spec=before["Spec"], rotate_worker_token=True)
    after = client.inspect_swarm()
    assert after["Version"]["Index"] > before["Version"]["Index"]
    assert after["JoinTokens"]["Manager"] == before["JoinTokens"]["Manager"]
    assert after["JoinTokens"]["Worker"] != before["JoinTokens"]["Worker"]


def test_autolock_gives_an_unlock_key_that_rotates(client, node):
    swarm = client.inspect_swarm()
    spec = {**swarm["Spec"], "EncryptionConfig": {"AutoLockManagers": True}}
    client.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
    first = client.get_unlock_key()["UnlockKey"]
    client.update_swarm(version=client.inspect_swarm()["Version"]["Index"], swarm_spec=spec,
                        rotate_manager_unlock_key=True)
    assert first.startswith("SWMKEY-1-") and client.get_unlock_key()["UnlockKey"] != first
    with pytest.raises(docker.errors.APIError) as refused:
        client.unlock_swarm(first)
    assert (refused.value.status_code, refused.value.explanation) == (409, "swarm is not locked")


def test_the_node_is_the_leader_and_cannot_be_demoted_or_removed(client, node):
    nodes = client.nodes()
    assert [n["ID"] for n in nodes] == [node] and nodes[0]["ManagerStatus"]["Leader"] is True
    assert client.nodes(filters={"role": "worker"}) == []
    spec = {**nodes[0]["Spec"], "Role": "worker"}
    with pytest.raises(docker.errors.APIError, match="attempting to demote the last manager"):
        client.update_node(node, nodes[0]["Version"]["Index"], spec)
    with pytest.raises(docker.errors.APIError, match="must be demoted to worker before removal"):
        client.remove_node(node, force=True)


def test_node_labels_update_with_the_nodes_version(client, node):
    current = client.inspect_node(node)
    client.update_node(node, current["Version"]["Index"], {**current["Spec"], "Labels": {"zone": "a"}})
    assert client.inspect_node(node)["Spec"]["Labels"] == {"zone": "a"}


# ---------------------------------------------------------------------------
# secrets and configs
# ---------------------------------------------------------------------------


def test_a_secrets_data_is_never_shown(swarm):
    secret = swarm.create_secret("pw", b"hunter2", labels={"a": "b"})
    shown = swarm.inspect_secret(secret["ID"])
    assert shown["Spec"] == {"Name": "pw", "Labels": {"a": "b"}}
    assert [s["ID"] for s in swarm.secrets(filters={"names": ["pw"]})] == [secret["ID"]]


def test_only_a_secrets_labels_may_change(swarm):
    secret = swarm.create_secret("pw", b"hunter2")
    version = swarm.inspect_secret(secret["ID"])["Version"]["Index"]
    response = swarm._post_json(swarm._url("/secrets/{0}/update", secret["ID"]), params={"version": version},
                                data={"Name": "pw", "Data": "b3RoZXI="})
    assert response.status_code == 400 and "only updates to Labels are allowed" in response.json()["message"]


def test_a_configs_data_and_templating_are_shown(swarm):
    config = swarm.create_config("cfg", b"hello", templating={"Name": "golang"})
    spec = swarm.inspect_config(config["ID"])["Spec"]
    assert (spec["Data"], spec["Templating"]) == ("aGVsbG8=", {"Name": "golang"})


# ---------------------------------------------------------------------------
# services and their tasks
# ---------------------------------------------------------------------------


def test_a_service_is_stored_as_dockerd_stores_it(swarm):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web")
    spec = swarm.inspect_service(service["ID"])["Spec"]
    assert spec["TaskTemplate"] == {"ContainerSpec": {"Image": "busybox", "Command": ["sleep", "60"],
                                                      "StopGracePeriod": SECOND // 10, "Isolation": "default"},
                                    "ForceUpdate": 0, "Runtime": "container"}
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}} and "RollbackConfig" not in spec
    assert "RollbackConfig" in swarm.inspect_service(service["ID"], insert_defaults=True)["Spec"]


def test_a_task_runs_as_a_container_named_and_labelled_as_dockerds(swarm, node):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web")
    task = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    container = swarm.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
    assert container["Name"] == f"/web.1.{task['ID']}"
    labels = container["Config"]["Labels"]
    assert (labels["com.docker.swarm.service.id"], labels["com.docker.swarm.node.id"]) == (service["ID"], node)
    assert (task["NodeID"], task["Slot"], task["DesiredState"]) == (node, 1, "running")
    assert [c["Id"] for c in swarm.containers(filters={"is-task": "true"})] == [container["Id"]]


def test_secrets_and_configs_are_files_in_the_tasks_container(swarm):
    secret = swarm.create_secret("pw", b"hunter2")
    config = swarm.create_config("motd", b"hello")
    spec = container_spec(["sleep", "60"], secrets=[docker.types.SecretReference(secret["ID"], "pw")],
                          configs=[docker.types.ConfigReference(config["ID"], "motd")])
    service = swarm.create_service(docker.types.TaskTemplate(spec), name="files")
    task = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    read = swarm.exec_start(swarm.exec_create(container, ["cat", "/run/secrets/pw", "/motd"]))
    assert read == b"hunter2hello"


def test_scaling_adds_tasks_in_new_slots(swarm):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web")
    wait_for(lambda: running_tasks(swarm, service["ID"]))
    current = swarm.inspect_service(service["ID"])
    swarm.update_service(service["ID"], current["Version"]["Index"], name="web",
                         task_template=docker.types.TaskTemplate(container_spec(["sleep", "60"])),
                         mode=docker.types.ServiceMode("replicated", 2))
    tasks = wait_for(lambda: len(running_tasks(swarm, service["ID"])) == 2 and running_tasks(swarm, service["ID"]))
    assert sorted(t["Slot"] for t in tasks) == [1, 2]


def test_an_update_replaces_the_task_and_completes(swarm):
    template = docker.types.TaskTemplate(container_spec(["sleep", "60"]))
    update = docker.types.UpdateConfig(monitor=SECOND // 10)
    service = swarm.create_service(template, name="web", update_config=update)
    first = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    version = swarm.inspect_service(service["ID"])["Version"]["Index"]
    swarm.update_service(service["ID"], version, name="web", update_config=update,
                         task_template=docker.types.TaskTemplate(container_spec(["sleep", "61"])))
    second = wait_for(lambda: [t for t in running_tasks(swarm, service["ID"]) if t["ID"] != first["ID"]])[0]
    assert second["Spec"]["ContainerSpec"]["Command"] == ["sleep", "61"]
    status = wait_for(lambda: (swarm.inspect_service(service["ID"]).get("UpdateStatus") or {}).get("CompletedAt")
                      and swarm.inspect_service(service["ID"])["UpdateStatus"])
    assert (status["State"], status["Message"]) == ("completed", "update completed")


def test_manual_rollback_restores_the_previous_spec(swarm):
    update = docker.types.UpdateConfig(monitor=SECOND // 10)
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web",
                                   update_config=update)
    version = swarm.inspect_service(service["ID"])["Version"]["Index"]
    swarm.update_service(service["ID"], version, name="web", update_config=update,
                         task_template=docker.types.TaskTemplate(container_spec(["sleep", "61"])))
    # the update's progress changes the service's version too: roll back once it is done
    current = wait_for(lambda: (swarm.inspect_service(service["ID"]).get("UpdateStatus") or {}).get("CompletedAt")
                       and swarm.inspect_service(service["ID"]))
    response = swarm._post_json(swarm._url("/services/{0}/update", service["ID"]),
                                params={"version": current["Version"]["Index"], "rollback": "previous"},
                                data=current["Spec"])
    assert response.status_code == 200
    rolled = swarm.inspect_service(service["ID"])
    assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"] == ["sleep", "60"]
    assert rolled["UpdateStatus"]["State"] == "rollback_started"
    assert rolled["UpdateStatus"]["Message"] == "manually requested rollback"


def test_a_task_that_completes_is_not_restarted_with_condition_none(swarm):
    policy = docker.types.RestartPolicy(condition="none")
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["true"]), restart_policy=policy),
                                   name="once")
    task = wait_for(lambda: [t for t in swarm.tasks(filters={"service": service["ID"]})
                             if t["Status"]["State"] == "complete" and t["DesiredState"] == "shutdown"])[0]
    assert task["Status"]["ContainerStatus"]["ExitCode"] == 0
    time.sleep(1)
    assert len(swarm.tasks(filters={"service": service["ID"]})) == 1


def test_a_failing_task_is_replaced_after_the_restart_delay(swarm):
    policy = docker.types.RestartPolicy(condition="on-failure", delay=SECOND // 10, max_attempts=1)
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["false"]), restart_policy=policy),
                                   name="fails")
    tasks = wait_for(lambda: len(swarm.tasks(filters={"service": service["ID"]})) == 2 and all(
        t["Status"]["State"] == "failed" for t in swarm.tasks(filters={"service": service["ID"]})) and swarm.tasks(
        filters={"service": service["ID"]}))
    assert {t["Status"]["Err"] for t in tasks} == {"task: non-zero exit (1)"}  # one restart, no more


def test_a_global_service_runs_one_task_on_the_node(swarm, node):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="everywhere",
                                   mode="global")
    task = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    assert ("Slot" not in task, task["NodeID"]) == (True, node)  # no slot: Go leaves the zero out
    container = swarm.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
    assert container["Name"] == f"/everywhere.{node}.{task['ID']}"


def test_a_replicated_job_runs_its_completions_and_stops(swarm):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["true"])), name="batch",
                                   mode=docker.types.ServiceMode("replicated-job", concurrency=2, replicas=3))
    wait_for(lambda: [s for s in swarm.services(filters={"id": service["ID"]}, status=True)
                      if s["ServiceStatus"]["CompletedTasks"] == 3], timeout=30)
    tasks = swarm.tasks(filters={"service": service["ID"]})
    assert sorted(t["Status"]["State"] for t in tasks) == ["complete"] * 3
    assert {t["DesiredState"] for t in tasks} == {"complete"}


def test_a_task_the_node_cannot_take_stays_pending_with_swarmkits_reason(swarm):
    template = docker.types.TaskTemplate(container_spec(["sleep", "60"]), placement=["node.role==worker"])
    service = swarm.create_service(template, name="nowhere")
    task = wait_for(lambda: [t for t in swarm.tasks(filters={"service": service["ID"]})
                             if t["Status"]["Message"].startswith("no suitable node")])[0]
    assert (task["Status"]["State"], task["Status"]["Message"]) == (
        "pending", "no suitable node (scheduling constraints not satisfied on 1 node)")


def test_a_drained_node_stops_its_tasks_and_their_replacements_wait(swarm, node):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web")
    first = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    spec = swarm.inspect_node(node)
    swarm.update_node(node, spec["Version"]["Index"], {**spec["Spec"], "Availability": "drain"})
    try:
        pending = wait_for(lambda: [t for t in swarm.tasks(filters={"service": service["ID"]})
                                    if t["Status"]["State"] == "pending" and t["ID"] != first["ID"]])
        assert "NodeID" not in pending[0]  # not assigned to any node
        assert swarm.inspect_task(first["ID"])["DesiredState"] == "shutdown"
    finally:
        spec = swarm.inspect_node(node)
        swarm.update_node(node, spec["Version"]["Index"], {**spec["Spec"], "Availability": "active"})
    wait_for(lambda: running_tasks(swarm, service["ID"]))


def test_placeholders_in_the_hostname_are_the_tasks(swarm):
    spec = container_spec(["sleep", "60"], hostname="{{.Service.Name}}-{{.Task.Slot}}")
    service = swarm.create_service(docker.types.TaskTemplate(spec), name="named")
    task = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    assert swarm.exec_start(swarm.exec_create(container, ["hostname"])) == b"named-1\n"


def test_service_logs_merge_the_tasks_outputs(swarm):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sh", "-c", "echo out; echo err >&2"]),
                                                             restart_policy=docker.types.RestartPolicy("none")),
                                   name="talk")
    wait_for(lambda: [t for t in swarm.tasks(filters={"service": service["ID"]})
                      if t["Status"]["State"] == "complete"])
    lines = list(swarm.service_logs(service["ID"], stdout=True, stderr=True, details=True))
    assert b"".join(lines).count(b"com.docker.swarm.service.id=" + service["ID"].encode()) == 2


def test_removing_a_service_removes_its_tasks_containers(swarm):
    service = swarm.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="web")
    container = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]["Status"]["ContainerStatus"]["ContainerID"]
    swarm.remove_service(service["ID"])
    wait_for(lambda: not swarm.containers(all=True, filters={"id": container}))
    wait_for(lambda: not [t for t in swarm.tasks() if t["ServiceID"] == service["ID"]])


def test_newer_clients_privileges_reach_the_tasks_container(bridge_daemon, swarm):
    newer = docker.APIClient(base_url=bridge_daemon.host, version="1.45", timeout=60)
    spec = {"Image": "busybox", "Command": ["sleep", "60"], "StopGracePeriod": SECOND // 10,
            "Privileges": {"NoNewPrivileges": True, "Seccomp": {"Mode": "unconfined"}}}
    service = newer._post_json(newer._url("/services/create"), data={
        "Name": "priv", "TaskTemplate": {"ContainerSpec": spec}}).json()
    task = wait_for(lambda: running_tasks(swarm, service["ID"]))[0]
    container = swarm.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
    assert {"no-new-privileges=true", "seccomp=unconfined"} <= set(container["HostConfig"]["SecurityOpt"])
    older = swarm.create_service(docker.types.TaskTemplate(container_spec(["true"], privileges={
        "NoNewPrivileges": True})), name="older")  # API 1.41 had no such field: dropped, as dockerd drops it
    shown = swarm.inspect_service(older["ID"])["Spec"]["TaskTemplate"]["ContainerSpec"]["Privileges"]
    assert shown == {"CredentialSpec": None, "SELinuxContext": None}
    newer.close()


def test_swarm_objects_have_dockerds_events(swarm):
    since = int(time.time())
    secret = swarm.create_secret("pw", b"x")
    swarm.remove_secret(secret["ID"])
    events = list(swarm.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"scope": "swarm", "type": "secret"}))
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in events] == [
        ("create", secret["ID"], {"name": "pw"}), ("remove", secret["ID"], {"name": "pw"})]


# ---------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------


@pytest.fixture
def network(swarm):
    """An attachable overlay network, removed after the test (once the services are gone)."""
    created = swarm.create_network("app", driver="overlay", attachable=True)
    yield created["Id"]
    for service in swarm.services():
        swarm.remove_service(service["ID"])
    wait_for(lambda: not swarm.tasks(), timeout=30)
    swarm.remove_network(created["Id"])


def test_an_overlay_network_is_shown_as_a_swarm_network_from_the_swarms_pool(swarm, network):
    shown = swarm.inspect_network(network)
    assert (shown["Driver"], shown["Scope"], shown["Attachable"], shown["Ingress"]) == ("overlay", "swarm", True, False)
    assert shown["IPAM"]["Config"][0]["Subnet"].startswith("10.0.") and len(network) == 25
    assert swarm.inspect_network("ingress")["Ingress"] is True
    with pytest.raises(docker.errors.NotFound):
        swarm.inspect_network(network, scope="local")
    assert [n["Id"] for n in swarm.networks(filters={"scope": "swarm", "name": "app"})] == [network]


def test_a_container_joins_only_an_attachable_swarm_network(swarm, network):
    closed = swarm.create_network("closed", driver="overlay")
    try:
        container = swarm.create_container("busybox", ["true"], host_config=swarm.create_host_config(
            network_mode="closed"))
        with pytest.raises(docker.errors.APIError, match="network closed not manually attachable"):
            swarm.start(container)
        swarm.remove_container(container, force=True)
    finally:
        swarm.remove_network(closed["Id"])


def test_a_services_name_resolves_to_its_tasks_on_its_network(swarm, network):
    template = docker.types.TaskTemplate(container_spec(["sleep", "60"]), networks=[network])
    service = swarm.create_service(template, name="db")
    wait_for(lambda: running_tasks(swarm, service["ID"]))
    assert swarm.inspect_service(service["ID"])["Spec"]["TaskTemplate"]["Networks"] == [{"Target": network}]
    probe = swarm.create_container("busybox", ["ping", "-c1", "-W2", "db"],
                                   host_config=swarm.create_host_config(network_mode="app"))
    swarm.start(probe)
    assert swarm.wait(probe)["StatusCode"] == 0, swarm.logs(probe)
    swarm.remove_container(probe, force=True)


def test_a_network_a_service_uses_cannot_be_removed(swarm, network):
    template = docker.types.TaskTemplate(container_spec(["sleep", "60"]), networks=[network])
    swarm.create_service(template, name="db")
    with pytest.raises(docker.errors.APIError, match="is in use by service"):
        swarm.remove_network(network)


def test_the_routing_mesh_balances_a_published_port_over_the_tasks(bridge_daemon, swarm):
    spec = container_spec(["httpd", "-f", "-p", "80", "-h", "/etc"])
    service = swarm.create_service(docker.types.TaskTemplate(spec), name="web",
                                   mode=docker.types.ServiceMode("replicated", 2),
                                   endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    tasks = wait_for(lambda: len(running_tasks(swarm, service["ID"])) == 2 and running_tasks(swarm, service["ID"]))
    assert swarm.inspect_service(service["ID"])["Endpoint"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]
    assert {a["Network"]["Spec"]["Name"] for t in tasks for a in t["NetworksAttachments"]} == {"ingress"}
    answers = set()
    for _ in range(4):  # each request goes to the next task, which answers with its own hostname
        got = in_netns(bridge_daemon, BUSYBOX, "wget", "-qO-", "http://127.0.0.1:8080/hostname")
        assert got.returncode == 0, got.stderr
        answers.add(got.stdout.strip())
    assert len(answers) == 2


STACK = """
version: "3.8"
services:
  app:
    image: busybox
    command: sleep 60
    stop_grace_period: 100ms
    networks: [back]
    secrets: [pw]
    deploy: {replicas: 2}
networks:
  back:
secrets:
  pw:
    file: ./compose.yml
"""


def test_the_docker_clis_stack_deploy_and_rm(bridge_daemon, swarm, tmp_path):
    if not os.path.exists(DOCKER):
        pytest.skip("the docker CLI is not installed")
    (tmp_path / "compose.yml").write_text(STACK)
    cli = DockerCLI(bridge_daemon)
    cli("stack", "deploy", "-c", str(tmp_path / "compose.yml"), "stk")
    wait_for(lambda: cli.out("stack", "ps", "stk", "--filter", "desired-state=running",
                             "--format", "{{.CurrentState}}").count("Running") == 2)
    assert cli.out("service", "ls", "--format", "{{.Name}} {{.Replicas}}") == "stk_app 2/2"
    cli("stack", "rm", "stk")
    wait_for(lambda: "stk_back" not in cli.out("network", "ls", "--format", "{{.Name}}"))
    assert cli.out("secret", "ls", "-q") == ""


def test_leaving_removes_every_task_container(client, node):
    client.create_service(docker.types.TaskTemplate(container_spec(["sleep", "60"])), name="last")
    wait_for(lambda: client.containers(filters={"label": "com.docker.swarm.service.name=last"}))
    client.leave_swarm(force=True)
    assert client.containers(all=True, filters={"label": f"com.docker.swarm.node.id={node}"}) == []
    with pytest.raises(docker.errors.APIError) as refused:
        client.inspect_swarm()
    assert refused.value.status_code == 503
