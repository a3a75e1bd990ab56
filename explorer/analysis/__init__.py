"""Analyses of attention traces: aggregation and rollout, head statistics, comparison of
two traces, training runs and their timeline, and step-through generation.

Everything here is plain numpy over ``model.trace`` objects — no Qt, no torch (what runs
the model for them is worker side: ``explorer.next_token``, ``explorer.checkpoint_cache``) — so the app's worker and the CLI compute the same numbers, and the tests
check them without a model or a display. Each function works on whole
``(L, H, Q, K)`` stacks at once, never looping over matrix entries in Python.
"""
