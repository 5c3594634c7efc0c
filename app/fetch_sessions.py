"""Incremental fetch sessions (KIP-227) for the worker's consumer, which aiokafka does not have.

A worker reads every partition of the 16 workflow topics, Faust's leader topic and its tables'
changelogs: 58 partitions at three a topic. Without a session every fetch request names all of them
and every response answers for all of them, nearly all empty, and aiokafka encodes and decodes each
in Python in Faust's consumer thread, which holds the GIL the steps need: at 1,000 inputs/s, about
150 fetches a second, that thread was a quarter of the worker's GIL time, most of it spent per
partition (docs/performance.md). In a session the broker keeps the partitions and their fetch
offsets: a request names only the partitions whose offset moved and those to forget, and a response
carries only the partitions with records or news. The Java client and librdkafka fetch this way.

Which partitions are fetched is aiokafka's choice as before (``Fetcher._get_actions_per_node``). One
it leaves out (its fetched records not yet handed out, or paused, or being reset) is forgotten by
the session and named again, with its position, when it is next fetched, as the Java client does.
aiokafka handles a response as before (``Fetcher._proc_fetch_request``), against the fetch offsets
of every partition in the session. Any doubt about what the broker holds (a request that failed or
was cancelled, a session error, a new assignment, an unexpected answer) ends the session: the next
request is a full one, which opens a new session.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)

# Fetch v7 brought sessions. Session id 0 is none; epoch 0 asks the broker to open one, and -1
# fetches without one (all aiokafka ever sends).
SESSIONS_FROM_VERSION = 7
NO_SESSION = 0
OPEN_EPOCH = 0
SESSIONLESS_EPOCH = -1
MAX_EPOCH = 2**31 - 1

# aiokafka's FetchRequest.topics: (topic, [(partition, fetch offset, max bytes)])
FetchTopics = list[tuple[str, list[tuple[int, int, int]]]]


class SessionFetchRequest(FetchRequest):  # type: ignore[misc]  # aiokafka is untyped
    """A fetch in a session. It sends only the partitions whose fetch offset the broker must learn
    (all of them when it opens the session); ``topics``, which aiokafka reads the response against,
    gives the fetch offset of every partition of the session the response names."""

    def __init__(
        self,
        fetcher: Any,
        session: FetchSession,
        wanted: dict[TopicPartition, int],
        sent: FetchTopics,
        forgotten: list[tuple[str, list[int]]],
    ) -> None:
        super().__init__(
            fetcher._fetch_max_wait_ms,
            fetcher._fetch_min_bytes,
            fetcher._fetch_max_bytes,
            fetcher._isolation_level,
            sent,
            rack_id=fetcher._client_rack or "",
        )
        self.partition_max_bytes: int = fetcher._max_partition_fetch_bytes
        self.session = session
        self.session_id = session.session_id
        self.epoch = session.next_epoch()
        self.wanted = wanted
        self.forgotten = forgotten
        self.answered_topics: FetchTopics | None = None

    @property
    def topics(self) -> FetchTopics:
        if self.answered_topics is not None:
            return self.answered_topics
        return _by_topic((tp, offset, self.partition_max_bytes) for tp, offset in self.wanted.items())

    def build(self, request_struct_class: Any) -> Any:
        if request_struct_class.API_VERSION < SESSIONS_FROM_VERSION:
            if self.session_id != NO_SESSION:  # the connection went to an older broker: fetch in full again
                raise IncompatibleBrokerVersion("fetch sessions need Fetch v7")
            return super().build(request_struct_class)
        struct = super().build(request_struct_class)  # with the partitions sent
        struct.session_id, struct.session_epoch = self.session_id, self.epoch
        struct.forgotten_topics_data = self.forgotten
        return struct


@dataclass
class FetchSession:
    """What one broker holds for this fetcher: the session, its last epoch, each partition's fetch offset."""

    assignment: Any  # the aiokafka Assignment the session belongs to
    supported: bool = True
    session_id: int = NO_SESSION
    epoch: int = OPEN_EPOCH
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def next_epoch(self) -> int:
        if self.session_id == NO_SESSION:
            return OPEN_EPOCH if self.supported else SESSIONLESS_EPOCH
        return 1 if self.epoch == MAX_EPOCH else self.epoch + 1

    def request(self, fetcher: Any, positions: list[tuple[TopicPartition, int]]) -> SessionFetchRequest:
        """The next request of this session, to fetch each partition of ``positions`` from its position."""
        wanted = dict(positions)
        size = fetcher._max_partition_fetch_bytes
        if self.session_id == NO_SESSION:
            random.shuffle(positions)  # as aiokafka does, so fetch_max_bytes does not favour the same partitions
            sent = _by_topic((tp, offset, size) for tp, offset in positions)
            return SessionFetchRequest(fetcher, self, wanted, sent, [])
        offsets = self.offsets
        moved = _by_topic((tp, offset, size) for tp, offset in positions if offsets.get(tp) != offset)
        forgotten: defaultdict[str, list[int]] = defaultdict(list)
        if len(offsets) > len(wanted) or moved:  # else every partition of the session is wanted
            for tp in offsets.keys() - wanted.keys():
                forgotten[tp.topic].append(tp.partition)
        return SessionFetchRequest(fetcher, self, wanted, moved, list(forgotten.items()))

    def answered(self, request: SessionFetchRequest, response: Any) -> bool:
        """Take in the broker's ``response`` to ``request``; False if aiokafka must not read it."""
        if response.API_VERSION < SESSIONS_FROM_VERSION:
            self.supported = False
            self.end()
            return True  # a full response to a full request
        if response.error_code:
            log.info("fetch session %s ended by the broker (error code %s)", request.session_id, response.error_code)
            self.end()
            return False
        answered: FetchTopics = []
        for topic, partitions in response.topics:
            named = []
            for partition, *_ in partitions:
                offset = request.wanted.get(TopicPartition(topic, partition))
                if offset is None:  # not in the session: aiokafka would fail on it
                    log.warning("fetch session %s answered for %s[%s], not in it", request.session_id, topic, partition)
                    self.end()
                    return False
                named.append((partition, offset, request.partition_max_bytes))
            answered.append((topic, named))
        request.answered_topics = answered
        if request.session_id == NO_SESSION:
            self.session_id = response.session_id  # still none if the broker has no room for one
        self.epoch = request.epoch
        self.offsets = request.wanted if self.session_id != NO_SESSION else {}
        # Faust takes a partition not fetched for a while for a stalled consumer: every partition in the
        # session was fetched, whether or not the response names it.
        now_ms = int(time.time() * 1000)
        state_value = self.assignment.state_value
        for tp in request.wanted:
            state_value(tp).timestamp = now_ms
        return True

    def end(self) -> None:
        self.session_id, self.epoch, self.offsets = NO_SESSION, OPEN_EPOCH, {}


