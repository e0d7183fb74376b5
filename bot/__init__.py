"""The Discord front end of nncf-bot: slash commands and components over ``nncf_core``.

Nothing here is imported by ``nncf_core``; the CLI imports :mod:`bot.runner`
lazily. This package's ``__init__`` imports nothing, so that the training child
process (:mod:`bot.trainproc`) starts without loading discord.py.
"""
