"""``berthd``: the daemon. Flags as dockerd's; serves the Docker Engine API.

Start-up order: settings (flags > env > daemon.json > defaults), an exclusive
lock on the data-root, the engine (driver selection), listeners, then the
re-adoption of containers a previous daemon left. On SIGTERM/SIGINT the
listeners close; running containers keep running (their monitors own them).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import fcntl
import grp
import ipaddress
import os
import signal
import socket
import ssl
import sys
from urllib.parse import urlparse

import berth
from berth import config as cfgmod, crashpoints
from berth import log
from berth.errors import ConfigError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berthd", description="berth daemon: serves the Docker Engine API")
    p.add_argument("-H", "--host", action="append", dest="hosts", default=None,
                   help="daemon socket(s) to listen on: unix:///path or tcp://host:port (repeatable)")
    p.add_argument("--data-root", "-g", "--graph", dest="data_root", help="root of persistent state (default /var/lib/berth)")
    p.add_argument("--exec-root", dest="exec_root", help="root of run-time state (default /run/berth)")
    p.add_argument("--config-file", dest="config_file", help="daemon config file (default /etc/berth/daemon.json)")
    p.add_argument("-s", "--storage-driver", dest="storage_driver", help="graph driver to use")
    p.add_argument("--storage-opt", dest="storage_opts", action="append", default=None, help="graph driver option key=value")
    p.add_argument("--exec-driver", dest="exec_driver", help="exec driver to use")
    p.add_argument("--network-driver", dest="network_driver", help="default driver for new networks")
    p.add_argument("-l", "--log-level", dest="log_level", help="debug, info, warn, error, fatal")
    p.add_argument("--log-driver", dest="log_driver", help="default log driver of containers (json-file, local, none)")
    p.add_argument("--log-opt", dest="log_opts", action="append", default=None,
                   help="default log driver option key=value (repeatable)")
    p.add_argument("--dns", action="append", default=None, help="DNS server for containers")
    p.add_argument("--dns-search", dest="dns_search", action="append", default=None)
    p.add_argument("--dns-opt", dest="dns_opts", action="append", default=None)
    p.add_argument("-b", "--bridge", dest="bridge",
                   help='attach containers to this bridge device (the default network); "none": no default bridge '
                        "network, as dockerd -b none (containers asking for it get only lo, with Config.NetworkDisabled)")
    p.add_argument("--bip", dest="bip", help="address/prefix of the default bridge")
    p.add_argument("--userns-remap", dest="userns_remap",
                   help='user/group for user namespaces: "default" (berth\'s own berthremap user), USER[:GROUP] '
                        "or UID[:GID]; containers' root becomes that user's first subordinate id")
    p.add_argument("--tls", action="store_true", default=None, help="use TLS on TCP listeners")
    p.add_argument("--tlsverify", action="store_true", default=None, help="use TLS and verify client certificates")
    p.add_argument("--tlscacert", help="CA certificate clients must be signed by")
    p.add_argument("--tlscert", help="server certificate")
    p.add_argument("--tlskey", help="server key")
    p.add_argument("--insecure-loopback-tcp", action="store_true",
                   help="allow plain TCP listeners on loopback addresses (never on others)")
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.version:
        print(f"berthd version {berth.__version__}")
        return
    flags = {k: v for k, v in vars(args).items() if k not in ("config_file", "version", "insecure_loopback_tcp")}
    try:
        config = cfgmod.resolve(flags, os.environ, args.config_file)
        if problem := crashpoints.check():
            raise ConfigError(problem)
        log.configure(config.log_level)
        listeners = plan_listeners(config, args.insecure_loopback_tcp)
        lock = lock_data_root(config.data_root)
        from berth.engine import Engine

        engine = Engine(config)
    except ConfigError as exc:
        print(f"berthd: error: {exc.message}", file=sys.stderr)
        sys.exit(1)
    try:
        asyncio.run(serve(engine, listeners))
    finally:
        lock.close()


def lock_data_root(data_root: str):
    """One daemon per data-root: a second one fails at once instead of corrupting state."""
    os.makedirs(data_root, mode=0o711, exist_ok=True)
    f = open(os.path.join(data_root, ".berthd.lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(f"another berthd is already running with data-root {data_root}") from None
    return f


def plan_listeners(config, insecure_loopback: bool) -> list[tuple[str, str, ssl.SSLContext | None]]:
    """Validate every -H before anything starts: TCP needs TLS (or loopback with an explicit flag)."""
    out = []
    hosts = config.hosts if isinstance(config.hosts, list) else [config.hosts]
    for host in hosts:
        url = urlparse(host if "://" in host else ("unix://" + host if host.startswith("/") else "tcp://" + host))
        if url.scheme == "unix":
            out.append(("unix", url.path or cfgmod.DEFAULT_SOCKET[7:], None))
        elif url.scheme == "tcp":
            address = url.hostname or "127.0.0.1"
            context = None
            if config.tlsverify or config.tls:
                context = tls_context(config)
            elif not (insecure_loopback and _is_loopback(address)):
                raise ConfigError(
                    f"refusing to listen on {host} without TLS: the API gives root on this host. Use --tlsverify "
                    "with --tlscacert/--tlscert/--tlskey, or --insecure-loopback-tcp for a loopback address")
            out.append(("tcp", f"{address}:{url.port or (2376 if context else 2375)}", context))
        else:
            raise ConfigError(f"unsupported host {host!r}: use unix:///path or tcp://host:port")
    return out


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def tls_context(config) -> ssl.SSLContext:
    if not (config.tlscert and config.tlskey):
        raise ConfigError("TLS needs --tlscert and --tlskey")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tlscert, config.tlskey)
        if config.tlsverify:
            if not config.tlscacert:
                raise ConfigError("--tlsverify needs --tlscacert to verify clients")
            context.load_verify_locations(config.tlscacert)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS material: {exc}") from None
    return context


def _unix_listener(path: str) -> socket.socket:
    """Bind the API socket 0660 (group ``berth`` when it exists): never world-accessible."""
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
            raise ConfigError(f"{path} is in use by another daemon")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # stale socket from a crashed daemon
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    try:
        os.chown(path, 0, grp.getgrnam("berth").gr_gid)
    except KeyError:
        pass
    os.chmod(path, 0o660)
    return sock


def _listen_backlog() -> int:
    """The kernel's largest accept queue, as Go's net.Listen (and so dockerd) asks for: with aiohttp's
    128, a burst of connections (or many stalled clients) made a unix-socket connect fail with EAGAIN."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(int(f.read()), socket.SOMAXCONN)
    except (OSError, ValueError):
        return socket.SOMAXCONN


