"""The transport's metrics: frames and bytes each endpoint moved, frames and connections it
refused by reason, strangers' connections it holds; read at scrape time from transport's
own counters (transport/stats.py: the transport package knows nothing of Prometheus, the
client imports it)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from actors.metrics.registry import NAMESPACE
from transport.stats import all_endpoint_stats

__all__ = ["TransportCollector"]


class TransportCollector:
    def collect(self) -> Iterator[Metric]:
        frames = CounterMetricFamily(
            f"{NAMESPACE}_transport_frames",
            "Frames an endpoint received (in) or sent (out).",
            labels=["endpoint", "direction"],
        )
        volume = CounterMetricFamily(
            f"{NAMESPACE}_transport_bytes",
            "Bytes of the frames an endpoint received (in) or sent (out).",
            labels=["endpoint", "direction"],
        )
        refused = CounterMetricFamily(
            f"{NAMESPACE}_transport_refusals",
            "Frames or connections an endpoint refused, by reason (TRUST.CODE for frames that "
            "did not decode or were not served; stranger.CODE for strangers' handshakes "
            "turned away and connections closed; handshake.refused, handshake.failed for "
            "the others; multipart, reply_dropped), each once.",
            labels=["endpoint", "reason"],
        )
        strangers = GaugeMetricFamily(
            f"{NAMESPACE}_transport_stranger_connections",
            "Connections an endpoint holds for keys without a certificate (joining nodes).",
            labels=["endpoint"],
        )
        for name, stats in sorted(all_endpoint_stats().items()):
            frames.add_metric([name, "in"], stats.frames_in)
            frames.add_metric([name, "out"], stats.frames_out)
            volume.add_metric([name, "in"], stats.bytes_in)
            volume.add_metric([name, "out"], stats.bytes_out)
            for reason, count in sorted(stats.refusals().items()):
                refused.add_metric([name, reason], count)
            strangers.add_metric([name], stats.strangers)
        yield from (frames, volume, refused, strangers)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing declared up front: the families vary with what runs
