"""Image verbs: images, image (group), history, tag, rmi, save, load, import, and berth's image bootstrap."""

from __future__ import annotations

import os
import sys

from berth.cli import format as fmt
from berth.cli import options
from berth.cli.client import APIError, Client, quote_ref
from berth.humanize import size

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing or argparse
    import argparse
    from typing import BinaryIO

_CHUNK = 1 << 20


def _short(image_id: str, no_trunc: bool = False) -> str:
    return image_id if no_trunc else image_id.split(":")[-1][:12]


def _filters(values: list[str] | None) -> dict[str, list[str]] | None:
    out: dict[str, list[str]] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"invalid filter {item!r}: expected KEY=VALUE (reference=, dangling=, label=, before=, since=)")
        out.setdefault(key.strip().lower(), []).append(value)
    return out or None


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------


IMAGES_OPTIONS: tuple[options.Option, ...] = (
    ((), "arg?", "repository", None, "only images of this repository[:tag]"),
    (("-a", "--all"), "bool", "all", False, "show all images (default hides intermediate images)"),
    (("-q", "--quiet"), "bool", "quiet", False, "only show image IDs"),
    (("--digests",), "bool", "digests", False, "show digests"),
    (("-f", "--filter"), "list", "filter", [],
     "filter output: reference=GLOB, dangling=true|false, label=K[=V], before=IMAGE, since=IMAGE"),
    (("--format",), "string", "format", None,
     "Go-template subset per image, e.g. '{{.Repository}}:{{.Tag}}'; 'json' for JSON lines"),
    (("--no-trunc",), "bool", "no_trunc", False, "don't truncate output"),
)

#: verbs the fast path may parse without argparse (see berth.cli.options)
FAST_OPTIONS = {"images": IMAGES_OPTIONS}


def setup_images(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, IMAGES_OPTIONS)


def _image_rows(images: list[dict], opts: argparse.Namespace) -> list[dict]:
    rows = []
    for i in images:
        tags = i.get("RepoTags") or []
        digests = i.get("RepoDigests") or []
        pairs = [(t.rpartition(":")[0], t.rpartition(":")[2]) for t in tags] or \
                [(d.partition("@")[0], "<none>") for d in digests[:1]] or [("<none>", "<none>")]
        for repo, tag in pairs:
            digest = next((d.partition("@")[2] for d in digests if d.partition("@")[0] == repo), "<none>")
            rows.append({"Repository": repo, "Tag": tag, "Digest": digest, "ID": _short(i["Id"], opts.no_trunc),
                         "CreatedSince": fmt.ago(i["Created"]), "CreatedAt": i["Created"], "Size": size(i["Size"]),
                         "Containers": i.get("Containers", -1)})
    return rows


def run_images(client: Client, opts: argparse.Namespace) -> int:
    filters = _filters(opts.filter) or {}
    if opts.repository:
        filters.setdefault("reference", []).append(opts.repository)
    images = client.get("/images/json", all=opts.all, filters=filters or None, digests=opts.digests or None)
    if opts.quiet:
        seen: list[str] = []
        for i in images:
            short = _short(i["Id"], opts.no_trunc)
            if short not in seen:
                seen.append(short)
                print(short)
        return 0
    rows = _image_rows(images, opts)
    if opts.format:
        import json  # lazily: json pulls in re, and `berth images` must start fast

        from berth.cli.templates import render

        for row in rows:
            print(json.dumps(row) if opts.format in ("json", "{{json .}}") else render(opts.format, row))
        return 0
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if opts.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    fmt.table(headers, [[r["Repository"], r["Tag"], *([r["Digest"]] if opts.digests else []), r["ID"],
                         r["CreatedSince"], r["Size"]] for r in rows])
    return 0


# ---------------------------------------------------------------------------
# inspect, history, tag, rmi, prune
# ---------------------------------------------------------------------------


