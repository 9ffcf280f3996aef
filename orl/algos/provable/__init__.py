"""Theory-first algorithms on small models (issue 20): exact tabular solvers, DR-RPO and its baselines on
d-rectangular linear MDPs, and action grouping on large-action tabular MDPs."""
