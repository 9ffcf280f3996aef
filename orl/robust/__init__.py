"""Robustness to observation attacks (issue 19): l-infinity attacks as Gymnasium wrappers
(:mod:`orl.robust.attacks`), dynamic attack schedules (:mod:`orl.robust.schedules`) and the EXP3 defence over
a set of policies (:mod:`orl.robust.exp3`), following Liu et al., "Beyond Worst-case Attacks: Robust RL with
Adaptive Defense via Non-dominated Policies", ICLR 2024 (official code ``umd-huang-lab/PROTECTED``)."""
