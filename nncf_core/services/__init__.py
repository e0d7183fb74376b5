"""Services shared by the CLI, the console and the bot."""
