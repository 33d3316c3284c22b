"""The spool's bound against a write in flight: InfluxDB may come back while the client is still
retrying the oldest chunk, and that write then succeeds. Had the spool dropped the chunk in the
meantime, its points would be both stored and counted as dropped (published ≠ stored + drops).
The chunk is therefore held until it settles, and dropped only then if the store stays away."""

from __future__ import annotations

from pathlib import Path

from gongzhi.gateway.spool import Spool

LINE = b"telemetry,estate=e,device=d pressure_mpa=0.3 1767225600000"


def test_a_chunk_in_flight_is_not_dropped_until_it_settles(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=3 * len(LINE))
    spool.open()
    try:
        first = spool.append(LINE, 1)
        in_flight = spool.oldest(10, hold=True)
        assert [b.id for b in in_flight] == [first]
        for _ in range(5):
            spool.append(LINE, 1)
        remaining = [b.id for b in spool.oldest(100)]
        assert remaining[0] == first, "the chunk in flight must stay"
        assert spool.dropped_points == 3  # the oldest after it made room
        assert spool.bytes == spool.max_bytes

        spool.release()  # the write failed: the chunk is an ordinary old batch again
        spool.append(LINE, 1)
        remaining = [b.id for b in spool.oldest(100)]
        assert first not in remaining
        assert spool.bytes <= spool.max_bytes
        assert spool.dropped_points == 4
        assert spool.points + spool.dropped_points == 7
    finally:
        spool.close()
