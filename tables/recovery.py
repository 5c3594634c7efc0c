"""Faust's table recovery, with a bulk restore first and the stream partitions sought *before* they resume.

Faust 0.15.3 ends a recovery by resuming the stream partitions and only then seeking them to the
committed offsets, while the flow is already running (it resumes it early when nothing needs
restoring). A worker taking over partitions therefore fetches, processes and acks records during
the seek, and the seek then resets the consumer's committed and read offsets under them. Seen
here with one worker taking over a second one's partitions on a busy machine: records 52-55 of a
partition were processed, the consumer's bookkeeping lost their acks, and it never committed that
partition again (lag growing, the interviews behind it stuck) until the next rebalance.

Here the seek runs while the stream partitions are still paused, so no record of theirs is handed
out before the seek is done; everything else is Faust's own code, in Faust's order.

Before Faust reads the active changelog partitions, those far behind are restored in bulk
(tables/bulk_restore.py), here in the recovery service: Faust's own offsets bookkeeping then starts
from what the bulk restore wrote.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP, ConsumerT

from tables.bulk_restore import BulkRestoringStore, restore_in_bulk


class AppRecovery(Recovery):
    """Recovery that restores long backlogs in bulk, and whose two stream-resuming paths seek first, then resume."""

    async def _build_offsets(self, consumer: ConsumerT, tps: set[TP], destination: Counter[TP], title: str) -> None:
        # Faust builds the active offsets right after the active highwaters: the bulk restore reads
        # up to those, and Faust's reading starts where it stopped (the stores' persisted offsets).
        if destination is self.active_offsets:
            await self._restore_actives_in_bulk(tps)
        await super()._build_offsets(consumer, tps, destination, title)

    async def _restore_actives_in_bulk(self, tps: set[TP]) -> None:
        stores = {
            tp: store for tp in tps if isinstance(store := cast(Any, self.tp_to_table[tp]).data, BulkRestoringStore)
        }
        if not stores:
            return
        ends = {tp: self.active_highwaters[tp] + 1 for tp in stores}  # Faust keeps the last offset, not the end
        # Within Faust's own timeout for this step (broker_request_timeout): what is left is Faust's to read.
        budget = float(self.app.conf.broker_request_timeout) / 2
        try:
            await restore_in_bulk(self.app, stores, ends, seconds=budget)
        except Exception as exc:  # each write batch holds its rows and offset together: Faust reads on from it
            self.log.warning("bulk restore stopped, Faust's recovery takes over: %s: %s", type(exc).__name__, exc)
        for tp in stores:
            persisted = self.tp_to_table[tp].persisted_offset(tp)
            if persisted is not None:
                self.active_offsets[tp] = persisted

    async def _resume_streams(self, generation_id: int = 0) -> None:
        app = self.app
        await app.on_rebalance_complete.send()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        if app.consumer.assignment():
            await self._seek_then_resume_stream_partitions()
        else:
            self.log.info("Resuming streams with empty assignment")
        await self._start_streams(standbys_ready=True)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app = self.app
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table])
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        if app.consumer_generation_id != generation_id:
            self.log.warning(f"Recovery rebalancing again app id {app.consumer_generation_id} param {generation_id}")
            return
        await self._seek_then_resume_stream_partitions()
        await self._start_streams(standbys_ready=not app.assignor.assigned_standbys())

    async def _seek_then_resume_stream_partitions(self) -> None:
        consumer = self.app.consumer
        assignment = consumer.assignment()
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})

    async def _start_streams(self, *, standbys_ready: bool) -> None:
        """The end both of Faust's paths share: flow on, fetcher running, tables ready."""
        app = self.app
        self.completed.set()
        self.log.info("Resuming flow...")
        app.flow_control.resume()
        app.consumer.resume_flow()
        await cast(Any, app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if standbys_ready:
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class AppTableManager(TableManager):
    """Faust's TableManager, with AppRecovery as its recovery service."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = AppRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
