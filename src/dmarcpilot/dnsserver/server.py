"""The DNS server process: listeners, zone reloads, NOTIFY, metrics, signals and shutdown.

:class:`DnsServer` owns the sockets and the responder; it loads the zones
before it listens (so the first query is answered), reloads them every
``reload_interval`` seconds and on SIGHUP, swaps them atomically (one
assignment on the loop thread, and the answer cache is cleared with it),
and sends NOTIFY to the secondaries for every zone whose content changed
(RFC 1996 §4.7: the serial increased). SIGTERM and SIGINT stop it:
listeners close, answers already written are flushed, pending NOTIFYs are
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping
from typing import Any

from dmarcpilot.dnsserver.authority import Authority, Zone
from dmarcpilot.dnsserver.config import ServerConfig
from dmarcpilot.dnsserver.loader import Loaded, LoadResult, ZoneLoader
from dmarcpilot.dnsserver.metrics import Event, Metrics, serve_metrics
from dmarcpilot.dnsserver.responder import Responder
from dmarcpilot.dnsserver.transfer import notify_all
from dmarcpilot.dnsserver.transport import Endpoint, TcpListener, UdpEndpoint, bind_pair

log = logging.getLogger(__name__)


class DnsServer:
    def __init__(self, config: ServerConfig, loader: ZoneLoader | None = None,
                 zones: tuple[Zone, ...] = ()) -> None:
        self.config = config
        self.loader = loader
        self.metrics = Metrics()
        self.responder = Responder(Authority.of(zones), metrics=self.metrics, transfers=config.transfers,
                                   cache_size=config.cache_size)
        self.loaded: Mapping[str, Loaded] = {}
        self.endpoints: list[Endpoint] = []
        self.metrics_endpoint: Endpoint | None = None
        self._udp: list[UdpEndpoint] = []
        self._tcp: list[TcpListener] = []
        self._http: asyncio.Server | None = None
        self._reload_lock = asyncio.Lock()
        self._notifications: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        for zone in zones:
            self.metrics.serials[zone.apex] = zone.serial

    @property
    def authority(self) -> Authority:
        return self.responder.authority

    async def start(self) -> list[Endpoint]:
        """Load the zones, then listen; returns the endpoints bound (ports chosen when 0 was asked)."""
        await self._reload_logged()
        try:
            for wanted in self.config.listen:
                udp, tcp = bind_pair(wanted.host, wanted.port)
                self._udp.append(UdpEndpoint(udp, self.responder))
                listener = TcpListener(self.responder, self.config.tcp_idle_timeout, self.config.tcp_max_connections)
                self._tcp.append(listener)
                await listener.start(tcp)
                self.endpoints.append(self._udp[-1].endpoint)
            if self.config.metrics is not None:
                self._http = await serve_metrics(self.metrics, self.config.metrics.host, self.config.metrics.port)
                self.metrics_endpoint = Endpoint(*self._http.sockets[0].getsockname()[:2])
        except BaseException:
            await self.close()
            raise
        return list(self.endpoints)

    async def reload(self) -> LoadResult | None:
        """Recompile the zones from the store; swap those that changed and NOTIFY the secondaries."""
        if self.loader is None:
            return None
        async with self._reload_lock:
            result = await asyncio.to_thread(self.loader.load, self.loaded)
            for error in result.errors:
                log.error("zone reload: %s", error)
            self.metrics.count(Event.RELOAD_ERROR, len(result.errors))
            self.metrics.count(Event.RELOAD)
            removed = set(self.loaded) - set(result.loaded)
            if result.changed or removed:
                self.responder.swap(Authority.of(result.zones))
                self.metrics.serials = {z.apex: z.serial for z in result.zones}
                for zone in result.changed:
                    log.info("serving zone %s serial %d", zone.apex, zone.serial)
                self._notify(result.changed)
            self.loaded = result.loaded
            return result

    def _notify(self, zones: tuple[Zone, ...]) -> None:
        if not zones or not self.config.notify:
            return
        task = asyncio.get_running_loop().create_task(notify_all(zones, self.config.notify, self.config.tsig_key))
        self._notifications.add(task)
        task.add_done_callback(self._notified)

    def _notified(self, task: asyncio.Task[list[bool]]) -> None:
        self._notifications.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        results = task.result()
        self.metrics.count(Event.NOTIFY_OK, sum(results))
        self.metrics.count(Event.NOTIFY_FAILED, len(results) - sum(results))

    def request_reload(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()

    async def serve_until_stopped(self) -> None:
        """Reload every ``reload_interval`` seconds or when asked, until :meth:`request_stop`."""
        while not self._stop.is_set():
            waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _done, pending = await asyncio.wait(waiters, timeout=self.config.reload_interval,
                                                return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            self._wake.clear()
            if not self._stop.is_set():
                await self._reload_logged()

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception:  # a bug in a reload must not take the server down: the zones stay as they were
            self.metrics.count(Event.ERROR)
            log.exception("zone reload failed")

    async def close(self) -> None:
        for udp in self._udp:
            udp.close()
        if self._http is not None:
            self._http.close()
        await asyncio.gather(*(listener.close() for listener in self._tcp), return_exceptions=True)
        for task in list(self._notifications):
            task.cancel()
        await asyncio.gather(*self._notifications, return_exceptions=True)
        self._udp, self._tcp = [], []


def install_signals(server: DnsServer) -> Callable[[], None]:
    """SIGTERM/SIGINT stop ``server``, SIGHUP reloads it; returns the undo."""
    loop = asyncio.get_running_loop()
    handlers = {signal.SIGTERM: server.request_stop, signal.SIGINT: server.request_stop,
                signal.SIGHUP: server.request_reload}
    for signum, handler in handlers.items():
        loop.add_signal_handler(signum, handler)

    def undo() -> None:
        for signum in handlers:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)

    return undo


async def run(config: ServerConfig, loader: ZoneLoader, ready: Callable[[DnsServer], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT: the ``dmarcpilot dns serve`` process."""
    server = DnsServer(config, loader)
    undo = install_signals(server)
    try:
        await server.start()
        if ready is not None:
            ready(server)
        await server.serve_until_stopped()
    finally:
        undo()
        await server.close()
        log.info("stopped")
