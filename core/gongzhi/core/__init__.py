"""Shared pieces of Gongzhi: the clock, the error tree, alarm kinds, settings and the CLI."""
