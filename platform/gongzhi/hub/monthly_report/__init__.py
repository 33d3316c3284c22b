"""The monthly report of an estate for the joint branch's meeting (``gongzhi report``): alarms,
SLA per party, escalations, residents' reports and satisfaction, welfare checks made and open
items, as a printable PDF without personal data (docs/residents.md)."""
