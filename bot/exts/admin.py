"""/retrain (admins), /status, and the periodic "is a retrain due?" loop."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.replies import bot_of, defer, reply
from bot.schedule import ModelStatus, model_status, retrain_due
from nncf_core.errors import JobAlreadyQueued, PermissionDenied
from nncf_core.settings import Settings

if TYPE_CHECKING:
    from bot.bot import NNCFBot

log = logging.getLogger(__name__)


def is_admin(interaction: discord.Interaction[Any], settings: Settings) -> bool:
    """Manage Server in the guild the command was used in, or listed in ADMIN_USER_IDS."""
    if interaction.user.id in settings.admin_user_ids:
        return True
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def status_embed(status: ModelStatus, settings: Settings, next_check: Any) -> discord.Embed:
    embed = discord.Embed(title="Recommendation model")
    version = status.version
    if version is None:
        embed.description = "No model has been trained yet: everyone gets popular movies."
    else:
        rmse = f", holdout RMSE {version.holdout_rmse:.4f}" if version.holdout_rmse else ""
        embed.add_field(
            name="Active model",
            value=(
                f"v{version.id}, trained {discord.utils.format_dt(version.created_at, 'R')} "
                f"on {version.n_ratings:,} ratings{rmse}"
            ),
            inline=False,
        )
    embed.add_field(
        name="Ratings since then",
        value=f"{status.ratings_since:,} (of {status.ratings_total:,} in all)",
        inline=False,
    )
    if status.active_job is not None:
        job = status.active_job
        since = job.started_at or job.created_at
        training = f"job #{job.id} {job.status} since {discord.utils.format_dt(since, 'R')}"
    elif status.last_job is not None:
        job = status.last_job
        training = f"idle; last job #{job.id} {job.status}"
    else:
        training = "idle; no job has run yet"
    embed.add_field(name="Training", value=training, inline=False)
    rule = (
        f"when {settings.retrain_min_new_ratings:,} new ratings arrived, or the model is older "
        f"than {settings.retrain_max_age_hours:g} h and any rating arrived"
    )
    check = discord.utils.format_dt(next_check, "R") if next_check is not None else "not scheduled"
    embed.add_field(name="Next scheduled check", value=f"{check}: retrains {rule}", inline=False)
    return embed


class Admin(commands.Cog):
    def __init__(self, bot: NNCFBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.background:
            self.retrain_check.change_interval(minutes=self.bot.settings.retrain_check_minutes)
            self.retrain_check.start()

    async def cog_unload(self) -> None:
        self.retrain_check.cancel()

    @tasks.loop(minutes=30)
    async def retrain_check(self) -> None:
        try:
            trigger, count = await self.bot.run_sync(
                retrain_due, self.bot.core.db, self.bot.settings
            )
            if trigger is None:
                return
            job = await self.bot.training.queue(trigger, "scheduler")
            log.info("queued training job #%d (%s, %d new ratings)", job.id, trigger, count)
        except JobAlreadyQueued as already:
            log.info("retrain due but job #%d is already %s", already.job_id, already.status)
        except Exception:
            # An exception would end the loop for good; the next check may succeed.
            log.exception("the retrain check failed")

    @app_commands.command(
        name="retrain", description="Retrain the recommendation model now (admins)."
    )
    async def retrain(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        if not is_admin(interaction, bot.settings):
            raise PermissionDenied(
                "Only members with the Manage Server permission (or the bot's admins) can "
                "retrain the model."
            )
        await defer(interaction)
        job = await bot.training.queue("admin", f"discord:{interaction.user.id}", interaction)
        who = "It starts now" if bot.training.runs_jobs else "A training worker will pick it up"
        await reply(
            interaction,
            f"Queued training job #{job.id}. {who}; I will post the outcome here when it ends.",
        )

    @app_commands.command(name="status", description="The model in use and when it is retrained.")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        status = await bot.run_sync(model_status, bot.core.db)
        next_check = self.retrain_check.next_iteration if self.retrain_check.is_running() else None
        await reply(interaction, embed=status_embed(status, bot.settings, next_check))


async def setup(bot: NNCFBot) -> None:
    await bot.add_cog(Admin(bot))
