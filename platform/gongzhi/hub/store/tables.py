"""The store's tables as SQLAlchemy Core sees them: the one list of their columns that every
statement is built from. The tickets' columns come from the ``Ticket`` dataclass (``codec``).

These describe the schema that the migrations (``schema``) create; they create nothing
themselves. A test checks the two agree on both dialects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from gongzhi.hub.store.codec import JsonDict, ticket_columns

metadata = MetaData()

tickets = Table("tickets", metadata, *ticket_columns())

# One row per (alarm, state): the same alarm delivered again finds its row.
alarm_receipts = Table(
    "alarm_receipts", metadata,
    Column("alarm_id", Text(), primary_key=True),
    Column("state", Text(), primary_key=True),
    Column("kind", Text(), nullable=False),
    Column("device_id", Text(), nullable=False),
    Column("household", Text()),
    Column("riser", Text()),
    Column("building", Text()),
    Column("ts_ms", BigInteger(), nullable=False),
    Column("received_at", BigInteger(), nullable=False),
    Column("ticket_id", BigInteger()),
)

timeline = Table(
    "timeline", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger(), nullable=False),
    Column("ts_ms", BigInteger(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("action", Text()),
    Column("note", Text()),
    Column("rule_id", Text()),
    Column("data", JsonDict(), nullable=False),
)

# A single row (id 1) counting the events handed out.
event_counter = Table(
    "event_counter", metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("seq", BigInteger(), nullable=False),
)

ticket_events = Table(
    "ticket_events", metadata,
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),
    Column("ticket_id", BigInteger(), nullable=False),
    Column("ts_ms", BigInteger(), nullable=False),
    Column("ticket", JsonDict(), nullable=False),
)

device_states = Table(
    "device_states", metadata,
    Column("device_id", Text(), primary_key=True),
    Column("online", Integer()),
    Column("last_seen_ms", BigInteger()),
    Column("values_json", JsonDict(), nullable=False),
    Column("values_ts_ms", BigInteger()),
    Column("updated_at", BigInteger(), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger(), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("action", Text(), nullable=False),
    Column("ticket_id", BigInteger()),
    Column("device_id", Text()),
    Column("detail", JsonDict(), nullable=False),
)

webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("party", Text(), nullable=False),
    Column("url", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", BigInteger(), nullable=False),
    Column("lease_until", BigInteger()),
    Column("delivered_at", BigInteger()),
    Column("last_error", Text()),
)

# Notifications to people (gongzhi.hub.notify.outbox): one row per message to send, every
# request made to a provider, and the one dispatcher's lease.
notify_outbox = Table(
    "notify_outbox", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("key", Text(), nullable=False, unique=True),
    Column("ticket_id", BigInteger(), nullable=False),
    Column("party", Text(), nullable=False),
    Column("recipient", Text(), nullable=False),
    Column("recipient_name", Text(), nullable=False),
    Column("channel", Text(), nullable=False),
    Column("address", Text(), nullable=False),
    Column("language", Text(), nullable=False),
    Column("mentions", Text(), nullable=False),
    Column("severity", Text(), nullable=False),
    Column("notice", Text(), nullable=False),
    Column("fallback", Text(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", BigInteger(), nullable=False),
    Column("lease_owner", Text()),
    Column("lease_until", BigInteger()),
    Column("state", Text(), nullable=False),
    Column("done_at", BigInteger()),
    Column("via", Text()),
    Column("last_error", Text()),
)

notify_attempts = Table(
    "notify_attempts", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger(), nullable=False),
    Column("channel", Text(), nullable=False),
    Column("address", Text(), nullable=False),
    Column("key", Text(), nullable=False),
    Column("jobs", Integer(), nullable=False),
    Column("tickets", Integer(), nullable=False),
    Column("digest", Integer(), nullable=False),
    Column("result", Text(), nullable=False),
    Column("detail", Text(), nullable=False),
)

notify_leader = Table(
    "notify_leader", metadata,
    Column("name", Text(), primary_key=True),
    Column("owner", Text(), nullable=False),
    Column("lease_until", BigInteger(), nullable=False),
)

# Residents' reports (gongzhi.hub.reports): one row per report, its photos (cleaned JPEGs, at
# most three) beside it.
resident_reports = Table(
    "resident_reports", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("estate_id", Text(), nullable=False),
    Column("building", Text(), nullable=False),
    Column("category", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("phone", Text()),
    Column("photos", Integer(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("track_hash", Text()),
    Column("ticket_id", BigInteger()),
    Column("rating", Integer()),
    Column("rating_comment", Text()),
    Column("rated_at", BigInteger()),
)

resident_report_photos = Table(
    "resident_report_photos", metadata,
    Column("report_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("idx", Integer(), primary_key=True, autoincrement=False),
    Column("media_type", Text(), nullable=False),
    Column("width", Integer(), nullable=False),
    Column("height", Integer(), nullable=False),
    Column("data", LargeBinary(), nullable=False),
)

# Maintenance windows (gongzhi.hub.notify.windows_store): a weekly one has its weekdays
# ("0,1": Monday, Tuesday) and its slot in local minutes; ended early: ended_at, ended_by.
maintenance_windows = Table(
    "maintenance_windows", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("target", Text(), nullable=False),  # JSON of the window's Target
    Column("author", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("starts_at", BigInteger(), nullable=False),
    Column("ends_at", BigInteger(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("weekdays", Text()),
    Column("slot_start_min", Integer()),
    Column("slot_length_min", Integer()),
    Column("ended_at", BigInteger()),
    Column("ended_by", Text()),
)

# The last notification attempt made for each ticket (gongzhi.hub.notify.renotify_task), and
# the window that silenced it, if one did.
renotify_state = Table(
    "renotify_state", metadata,
    Column("ticket_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("attempt", Integer(), nullable=False),
    Column("attempted_at", BigInteger(), nullable=False),
    Column("silenced_by", BigInteger()),
)

# Declared absences (gongzhi.hub.away_store): ended early, ended_at; ``origin`` names a record
# imported from a platform's legacy away.json (NULL for one declared here), so importing the
# same file again adds nothing. The welfare alarms each absence held, in the order held, with
# the alarm as it came (``Alarm.to_dict``; NULL for one imported from a file, which kept ids)
# and when the absence's end was acted on for it (its ticket made, or found cleared).
absences = Table(
    "absences", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("estate_id", Text(), nullable=False),
    Column("household", Text(), nullable=False),
    Column("starts_at", BigInteger(), nullable=False),
    Column("ends_at", BigInteger(), nullable=False),
    Column("declared_by", Text(), nullable=False),
    Column("note", Text(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("ended_at", BigInteger()),
    Column("origin", Text(), unique=True),
)

absence_holds = Table(
    "absence_holds", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("absence_id", BigInteger(), nullable=False),
    Column("alarm_id", Text(), nullable=False),
    Column("alarm", JsonDict()),
    Column("released_at", BigInteger()),
    UniqueConstraint("absence_id", "alarm_id"),
)

# The residents' reports' abuse limits (gongzhi.hub.reports.limits), a sliding log: accepted
# reports per key ("scope|who|building") and millisecond, pruned past the longest window.
report_limit_hits = Table(
    "report_limit_hits", metadata,
    Column("key", Text(), primary_key=True),
    Column("at_ms", BigInteger(), primary_key=True, autoincrement=False),
    Column("hits", Integer(), nullable=False),
)

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer(), primary_key=True, autoincrement=False),
    Column("applied_at", Text(), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)

# The residents' committee's visits to elderly households (gongzhi.hub.visit_store).
visits = Table(
    "visits", metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=True),
    Column("estate_id", Text(), nullable=False),
    Column("household", Text(), nullable=False),
    Column("visited_at", BigInteger(), nullable=False),
    Column("outcome", Text(), nullable=False),
    Column("note", Text(), nullable=False),
    Column("recorded_by", Text(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
)
