"""Offline evaluation of detection: recorded and real data run through the gateway's engine,
scored against ground truth. May depend on detection and the simulators; nothing depends on it."""
