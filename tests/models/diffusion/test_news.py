"""The news matcher: places and hours found in text, the event stated or not."""

import pytest

from mesa_llm_models.diffusion.news import claims_of, hour_text, news_sentence, states_event
from mesa_llm_models.diffusion.town import load_town

TOWN = load_town()
PLACES = tuple(TOWN.places.values())
EVENT = TOWN.event  # the café, day 2, 17:00-19:00


def test_the_news_sentence_states_the_event():
    sentence = news_sentence(EVENT, TOWN)
    assert states_event(sentence, EVENT, PLACES)
    assert "Marta Olsen" in sentence
    assert "day 2" in sentence


@pytest.mark.parametrize(
    "text",
    [
        "Party at the Linden Cafe at 5 pm!",
        "come to the linden café, 17:00",
        "The café party starts at five o'clock.",
        "Valentine's thing at the cafe tomorrow, 5:00 p.m.",
        "See you at the Linden Café at 17h.",
        "Marta's party, Linden Café, 5PM sharp",
    ],
)
def test_the_place_and_starting_hour_in_any_common_form_state_the_event(text):
    assert states_event(text, EVENT, PLACES)


@pytest.mark.parametrize(
    "text",
    [
        "Party at the Linden Café at 6 pm.",  # wrong hour
        "Party at the pub at 5 pm.",  # wrong place
        "There is a party at the café.",  # no hour
        "I am at the Linden Café with Ana Silva.",  # an observation: no hour
        "At 5 am I walked past the Linden Café.",  # am, not pm
        "Room 17 of the cafeteria",  # neither the place nor an hour
    ],
)
def test_a_text_without_the_place_or_the_starting_hour_does_not(text):
    assert not states_event(text, EVENT, PLACES)


def test_claims_name_every_place_and_hour_with_their_possible_meanings():
    claims = claims_of("Meet me in Alder Park at 9, then the pub at 21:30 or 10 pm.", PLACES)
    assert claims.places == {"park", "pub"}
    assert claims.hours == (frozenset({21}), frozenset({22}))  # "at 9" alone is no hour form
    assert claims_of("at 9 o'clock", PLACES).hours == (frozenset({9, 21}),)
    assert claims_of("12 am and 12 pm and 0:00", PLACES).hours == (
        frozenset({0}),
        frozenset({12}),
        frozenset({0}),
    )


def test_impossible_times_are_no_hours():
    assert claims_of("at 25:00, or 13 pm", PLACES).hours == ()


def test_what_memories_do_not_support_is_unsupported():
    known = claims_of("Marta Olsen said to me: the party is at the Linden Café at 17:00.", PLACES)
    right = claims_of("A party at the Linden Café at 5 pm.", PLACES)
    wrong = claims_of("A party at the pub at 8 pm.", PLACES)
    assert right.unsupported(known).empty
    unsupported = wrong.unsupported(known)
    assert unsupported.places == {"pub"}
    assert unsupported.hours == (frozenset({20}),)


def test_hour_text_says_both_clocks():
    assert hour_text(17) == "17:00 (5 pm)"
    assert hour_text(0) == "00:00 (12 am)"
    assert hour_text(24) == "00:00 (12 am)"
