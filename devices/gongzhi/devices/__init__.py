"""The device catalogue (types, metrics, units, physical ranges, default rules) and the registry."""
