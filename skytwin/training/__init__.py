"""Training: data sets made in the twin and training loops (beside evaluation, above the twin and agents)."""
