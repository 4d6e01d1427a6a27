"""``--use-api-socket``'s credentials: the client's registry logins, copied into the container.

As docker 28 does, the stored ``auths`` of config.json (or of ``$DOCKER_AUTH_CONFIG``)
are written to ``/run/secrets/docker/config.json`` inside the container after it is
created, and ``DOCKER_CONFIG=/run/secrets/docker`` is added to its environment,
unless ``-e DOCKER_CONFIG=...`` already sets one. The socket mount itself is part
of the create request (:func:`berth.cli.createbody.add_api_socket`).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.client import Client

CONFIG_IN_CONTAINER = "/run/secrets/docker/config.json"


def credentials(config: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The ``auths`` to copy in (and, when there are any, ``DOCKER_CONFIG`` added to ``body``'s Env)."""
    from berth.cli import fastjson

    env = body.get("Env") or []
    if any(item.startswith("DOCKER_CONFIG=") for item in env):
        return {}
    auths: dict[str, Any] = {}
    if os.environ.get("DOCKER_AUTH_CONFIG"):
        try:
            auths = fastjson.loads(os.environ["DOCKER_AUTH_CONFIG"]).get("auths") or {}
        except (ValueError, AttributeError) as exc:
            from berth.cli.runcreate import CommandError

            raise CommandError(f"resolving credentials failed: failed to read credentials from "
                               f"DOCKER_AUTH_CONFIG: {exc}") from None
    auths = auths or {server: entry for server, entry in (config.get("auths") or {}).items() if entry}
    if auths:
        body["Env"] = env + ["DOCKER_CONFIG=" + os.path.dirname(CONFIG_IN_CONTAINER)]
    return auths


def install_credentials(client: Client, cid: str, auths: dict[str, Any]) -> None:
    """``PUT /containers/{cid}/archive`` of a tar holding the config file (mode 0600)."""
    import io
    import json
    import tarfile

    from berth.cli.runcreate import CommandError

    data = (json.dumps({"auths": auths}, indent="\t") + "\n").encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(CONFIG_IN_CONTAINER.lstrip("/"))
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    from berth.cli.client import APIError

    try:
        client.call("PUT", f"/containers/{cid}/archive", {"noOverwriteDirNonDir": "true", "path": "/"},
                    buffer.getvalue())
    except APIError as exc:
        raise CommandError(f"injecting docker config.json into container failed: copying config.json into "
                           f"container failed: {exc.message}") from None
