"""Training loops (offline), evaluation and checkpoints."""
