"""Bot extensions: one feature per module, each ending in ``async def setup(bot)``."""

EXTENSIONS = (
    "bot.exts.rating",
    "bot.exts.movies",
    "bot.exts.recommend",
    "bot.exts.onboarding",
    "bot.exts.privacy",
    "bot.exts.admin",
)
