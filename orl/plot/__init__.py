"""Pictures from runs and from the committed results.

- ``python -m orl.plot RUN_DIR [RUN_DIR ...] [--out curves.png] [--metric score_mean]``: learning curves of
  your own runs, seeds aggregated by the interquartile mean with a 95% bootstrap band
  (:mod:`orl.plot.runs`, :mod:`orl.plot.stats`).
- ``python -m orl.plot results``: regenerates every figure and the results page of the documentation
  from the CSV/JSON files committed under ``experiments/results/`` (:mod:`orl.plot.results`).
"""
