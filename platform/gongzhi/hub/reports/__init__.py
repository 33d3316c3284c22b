"""Residents' reports: a phone page per building, reached by a printed QR code, where a resident
reports a hazard without an account; the report becomes a ticket routed by the duty matrix, and
a tracking link shows the resident that report's status and the party's reply (docs/residents.md).
"""
