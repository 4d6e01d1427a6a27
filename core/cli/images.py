"""Image verbs: images (image ls), image bootstrap."""

from __future__ import annotations

import argparse

from berth.cli import format as fmt
from berth.cli.client import Client
from berth.humanize import size


def setup_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")


def run_images(client: Client, opts: argparse.Namespace) -> int:
    images = client.get("/images/json", all=opts.all)
    if opts.quiet:
        seen = []
        for i in images:
            short = i["Id"] if opts.no_trunc else i["Id"].split(":")[-1][:12]
            if short not in seen:
                seen.append(short)
                print(short)
        return 0
    rows = []
    for i in images:
        short = i["Id"] if opts.no_trunc else i["Id"].split(":")[-1][:12]
        for tag in i["RepoTags"] or ["<none>:<none>"]:
            repo, _, name = tag.rpartition(":")
            rows.append([repo, name, short, fmt.ago(i["Created"]), size(i["Size"])])
    fmt.table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows)
    return 0


def setup_image(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("ls", help="list images")
    setup_images(ls)
    boot = sub.add_parser("bootstrap", help="build an image from the host's static busybox, without a registry")
    boot.add_argument("name", nargs="?", default="busybox", help="image reference to create (default busybox:latest)")
    boot.add_argument("--busybox", default="/bin/busybox", help="path of a static busybox on the daemon's host")


def run_image(client: Client, opts: argparse.Namespace) -> int:
    if opts.action == "ls":
        return run_images(client, opts)
    reference = opts.name if ":" in opts.name.rsplit("/", 1)[-1] else opts.name + ":latest"
    result = client.post("/berth/images/bootstrap", reference=reference, busybox=opts.busybox)
    print(f"Bootstrapped {', '.join(result['RepoTags'])}: {result['Id']}")
    return 0