MAX_HEADER_BYTES = 1 << 20
WORKER_THREADS = 64  # blocking driver calls in flight at once (see serve)


async def serve(engine, listeners) -> None:
    from aiohttp import web

    from berth.api.server import create_app

    # Driver calls block in worker threads, many of them waiting on a monitor or a child process
    # (exec starts, healthcheck probes, stops): asyncio's default of cpus + 4 threads would queue
    # them behind each other, so size the pool for waiting, not for computing.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="berthd-worker"))
    # Containers are re-adopted before the API answers (as dockerd restores before it serves): a client
    # must never see a container missing or in a state the restore is about to correct.
    await engine.containers.restore()
    app = create_app(engine)
    # Docker's Go server accepts up to 1 MiB of request line and headers; clients rely on it for
    # X-Registry-Auth with long identity tokens and for build args or filters in the query string.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1,
                           max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES)
    await runner.setup()
    sockets = []
    for kind, address, context in listeners:
        if kind == "unix":
            sock = _unix_listener(address)
            sockets.append(address)
            await web.SockSite(runner, sock, backlog=_listen_backlog()).start()
        else:
            host, _, port = address.rpartition(":")
            await web.TCPSite(runner, host, int(port), ssl_context=context, backlog=_listen_backlog()).start()
    await engine.swarm.start()
    for cid, why in engine.containers.store.corrupt.items():
        engine.warnings.append(f"container {cid[:12]} was not loaded: its record is corrupt ({why}); "
                               "repair or remove that directory and restart berthd")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.get().info("berthd.ready", version=berth.__version__, listeners=[a for _, a, _ in listeners],
                   graph=engine.graph.name, exec=engine.exec.name, data_root=engine.data_root)
    await stop.wait()
    log.get().info("berthd.stopping")
    await engine.swarm.stop()
    await runner.cleanup()
    for path in sockets:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    engine.close(containers_running=any(c.state.running for c in engine.containers.store.containers.values()))


if __name__ == "__main__":
    main()
