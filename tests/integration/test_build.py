"""``berth build`` / ``POST /build`` against a real berthd: instructions, stages, cache, ignore, failures.

The daemon runs with ``--bridge none``; RUN containers use the default network mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import textwrap

import pytest
from tests.peers import missing_peer

# overlay: its steps are committed by moving their files (graph_adopt_diff); the e2e build tests use vfs,
# whose steps go through the tar of their diff
DAEMON_ARGS = ["-s", "overlay"]

pytestmark = pytest.mark.integration


def write(ctx, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = os.path.join(ctx, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
    return str(ctx)


def build(daemon, ctx, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = daemon.cli("build", *args, str(ctx), timeout=180)
    if ok:
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode() + daemon.log()
    return result


def inspect(daemon, ref: str) -> dict:
    result = daemon.cli("image", "inspect", ref)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)[0]


def run(daemon, *args: str) -> str:
    result = daemon.cli("run", "--rm", *args, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    return result.stdout.decode()


def containers(daemon) -> list[str]:
    return daemon.cli("ps", "-aq", "--no-trunc").stdout.decode().split()


# -- the seed's example -----------------------------------------------------------------------


def test_seed_example_builds_and_runs(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": """\
        FROM busybox
        MAINTAINER Seed Author <seed@example.com>
        RUN echo "hello from the seed" > /message
        EXPOSE 80
        CMD ["cat", "/message"]
        """})
    out = build(daemon, ctx, "-t", "seed-example").stdout.decode()
    assert "Step 1/5 : FROM busybox" in out and "Step 5/5 : CMD" in out
    assert "Successfully tagged seed-example:latest" in out
    image = inspect(daemon, "seed-example")
    assert image["Author"] == "Seed Author <seed@example.com>"
    assert image["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert run(daemon, "seed-example") == "hello from the seed\n"


# -- every instruction ---------------------------------------------------------------------------

EVERY = """\
    # syntax=docker/dockerfile:1
    ARG BASE=busybox
    FROM ${BASE}:latest AS builder
    ARG GREETING=hello
    RUN echo "$GREETING from builder" > /artefact && \\
        echo built
    FROM busybox
    LABEL org.example.a="one" b=two
    MAINTAINER tester
    ENV APP_HOME=/app MODE=${UNSET:-prod} SAME_LINE=${APP_HOME:-unset-yet}
    ENV ALT=${APP_HOME:+set}
    ARG VERSION=1.0
    WORKDIR $APP_HOME
    COPY a.txt ./
    COPY sub /app/subdir/
    COPY --chown=1000:1000 *.txt /owned/
    COPY --from=builder /artefact /artefact
    ADD arch.tar.gz /extracted/
    ADD plain.txt /added-plain
    RUN echo "appuser:x:1234:1234::/home:/bin/sh" >> /etc/passwd && echo "v=$VERSION mode=$MODE" > /app/info
    USER appuser
    EXPOSE 8080 9000/udp
    VOLUME ["/data"]
    STOPSIGNAL SIGUSR1
    HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD true
    SHELL ["/bin/sh", "-c"]
    ONBUILD ENV TRIGGERED=yes
    ENTRYPOINT ["/bin/sh", "-c"]
    CMD ["cat /app/info; id -u; pwd"]
    """


@pytest.fixture(scope="module")
def every_image(daemon, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("every")
    write(ctx, {"Dockerfile": EVERY, "a.txt": "one\n", "plain.txt": "plain\n", "sub/s.txt": "sub\n"})
    src = ctx / "tarsrc" / "t"
    src.mkdir(parents=True)
    (src / "f").write_text("in the tar\n")
    with tarfile.open(ctx / "arch.tar.gz", "w:gz") as tar:
        tar.add(src, "t")
    shutil.rmtree(ctx / "tarsrc")
    result = build(daemon, ctx, "-t", "every:1", "--build-arg", "GREETING=hi")
    return result.stdout.decode()


def test_every_instruction_sets_the_config_docker_would(daemon, every_image):
    config = inspect(daemon, "every:1")["Config"]
    assert config["User"] == "appuser"
    assert config["WorkingDir"] == "/app"
    assert {"APP_HOME=/app", "MODE=prod", "SAME_LINE=unset-yet", "ALT=set"} <= set(config["Env"])
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["cat /app/info; id -u; pwd"]
    assert config["ExposedPorts"] == {"8080/tcp": {}, "9000/udp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["Labels"] == {"org.example.a": "one", "b": "two"}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000,
                                     "Timeout": 5_000_000_000, "Retries": 2}
    assert config["OnBuild"] == ["ENV TRIGGERED=yes"]
    assert config["Shell"] == ["/bin/sh", "-c"]
    assert inspect(daemon, "every:1")["Author"] == "tester"


def test_every_instruction_image_runs_as_its_user_in_its_workdir(daemon, every_image):
    assert run(daemon, "every:1") == "v=1.0 mode=prod\n1234\n/app\n"


def test_copy_and_add_put_files_where_docker_does(daemon, every_image):
    script = ("cat /app/a.txt /app/subdir/s.txt /artefact /extracted/t/f /added-plain; "
              "stat -c '%u:%g %n' /owned/a.txt /owned/plain.txt")
    out = run(daemon, "--entrypoint", "sh", "every:1", "-c", script)
    assert out == ("one\nsub\nhi from builder\nin the tar\nplain\n"
                   "1000:1000 /owned/a.txt\n1000:1000 /owned/plain.txt\n")


def test_history_marks_metadata_steps_as_empty_layers(daemon, every_image):
    image_id = inspect(daemon, "every:1")["Id"]
    with open(os.path.join(daemon.data_root, "image", "blobs", "sha256", image_id.split(":")[1])) as f:
        config = json.load(f)
    history = config["history"]
    layered = [h for h in history if not h.get("empty_layer")]
    assert len(layered) == len(config["rootfs"]["diff_ids"])  # one layer per non-empty step, as Docker's
    by_step = {h["created_by"].split("#(nop) ")[-1].split()[0]: h for h in history}
    for metadata_step in ("LABEL", "MAINTAINER", "ENV", "ARG", "EXPOSE", "VOLUME", "STOPSIGNAL", "USER", "CMD"):
        assert by_step[metadata_step].get("empty_layer") is True, metadata_step
    runs = [h["created_by"] for h in history if "#(nop)" not in h["created_by"] and "VERSION" in h["created_by"]]
    assert runs and runs[0].startswith("|1 VERSION=1.0 /bin/sh -c echo")  # build args in scope, as Docker records
    last_step = config["container_config"]["Cmd"]
    assert last_step[-2] == "#(nop) " and last_step[-1].startswith("CMD [")  # Moby's two-word nop comment


def test_onbuild_triggers_run_in_a_child_build(daemon, every_image, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM every:1\nUSER root\n"})
    out = build(daemon, ctx, "-t", "child-of-every").stdout.decode()
    assert "# Executing 1 build trigger" in out
    assert "TRIGGERED=yes" in inspect(daemon, "child-of-every")["Config"]["Env"]
    assert not inspect(daemon, "child-of-every")["Config"].get("OnBuild")


# -- multi-stage ---------------------------------------------------------------------------------

TWO_STAGES = """\
    FROM busybox AS compile
    RUN mkdir /out && echo "artefact-$(echo 42)" > /out/result && echo scratch-only > /tmp-file
    FROM busybox
    COPY --from=compile /out/result /result
    CMD ["cat", "/result"]
    """


def test_two_stage_build_copies_the_artefact_from_the_first_stage(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": TWO_STAGES})
    build(daemon, ctx, "-t", "two-stage")
    assert run(daemon, "two-stage") == "artefact-42\n"
    check = daemon.cli("run", "--rm", "two-stage", "cat", "/tmp-file")
    assert check.returncode != 0  # the first stage's other files stay behind


def test_copy_from_a_stage_by_index_and_from_an_image(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": """\
        FROM busybox
        RUN echo first > /f
        FROM scratch
        COPY --from=0 /f /f
        COPY --from=busybox:latest /bin/busybox /bin/busybox
        CMD ["/bin/busybox", "cat", "/f"]
        """})
    build(daemon, ctx, "-t", "from-scratch")
    assert run(daemon, "from-scratch") == "first\n"


def test_target_stops_at_the_named_stage(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": TWO_STAGES})
    out = build(daemon, ctx, "-t", "only-compile", "--target", "compile").stdout.decode()
    assert "Step 2/2" in out
    assert run(daemon, "only-compile", "cat", "/tmp-file") == "scratch-only\n"


# -- cache ---------------------------------------------------------------------------------------

CACHED = """\
    FROM busybox
    ENV A=1
    RUN echo step-one > /one
    COPY data.txt /data.txt
    RUN cat /data.txt > /copy
    CMD ["cat", "/copy"]
    """


def test_rebuild_without_change_uses_the_cache_for_every_step(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": CACHED, "data.txt": "v1\n"})
    first = build(daemon, ctx, "-t", "cached").stdout.decode()
    assert "Using cache" not in first
    image_id = inspect(daemon, "cached")["Id"]
    second = build(daemon, ctx, "-t", "cached").stdout.decode()
    assert second.count("---> Using cache") == 5
    assert "Running in" not in second
    assert inspect(daemon, "cached")["Id"] == image_id


def test_changing_a_copied_file_invalidates_from_that_step_on(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": CACHED, "data.txt": "v1\n"})
    build(daemon, ctx, "-t", "invalidate")
    (tmp_path / "data.txt").write_text("v2\n")
    out = build(daemon, ctx, "-t", "invalidate").stdout.decode()
    steps = out.split("Step ")[1:]
    cached = ["Using cache" in s for s in steps]
    assert cached == [False, True, True, False, False, False]  # FROM prints no cache line
    assert run(daemon, "invalidate") == "v2\n"


def test_touching_a_file_without_changing_it_keeps_the_cache(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": CACHED, "data.txt": "same\n"})
    build(daemon, ctx, "-t", "touched")
    os.utime(tmp_path / "data.txt", (1, 1))
    assert build(daemon, ctx, "-t", "touched").stdout.decode().count("Using cache") == 5


def test_build_args_in_scope_are_part_of_the_run_cache_key(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nARG V\nRUN echo v=$V > /v\nCMD [\"cat\", \"/v\"]\n"})
    build(daemon, ctx, "-t", "args", "--build-arg", "V=1")
    out = build(daemon, ctx, "-t", "args", "--build-arg", "V=2").stdout.decode()
    assert "Running in" in out
    assert run(daemon, "args") == "v=2\n"
    again = build(daemon, ctx, "-t", "args", "--build-arg", "V=2").stdout.decode()
    assert "Running in" not in again


def test_no_cache_runs_every_step(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": CACHED, "data.txt": "v1\n"})
    build(daemon, ctx, "-t", "nocache")
    out = build(daemon, ctx, "-t", "nocache", "--no-cache").stdout.decode()
    assert "Using cache" not in out and out.count("Running in") == 2


# -- context and .dockerignore --------------------------------------------------------------------


def test_dockerignored_files_are_absent(daemon, tmp_path):
    ctx = write(tmp_path, {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n",
        ".dockerignore": "secrets\n*.log\n!keep.log\n**/*.tmp\n",
        "app.txt": "a", "secrets/key": "k", "debug.log": "d", "keep.log": "k", "deep/er/x.tmp": "t",
        "deep/er/y.txt": "y",
    })
    build(daemon, ctx, "-t", "ignored")
    files = sorted(run(daemon, "ignored").split())
    assert files == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app.txt", "/ctx/deep/er/y.txt", "/ctx/keep.log"]


def test_daemon_applies_dockerignore_to_a_context_sent_whole(daemon, tmp_path):
    """A client that sends everything (curl with a tar) still gets Docker's exclusions."""
    import io

    from berth.cli.client import Client

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {"Dockerfile": b"FROM busybox\nCOPY . /ctx/\n", ".dockerignore": b"ignored.txt\n",
                           "ignored.txt": b"no", "kept.txt": b"yes"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    resp = Client(daemon.host).open("POST", "/build?t=whole", None, buf.getvalue(),
                                     headers={"Content-Type": "application/x-tar"})
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert not any("error" in m for m in lines), lines
    assert any(isinstance(m.get("aux"), dict) and m["aux"]["ID"].startswith("sha256:") for m in lines)
    assert sorted(run(daemon, "whole", "ls", "-A", "/ctx").split()) == [".dockerignore", "Dockerfile", "kept.txt"]


def test_dockerfile_from_another_path_and_labels_from_the_command_line(daemon, tmp_path):
    ctx = write(tmp_path, {"build/Custom.dockerfile": "FROM busybox\nRUN true\n"})
    build(daemon, ctx, "-f", str(tmp_path / "build/Custom.dockerfile"), "-t", "custom", "--label", "team=core")
    assert inspect(daemon, "custom")["Config"]["Labels"] == {"team": "core"}


# -- failures ---------------------------------------------------------------------------------------


def test_failing_run_stops_the_build_with_its_exit_code_and_tags_nothing(daemon, tmp_path):
    before = set(containers(daemon))
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo about to fail && exit 3\nRUN echo never\n"})
    result = build(daemon, ctx, "-t", "failed", ok=False)
    assert result.returncode == 3
    assert "about to fail" in result.stdout.decode()
    assert "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3" in result.stderr.decode()
    assert "never" not in result.stdout.decode()
    assert daemon.cli("image", "inspect", "failed").returncode != 0
    assert set(containers(daemon)) == before


def test_rm_false_keeps_the_failed_container(daemon, tmp_path):
    before = set(containers(daemon))
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN exit 5\n"})
    result = build(daemon, ctx, "--rm=false", ok=False)
    assert result.returncode == 5
    left = set(containers(daemon)) - before
    assert len(left) == 1
    daemon.cli("rm", "-f", *left)


def test_parse_error_names_the_line_and_instruction(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN true\nCOPY --bogus=1 a b\n"})
    result = build(daemon, ctx, ok=False)
    assert result.returncode != 0
    assert "dockerfile parse error line 3: COPY: unknown flag: --bogus" in result.stderr.decode()


def test_missing_source_is_a_clear_error(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY nothere.txt /x\n"})
    result = build(daemon, ctx, ok=False)
    assert result.returncode == 1
    assert "nothere.txt" in result.stderr.decode() and "not found in build context" in result.stderr.decode()


def test_add_from_an_unreachable_url_is_a_clear_error(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nADD http://127.0.0.1:9/file.txt /file.txt\n"})
    result = build(daemon, ctx, ok=False)
    assert result.returncode == 1
    assert "cannot download http://127.0.0.1:9/file.txt" in result.stderr.decode()


def test_add_from_a_reachable_url_downloads_it(daemon, tmp_path):
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from the web\n")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD {url} /dl/\n"})
        build(daemon, ctx, "-t", "downloaded")
    finally:
        server.shutdown()
        server.server_close()
    assert run(daemon, "downloaded", "sh", "-c", "cat /dl/remote.txt; stat -c %a /dl/remote.txt") == \
        "from the web\n600\n"


# -- output options --------------------------------------------------------------------------------


def test_quiet_prints_only_the_id_and_iidfile_records_it(daemon, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV Q=1\n"})
    iid = tmp_path / "iid"
    out = build(daemon, ctx, "-q", "--iidfile", str(iid), "-t", "quiet").stdout.decode()
    assert out.strip().startswith("sha256:") and len(out.strip().splitlines()) == 1
    assert iid.read_text() == out.strip() == inspect(daemon, "quiet")["Id"]


# -- real clients ----------------------------------------------------------------------------------


def test_docker_cli_legacy_builder_builds_and_runs(daemon, tmp_path):
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.path.exists(docker):
        missing_peer("the docker CLI is not installed", "apt-get install docker.io (bash .ci/peers does)")
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n", "msg": "via docker\n"})
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run([docker, "build", "-t", "x", "."], cwd=ctx, env=env, capture_output=True, timeout=180)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert "Successfully tagged x:latest" in result.stdout.decode()
    ran = subprocess.run([docker, "run", "--rm", "x"], env=env, capture_output=True, timeout=60)
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout.decode() == "via docker\n"
    failed = subprocess.run([docker, "build", "-"], input=b"FROM busybox\nRUN exit 7\n", env=env,
                            capture_output=True, timeout=120)
    assert failed.returncode == 7


def test_berth_and_docker_cli_send_contexts_that_share_the_cache(daemon, tmp_path):
    """The same directory packed by either client gives the same COPY checksums: each rebuilds the other's
    image from the cache (files, modes, a symlink, a hard link, a .dockerignore'd file)."""
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.path.exists(docker):
        missing_peer("the docker CLI is not installed", "apt-get install docker.io (bash .ci/peers does)")
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY . /ctx/\nCOPY sub /sub\n", "sub/a": "a\n",
                           "sub/run.sh": "#!/bin/sh\n", "skip.log": "no\n", ".dockerignore": "*.log\n"})
    os.chmod(os.path.join(ctx, "sub", "run.sh"), 0o755)
    os.symlink("a", os.path.join(ctx, "sub", "link"))
    os.link(os.path.join(ctx, "sub", "a"), os.path.join(ctx, "hard"))
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_BUILDKIT": "0"}
    by_docker = subprocess.run([docker, "build", "-t", "shared:docker", "."], cwd=ctx, env=env,
                               capture_output=True, timeout=180)
    assert by_docker.returncode == 0, by_docker.stderr.decode()
    by_berth = build(daemon, ctx, "-t", "shared:berth").stdout.decode()
    assert by_berth.count("Using cache") == 2, by_berth
    assert inspect(daemon, "shared:berth")["Id"] == inspect(daemon, "shared:docker")["Id"]


def test_docker_py_images_build(daemon, tmp_path):
    docker = pytest.importorskip("docker")
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nARG WHO\nRUN echo hi $WHO > /hi\nCMD [\"cat\", \"/hi\"]\n"})
    client = docker.DockerClient(base_url=daemon.host, version="1.45", timeout=120)
    try:
        image, logs = client.images.build(path=ctx, tag="pybuilt:1", buildargs={"WHO": "py"}, rm=True)
        assert "pybuilt:1" in image.tags
        assert any("Successfully built" in (chunk.get("stream") or "") for chunk in logs)
        assert client.containers.run("pybuilt:1", remove=True) == b"hi py\n"
        with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 4"):
            client.images.build(path=write(tmp_path / "bad", {"Dockerfile": "FROM busybox\nRUN exit 4\n"}))
    finally:
        client.close()


