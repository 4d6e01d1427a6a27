"""The build: stages and steps of a parsed Dockerfile, run against the engine, with Docker's output.

Each step prints ``Step N/M : <instruction>``, then either `` ---> Using cache``
or its own output, then `` ---> <image id>``. Every step commits an image whose
parent is the previous step's (Docker's classic builder), which is what the
cache looks up. RUN runs in a container of the current image, on the build's
network, and its output is streamed from the container's json-file log.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import bz2
import lzma
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from berth import crashpoints, log
from berth.build import cache, fscopy, sources
from berth.build.context import BuildContext
from berth.build.instructions import DISPATCH
from berth.build.lexer import Lexer
from berth.build.parser import Dockerfile, DockerfileError, Instruction, Stage, parse_instruction
from berth.build.state import PROXY_ARGS, StageState, env_dict, host_architecture, json_copy, scratch_config
from berth.build.layers import layer_from_work
from berth.errors import BerthError, InvalidArgument, NotFound, NotImplementedYet
from berth.images.commit import commit_layer, create_child
from berth.images.store import Image

Emit = Callable[[dict[str, Any]], Awaitable[None]]


STDERR_COLOUR = "\x1b[91m{}\x1b[0m"  # dockerd's builder shows a step's stderr in red
RUN_LOG_POLL = 0.01  # seconds between looks at a RUN step's log once it has been read to its end


class BuildFailed(BerthError):
    """A step failed; ``code`` is the exit code Docker reports in ``errorDetail`` (1 when not a RUN)."""

    status = 500

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    """The build's settings, as ``POST /build`` takes them."""

    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    rm: bool = True
    force_rm: bool = False
    quiet: bool = False
    network_mode: str = "default"
    platform: str | None = None
    run_host_config: dict[str, Any] = field(default_factory=dict)  # limits, ExtraHosts... for RUN containers
    cache_from: list[str] = field(default_factory=list)  # when given, only these images' chains serve as cache


def check_platform(platform: str | None, where: str) -> None:
    """Only the host's platform can be built (no emulation); say so clearly otherwise."""
    if not platform:
        return
    parts = platform.lower().split("/")
    arch = host_architecture()
    if parts[0] != "linux" or (len(parts) > 1 and parts[1] not in (arch, "")):
        raise NotImplementedYet(f"{where}: cannot build for platform {platform!r} on this linux/{arch} host; "
                                f"berth builds only for linux/{arch}")


def _decompressed(path: str):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return open(path, "rb")


