"""Experiments that measure claims about the models; each folder has a README with its
question, its method and its criterion fixed before the runs."""
