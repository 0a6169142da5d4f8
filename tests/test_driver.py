"""The test driver itself (tests/driver.py): the clock runs what falls due on the way, and
posts and DMs are popped once each."""
from __future__ import annotations

import pytest

from tests.driver import plain


def test_at_runs_the_days_jobs_on_the_way_and_posts_pop_once(bot):
    bot.at("17:30")
    [end_of_day] = plain(bot.posts("north"))
    assert end_of_day.startswith("North Community Team: end of day Tue 24 Nov")
    assert "C-7F3K · discharge · 09:00–12:00 · Amira Khan · escalated" in end_of_day  # at 12:30
    assert bot.posts("north") == []  # popped
    with pytest.raises(ValueError):
        bot.at("09:00")  # the clock only moves forward


def test_dms_of_one_person_leave_the_others(bot):
    bot.say("ben", "missed C-9X2P safety")
    bot.advance(minutes=45)  # 08:45: the registered manager too
    [to_dan] = plain(bot.dms("dan"))
    assert "You are paged as registered manager." in to_dan
    assert [handle for handle, _ in bot.dms()] == ["amira"] * 3  # 08:00, 08:15, 08:30
    assert bot.dms() == []
