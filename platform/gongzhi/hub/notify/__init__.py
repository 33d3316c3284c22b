"""Notifications: telling people of a ticket on WeCom, DingTalk, Feishu, SMS, e-mail and signed
webhooks, durably (an outbox written with the ticket change), within each provider's limits, and
in digests when a storm fills them. See docs/notifications.md."""
