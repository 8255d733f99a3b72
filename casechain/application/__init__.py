"""The use cases: append (the case log), import, queries as of an instant, proofs, replay and
simulation; the one layer the entrypoints call."""
