"""A remapped berthd (``--userns-remap default``) runs an image it pulled from the real distribution registry.

The layers are stored with the ids their archives carry and appear to the running container's host
side owned by the remapped root (berthremap's first subordinate id).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import (  # noqa: E402,F401 - fixtures, used by name
    registry_fixture, registry_peers_fixture, test_image_fixture, workdir_fixture)
from tests.integration.test_userns_remap import cli, first_ids, reachable_base  # noqa: E402

pytestmark = pytest.mark.integration


def test_a_pulled_image_runs_remapped(make_daemon, suite_tmp, registry, test_image):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/remap/img:latest")
    d = make_daemon(["--userns-remap", "default", "-s", "overlay"], base=reachable_base(suite_tmp)).start()
    image = f"{registry.host}/remap/img:latest"
    cli(d, "pull", "-q", image)
    assert cli(d, "run", "--rm", image).strip() == "pulled-ok"
    uid, _ = first_ids()
    cid = cli(d, "run", "-d", "-i", image, "/bin/sh", "-c", "cat /proc/self/uid_map; exec /bin/cat").strip()
    try:
        pid = int(cli(d, "inspect", "-f", "{{.State.Pid}}", cid))
        assert os.stat(f"/proc/{pid}/root/data/a.bin").st_uid == uid
        assert cli(d, "logs", cid).split() == ["0", str(uid), "65536"]
    finally:
        d.cli("rm", "-f", cid)
    upper = json.loads(cli(d, "image", "inspect", image))[0]["GraphDriver"]["Data"]["UpperDir"]
    assert os.stat(os.path.join(upper, "data/a.bin")).st_uid == 0
