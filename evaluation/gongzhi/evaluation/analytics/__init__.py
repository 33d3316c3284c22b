"""Offline analytics on recorded data: SKAB-format files, the multivariate detector that runs
over them causally, and SKAB's scores."""
