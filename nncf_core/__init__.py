"""nncf-bot's core: data layer, model, training, recommendation and CLI.

Nothing in this package imports Discord; the bot in ``bot/`` is a thin layer
over the services defined here.
"""

__version__ = "0.1.0"
