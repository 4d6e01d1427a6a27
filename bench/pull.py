"""Pull benchmark: berth's registry client vs ``skopeo copy`` (and docker/podman when installed).

Starts a private distribution registry on 127.0.0.1, pushes with skopeo a
3-layer image (busybox + 4 MiB + 2 MiB of incompressible data) and a second image
sharing only its base layer, then measures, in one run:

* cold pull: an empty data-root (berth, vfs) / an empty OCI dir (skopeo)
* shared-base pull: the second image after the first (berth skips the base layer)

Prints medians in ms and berth's ratio to skopeo. Usage:
``/opt/berth/venv/bin/python bench/pull.py [--runs N]``. Never used by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import registry_fixtures as rf  # noqa: E402


def make_engine(root: str):
    from berth import pluginmanager as plugins
    from berth.defaults import GraphDefaults
    from berth.drivers import GraphDriver
    from berth.events import EventBus
    from berth.images.store import ImageStore
    from berth.naivediff import NaiveDiff
    from berth.plugins.graphdrivers.vfs import VfsDriver

    driver = VfsDriver(root=os.path.join(root, "vfs"))
    facade = GraphDriver(None, "vfs", driver)  # type: ignore[arg-type]
    facade.pm = plugins.build_manager(plugins.GRAPH, driver, "vfs", [GraphDefaults(), NaiveDiff(facade)])
    return types.SimpleNamespace(images=ImageStore(root, facade), events=EventBus(), graph=facade,
                                 config=types.SimpleNamespace(data_root=root, insecure_registries=[]))


def berth_pull(root: str, names: list[str]) -> list[float]:
    """Pull ``names`` in order into one fresh data-root; seconds per pull."""
    from berth.registry import reference as refs
    from berth.registry.progress import NullProgress
    from berth.registry.service import RegistryService

    engine = make_engine(root)
    svc = RegistryService(engine)
    times = []
    try:
        for name in names:
            start = time.perf_counter()
            asyncio.run(svc.pull(refs.parse(name), NullProgress()))
            times.append(time.perf_counter() - start)
    finally:
        engine.images.close()
    return times


def skopeo_pull(dest: str, names: list[str]) -> list[float]:
    times = []
    for name in names:
        start = time.perf_counter()
        subprocess.run([rf.SKOPEO, "copy", "-q", "--src-tls-verify=false", f"docker://{name}",
                        f"oci:{dest}:{name.rsplit('/', 1)[-1].replace(':', '-')}"], check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    base = tempfile.mkdtemp(prefix="berth-bench-pull-", dir="/var/tmp")
    registry = None
    try:
        os.makedirs(os.path.join(base, "reg"))
        registry = rf.RegistryServer(os.path.join(base, "reg")).start()
        bb = rf.busybox_layer()
        first = rf.build_oci_layout(os.path.join(base, "img1"),
                                    [bb, rf.data_layer("a", 4 << 20, 1), rf.data_layer("b", 2 << 20, 2)])
        rf.build_oci_layout(os.path.join(base, "img2"), [bb, rf.data_layer("c", 4 << 20, 3)])
        rf.skopeo_copy(f"oci:{base}/img1:latest", f"docker://{registry.host}/bench/cold:latest")
        rf.skopeo_copy(f"oci:{base}/img2:latest", f"docker://{registry.host}/bench/shared:latest")
        names = [f"{registry.host}/bench/cold:latest", f"{registry.host}/bench/shared:latest"]
        results: dict[str, list[list[float]]] = {"berth": [], "skopeo": []}
        for run in range(opts.runs):
            for tool, fn in (("berth", berth_pull), ("skopeo", skopeo_pull)):
                dest = os.path.join(base, f"{tool}-{run}")
                os.makedirs(dest)
                results[tool].append(fn(dest, names))
                subprocess.run(["rm", "-rf", dest], check=True)
        print(f"image: {len(first['layers'])} layers; {opts.runs} runs; medians in ms")
        print(f"{'case':<20}{'berth':>10}{'skopeo':>10}{'ratio':>8}")
        for i, case in enumerate(("cold pull", "shared-base pull")):
            b = statistics.median(r[i] for r in results["berth"]) * 1000
            s = statistics.median(r[i] for r in results["skopeo"]) * 1000
            print(f"{case:<20}{b:>10.0f}{s:>10.0f}{b / s:>8.2f}")
        for peer in ("docker", "podman"):
            if shutil.which(peer):
                print(f"({peer} is installed: measure it against a daemon in its own netns with "
                      f"/work/shared/peers/measure-peers.sh; not started from here)")
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
