"""UDP and TCP endpoints on the asyncio loop, both handing bytes to a :class:`Responder`.

UDP reads its socket directly (``loop.add_reader``) and drains every
datagram waiting before going back to the loop: one wake-up serves a burst,
which is where a Python server spends its time. A reply that would block
is dropped, as UDP may (the client retries).

TCP follows RFC 7766: a two-octet length before each message (§8),
several queries per connection answered in order (§6.2.1), connections
closed after an idle timeout (§6.2.3) and refused beyond a limit (§6.2.2
leaves the policy to the server); reading pauses while the client does
not read its answers.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from dataclasses import dataclass

from dmarcpilot.dnsserver.metrics import Event
from dmarcpilot.dnsserver.responder import Responder

log = logging.getLogger(__name__)

UDP_BURST = 64  # datagrams read per wake-up at most, so TCP and timers get their turn
UDP_RECEIVE_BUFFER = 4 << 20
MAX_DATAGRAM = 65535
TCP_IDLE_TIMEOUT = 10.0  # seconds (RFC 7766 §6.2.3 suggests a few seconds)
TCP_MAX_CONNECTIONS = 256


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class UdpEndpoint:
    """A bound UDP socket answered from the loop."""

    def __init__(self, sock: socket.socket, responder: Responder) -> None:
        self.sock = sock
        self.responder = responder
        self.endpoint = Endpoint(*sock.getsockname()[:2])
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock, answer, metrics = self.sock, self.responder.answer, self.responder.metrics
        for _ in range(UDP_BURST):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors of earlier sends surface here: nothing to do
                continue
            try:
                replies = answer(data, addr[0], False)
            except Exception:
                metrics.count(Event.ERROR)
                log.exception("error answering %d octets from %s over UDP", len(data), addr[0])
                continue
            for reply in replies:
                try:  # noqa: SIM105 - try/except costs less than contextlib.suppress per datagram
                    sock.sendto(reply, addr)
                except OSError:  # full send buffer or unreachable client: UDP may drop
                    pass

    def close(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        finally:
            self.sock.close()


class TcpConnection(asyncio.Protocol):
    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        metrics = self.listener.responder.metrics
        if len(self.listener.connections) >= self.listener.max_connections:
            metrics.count(Event.TCP_REJECTED)
            transport.abort()
            return
        metrics.count(Event.TCP_CONNECTION)
        self.listener.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.listener.idle_timeout, self._idle)

    def _idle(self) -> None:
        self.listener.responder.metrics.count(Event.TCP_IDLE_CLOSE)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        transport = self.transport
        answered = False
        while transport is not None and len(self.buffer) >= 2 and not transport.is_closing():
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                break
            message = bytes(self.buffer[2:2 + size])
            del self.buffer[:2 + size]
            self._answer(message, transport)
            answered = True
        if answered:  # idle means no complete query: bytes trickled into an unfinished one do not count
            self._arm()

    def _answer(self, message: bytes, transport: asyncio.Transport) -> None:
        try:
            replies = self.listener.responder.answer(message, self.peer, True)
        except Exception:
            self.listener.responder.metrics.count(Event.ERROR)
            log.exception("error answering %d octets from %s over TCP", len(message), self.peer)
            transport.close()
            return
        if not replies:  # garbage: RFC 7766 §7 lets us close
            transport.close()
        for reply in replies:
            transport.write(len(reply).to_bytes(2, "big") + reply)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.listener.connections.discard(self)
        self.transport = None


class TcpListener:
    def __init__(self, responder: Responder, idle_timeout: float = TCP_IDLE_TIMEOUT,
                 max_connections: int = TCP_MAX_CONNECTIONS) -> None:
        self.responder = responder
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections: set[TcpConnection] = set()
        self.server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        self.server = await asyncio.get_running_loop().create_server(lambda: TcpConnection(self), sock=sock)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()  # after the answers already written are flushed
        if self.server is not None:
            await self.server.wait_closed()


def _socket(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # "::" means IPv6 only: 0.0.0.0 can be listed on its own
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on the same port of ``host``; port 0 picks a port free for both."""
    for _attempt in range(50):
        udp = _socket(host, port, socket.SOCK_DGRAM)
        chosen = int(udp.getsockname()[1])
        try:
            return udp, _socket(host, chosen, socket.SOCK_STREAM)
        except OSError as exc:
            udp.close()
            if port or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no port of {host} free for both UDP and TCP")