def setup_image_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Go-template subset: {{json .}} or {{.Field.Sub}}")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run_image_inspect(client: Client, opts: argparse.Namespace) -> int:
    results, failed = [], 0
    for name in opts.images:
        try:
            results.append(client.get(f"/images/{quote_ref(name)}/json"))
        except APIError as exc:
            if exc.status != 404:
                raise
            print(f"Error: No such image: {name}", file=sys.stderr)
            failed = 1
    if opts.format:
        from berth.cli.templates import render

        for r in results:
            print(render(opts.format, r))
    else:
        import json
        print(json.dumps(results, indent=4))
    return failed


def setup_history(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-H", "--human", action=argparse.BooleanOptionalAction, default=True,
                   help="print sizes and dates in human readable format (default true)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")


def run_history(client: Client, opts: argparse.Namespace) -> int:
    entries = client.get(f"/images/{quote_ref(opts.image)}/history")
    if opts.quiet:
        for e in entries:
            print(e["Id"] if opts.no_trunc or e["Id"] == "<missing>" else _short(e["Id"]))
        return 0
    rows = []
    for e in entries:
        created_by = e.get("CreatedBy") or ""
        if not opts.no_trunc:
            created_by = fmt.truncate(created_by, 45)
        ident = e["Id"] if opts.no_trunc or e["Id"] == "<missing>" else _short(e["Id"])
        created = fmt.ago(e["Created"]) if opts.human else str(e["Created"])
        rows.append([ident, created, created_by, size(e["Size"]) if opts.human else str(e["Size"]), e.get("Comment") or ""])
    fmt.table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows)
    return 0


def setup_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def run_tag(client: Client, opts: argparse.Namespace) -> int:
    target = opts.target
    last = target.rsplit("/", 1)[-1]
    repo, tag = (target.rsplit(":", 1) if ":" in last and "@" not in target else (target, "latest"))
    client.post(f"/images/{quote_ref(opts.source)}/tag", repo=repo, tag=tag)
    return 0


def setup_rmi(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")


def run_rmi(client: Client, opts: argparse.Namespace) -> int:
    failed = 0
    for name in opts.images:
        try:
            records = client.delete(f"/images/{quote_ref(name)}", force=opts.force or None,
                                    noprune=opts.no_prune or None)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
            continue
        for record in records or []:
            for key, value in record.items():
                print(f"{key}: {value}")
    return failed


def setup_image_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="label=K[=V]")


