"""Clinic side of chartseal: the clinic database, the clinic home and the sealed site."""
