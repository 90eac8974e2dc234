"""Training: the recorded command that produces the shipped default detector (:mod:`.default`)."""
