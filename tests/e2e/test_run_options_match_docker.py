"""``berth run``/``create`` against the docker CLI (v28): the same options, and for every option the same request.

Both clients talk to a recording stand-in engine (:mod:`tests.recording_engine`)
that answers as berthd's API version, with the same environment (no user
config, no DOCKER_* variables) and working directory, stdout not a terminal.
The create bodies must be equal: ``Config``, ``HostConfig`` and
``NetworkingConfig`` with every field. Nothing the docker CLI fills in is
normalised away; only two lists are compared sorted, because the docker CLI
builds them by iterating a Go map, so their order changes from run to run:
``HostConfig.Binds`` (from the ``-v`` values) and ``Config.Env`` (the ``-e``
values, after the env files' lines).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile

import pytest

from berth.cli.runopts import RUN_OPTIONS
from tests.peers import missing_peer
from tests.recording_engine import CONTAINER_ID, RecordingEngine

DOCKER = "/usr/local/bin/docker"

#: flag sets for ``create ... busybox``: together they use every option (see test_flag_sets_use_every_option)
CREATE_FLAG_SETS = [
    "", "--name web", "--add-host h:1.2.3.4 --add-host g=::1 --add-host k:host-gateway --add-host v6:[::2]",
    "--annotation a=b --annotation c", "-a stdout", "-a STDIN --attach stderr", "--attach stdin -i",
    "--blkio-weight 500 --blkio-weight-device /dev/sda:200",
    "--cap-add net_admin --cap-add CAP_SYS_ADMIN --cap-drop all --cap-add net_admin",
    "--cgroup-parent /foo --cgroupns host", "--cgroupns private",
    "--cpu-period 100000 --cpu-quota 50000 --cpu-rt-period 1000 --cpu-rt-runtime 500",
    "-c 512 --cpus 1.5", "--cpus 3/4 --cpuset-cpus 0-1 --cpuset-mems 0", "-c 010 --cpu-shares=0x20",
    "--device /dev/null --device /dev/zero:/dev/z --device /dev/full:rw --device /dev/random:/dev/r:r",
    "--device vendor.com/class=name", "--device-cgroup-rule 'c 1:3 mr' --device-cgroup-rule 'b *:* rwm'",
    "--device-read-bps /dev/sda:10mb --device-write-bps /dev/sda:1g --device-read-iops /dev/sda:100 "
    "--device-write-iops /dev/sda:200",
    "--disable-content-trust", "--disable-content-trust=true",
    "--dns 8.8.8.8 --dns ::1 --dns-option ndots:2 --dns-opt timeout:1 --dns-search example.com --dns-search .",
    "--dns 127.0.0.1", "--domainname example.org -h myhost --hostname other",
    "--entrypoint /bin/sh", "--entrypoint ''", "--entrypoint=",
    "-e A=1 --env B=2 -e A=3 -e HOME -e UNSET_X --env-file env.list", "--expose 80 --expose 8000-8002/udp",
    "--gpus all", "--gpus 2", "--gpus '\"device=0,1\"'", "--gpus capabilities=compute,driver=nvidia",
    "--gpus count=all,options=a=b", "--group-add audio --group-add 1000",
    "--health-cmd true --health-interval 1m30s --health-retries 3 --health-start-interval 1s "
    "--health-start-period 10s --health-timeout 500ms", "--no-healthcheck", "--health-retries 2",
    "--init", "--init=false", "-i -t", "-it", "--interactive --tty",
    "--ip 172.30.100.104 --network mynet", "--ip6 2001:db8::33 --network mynet",
    "--ipc host --isolation default", "--ipc shareable", "--kernel-memory 10m",
    "-l a=b --label c --label-file labels.list", "--link other:alias --link plain",
    "--link other:alias --network mynet", "--link x --network host", "-v a::b", "--link-local-ip 169.254.1.1 --network mynet",
    "--log-driver json-file --log-opt max-size=10m --log-opt max-file=3", "--log-driver none",
    "--mac-address 92:d0:c6:0a:29:33", "--mac-address 92:d0:c6:0a:29:33 --network mynet",
    "-m 512m --memory-reservation 256m --memory-swap 1g --memory-swappiness 10",
    "--memory 1.5g --memory-swap -1", "--memory-swappiness 0",
    "--mount type=bind,src=/tmp,dst=/x,readonly",
    "--mount type=volume,source=v,target=/d,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=o=1",
    "--mount type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", "--mount type=bind,src=.,dst=/x,bind-propagation=rshared",
    "--mount type=bind,source=/tmp,target=/x,bind-recursive=disabled",
    "--mount type=bind,source=/tmp,target=/x,readonly,bind-recursive=writable",
    "--mount type=bind,source=/tmp,target=/x,readonly,bind-recursive=readonly,bind-propagation=rprivate",
    "--mount type=volume,target=/anon", "--mount type=image,source=busybox,target=/img,image-subpath=/bin",
    "--mount type=volume,src=v,dst=/v,volume-subpath=sub,ro=true", "--mount type=bind,src=/tmp,dst=/x,consistency=cached",
    "--mount type=bind,src=/tmp,dst=/x,bind-nonrecursive",
    "--network host", "--network none", "--net mynet", "--network mynet --network-alias a --net-alias b",
    "--network name=mynet,alias=x,ip=10.0.0.5,driver-opt=com.x=y,gw-priority=5", "--network name=a --network name=b",
    "--network container:abc", "--network mynet --network other",
    "--oom-kill-disable --oom-score-adj 500", "--oom-score-adj=-100", "--pid host", "--pid container:abc",
    "--pids-limit 100", "--pids-limit -1",
    "--platform linux/amd64", "--platform amd64", "--platform linux/arm64", "--platform linux/arm64/v8",
    "--platform linux/arm/v7", "--platform LINUX/X86_64",
    "--privileged", "-p 8080:80", "-p 80 -p 127.0.0.1:8081:81/udp -p 127.0.0.1::82", "-p 8000-8002:80-82",
    "-p 8000-8010:80", "-p [::1]:8080:80", "--publish published=8443,target=443,protocol=tcp", "-P --expose 90",
    "--publish-all", "--pull always", "--pull missing", "--pull never", "-q", "--quiet", "--read-only",
    "--restart always", "--restart on-failure:3", "--restart unless-stopped", "--restart no", "--restart ''",
    "--rm", "--rm=true --rm=false", "--runtime runc",
    "--security-opt no-new-privileges --security-opt label=disable", "--security-opt seccomp=unconfined",
    "--security-opt seccomp=seccomp.json", "--security-opt systempaths=unconfined",
    "--security-opt apparmor:unconfined", "--shm-size 128m", "--stop-signal SIGUSR1 --stop-timeout 20",
    "--stop-timeout 0", "--storage-opt size=10G", "--sysctl net.ipv4.ip_forward=1 --sysctl kernel.shmmax=100",
    "--tmpfs /run --tmpfs /tmp:rw,size=64m", "-t", "--ulimit nofile=1024:2048 --ulimit nproc=100 --ulimit core=-1",
    "--use-api-socket", "-u 1000:1000 --userns host --uts host", "--user nobody",
    "-v /tmp:/x -v vol:/y:ro -v /anon -v ./rel:/z -v /tmp:/w:rw,z -v /tmp:/x", "--volume /data",
    "--volume-driver local --volumes-from other:ro --volumes-from x", "-w /work", "--workdir=/w",
    "-e=X=1 -p80:80 -c5 -tl=a -it=false", "--cidfile cid.out",
]

#: ``run`` command lines: the create body and the requests after it (attach, wait, start) must match
RUN_FLAG_SETS = ["", "-d", "-dit", "--detach", "-a stdout", "-a stderr", "-i", "--rm", "--detach-keys ctrl-a,a",
                 "--sig-proxy=false", "-d -i", "--name x -d --rm"]

#: command lines both clients refuse: the exit code and the message must match (with "docker" read as "berth")
REFUSED = [
    "--foo busybox", "--cpus abc busybox", "-c x busybox", "--name", "--rm=maybe busybox", "-dx busybox",
    "--pull sometimes busybox", "--memory-swappiness 200 busybox", "--restart always --rm busybox",
    "--blkio-weight 70000 busybox", "--health-interval 5 busybox", "--health-interval -1s busybox",
    "--cpus 0.0000000001 busybox", "-e =x busybox", "--ulimit foo=1 busybox", "--ulimit nofile=2:1 busybox",
    "--mount type=x busybox", "--mount target=/x,foo=1 busybox", "--mount target=/x,bogus busybox",
    "--mount type=tmpfs,target=/x,volume-nocopy busybox", "--mount 'target=/x,\"a' busybox",
    "--mount type=bind,target=/x,bind-recursive=readonly busybox", "--device-cgroup-rule x busybox",
    "-m 1x busybox", "-m -1 busybox", "--shm-size abc busybox", "--add-host bad busybox",
    "--add-host h:notanip busybox", "--dns notanip busybox", "--dns-search -bad- busybox", "-l '' busybox",
    "-l 'a b=c' busybox", "--link a:b:c busybox", "-a stdfoo busybox", "--sysctl kernel.foo=1 busybox",
    "--device-read-bps sda:1 busybox", "--device-read-bps /dev/sda:x busybox", "--device-read-iops /dev/sda:-1 busybox",
    "--blkio-weight-device /dev/sda:5 busybox", "--gpus foo busybox", "--gpus count=1,count=2 busybox",
    "--network name=x,foo=bar busybox", "--network alias=x busybox", "-p 80:80:80:80/tcpx busybox", "-p abc busybox",
    "-p 1.2.3:80:80 busybox", "-p 8000-8001:80-90 busybox", "--expose 1:2 busybox", "--expose abc busybox",
    "--device relative busybox", "--device /dev/x:rwx:y busybox", "--pid bad busybox", "--uts bad busybox",
    "--userns bad busybox", "--cgroupns bad busybox", "--restart on-failure:x busybox", "--restart :1 busybox",
    "--log-driver none --log-opt a=b busybox", "--security-opt foo busybox", "--security-opt seccomp=/nonexistent busybox",
    "--storage-opt size busybox", "--no-healthcheck --health-cmd x busybox", "--mac-address zz busybox",
    "--network-alias a busybox", "--network a --network a busybox",
    "--network host --network mynet busybox", "--env-file /nonexistent busybox", "--label-file /nonexistent busybox",
    "--cpu-count 2 --io-maxiops 3 --cpu-percent 5 --io-maxbandwidth 1m busybox", "--platform foo busybox",
    "--platform linux/a/b/c busybox", "", "-d", "-v '' busybox", "-v /a:/b:/c:ro busybox",
    "--cidfile exists.cid busybox", "--cidfile /nonexistent/x busybox",
    "run -d -a stdout busybox", "run --sig-proxy=maybe busybox", "run -it busybox", "run --pull never missing-x",
]


class Clients:
    """The docker CLI and berth's, run the same way, each against a recording engine of its own (so that
    they can run at the same time)."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.engines = {name: RecordingEngine(os.path.join(workdir, f"{name}.sock")) for name in ("docker", "berth")}
        home = os.path.join(workdir, "home")
        os.makedirs(os.path.join(home, ".docker"), exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
        self.env.update(HOME=home, DOCKER_CONFIG=os.path.join(home, ".docker"), DOCKER_CLI_HINTS="false")

    def _start(self, client: str, argv: list[str], host: str | None) -> subprocess.Popen:
        self.engines[client].clear()
        program = [DOCKER] if client == "docker" else [sys.executable, "-m", "berth.cli.main"]
        return subprocess.Popen([*program, "-H", host or self.engines[client].host, *argv], env=self.env,
                                cwd=os.path.join(self.workdir, client), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def _finish(self, client: str, process: subprocess.Popen) -> tuple[subprocess.CompletedProcess, list]:
        stdout, stderr = process.communicate(timeout=60)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        return result, [r for r in self.engines[client].requests if r.path != "/_ping"]

    def run(self, client: str, argv: list[str], host: str | None = None) -> tuple[subprocess.CompletedProcess, list]:
        return self._finish(client, self._start(client, argv, host))

    def both(self, argv: list[str], host: str | None = None) -> tuple[tuple, tuple]:
        """(docker's (result, requests), berth's) for the same command line, run side by side."""
        processes = {client: self._start(client, argv, host) for client in ("docker", "berth")}
        return self._finish("docker", processes["docker"]), self._finish("berth", processes["berth"])

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    if not os.path.exists(DOCKER):
        missing_peer(f"the docker CLI is not installed at {DOCKER}", "apt-get install docker.io (bash .ci/peers does)")
    base = str(tmp_path_factory.mktemp("runopts"))
    for client in ("docker", "berth"):  # one working directory each, with the same files
        workdir = os.path.join(base, client)
        os.makedirs(workdir)
        with open(os.path.join(workdir, "env.list"), "w") as f:
            f.write("# comment\nFOO=bar\n  SPACED=x  \nHOME\nUNSET_X\n")
        with open(os.path.join(workdir, "labels.list"), "w") as f:
            f.write("a=1\nb\n# c\nc=3=4\n")
        with open(os.path.join(workdir, "seccomp.json"), "w") as f:
            f.write('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [ ]\n}\n')
        open(os.path.join(workdir, "exists.cid"), "w").close()
    clients = Clients(base)
    yield clients
    clients.close()


def create_request(requests: list) -> tuple[dict, dict] | None:
    """(query, body) of the first create request, with the Go-map-ordered lists sorted and the client's own
    working directory written as ``$PWD`` (each client runs in a directory of its own)."""
    creates = [r for r in requests if r.method == "POST" and r.path == "/containers/create"]
    if not creates:
        return None
    body = json.loads(re.sub(r"/[^\"]*/runopts\d*/(docker|berth)", "$PWD", json.dumps(creates[0].body)))
    body["Env"] = sorted(body["Env"]) if body.get("Env") else body.get("Env")
    binds = body["HostConfig"].get("Binds")
    body["HostConfig"]["Binds"] = sorted(binds) if binds else binds
    return creates[0].query, body


def exchange(requests: list) -> list[tuple[str, str, dict]]:
    """The requests after the create, as (method, path, query)."""
    return [(r.method, r.path, r.query) for r in requests if r.path != "/containers/create"]


# -- the options ---------------------------------------------------------------------------------------

def help_options(text: str) -> dict[str, tuple[str | None, str, str | None]]:
    """``--name`` -> (short form, value kind, default) from a docker-style ``--help``."""
    entries: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^\s+(?:-(\w), )?--([\w-]+)(?: ([\w-]+))?(?:\s{2,}(.*))?$", line)
        if match and line.lstrip().startswith("-"):
            short, name, kind, text_part = match.groups()
            current = entries[name] = [short, kind or "", text_part or ""]
        elif current is not None and line.startswith(" " * 10):
            current[2] += " " + line.strip()
    out = {}
    for name, (short, kind, description) in entries.items():
        default = re.search(r"\(default (.+)\)$", description.strip())
        out[name] = (short, kind, default.group(1) if default else None)
    return out


@pytest.mark.parametrize("verb", ["run", "create"])
def test_help_lists_dockers_options_with_their_short_forms_kinds_and_defaults(clients, verb):
    # berth's help never asks the daemon; docker's, when it reaches a Linux daemon, hides its four
    # Windows-only flags (--cpu-count...), so it is read here as it prints without a daemon
    (docker, _), (berth, _) = clients.both([verb, "--help"], host="unix:///nonexistent/docker.sock")
    assert berth.returncode == docker.returncode == 0
    theirs, ours = help_options(docker.stdout.decode()), help_options(berth.stdout.decode())
    assert len(theirs) == (104 if verb == "run" else 101)
    assert ours == theirs


def test_flag_sets_use_every_option():
    words = " ".join(CREATE_FLAG_SETS + RUN_FLAG_SETS + REFUSED)
    unused = [opt[0] for opt in RUN_OPTIONS if opt[0] and opt[1] != "help"
              and not any(re.search(rf"(^|\s){re.escape(flag)}(=|\s|$)", words) for flag in opt[0])]
    assert unused == []


# -- the requests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", CREATE_FLAG_SETS)
def test_create_sends_the_request_docker_sends(clients, flags):
    argv = ["create", *shlex.split(flags), "busybox", "sh", "-c", "true"]
    (docker, docker_requests), (berth, berth_requests) = clients.both(argv)
    assert docker.returncode == 0, docker.stderr.decode()
    assert berth.returncode == 0, berth.stderr.decode()
    assert create_request(berth_requests) == create_request(docker_requests)
    assert berth.stdout == docker.stdout


@pytest.mark.parametrize("flags", RUN_FLAG_SETS)
def test_run_sends_the_requests_docker_sends(clients, flags):
    argv = ["run", *shlex.split(flags), "busybox", "true"]
    (docker, docker_requests), (berth, berth_requests) = clients.both(argv)
    assert (berth.returncode, berth.stdout) == (docker.returncode, docker.stdout), berth.stderr.decode()
    assert create_request(berth_requests) == create_request(docker_requests)
    assert exchange(berth_requests) == exchange(docker_requests)


@pytest.mark.parametrize("argv", [["create", "--pull", "always", "busybox"], ["create", "missing-img"],
                                  ["create", "-q", "missing-img:1"], ["run", "-d", "missing-img"],
                                  ["create", "--platform", "linux/arm64", "--pull", "always", "busybox"]])
def test_pulls_as_docker_does(clients, argv):
    (docker, docker_requests), (berth, berth_requests) = clients.both(argv)
    assert (berth.returncode, berth.stdout) == (docker.returncode, docker.stdout), berth.stderr.decode()
    assert [(r.method, r.path, r.query) for r in berth_requests] == \
        [(r.method, r.path, r.query) for r in docker_requests]
    assert ("Unable to find image" in berth.stderr.decode()) == ("Unable to find image" in docker.stderr.decode())


@pytest.mark.parametrize("argv", [shlex.split(line) if line.split()[:1] in (["run"],) else
                                  ["create", *shlex.split(line)] for line in REFUSED])
def test_refusals_carry_dockers_message_and_exit_code(clients, argv):
    (docker, docker_requests), (berth, berth_requests) = clients.both(argv)
    assert berth.returncode == docker.returncode != 0
    assert berth.stderr.decode() == docker.stderr.decode().replace("docker", "berth")
    assert create_request(berth_requests) == create_request(docker_requests)


def test_cidfile_holds_the_id_once_the_container_exists(clients):
    path = os.path.join(clients.workdir, "berth", "cid.new")
    result, _ = clients.run("berth", ["create", "--cidfile", path, "busybox"])
    assert result.returncode == 0
    with open(path) as f:
        assert f.read() == CONTAINER_ID
    again, requests = clients.run("berth", ["create", "--cidfile", path, "busybox"])
    assert again.returncode == 1 and requests == []


def test_use_api_socket_copies_the_stored_logins_into_the_container(clients):
    config = {"auths": {"registry.example:5000": {"auth": "dXNlcjpwYXNz"}}}
    with open(os.path.join(clients.env["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump(config, f)
    try:
        (docker, docker_requests), (berth, berth_requests) = clients.both(["create", "--use-api-socket", "busybox"])
    finally:
        os.unlink(os.path.join(clients.env["DOCKER_CONFIG"], "config.json"))
    assert berth.returncode == docker.returncode == 0, berth.stderr.decode()
    assert create_request(berth_requests) == create_request(docker_requests)

    def copied(requests):
        (put,) = [r for r in requests if r.method == "PUT"]
        with tarfile.open(fileobj=io.BytesIO(put.raw)) as tar:
            member = tar.getmembers()[0]
            return put.path, put.query, member.name.lstrip("/"), member.mode, json.load(tar.extractfile(member))

    assert copied(berth_requests) == copied(docker_requests)


def test_kernel_memory_is_not_sent_and_berth_says_so(clients):
    (docker, docker_requests), (berth, berth_requests) = clients.both(["create", "--kernel-memory", "10m", "busybox"])
    assert create_request(berth_requests) == create_request(docker_requests)
    assert "KernelMemory" not in create_request(berth_requests)[1]["HostConfig"]
    assert "WARNING: --kernel-memory is ignored" in berth.stderr.decode()
