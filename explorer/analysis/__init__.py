"""Analyses of attention traces: aggregation and rollout, head statistics, comparison of
two traces, the training-checkpoint timeline and step-through generation.

Everything here except ``next_token`` is plain numpy over ``model.trace`` objects — no Qt,
no torch — so the app's worker and the CLI compute the same numbers, and the tests
check them without a model or a display. Each function works on whole
``(L, H, Q, K)`` stacks at once, never looping over matrix entries in Python.
"""
