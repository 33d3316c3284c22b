"""Backtesting: the gateway's own detection engine run over recorded data, with time advancing
with the data (``replay``), from per-device CSV files (``csv_input``) or from the telemetry
store, as the ``gongzhi backtest`` command (``commands``)."""