def _by_topic(partitions: Iterable[tuple[TopicPartition, int, int]]) -> FetchTopics:
    grouped: defaultdict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for tp, offset, max_bytes in partitions:
        grouped[tp.topic].append((tp.partition, offset, max_bytes))
    return list(grouped.items())


class _SessionClient:
    """The fetcher's view of aiokafka's client: a fetch in a session updates the session with its answer."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def send(self, node_id: int, request: Any, **kwargs: Any) -> Any:
        if not isinstance(request, SessionFetchRequest):
            return await self._client.send(node_id, request, **kwargs)
        try:
            response = await self._client.send(node_id, request, **kwargs)
        except BaseException:  # the broker may or may not have taken the epoch
            request.session.end()
            raise
        if not request.session.answered(request, response):
            request.answered_topics = response.topics = []  # nothing to read; the next request opens a new session
        return response


class SessionFetcher(Fetcher):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka's fetcher, fetching in a session per broker."""

    _sessions: dict[int, FetchSession]

    @classmethod
    def adopt(cls, fetcher: Any) -> None:
        """Make the fetcher of a consumer just started fetch in sessions (before its first fetch)."""
        if type(fetcher) is not Fetcher:
            raise TypeError(f"expected aiokafka's Fetcher, got {type(fetcher).__name__}")
        fetcher.__class__ = cls
        fetcher._sessions = {}
        fetcher._client = _SessionClient(fetcher._client)

    def _get_actions_per_node(self, assignment: Any) -> tuple[Any, ...]:
        """aiokafka's ``Fetcher._get_actions_per_node`` (0.14.0), the same choices, with a session's
        requests; it walks every assigned partition each time the fetch routine wakes (twice a fetch),
        so the walk reads what it needs once instead of through a method or property per partition."""
        fetchable: defaultdict[int, list[tuple[TopicPartition, int]]] = defaultdict(list)
        awaiting_reset: defaultdict[int, list[TopicPartition]] = defaultdict(list)
        backoff_by_nodes: defaultdict[int, list[float]] = defaultdict(list)
        resume_futures: list[Any] = []
        invalid_metadata = False
        records, in_flight = self._records, self._in_flight
        leader_for_partition = self._client.cluster.leader_for_partition
        replica_for = self._select_read_replica if self._preferred_read_replica else leader_for_partition
        for tp, tp_state in assignment._tp_state.items():
            node_id = replica_for(tp)
            if tp in records:
                # Fetched records not all handed out: wait for them, but not for ever (other partitions).
                backoff = records[tp].calculate_backoff()
                if backoff:
                    backoff_by_nodes[node_id].append(backoff)
            elif node_id in in_flight:
                continue
            elif node_id is None or node_id == -1:
                invalid_metadata = True
            elif tp_state._position is None:
                # ListOffsets goes to the leader, never to a follower (KIP-392).
                leader_id = leader_for_partition(tp)
                if leader_id is None or leader_id == -1:
                    invalid_metadata = True
                else:
                    awaiting_reset[leader_id].append(tp)
            elif tp_state._paused:
                resume_futures.append(tp_state._resume_fut)
            else:
                fetchable[node_id].append((tp, tp_state._position))

        fetch_requests = [
            (node_id, self._session(node_id, assignment).request(self, positions))
            for node_id, positions in fetchable.items()
            if node_id not in backoff_by_nodes and node_id not in awaiting_reset
        ]
        backoff = min(map(max, backoff_by_nodes.values())) if backoff_by_nodes else self._fetcher_timeout
        return fetch_requests, awaiting_reset, backoff, invalid_metadata, resume_futures

    def _session(self, node_id: int, assignment: Any) -> FetchSession:
        session = self._sessions.get(node_id)
        if session is None or session.assignment is not assignment:
            supported = session.supported if session is not None else True
            session = self._sessions[node_id] = FetchSession(assignment, supported=supported)
        return session
