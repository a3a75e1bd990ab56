"""The desktop app and the command line around the ``model`` package.

Logic lives in plain Python objects that need no display; Qt widgets only render them.
"""
