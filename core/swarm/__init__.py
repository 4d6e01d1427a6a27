"""Swarm mode for one node: the swarm, its node, services and their tasks, secrets and configs.

berthd is the one manager (and worker) of the swarm it initialises; it speaks no
swarm protocol to other nodes, so none can join and it joins none (a join fails as
dockerd's does when the remote manager is unreachable). Everything else a client
sees is dockerd's: the Engine API's swarm routes with dockerd's answers, the service
specs as swarmkit stores them, tasks run as real containers by an orchestrator.

Modules, from the edge inwards:

- ``gojson``, ``apitypes``: Go's JSON rules and the swarm API's types, so answers are
  shaped as dockerd's (zero values, ``omitempty``, nil vs empty).
- ``cluster``, ``swarmspec``, ``addresses``, ``hostaddrs``, ``rootca``, ``ids``: init,
  join, leave, update, lock; the swarm's spec; address resolution; the root CA.
- ``nodes``, ``secrets``, ``services``, ``servicespec``, ``validation``, ``placement``,
  ``lookup``: the objects of the API and swarmkit's checks.
- ``orchestrator``, ``updater``, ``agent``, ``tasks``, ``taskcontainer``, ``taskfiles``,
  ``templates``, ``tasklogs``: tasks from specs to containers and back to states.
- ``networking``: the networks services use (see its docstring for overlay networks).
- ``store``: the state, one atomically replaced JSON file under ``<data-root>/swarm``.
- ``manager``: :class:`~berth.swarm.manager.SwarmManager`, what the engine holds.
"""
