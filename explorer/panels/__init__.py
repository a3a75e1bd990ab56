"""The dockable panels of the main window: thin widgets fed numpy arrays and token lists."""
