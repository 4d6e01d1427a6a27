"""The swarm's own spec (``Spec`` of ``swarm inspect``) as swarmkit keeps it and dockerd shows it.

swarmkit keeps a cluster spec whose unset durations are nil; dockerd shows it back
with some parts always present (the retention limit, ``KeepOldSnapshots``) and some
never (task defaults, the signing CA). ``swarm init`` starts from swarmkit's
defaults and merges what the request sets (non-zero values only); ``swarm update``
replaces the spec with the request's, zeros included, as dockerd does.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

HOUR = 3600 * 1_000_000_000
MIN_NODE_CERT_EXPIRY = HOUR

# swarmkit's default cluster spec
DEFAULTS = {
    "Name": "default", "Labels": {}, "TaskHistoryRetentionLimit": 5,
    "SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
    "ElectionTick": 10, "HeartbeatTick": 1, "HeartbeatPeriod": 5_000_000_000,
    "NodeCertExpiry": 90 * 24 * HOUR, "ExternalCAs": [], "ForceRotate": 0, "AutoLockManagers": False,
}
EMPTY = {**{k: 0 for k in DEFAULTS}, "Name": "", "Labels": {}, "HeartbeatPeriod": None, "NodeCertExpiry": None,
         "ExternalCAs": [], "AutoLockManagers": False}


def check_name(spec: dict) -> None:
    if spec["Name"] not in ("", "default"):
        raise InvalidArgument('swarm spec must be named "default"')


def merge(api_spec: dict, base: dict) -> dict:
    """dockerd's ``MergeSwarmSpecToGRPC``: ``base`` with every non-zero value of the request's spec."""
    out = dict(base)
    if api_spec["Name"]:
        out["Name"] = api_spec["Name"]
    if api_spec["Labels"]:
        out["Labels"] = dict(api_spec["Labels"])
    raft, orchestration = api_spec["Raft"], api_spec["Orchestration"]
    if orchestration["TaskHistoryRetentionLimit"] is not None:
        out["TaskHistoryRetentionLimit"] = orchestration["TaskHistoryRetentionLimit"]
    for key in ("SnapshotInterval", "LogEntriesForSlowFollowers", "HeartbeatTick", "ElectionTick"):
        if raft[key]:
            out[key] = raft[key]
    if raft["KeepOldSnapshots"] is not None:
        out["KeepOldSnapshots"] = raft["KeepOldSnapshots"]
    if api_spec["Dispatcher"]["HeartbeatPeriod"]:
        out["HeartbeatPeriod"] = api_spec["Dispatcher"]["HeartbeatPeriod"]
    ca = api_spec["CAConfig"]
    if ca["NodeCertExpiry"]:
        out["NodeCertExpiry"] = ca["NodeCertExpiry"]
    if ca["SigningCACert"] or ca["SigningCAKey"]:
        raise InvalidArgument("berth's swarm cannot take a signing CA (SigningCACert/SigningCAKey): its root CA is "
                              "made at swarm init and renewed with CAConfig.ForceRotate")
    out["ForceRotate"] = ca["ForceRotate"]
    out["ExternalCAs"] = list(out["ExternalCAs"]) + [_external_ca(e) for e in ca["ExternalCAs"] or [] if e]
    out["AutoLockManagers"] = api_spec["EncryptionConfig"]["AutoLockManagers"]
    return out


def _external_ca(ca: dict) -> dict:
    if ca["Protocol"].lower() != "cfssl":
        raise InvalidArgument(f'invalid protocol: "{ca["Protocol"]}"')
    return {"Protocol": "cfssl", "URL": ca["URL"], "Options": ca["Options"] or None, "CACert": ca["CACert"]}


def validate(spec: dict) -> None:
    """swarmkit's checks of a cluster spec (its ``InvalidArgument`` errors)."""
    expiry = spec["NodeCertExpiry"]
    if expiry is not None and expiry < MIN_NODE_CERT_EXPIRY:
        raise InvalidArgument("rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s")
    if spec["HeartbeatPeriod"] is not None and spec["HeartbeatPeriod"] < 0:
        raise InvalidArgument("rpc error: code = InvalidArgument desc = heartbeat time period cannot be a negative "
                              "duration")
    if spec["Name"] != "default":
        raise InvalidArgument("rpc error: code = InvalidArgument desc = modification of cluster name is not allowed")


def to_api(spec: dict) -> dict:
    """The ``Spec`` of ``swarm inspect`` (a Go value of :data:`berth.swarm.apitypes.SwarmSpec`)."""
    return {
        "Name": spec["Name"], "Labels": dict(spec["Labels"] or {}),
        "Orchestration": {"TaskHistoryRetentionLimit": spec["TaskHistoryRetentionLimit"]},
        "Raft": {"SnapshotInterval": spec["SnapshotInterval"], "KeepOldSnapshots": spec["KeepOldSnapshots"],
                 "LogEntriesForSlowFollowers": spec["LogEntriesForSlowFollowers"],
                 "ElectionTick": spec["ElectionTick"], "HeartbeatTick": spec["HeartbeatTick"]},
        "Dispatcher": {"HeartbeatPeriod": spec["HeartbeatPeriod"] or 0},
        "CAConfig": {"NodeCertExpiry": spec["NodeCertExpiry"] or 0,
                     "ExternalCAs": [dict(e) for e in spec["ExternalCAs"]] or None,
                     "SigningCACert": "", "SigningCAKey": "", "ForceRotate": spec["ForceRotate"]},
        "TaskDefaults": {"LogDriver": None},  # dockerd 20.10 never shows the task defaults it keeps
        "EncryptionConfig": {"AutoLockManagers": spec["AutoLockManagers"]},
    }
