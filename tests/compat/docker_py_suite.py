#!/usr/bin/env python3
"""Run docker-py's own integration suite against a private berthd and against the real dockerd.

    python tests/compat/docker_py_suite.py [--berth-only | --docker-only] [-k EXPR] [--results DIR]

docker-py's ``tests/`` (and its ``docker`` package) at tag 7.1.0 come from a git
directory (``--docker-py-git``, ``$DOCKER_PY_GIT``, or the lab mirror) through
``git archive`` into a temp dir. Each daemon gets busybox tagged as every image
the tests use; the suite runs with pytest inside the daemon's network namespace;
the runner prints both pass counts and every test whose outcome differs, then
removes what it made. Exit status: 0 when every test that passed on dockerd
passed on berthd (or only one daemon ran), 1 when some did not, 0 with a SKIP
line when docker-py's source is not there. Must run as root (namespaces).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import dockerpy_source
import junit_results
from targets import BerthTarget, DockerTarget

COMPAT_DIR = os.path.dirname(os.path.abspath(__file__))
# dockerd 20.10 speaks at most API 1.41; both daemons are asked the same version so the same tests run.
DEFAULT_API_VERSION = "1.41"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--berth-only", action="store_true", help="run against berthd only")
    only.add_argument("--docker-only", action="store_true", help="run against the real dockerd only")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression selecting docker-py tests")
    parser.add_argument("--docker-py-git", help="docker-py git dir (default: $DOCKER_PY_GIT or the lab mirror)")
    parser.add_argument("--ref", default=dockerpy_source.DEFAULT_REF, help="docker-py tag or commit (%(default)s)")
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION, help="API version the tests use")
    parser.add_argument("--storage-driver", default="overlay", help="berthd's graph driver (%(default)s)")
    parser.add_argument("--timeout", type=int, default=180, help="per-test time limit in seconds")
    parser.add_argument("--results", help="keep junit XML, pytest output and berthd's log in this directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    git_dir = dockerpy_source.find_git_dir(args.docker_py_git)
    if git_dir is None or not dockerpy_source.has_ref(git_dir, args.ref):
        print(f"SKIP: docker-py's source at {args.ref} is not available (looked in --docker-py-git, $DOCKER_PY_GIT "
              f"and {dockerpy_source.DEFAULT_GIT_DIR}); fetch docker/docker-py or point DOCKER_PY_GIT at a clone")
        return 0
    if os.geteuid() != 0:
        print("the runner needs root: it makes a network namespace and runs berthd in it", file=sys.stderr)
        return 2
    targets = _chosen_targets(args)
    if not targets:
        return 0
    with tempfile.TemporaryDirectory(prefix="berth-dockerpy-", dir="/var/tmp") as work:
        tree = os.path.join(work, "docker-py")
        os.makedirs(tree)
        dockerpy_source.extract(git_dir, args.ref, tree)
        results = {target_name: _run_against(make(work), tree, work, args) for target_name, make in targets}
    return _report(results)


def _chosen_targets(args: argparse.Namespace) -> list[tuple[str, object]]:
    targets = []
    if not args.docker_only:
        targets.append(("berthd", lambda work: BerthTarget(work, args.storage_driver)))
    if not args.berth_only:
        absent = DockerTarget.available()
        if absent:
            print(f"SKIP dockerd: {absent}")
        else:
            targets.append(("dockerd", lambda work: DockerTarget()))
    return targets


def _run_against(target, tree: str, work: str, args: argparse.Namespace) -> dict:
    """Prepare ``target``, run the suite against it, always clean up; the tests' outcomes."""
    junit = os.path.join(work, f"{target.name}.xml")
    record = os.path.join(work, f"{target.name}.created")
    output = os.path.join(work, f"{target.name}.out")
    started = time.monotonic()
    try:
        target.prepare()
        _run_pytest(target, tree, junit, record, output, args)
    finally:
        daemon_log = target.log()
        removed = target.cleanup(record)
        print(f"{target.name}: removed {len(removed)} leftover(s): {', '.join(removed) or 'none'}")
        for note in target.notes():
            print(f"{target.name}: WARNING: {note}")
        _keep_results(args.results, target.name, [junit, output], daemon_log)
    print(f"{target.name}: suite ran in {time.monotonic() - started:.0f}s")
    return junit_results.read_outcomes(junit)


def _run_pytest(target, tree: str, junit: str, record: str, output: str, args: argparse.Namespace) -> None:
    """docker-py's ``tests/integration`` against ``target``, from inside the target's network namespace."""
    home = tempfile.mkdtemp(prefix=f"home-{target.name}-", dir=os.path.dirname(junit))
    config_dir = os.path.join(home, ".docker")  # holds docker-py's contexts too: nothing shared between runs
    os.makedirs(config_dir)
    with open(os.path.join(config_dir, "config.json"), "w") as f:
        f.write("{}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": target.host, "DOCKER_TEST_API_VERSION": args.api_version, "HOME": home,
                "DOCKER_CONFIG": config_dir, "PYTHONPATH": f"{tree}{os.pathsep}{COMPAT_DIR}",
                "BERTH_COMPAT_RECORD": record, "BERTH_COMPAT_TIMEOUT": str(args.timeout)})
    command = ["nsenter", f"--net=/run/netns/{target.netns}", sys.executable, "-m", "pytest", "tests/integration",
               "-p", "dockerpy_plugin", "-p", "no:cacheprovider", f"--junitxml={junit}", "-v"]
    if args.keyword:
        command += ["-k", args.keyword]
    print(f"{target.name}: running docker-py's integration suite (DOCKER_HOST={target.host})", flush=True)
    with open(output, "wb") as out:
        subprocess.run(command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if not os.path.exists(junit):
        with open(output, errors="replace") as out:
            raise RuntimeError(f"pytest wrote no junit report for {target.name}:\n{out.read()[-4000:]}")


def _keep_results(results_dir: str | None, name: str, paths: list[str], daemon_log: str) -> None:
    if not results_dir:
        return
    os.makedirs(results_dir, exist_ok=True)
    for path in paths:
        if os.path.exists(path):
            shutil.copy(path, results_dir)
    if daemon_log:
        with open(os.path.join(results_dir, f"{name}.log"), "w") as f:
            f.write(daemon_log)


def _report(results: dict[str, dict]) -> int:
    for name, outcomes in results.items():
        print(junit_results.format_counts(name, outcomes))
    if set(results) != {"berthd", "dockerd"}:
        return 0
    differences = junit_results.differing(results["berthd"], results["dockerd"])
    print(f"\n{len(differences)} test(s) differ (berthd outcome / dockerd outcome):")
    for test_id, berth, docker in differences:
        print(f"  {test_id}: {berth.status} / {docker.status}")
        for name, outcome in (("berthd", berth), ("dockerd", docker)):
            if outcome.reason:
                print(f"      {name}: {outcome.reason}")
    regressions = [d for d in differences if d[2].status == "passed"]
    print(f"\n{len(regressions)} test(s) pass on dockerd but not on berthd")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
