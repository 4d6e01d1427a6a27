"""A task shut down or removed while its container is being started: the start ends first, then the
container is stopped or removed (a CI run caught a removal cancelling the start midway, which left the
container half started and its removal stuck)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from berth.swarm.agent import Agent
from berth.swarm.store import SwarmStore

CONTAINER_ID = "c" * 64


class SlowStartContainers:
    """A container manager whose start runs until the test releases it; it records each call."""

    def __init__(self):
        self.store = SimpleNamespace(containers={})
        self.calls: list[str] = []
        self.starting = asyncio.Event()
        self.release = asyncio.Event()

    async def create(self, body, name):
        self.calls.append("create")
        container = SimpleNamespace(id=CONTAINER_ID, state=SimpleNamespace(running=False))
        self.store.containers[CONTAINER_ID] = container
        return container, []

    async def start(self, container_id):
        self.calls.append("start")
        self.starting.set()
        await self.release.wait()
        self.store.containers[container_id].state.running = True
        self.calls.append("running")

    async def stop(self, container_id, timeout):
        self.calls.append("stop")
        self.store.containers[container_id].state.running = False

    async def remove(self, container_id, force=False):
        self.calls.append("remove")
        del self.store.containers[container_id]


def make_agent(tmp_path) -> tuple[Agent, dict, SlowStartContainers]:
    containers = SlowStartContainers()
    engine = SimpleNamespace(exec_root=str(tmp_path / "run"), containers=containers,
                             execs=SimpleNamespace(forget_container=lambda container_id: None))
    store = SwarmStore(str(tmp_path / "swarm"))
    store.create({"node": {"ID": "n1"}})
    store.put("services", {"ID": "s1", "Spec": {"Name": "db"}}, created=True)
    networking = SimpleNamespace(connect_others=_nothing, task_attachments=lambda task, container_id: [],
                                 for_task=lambda task, service: (None, None, []))
    swarm = SimpleNamespace(engine=engine, store=store, networking=networking)
    task = store.put("tasks", {"ID": "t1", "ServiceID": "s1", "DesiredState": "running",
                               "Spec": {"ContainerSpec": {"StopGracePeriod": 100_000_000}},
                               "Status": {"State": "starting"}}, created=True)
    return Agent(swarm), task, containers


async def _nothing(*args):
    return None


async def _with_start_under_way(agent: Agent, task: dict, containers: SlowStartContainers, then):
    """Run ``then(task)`` while the task's container start is under way; return the calls made."""
    lifecycle = asyncio.ensure_future(agent._start(task, {}, "db.1.t1"))
    agent.running[task["ID"]] = lifecycle
    await containers.starting.wait()
    stopping = asyncio.ensure_future(then(task))
    await asyncio.sleep(0.05)
    assert containers.calls == ["create", "start"], "nothing may touch the container before its start ends"
    containers.release.set()
    await stopping
    await asyncio.wait([lifecycle])
    return containers.calls


def test_a_task_removed_while_its_container_starts_is_removed_once_started(tmp_path):
    agent, task, containers = make_agent(tmp_path)
    calls = asyncio.run(_with_start_under_way(agent, task, containers, agent.remove))
    assert calls == ["create", "start", "running", "remove"]  # a forced removal
    assert containers.store.containers == {} and agent.starting == {}


def test_a_task_shut_down_while_its_container_starts_is_stopped_once_started(tmp_path):
    agent, task, containers = make_agent(tmp_path)
    calls = asyncio.run(_with_start_under_way(agent, task, containers, agent.shutdown))
    assert calls == ["create", "start", "running", "stop"]
    assert task["Status"]["State"] == "shutdown"


def test_the_started_container_is_recorded_in_the_task_even_when_its_lifecycle_was_cancelled(tmp_path):
    async def cancel_then_settle(task):
        agent.running[task["ID"]].cancel()
        await agent._settle(task["ID"])

    agent, task, containers = make_agent(tmp_path)
    asyncio.run(_with_start_under_way(agent, task, containers, cancel_then_settle))
    assert task["Status"]["ContainerStatus"]["ContainerID"] == CONTAINER_ID