class Builder:
    """Runs one build of ``dockerfile`` in ``context`` on ``engine``; messages go to ``emit``."""

    def __init__(self, engine: Any, context: BuildContext, dockerfile: Dockerfile, options: BuildOptions,
                 emit: Emit):
        self.engine = engine
        self.images = engine.images
        self.context = context
        self.df = dockerfile
        self.options = options
        self.emit = emit
        self.escape = dockerfile.escape
        self.lexer = Lexer(dockerfile.escape)
        self.meta_args: dict[str, str | None] = {}
        self.consumed_args: set[str] = set()
        self.cache_sources = cache.cache_sources(self.images, options.cache_from)
        self.stages: dict[str, Image | None] = {}  # stage name and index -> its last image
        self.step_event: dict[str, Any] = {}  # the current step's log event: phases add their ``*_ms`` here
        self.removals: list[asyncio.Future] = []  # RUN containers being removed while later steps run
        self.tmp_dir = os.path.join(engine.data_root, "tmp")
        os.makedirs(self.tmp_dir, mode=0o700, exist_ok=True)

    # -- output --------------------------------------------------------------------------

    async def out(self, text: str) -> None:
        if not self.options.quiet and text:
            await self.emit({"stream": text})

    async def arrow(self, st: StageState) -> None:
        if st.image:
            await self.out(f" ---> {st.image.short_id}\n")

    # -- the whole build -----------------------------------------------------------------

    def _stages_to_build(self) -> list[Stage]:
        stages = self.df.stages
        if self.options.target:
            wanted = self.options.target.lower()
            for index, stage in enumerate(stages):
                if stage.name == wanted:
                    return stages[:index + 1]
            raise InvalidArgument(f"failed to reach build target {self.options.target} in Dockerfile: "
                                  f"no stage is named {self.options.target!r}")
        return stages

    async def build(self) -> Image:
        """Run every step; return the final image (tagged with ``options.tags``), once the RUN steps'
        containers are removed."""
        try:
            return await self._build()
        finally:
            await self._removed()

    async def _build(self) -> Image:
        """The steps, stage by stage."""
        stages = self._stages_to_build()
        if self.options.labels:
            body = " ".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(self.options.labels.items()))
            stages[-1].instructions.append(parse_instruction(0, "LABEL " + body))
        total = len(self.df.meta_args) + sum(1 + len(s.instructions) for s in stages)
        step = 0
        for instr in self.df.meta_args:
            step += 1
            await self.out(f"Step {step}/{total} : {instr.original}\n")
            self._meta_arg(instr)
        st: StageState | None = None
        for stage in stages:
            step += 1
            await self.out(f"Step {step}/{total} : {stage.from_instruction.original}\n")
            st = await self._from(stage)
            for instr in stage.instructions:
                step += 1
                await self.out(f"Step {step}/{total} : {instr.original}\n")
                await self._dispatch(st, instr)
            self.stages[str(stage.index)] = st.image
            if stage.name:
                self.stages[stage.name] = st.image
        assert st is not None
        unused = sorted(set(self.options.build_args) - self.consumed_args - set(PROXY_ARGS))
        if unused:
            await self.out(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        if st.image is None:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        return st.image

    async def _dispatch(self, st: StageState, instr: Instruction) -> None:
        try:
            with log.job("build.step", instruction=instr.cmd, line=instr.line) as self.step_event:
                await DISPATCH[instr.cmd](self, st, instr)
        except (DockerfileError, BuildFailed):
            raise
        except BerthError as exc:
            message = exc.message
            if message.startswith(f"{instr.cmd} failed: "):  # Docker's own wording, kept after the location
                message = message[len(instr.cmd) + len(" failed: "):]
            raise BuildFailed(f"{instr.cmd} failed at line {instr.line} ({instr.original!r}): {message}") from None
        await self.arrow(st)

    def _meta_arg(self, instr: Instruction) -> None:
        from berth.build.lexer import split_raw

        for word in split_raw(instr.args, self.escape):
            name, sep, default = word.partition("=")
            env = {k: v for k, v in self.meta_args.items() if v is not None}
            value = self.lexer.process_word(default, env) if sep else None
            if name in self.options.build_args:
                value = self.options.build_args[name]
            self.meta_args[name] = value
            self.consumed_args.add(name)

    # -- FROM ------------------------------------------------------------------------------

    async def _from(self, stage: Stage) -> StageState:
        env = {k: v for k, v in self.meta_args.items() if v is not None}
        instr = stage.from_instruction
        base = self.lexer.process_word(stage.base, env)
        check_platform(self.lexer.process_word(stage.platform, env) if stage.platform else None,
                       f"FROM at line {instr.line}")
        check_platform(self.options.platform, "--platform")
        if not base:
            raise DockerfileError(instr.line, f"FROM: base name ({stage.base}) should not be blank")
        if base.lower() == "scratch":
            image = None
        elif base.lower() in self.stages:
            image = self.stages[base.lower()]
        else:
            image = await self._base_image(base, instr)
        if image is None:
            image_config, run_config = scratch_config(), {}
        else:
            image_config = json_copy(image.config)
            run_config = json_copy(image_config.get("config") or {})
        st = StageState(name=stage.name, index=stage.index, image=image, image_config=image_config,
                        run_config=run_config)
        await self.arrow(st)
        triggers = list(run_config.get("OnBuild") or [])
        if triggers:
            st.run_config["OnBuild"] = []
            word = "trigger" if len(triggers) == 1 else "triggers"
            await self.out(f"# Executing {len(triggers)} build {word}\n")
            for text in triggers:
                await self._dispatch(st, parse_instruction(instr.line, text))
        return st

    async def _base_image(self, name: str, instr: Instruction) -> Image:
        if not self.options.pull:
            try:
                return self.images.get(name)
            except NotFound:
                pass
        await self._pull(name, instr)
        return self.images.get(name)

    async def _pull(self, name: str, instr: Instruction) -> None:
        """Pull a base image (missing, or ``--pull``) and forward the registry's progress."""
        from berth.registry import reference as refs
        from berth.registry.progress import Progress
        from berth.registry.service import service_of

        progress = Progress()
        task = asyncio.ensure_future(service_of(self.engine).pull(refs.parse(name), progress))
        while True:
            getter = asyncio.ensure_future(progress.queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                msg = getter.result()
                if msg is not None and not self.options.quiet:
                    await self.emit(msg)
                continue
            getter.cancel()
            break
        try:
            task.result()
        except BerthError as exc:
            raise BuildFailed(f"FROM at line {instr.line}: image {name!r} is not here and could not be pulled: "
                              f"{exc.message}") from None

    # -- committing ----------------------------------------------------------------------

    async def _probe(self, st: StageState, container_config: dict[str, Any]) -> bool:
        if self.options.no_cache:
            return False
        with self.phase("cache_lookup"):
            hit = await asyncio.to_thread(cache.lookup, self.images, st.image_id, container_config,
                                          self.cache_sources)
        if hit is None:
            return False
        await self.out(" ---> Using cache\n")
        self._advance(st, hit)
        return True

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time part of the current step into its log event as ``<name>_ms`` (where a build's time goes)."""
        started = time.monotonic()
        try:
            yield
        finally:
            key = f"{name}_ms"
            self.step_event[key] = round(self.step_event.get(key, 0) + (time.monotonic() - started) * 1000, 1)

    def _advance(self, st: StageState, image: Image) -> None:
        st.image = image
        st.image_config = json_copy(image.config)
        st.run_config = json_copy(image.config.get("config") or {})

    async def commit_metadata(self, st: StageState, comment: str, author: str | None = None) -> None:
        """Commit a step that changed only the config (``#(nop)``, an empty layer)."""
        container_config = st.container_config(st.nop_cmd(comment))
        if await self._probe(st, container_config):
            return
        config = st.child_config(container_config, empty_layer=True, author=author)
        with self.phase("commit"):
            self._advance(st, await asyncio.to_thread(create_child, self.images, st.image, None, config))

    async def commit_files(self, st: StageState, comment: str, work: Callable[[str], Any],
                           cacheable: bool = True) -> None:
        """Commit a step that changes files: ``work(tree)`` runs on a scratch layer of the current image."""
        container_config = st.container_config(st.nop_cmd(comment, one_word=True))
        if cacheable and await self._probe(st, container_config):
            return

        def commit() -> Image:
            layer = layer_from_work(self.images, st.image, work, self.step_event)
            config = st.child_config(container_config, empty_layer=layer is None)
            return create_child(self.images, st.image, layer, config)

        with self.phase("commit"):
            self._advance(st, await asyncio.to_thread(commit))

    # -- COPY / ADD ----------------------------------------------------------------------

    async def copy_step(self, st: StageState, instr: Instruction) -> None:
        env = st.expansion_env()
        words = ([self.lexer.process_word(w, env) for w in instr.json] if instr.json is not None
                 else self.lexer.process_words(instr.args, env))
        if len(words) < 2:
            raise DockerfileError(instr.line, f"{instr.cmd} requires at least two arguments, but only one was "
                                              "provided. Destination could not be determined.")
        srcs, dest = words[:-1], words[-1]
        flags = {k: self.lexer.process_word(v, env) for k, v in instr.flags.items()}
        for flag in ("link", "checksum", "keep-git-dir"):
            if flag in flags:
                raise NotImplementedYet(f"{instr.cmd} --{flag} at line {instr.line} requires BuildKit, which "
                                        "berth's builder does not implement; remove the flag")
        mode = None
        if "chmod" in flags:
            try:
                mode = int(flags["chmod"], 8)
            except ValueError:
                raise DockerfileError(instr.line, f"{instr.cmd}: invalid --chmod {flags['chmod']!r}: use octal "
                                                  "such as 0755") from None
        downloads = any(sources.is_url(src) for src in srcs)  # only they need a scratch directory
        with (tempfile.TemporaryDirectory(dir=self.tmp_dir, prefix="copy-") if downloads
              else contextlib.nullcontext(self.tmp_dir)) as scratch:
            source = flags.get("from")
            mount = await self._source_tree(source, instr) if source else _Tree("", lambda: None)
            try:
                def resolve() -> tuple[list[_Source], str]:
                    found = self._resolve_sources(instr, srcs, mount.path or None, scratch)
                    with self.phase("checksum"):
                        return found, self._checksum(found)

                found, checksum = await asyncio.to_thread(resolve)
                extra = "".join(f"--{k}={flags[k]} " for k in ("chown", "chmod") if k in flags)
                comment = f"{instr.cmd} {extra}{checksum} in {dest} "
                workdir = st.run_config.get("WorkingDir") or "/"
                chown = flags.get("chown")

                def work(root: str) -> None:
                    owner = fscopy.Owner(mode=mode)
                    if chown:
                        from berth.containers.users import resolve_user

                        resolved = resolve_user(root, chown)
                        owner.uid, owner.gid = resolved.uid, resolved.gid
                    self._copy_sources(root, found, instr.cmd, dest, workdir, owner)

                await self.commit_files(st, comment, work)
            finally:
                await asyncio.to_thread(mount.release)

    def _copy_sources(self, root: str, found: list[_Source], cmd: str, dest: str, workdir: str,
                      owner: fscopy.Owner) -> None:
        """Copy the sources into the layer tree ``root`` (the context is unpacked now if it was not);
        ADD unpacks a local tar of the context (never one from a URL or another image), in source order."""
        paths = [self.context.host_path(s.path) if s.in_context else s.path for s in found]
        archives = [p for p, s in zip(paths, found) if cmd == "ADD" and s.in_context and sources.is_archive(p)]
        plain = [p for p in paths if p not in archives]
        if plain:
            fscopy.copy_into(root, plain, dest, workdir, owner, cmd)
        for archive in archives:
            self._unpack(root, archive, dest, workdir)

    def _resolve_sources(self, instr: Instruction, srcs: list[str], root: str | None, scratch: str) -> list[_Source]:
        """What each source names: downloads, paths in ``root`` (``--from``), or paths in the build context."""
        found: list[_Source] = []
        for src in srcs:
            if sources.is_url(src):
                if instr.cmd == "COPY":
                    raise DockerfileError(instr.line, f"COPY: source can't be a URL ({src}); use ADD")
                if instr.flags.get("from"):
                    raise DockerfileError(instr.line, "ADD: --from cannot be used with a URL")
                directory = tempfile.mkdtemp(dir=scratch)
                found.append(_Source(sources.download(src, directory).path))
                continue
            if src.startswith("git@") or src.endswith(".git"):
                raise NotImplementedYet(f"ADD of a git repository ({src}) is not implemented; clone it into the "
                                        "build context instead")
            if root is None:
                found += [_Source(rel, in_context=True) for rel in self.context.expand(src, instr.cmd)]
            else:
                found += [_Source(path) for path in sources.expand(root, src, instr.cmd)]
        return found

    def _checksum(self, found: list[_Source]) -> str:
        """The sources' checksum for the step's cache key (a context's from its index when it has one)."""
        return sources.combine([self.context.checksum(s.path) if s.in_context else sources.checksum(s.path)
                                for s in found])

    @staticmethod
    def _unpack(root: str, archive: str, dest: str, workdir: str) -> None:
        """ADD of a local tar: its content lands in ``dest`` (a directory), as Docker unpacks it."""
        from berth.images.tarsafe import extract_tree

        import posixpath

        dest_path = dest if dest.startswith("/") else posixpath.join(workdir, dest)
        target = fscopy.mkdir_all(root, dest_path)
        with _decompressed(archive) as stream:
            extract_tree(stream, target)

    async def _source_tree(self, source: str, instr: Instruction) -> "_Tree":
        """The tree ``COPY --from`` reads: a stage's image, or an image."""
        key = source.lower()
        if key in self.stages:
            image = self.stages[key]
        else:
            try:
                image = self.images.get(source)
            except NotFound:
                if instr.flags.get("from") and source.isdigit():
                    raise DockerfileError(instr.line, f"{instr.cmd} --from={source}: no such stage yet (stages "
                                                      "can only copy from earlier stages)") from None
                image = await self._base_image(source, instr)
        if image is None or image.layer_id is None:
            empty = tempfile.mkdtemp(dir=self.tmp_dir, prefix="empty-")
            return _Tree(empty, lambda: shutil.rmtree(empty, ignore_errors=True))
        graph = self.images.graph
        layer_id = image.layer_id
        path = await asyncio.to_thread(graph.mount, layer_id)
        return _Tree(path, lambda: graph.unmount(layer_id))

    # -- RUN ---------------------------------------------------------------------------------

    async def run_step(self, st: StageState, argv: list[str], instr: Instruction) -> None:
        if st.image is None:
            raise BuildFailed(f"RUN at line {instr.line}: the stage is FROM scratch and has no files yet, so "
                              "there is nothing to run; COPY a shell or program in first")
        in_scope = st.args_in_scope()
        saved = ([f"|{len(in_scope)}", *in_scope] if in_scope else []) + argv
        container_config = st.container_config(saved)
        if await self._probe(st, container_config):
            return
        env = dict(env_dict(st.run_config.get("Env")))
        for item in in_scope:
            key, _, value = item.partition("=")
            env.setdefault(key, value)
        for key in PROXY_ARGS:  # passed to RUN, never recorded
            if self.options.build_args.get(key) is not None and key not in st.args:
                env.setdefault(key, self.options.build_args[key])
                self.consumed_args.add(key)
        body = {
            "Image": st.image.id, "Cmd": argv, "Entrypoint": [], "Env": [f"{k}={v}" for k, v in env.items()],
            "WorkingDir": st.run_config.get("WorkingDir") or "", "User": st.run_config.get("User") or "",
            "Tty": False, "AttachStdout": True, "AttachStderr": True, "Labels": {},
            # the build reads the RUN step's output from its log: json-file, whatever the daemon's default
            "HostConfig": {**self.options.run_host_config, "NetworkMode": self.options.network_mode or "default",
                           "LogConfig": {"Type": "json-file", "Config": {}}},
            "Healthcheck": {"Test": ["NONE"]},  # Docker never probes a RUN step's container
        }
        manager = self.engine.containers
        with self.phase("create"):
            c, _ = await manager.create(body, None)
        await self.out(f" ---> Running in {c.id[:12]}\n")
        succeeded = False
        try:
            with self.phase("run"):
                code, _ = await self._run_container(c.id)
            if code != 0:
                raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}",
                                  code=code)
            crashpoints.reached("build.after_run")

            def commit() -> Image:
                base = self.images.container_base_layer(c.layer_id, st.image.layer_id)
                layer = commit_layer(self.images, c.layer_id, base, st.image, consume=True)
                config = st.child_config(container_config, empty_layer=layer is None, container_id=c.id)
                return create_child(self.images, st.image, layer, config)

            with self.phase("commit"):
                image = await asyncio.to_thread(commit)
            succeeded = True
        finally:
            if self.options.force_rm or self.options.rm:
                self.removals.append(asyncio.ensure_future(self._remove_container(c.id)))
                if succeeded:
                    await self.out(f"Removing intermediate container {c.id[:12]}\n")
        self._advance(st, image)

    async def _remove_container(self, container_id: str) -> None:
        """Remove a RUN step's container while the build goes on: its layer is committed (or the step
        failed) and nothing reads it again; :meth:`build` waits for every removal before it returns."""
        try:
            await self.engine.containers.remove(container_id, force=True, volumes=True)
        except BerthError as exc:
            log.get().warning("build.remove_container", container_id=container_id[:12], error=exc.message)

    async def _removed(self) -> None:
        """Wait for the RUN containers being removed (shielded: a cancelled build still removes them)."""
        if self.removals:
            await asyncio.shield(asyncio.gather(*self.removals, return_exceptions=True))

    async def _run_container(self, container_id: str) -> tuple[int, str]:
        """Start the container, stream its output, return (exit code, error)."""
        from berth.containers import logdrivers
        from berth.containers.logs import read_log

        manager = self.engine.containers
        waiter = asyncio.ensure_future(manager.wait(container_id, "next-exit"))
        try:
            try:
                await manager.start(container_id)
            except BerthError as exc:
                if not waiter.done():
                    raise BuildFailed(f"cannot start the RUN container: {exc.message}") from None
            c = manager.get(container_id)
            source = logdrivers.source(c.host_config, manager.store.directory(container_id), container_id)

            def running() -> bool:
                c = manager.store.containers.get(container_id)
                return bool(c and c.state.running)

            # polled every 10 ms, not the default 50: the step ends when its log is read to the end after
            # the exit, and a build waits for that at every RUN
            async for batch in read_log(source, follow=True, tail=None, streams={"stdout", "stderr"},
                                        running=running, poll=RUN_LOG_POLL):
                for entry in batch:
                    text = entry.data.decode("utf-8", errors="replace")
                    # as dockerd's builder: what a step writes to stderr is shown in red
                    await self.out(STDERR_COLOUR.format(text) if entry.stream == "stderr" else text)
            return await waiter
        finally:
            if not waiter.done():
                waiter.cancel()


@dataclass
class _Source:
    """One source of a COPY/ADD: a host path, or a path in the build context when ``in_context``."""

    path: str
    in_context: bool = False


@dataclass
class _Tree:
    path: str
    release: Callable[[], Any]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
