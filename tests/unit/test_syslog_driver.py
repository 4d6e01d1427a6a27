"""Docker's syslog driver: its option checks (dockerd's words) and the messages as srslog sends them."""

import os
import socket
import time

import pytest

from berth.containers import syslogoptions, syslogsink
from berth.containers.logwriter import open_writer

NS = 1_796_599_822_448_653_123  # 2026-12-06T23:30:22.448653123Z


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("address,parsed", [
    ("", ("", "")), ("udp://127.0.0.1:5514", ("udp", "127.0.0.1:5514")), ("tcp://10.0.0.1", ("tcp", "10.0.0.1:514")),
    ("tcp+tls://logs.example:6514", ("tcp+tls", "logs.example:6514")), ("udp://[::1]", ("udp", "[::1]:514")),
])
def test_addresses_parse_as_dockerd_parses_them(address, parsed):
    assert syslogoptions.parse_address(address) == parsed


@pytest.mark.parametrize("address,message", [
    ("nope", "syslog-address should be in form proto://address, got nope"),
    ("http://x", "syslog-address should be in form proto://address, got http://x"),
    ("unix:///no/such/socket", "stat /no/such/socket: no such file or directory"),
    ("udp://127.0.0.1:1:2", "address 127.0.0.1:1:2: too many colons in address"),
])
def test_bad_addresses_are_refused_in_dockerds_words(address, message):
    with pytest.raises(ValueError) as exc:
        syslogoptions.parse_address(address)
    assert str(exc.value) == message


def test_facilities_by_name_or_number():
    assert syslogoptions.parse_facility("") == 3  # daemon
    assert syslogoptions.parse_facility("local3") == 19 and syslogoptions.parse_facility("23") == 23
    for bad in ("24", "bogus", "-1"):
        with pytest.raises(ValueError, match="^invalid syslog facility$"):
            syslogoptions.parse_facility(bad)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="^Invalid syslog format$"):
        syslogoptions.check({"syslog-format": "json"})


@pytest.mark.parametrize("fmt,expected", [
    ("", b"<30>Dec  6 23:30:22 web[42]: hi\n"),
    ("rfc3164", b"<30>Dec  6 23:30:22 host web[42]: hi\n"),
    ("rfc5424", b"<30>1 2026-12-06T23:30:22Z host web 42 web - hi\n"),
    ("rfc5424micro", b"<30>1 2026-12-06T23:30:22.448653Z host web 42 web - hi\n"),
])
def test_messages_have_srslogs_shapes(utc, fmt, expected):
    assert syslogsink.format_message(fmt, 30, "host", "web", 42, b"hi\n", NS) == expected


def test_rfc5424_times_carry_the_local_offset():
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    try:
        msg = syslogsink.format_message("rfc5424", 30, "h", "t", 1, b"x\n", NS)
    finally:
        del os.environ["TZ"]
        time.tzset()
    assert b" 2026-12-07T00:30:22+01:00 " in msg


@pytest.fixture
def listener(tmp_path):
    path = str(tmp_path / "syslog.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def config(path, **kw):
    return {"network": "unixgram", "address": path, "facility": 3, "format": "", "tag": "web", "hostname": "h",
            "tls": {}, **kw}


def test_a_writer_sends_each_entry_with_its_severity(utc, listener):
    path, sock = listener
    writer = open_writer({"log_syslog": config(path)})
    writer.write("stdout", b"one\n\ntwo")  # the empty line is not sent; the partial line ends in a newline at exit
    writer.write("stderr", b"bad\n")
    writer.close()
    got = [sock.recv(4096) for _ in range(3)]
    assert [m.split(b"]: ", 1)[1] for m in got] == [b"one\n", b"bad\n", b"two\n"]
    assert [m[:4] for m in got] == [b"<30>", b"<27>", b"<30>"]
    assert f" web[{os.getpid()}]: ".encode() in got[0]  # the sender's pid, as srslog puts dockerd's


def test_the_cache_file_is_written_beside_the_messages(listener, tmp_path):
    path, sock = listener
    cache = tmp_path / "container-cached.log"
    writer = open_writer({"log_syslog": config(path), "log_path": str(cache), "log_driver": "local"})
    writer.write("stdout", b"kept\n")
    writer.close()
    assert sock.recv(4096).endswith(b"kept\n") and b"kept\n" in cache.read_bytes()


class _FlakySocket:
    def __init__(self, sent, fail):
        self.sent, self.fail = sent, fail

    def sendall(self, data):
        if self.fail:
            self.fail -= 1
            raise ConnectionResetError("gone")
        self.sent.append(data)

    def close(self):
        pass


def test_a_failed_send_reconnects_once_then_drops(monkeypatch, capsys):
    sent, sockets = [], []

    def connect(network, address, options):
        sockets.append(_FlakySocket(sent, fail=1 if len(sockets) == 0 else 0))
        return sockets[-1]

    monkeypatch.setattr(syslogoptions, "connect", connect)
    sink = syslogsink.SyslogSink(config("/x", network="tcp"))
    sink.write("stdout", [b"a\n"], NS)
    assert len(sockets) == 2 and len(sent) == 1  # the first socket failed, the second took it

    monkeypatch.setattr(syslogoptions, "connect", lambda *a: _FlakySocket(sent, fail=5))
    sink.close()
    sink.write("stdout", [b"b\n"], NS)
    assert len(sent) == 1 and "dropped a message" in capsys.readouterr().err


def test_rfc5424_over_tls_is_length_framed(monkeypatch, utc):
    sent = []
    monkeypatch.setattr(syslogoptions, "connect", lambda *a: _FlakySocket(sent, fail=0))
    sink = syslogsink.SyslogSink(config("logs:6514", network="tcp+tls", format="rfc5424"))
    sink.write("stdout", [b"hi\n"], NS)
    body = syslogsink.format_message("rfc5424", 30, "h", "web", os.getpid(), b"hi\n", NS)
    assert sent == [f"{len(body)} ".encode() + body]


def test_an_unreachable_syslog_fails_in_dockerds_words(tmp_path):
    with pytest.raises(OSError, match=r"^dial tcp 127\.0\.0\.1:1: connect: connection refused$"):
        syslogoptions.connect("tcp", "127.0.0.1:1", {})
    missing = str(tmp_path / "gone.sock")
    with pytest.raises(OSError, match=f"^dial unixgram {missing}: connect: no such file or directory$"):
        syslogoptions.connect("unixgram", missing, {})
