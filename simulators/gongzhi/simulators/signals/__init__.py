"""Signal models: pure, vectorized across devices, driven by simulated time and an injected
``numpy.random.Generator``. Each model keeps its devices' state in arrays and samples the
devices that report at a step; faults act on the models' inputs (before the physics) and on
their outputs (after)."""