# -- RUN forms, SHELL, args, platform, network, tags ---------------------------------------------


def test_run_exec_form_and_shell_instruction(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": """\
        FROM busybox
        RUN ["/bin/sh", "-c", "echo exec-form > /exec"]
        SHELL ["/bin/sh", "-e", "-c"]
        RUN echo "shell=$0" > /shell
        CMD ["cat", "/exec", "/shell"]
        """})
    build(daemon, ctx, "-t", "forms")
    assert run(daemon, "forms") == "exec-form\nshell=/bin/sh\n"
    assert inspect(daemon, "forms")["Config"]["Shell"] == ["/bin/sh", "-e", "-c"]


def test_arg_scoping_env_precedence_and_proxy_args(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": """\
        ARG TAG=latest
        ARG GLOBAL=from-global
        FROM busybox:${TAG}
        ARG GLOBAL
        ARG SHADOWED=arg
        ENV SHADOWED=env
        RUN echo "$GLOBAL $SHADOWED $http_proxy ${TAG:-no-tag-in-stage}" > /out
        CMD ["cat", "/out"]
        """})
    out = build(daemon, ctx, "-t", "scoped", "--build-arg", "http_proxy=http://proxy.invalid:3128",
                "--build-arg", "UNUSED=1").stdout.decode()
    assert run(daemon, "scoped") == "from-global env http://proxy.invalid:3128 no-tag-in-stage\n"
    assert "build-args [UNUSED] were not consumed" in out
    created_by = [line for line in daemon.cli("history", "--no-trunc", "scoped").stdout.decode().splitlines()
                  if "echo" in line]
    assert created_by and "proxy.invalid" not in created_by[0]  # proxy args never reach the history


def test_several_tags_and_matching_platform(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM --platform=linux busybox\nENV T=1\n"})
    out = build(daemon, ctx, "-t", "multi-a", "-t", "multi-b:v2").stdout.decode()
    assert "Successfully tagged multi-a:latest" in out and "Successfully tagged multi-b:v2" in out
    assert inspect(daemon, "multi-a")["Id"] == inspect(daemon, "multi-b:v2")["Id"]


def test_foreign_platform_is_refused_clearly(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM --platform=linux/s390x busybox\n"})
    result = build(daemon, ctx, ok=False)
    assert result.returncode != 0 and "cannot build for platform 'linux/s390x'" in result.stderr.decode()


def test_run_uses_the_build_network(daemon, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN cat /proc/net/dev | tail -n +3 | cut -d: -f1 > /ifaces\n"
                                         "CMD [\"cat\", \"/ifaces\"]\n"})
    build(daemon, ctx, "-t", "netnone", "--network", "none")
    assert run(daemon, "netnone").split() == ["lo"]


def test_stdin_dockerfile_without_context(daemon):
    result = daemon.cli("build", "-t", "from-stdin", "-", input=b"FROM busybox\nCMD [\"echo\", \"stdin\"]\n")
    assert result.returncode == 0, result.stderr.decode()
    assert run(daemon, "from-stdin") == "stdin\n"