def run_image_prune(client: Client, opts: argparse.Namespace) -> int:
    if not opts.force:
        what = "all images without at least one container associated to them" if opts.all else "all dangling images"
        sys.stderr.write(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    filters = _filters(opts.filter) or {}
    filters["dangling"] = ["false" if opts.all else "true"]
    result = client.post("/images/prune", filters=filters)
    deleted = result.get("ImagesDeleted") or []
    if deleted:
        print("Deleted Images:")
        for record in deleted:
            for key, value in record.items():
                print(f"{key.lower()}: {value}")
        print()
    print(f"Total reclaimed space: {size(result.get('SpaceReclaimed', 0))}")
    return 0


# ---------------------------------------------------------------------------
# save, load, import
# ---------------------------------------------------------------------------


def _copy_body(resp, out: BinaryIO) -> None:
    while chunk := resp.read1(_CHUNK):
        out.write(chunk)
    out.flush()


def _output(path: str | None, what: str) -> tuple[BinaryIO, bool]:
    if path and path != "-":
        return open(path, "wb"), True
    if sys.stdout.isatty():
        raise SystemExit(f"Cowardly refusing to {what} to a terminal. Use the -o flag or redirect")
    return sys.stdout.buffer, False


def setup_save(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")


def run_save(client: Client, opts: argparse.Namespace) -> int:
    out, close = _output(opts.output, "save")
    tmp_ok = False
    try:
        if len(opts.images) == 1:
            resp = client.open("GET", f"/images/{quote_ref(opts.images[0])}/get")
        else:
            resp = client.open("GET", "/images/get", {"names": ",".join(opts.images)})
        _copy_body(resp, out)
        tmp_ok = True
    finally:
        if close:
            out.close()
            if not tmp_ok:
                os.unlink(opts.output)  # never leave a truncated archive behind
    return 0


def _print_json_stream(resp) -> int:
    code = 0
    for line in resp.lines():
        if not line.strip():
            continue
        import json
        msg = json.loads(line)
        if msg.get("error") or msg.get("errorDetail"):
            print((msg.get("errorDetail") or {}).get("message") or msg.get("error"), file=sys.stderr)
            code = 1
        elif msg.get("stream"):
            sys.stdout.write(msg["stream"])
        elif msg.get("status"):
            print(msg["status"])
    return code


def setup_load(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", help="read from a tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")


def run_load(client: Client, opts: argparse.Namespace) -> int:
    if opts.input:
        source: BinaryIO = open(opts.input, "rb")
    else:
        if sys.stdin.isatty():
            raise SystemExit("requested load from stdin, but stdin is empty (use -i FILE or redirect)")
        source = sys.stdin.buffer
    with source:
        resp = client.open("POST", "/images/load", {"quiet": opts.quiet or None}, body=source,
                           headers={"Content-Type": "application/x-tar"})
        return _print_json_stream(resp)


def setup_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[], help="apply a Dockerfile instruction to the image")
    p.add_argument("-m", "--message", default="", help="set the commit message for the imported image")
    p.add_argument("--platform", help="set the platform (only this host's is supported)")


def run_import(client: Client, opts: argparse.Namespace) -> int:
    if "://" in opts.source:
        raise SystemExit(f"importing from a URL ({opts.source}) is not supported: download it and import the file")
    source = sys.stdin.buffer if opts.source == "-" else open(opts.source, "rb")
    repo, tag = None, None
    if opts.reference:
        last = opts.reference.rsplit("/", 1)[-1]
        repo, tag = opts.reference.rsplit(":", 1) if ":" in last else (opts.reference, None)
    params = {"fromSrc": "-", "repo": repo, "tag": tag, "message": opts.message or None,
              "changes": "\n".join(opts.change) or None}
    try:
        resp = client.open("POST", "/images/create", params, body=source, headers={"Content-Type": "application/x-tar"})
        return _print_json_stream(resp)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


# ---------------------------------------------------------------------------
# the image group
# ---------------------------------------------------------------------------

IMAGE_COMMANDS: dict[str, tuple[str, str, str]] = {
    "ls": ("images", "images", "List images"),
    "list": ("images", "images", "List images"),
    "inspect": ("images", "image_inspect", "Display detailed information on one or more images"),
    "history": ("images", "history", "Show the history of an image"),
    "tag": ("images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rm": ("images", "rmi", "Remove one or more images"),
    "prune": ("images", "image_prune", "Remove unused images"),
    "save": ("images", "save", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "load": ("images", "load", "Load an image from a tar archive or STDIN"),
    "import": ("images", "import", "Import the contents from a tarball to create a filesystem image"),
    "pull": ("registry", "pull", "Download an image from a registry"),
    "push": ("registry", "push", "Upload an image to a registry"),
    "bootstrap": ("images", "bootstrap", "Build busybox from the host's static busybox, without a registry"),
}


def setup_image(p: argparse.ArgumentParser) -> None:
    from berth.cli.main import add_subcommands

    add_subcommands(p, IMAGE_COMMANDS)


def run_image(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.main import run_subcommand

    return run_subcommand(client, opts)


def setup_bootstrap(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="busybox", help="image reference to create (default busybox:latest)")
    p.add_argument("--busybox", default="/bin/busybox", help="path of a static busybox on the daemon's host")


def run_bootstrap(client: Client, opts: argparse.Namespace) -> int:
    reference = opts.name if ":" in opts.name.rsplit("/", 1)[-1] else opts.name + ":latest"
    result = client.post("/berth/images/bootstrap", reference=reference, busybox=opts.busybox)
    print(f"Bootstrapped {', '.join(result['RepoTags'])}: {result['Id']}")
    return 0
