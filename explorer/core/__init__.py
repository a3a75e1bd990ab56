"""The explorer's core: the selection, its state and every number a panel or figure shows.

No Qt and no torch (a test imports each module in a fresh interpreter and checks):

- ``selection``: what the user picked (``Selection``).
- ``state``: the current trace and the selection (``ExplorerState``), with the rules for
  clamping and stepping through it and the derived arrays cached per trace.
- ``views``: one small frozen dataclass per panel (``HeadView``, ``GridView``,
  ``DistributionView``, ``CrossView``, ``TokensView``), each made by one function from
  the state, and which panels apply to a model. The Qt panels show them and the figure
  painters draw the same objects.
- ``numeric``: softmax with temperature, entropy, top-k, max-pooling and colour ranges.
- ``special``: the special-token filter ("Hide special tokens").
- ``thumbnails``: the overview grid's pooled thumbnails, made on the worker thread.
"""
