"""The registry API routes and the ``berth pull/push/login/logout/search`` verbs, end to end.

The routes of :mod:`berth.api.images` and :mod:`berth.api.registry` (with the server's error middleware) are
served on a unix socket over a real image store (vfs, temp dir); the CLI runs as a
subprocess against it, with its credentials file in a temp dir. The last test
uses the full daemon (``daemon`` fixture) to run a pulled image.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import (  # noqa: E402,F401 - fixtures, used by name
    basic_registry_fixture, registry_fixture, registry_peers_fixture, test_image_fixture, workdir_fixture)

from berth.api import images as images_api, registry as registry_api  # noqa: E402
from berth.api.server import ENGINE_KEY, docker_errors  # noqa: E402


class ApiServer:
    """The registry routes on a unix socket, served by a private event loop thread."""

    def __init__(self, base: str):
        self.engine = rf.fake_engine(os.path.join(base, "data"))
        self.store = self.engine.images
        self.socket = os.path.join(base, "api.sock")
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[docker_errors])
        app[ENGINE_KEY] = self.engine
        images_api.routes.install(app)  # POST /images/create (pulls go on to the registry module)
        registry_api.routes.install(app)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.UnixSite(self.runner, self.socket).start())
        self.started.set()
        self.loop.run_forever()

    def start(self) -> "ApiServer":
        self.thread.start()
        self.started.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.store.close()


@pytest.fixture
def api(tmp_path):
    server = ApiServer(str(tmp_path)).start()
    yield server
    server.stop()


# The verbs as main.VERBS lists them; set here too so these tests do not depend on that table.
_MAIN = ("import sys; from berth.cli import main as m; "
         "[m.VERBS.setdefault(v, ('registry', v)) for v in ('pull', 'push', 'login', 'logout', 'search')]; "
         "m.main(sys.argv[1:])")


def cli(api: ApiServer, *args: str, config: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BERTH_CONFIG": config}
    return subprocess.run([sys.executable, "-c", _MAIN, "-H", "unix://" + api.socket, *args],
                          input=input, capture_output=True, timeout=120, env=env)


def test_cli_pull_shows_docker_progress_and_final_reference(api, registry, test_image, tmp_path):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/cli/img:latest")
    res = cli(api, "pull", f"{registry.host}/cli/img", config=str(tmp_path / "cfg"))
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[0] == "latest: Pulling from cli/img"
    short = [d[7:19] for d in test_image["layers"]]
    assert f"{short[0]}: Pull complete" in lines and f"{short[1]}: Pull complete" in lines
    assert lines[-3] == f"Digest: {test_image['manifest']}"
    assert lines[-2] == f"Status: Downloaded newer image for {registry.host}/cli/img:latest"
    assert lines[-1] == f"{registry.host}/cli/img:latest"
    assert api.store.get(f"{registry.host}/cli/img").id == test_image["image_id"]


def test_api_pull_stream_is_ndjson_and_unknown_image_is_404(api, registry, test_image, tmp_path):
    from tests.unixhttp import UnixHTTPConnection

    conn = UnixHTTPConnection(api.socket)
    conn.request("POST", f"/v1.45/images/create?fromImage={registry.host}/api/none&tag=x")
    resp = conn.getresponse()
    assert resp.status == 404
    assert "not found" in json.loads(resp.read())["message"]
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/api/img:latest")
    conn = UnixHTTPConnection(api.socket)
    conn.request("POST", f"/images/create?fromImage={registry.host}/api/img&tag=latest")
    resp = conn.getresponse()
    assert resp.status == 200
    messages = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert messages[0] == {"status": "Pulling from api/img", "id": "latest"}
    downloading = [m for m in messages if m.get("status") == "Downloading"]
    assert downloading and set(downloading[-1]["progressDetail"]) == {"current", "total"}
    assert downloading[-1]["progress"].startswith("[")


def test_pull_without_a_tag_takes_every_tag_of_the_repository_as_dockerd(api, registry, test_image, tmp_path):
    for tag in ("latest", "v1", "v2"):
        rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/all/img:{tag}")
    res = cli(api, "pull", "--all-tags", f"{registry.host}/all/img", config=str(tmp_path))
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert [line for line in lines if "Pulling from" in line] == [f"{t}: Pulling from all/img" for t in ("latest", "v1", "v2")]
    assert lines[-2:] == [f"Status: Downloaded newer image for {registry.host}/all/img", f"{registry.host}/all/img"]
    assert {t for img in api.store.list() for t in img.repo_tags} >= {f"{registry.host}/all/img:{t}" for t in ("latest", "v1", "v2")}
    again = cli(api, "pull", "-a", "-q", f"{registry.host}/all/img", config=str(tmp_path))
    assert again.stdout.decode() == f"{registry.host}/all/img\n"
    refused = cli(api, "pull", "-a", f"{registry.host}/all/img:v1", config=str(tmp_path))
    assert (refused.returncode, refused.stderr.decode().strip()) == (1, "tag can't be used with --all-tags/-a")


def test_api_pull_of_every_tag_ends_with_one_status_for_the_repository(api, registry, test_image):
    from tests.unixhttp import UnixHTTPConnection

    for tag in ("a", "b"):
        rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/every/img:{tag}")
    conn = UnixHTTPConnection(api.socket)
    conn.request("POST", f"/v1.45/images/create?fromImage={registry.host}/every/img")
    resp = conn.getresponse()
    assert resp.status == 200
    statuses = [json.loads(line)["status"] for line in resp.read().splitlines() if line.strip()]
    assert [s for s in statuses if s.startswith(("Pulling from", "Status:"))] == [
        "Pulling from every/img", "Pulling from every/img", f"Status: Downloaded newer image for {registry.host}/every/img"]
    conn = UnixHTTPConnection(api.socket)
    conn.request("POST", f"/v1.45/images/create?fromImage={registry.host}/every/none")
    resp = conn.getresponse()
    assert resp.status == 404 and "not found" in json.loads(resp.read())["message"]


def test_cli_push_is_pulled_back_by_skopeo(api, registry, test_image, tmp_path):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/cli/src:latest")
    assert cli(api, "pull", "-q", f"{registry.host}/cli/src", config=str(tmp_path)).returncode == 0
    api.store.tag(test_image["image_id"], f"{registry.host}/cli/pushed:v2")
    res = cli(api, "push", f"{registry.host}/cli/pushed:v2", config=str(tmp_path))
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode()
    assert out.startswith(f"The push refers to repository [{registry.host}/cli/pushed]")
    assert "v2: digest: sha256:" in out
    rf.skopeo_copy(f"docker://{registry.host}/cli/pushed:v2", f"oci:{tmp_path}/back:x")


def test_pull_and_push_events_name_the_reference_as_dockerd(api, registry, test_image, tmp_path):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/ev/img:latest")
    assert cli(api, "pull", "-q", f"{registry.host}/ev/img", config=str(tmp_path)).returncode == 0
    assert cli(api, "push", f"{registry.host}/ev/img", config=str(tmp_path)).returncode == 0
    events = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in api.engine.events.ring]
    reference, name = f"{registry.host}/ev/img:latest", f"{registry.host}/ev/img"
    assert events == [("pull", reference, name), ("push", reference, name)]


def test_cli_login_logout_with_htpasswd_registry(api, basic_registry, test_image, tmp_path):
    config = str(tmp_path / "cfg")
    res = cli(api, "login", basic_registry.host, "-u", "alice", "--password-stdin", config=config,
              input=b"wrong\n")
    assert res.returncode == 1
    assert "wrong username or password" in res.stderr.decode()
    assert not os.path.exists(os.path.join(config, "config.json"))
    res = cli(api, "login", basic_registry.host, "-u", "alice", "--password-stdin", config=config,
              input=b"s3cret\n")
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().strip() == "Login Succeeded"
    path = os.path.join(config, "config.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert json.load(f)["auths"][basic_registry.host]["auth"] == "YWxpY2U6czNjcmV0"  # alice:s3cret
    # the saved credentials go with pull
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{basic_registry.host}/auth/img:latest",
                   "--dest-creds", "alice:s3cret")
    res = cli(api, "pull", f"{basic_registry.host}/auth/img", config=config)
    assert res.returncode == 0, res.stderr.decode()
    res = cli(api, "logout", basic_registry.host, config=config)
    assert res.stdout.decode().strip() == f"Removing login credentials for {basic_registry.host}"
    res = cli(api, "pull", f"{basic_registry.host}/auth/img", config=config)
    assert res.returncode == 1 and "berth login" in res.stderr.decode()


def test_cli_search_lists_catalog_matches(api, registry, test_image, tmp_path):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/lookup/haystack:latest")
    res = cli(api, "search", f"{registry.host}/haystack", config=str(tmp_path))
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert lines[1].split() == [f"{registry.host}/lookup/haystack", "0"]
    res = cli(api, "search", "--filter", "stars=1", f"{registry.host}/haystack", config=str(tmp_path))
    assert res.stdout.decode().splitlines()[1:] == []


def test_run_of_a_pulled_image_through_the_daemon(daemon, registry, test_image):
    """The whole path: berthd pulls what skopeo pushed, and runs it."""
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/run/img:latest")
    res = daemon.cli("pull", f"{registry.host}/run/img")
    assert res.returncode == 0, res.stderr.decode()
    res = daemon.cli("run", "--rm", f"{registry.host}/run/img")
    assert res.returncode == 0, res.stderr.decode() + daemon.log()
    assert res.stdout.decode().strip() == "pulled-ok"


def test_distribution_inspect_describes_the_manifest_without_pulling(daemon, registry, test_image):
    """``GET /distribution/{name}/json``: the manifest's descriptor and platforms, as dockerd answers."""
    from tests.e2e.test_api_wire import http

    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/dist/img:latest")
    status, _, body = http(daemon, "GET", f"/v1.45/distribution/{registry.host}/dist/img:latest/json")
    assert status == 200, body
    assert json.loads(body) == {
        "Descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": test_image["manifest"],
                       "size": test_image["manifest_size"]},
        "Platforms": [{"architecture": "amd64", "os": "linux"}],
    }
    assert f"{registry.host}/dist/img" not in daemon.cli("images").stdout.decode()


def test_distribution_inspect_of_a_missing_image_is_a_404(daemon, registry):
    from tests.e2e.test_api_wire import http

    status, _, body = http(daemon, "GET", f"/v1.45/distribution/{registry.host}/no/such:latest/json")
    assert status == 404, body
