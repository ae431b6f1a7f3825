"""The diffusion scenario's town: the shipped data, the personas, and the checks at load."""

import copy
import json
from types import MappingProxyType

import networkx as nx
import pytest

from mesa_llm_models.diffusion.town import Event, Persona, Place, Town, load_town


def small_town():
    """A valid town of three residents: a couple at home and a friend, meeting at the café."""
    return {
        "places": [
            {"id": "cafe", "name": "the café", "kind": "public"},
            {"id": "park", "name": "the park", "kind": "public"},
            {"id": "home-a", "name": "the Ayres' house", "kind": "home"},
            {"id": "home-c", "name": "Cole's flat", "kind": "home"},
        ],
        "residents": [
            {
                "name": "Ann Ayre",
                "age": 40,
                "occupation": "owner of the café",
                "traits": "cheerful, busy",
                "home": "home-a",
                "schedule": {"7": "cafe", "8": "cafe", "9": "park", "10": "home-a"},
                "relationships": {"Bob Ayre": "her husband", "Cat Cole": "a regular"},
            },
            {
                "name": "Bob Ayre",
                "age": 42,
                "occupation": "plumber",
                "traits": "calm.",
                "home": "home-a",
                "schedule": {"8": "park", "9": "cafe"},
                "relationships": {"Ann Ayre": "his wife"},
            },
            {
                "name": "Cat Cole",
                "age": 19,
                "occupation": "student",
                "traits": "curious",
                "home": "home-c",
                "schedule": {"21": "park", "22": "cafe", "23": "home-c"},
                "relationships": {"Ann Ayre": "the café's owner"},
            },
        ],
        "event": {"host": "Ann Ayre", "title": "a party", "place": "cafe", "day": 1, "start": 8, "end": 10},
    }


@pytest.fixture(scope="module")
def town():
    return load_town()


def test_shipped_town_has_25_residents_and_the_party(town):
    assert len(town.personas) == 25
    assert len({persona.name for persona in town.personas}) == 25
    assert town.event.title == "a Valentine's Day party"
    assert (town.event.day, town.event.start, town.event.end) == (2, 17, 19)
    assert town.places[town.event.place].kind == "public"
    assert town.event.host in {persona.name for persona in town.personas}


def test_shipped_town_has_the_public_places(town):
    public = {place.id for place in town.public_places()}
    assert {"cafe", "park", "market", "library", "college", "pub"} <= public
    assert all(place.kind == "public" for place in town.public_places())
    homes = [persona.home for persona in town.personas]
    assert len(set(homes)) < len(homes)  # some households share a home
    assert all(town.places[home].kind == "home" for home in homes)


def test_shipped_relationship_graph_is_connected_and_sparse(town):
    graph = town.relationship_graph()
    assert sorted(graph.nodes) == list(range(25))
    assert nx.is_connected(graph)
    assert 0.12 <= nx.density(graph) <= 0.25
    assert min(degree for _, degree in graph.degree) >= 2
    for node, persona in enumerate(town.personas):
        assert graph.nodes[node]["name"] == persona.name
        assert graph.degree[node] == len(persona.relationships)


def test_relationship_graph_edges_carry_both_sides(town):
    graph = town.relationship_graph()
    for a, b, data in graph.edges(data=True):
        first, second = town.personas[a], town.personas[b]
        assert data["description"] == {
            first.name: first.relationships[second.name],
            second.name: second.relationships[first.name],
        }


def test_relationship_graph_is_a_new_graph_each_time(town):
    graph = town.relationship_graph()
    graph.remove_node(0)
    assert town.relationship_graph().number_of_nodes() == 25


def test_shipped_routines_meet_and_reach_the_host_before_the_party(town):
    host = town.persona(town.event.host)
    before = range(town.event.start)
    assert any(host.usual_place(hour) == town.event.place for hour in before)
    visitors = {
        persona.name
        for persona in town.personas
        if persona.name != host.name and any(persona.usual_place(hour) == town.event.place for hour in before)
    }
    assert len(visitors) >= 3
    for place in town.public_places():
        assert any(persona.usual_place(hour) == place.id for persona in town.personas for hour in range(24))


def test_shipped_waking_blocks_are_plausible(town):
    for persona in town.personas:
        hours = sorted(persona.schedule)
        assert hours == list(range(hours[0], hours[-1] + 1))
        assert 5 <= hours[0] <= 9
        assert 20 <= hours[-1] <= 23


def test_awake_and_usual_place():
    town = load_town(small_town())
    ann = town.persona("Ann Ayre")
    assert ann.awake(7)
    assert ann.awake(10)
    assert not ann.awake(6)
    assert not ann.awake(11)
    assert ann.usual_place(9) == "park"
    assert ann.usual_place(3) == "home-a"  # asleep: at home
    assert ann.awake(31)  # 31 is 7 the next day
    assert ann.usual_place(33) == "park"
    assert ann.usual_place(-15) == "park"
    with pytest.raises(TypeError, match="hour"):
        ann.awake(7.5)


def test_schedule_and_relationships_are_read_only_with_int_hours():
    ann = load_town(small_town()).persona("Ann Ayre")
    assert list(ann.schedule) == [7, 8, 9, 10]
    with pytest.raises(TypeError):
        ann.schedule[11] = "cafe"
    with pytest.raises(TypeError):
        ann.relationships["Someone"] = "a friend"


def test_schedule_is_sorted_by_hour():
    data = small_town()
    data["residents"][0]["schedule"] = {"9": "park", "7": "cafe", "8": "cafe"}
    assert list(load_town(data).persona("Ann Ayre").schedule) == [7, 8, 9]


def test_describe_names_the_person_without_relationships():
    town = load_town(small_town())
    text = town.persona("Ann Ayre").describe()
    assert text.startswith("You are Ann Ayre, 40, owner of the café.")
    assert "cheerful, busy" in text
    assert "7:00" in text
    assert "11:00" in text
    assert "Bob" not in text
    assert ".." not in town.persona("Bob Ayre").describe()
    assert "midnight" in town.persona("Cat Cole").describe()


def test_describe_reads_for_every_shipped_resident(town):
    for persona in town.personas:
        text = persona.describe()
        assert text.startswith(f"You are {persona.name}, {persona.age}, ")
        assert persona.traits in text
        assert ".." not in text
        assert not any(other in text for other in persona.relationships)


def test_persona_and_index(town):
    for position, persona in enumerate(town.personas):
        assert town.index(persona.name) == position
        assert town.persona(persona.name) is persona
    with pytest.raises(KeyError, match=town.personas[0].name):
        town.persona("Nobody Here")
    with pytest.raises(KeyError, match="Nobody Here"):
        town.index("Nobody Here")


def test_path_and_mapping_load_the_same_town(tmp_path):
    data = small_town()
    path = tmp_path / "town.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    from_path = load_town(path)
    assert from_path == load_town(str(path))
    assert from_path == load_town(data)
    assert from_path.places["cafe"] == Place(id="cafe", name="the café", kind="public")
    assert from_path.event == Event(host="Ann Ayre", title="a party", place="cafe", day=1, start=8, end=10)


def test_shipped_file_and_default_load_the_same_town(town):
    from importlib import resources

    text = resources.files("mesa_llm_models.diffusion").joinpath("town.json").read_text(encoding="utf-8")
    assert load_town(json.loads(text)) == town


def test_mapping_is_not_changed_by_loading():
    data = small_town()
    before = copy.deepcopy(data)
    load_town(data)
    assert data == before


def test_town_built_directly_finds_its_personas():
    persona = Persona(
        name="Dee",
        age=30,
        occupation="cook",
        traits="quick",
        home="h",
        schedule=MappingProxyType({8: "h"}),
        relationships=MappingProxyType({}),
    )
    town = Town(
        places=MappingProxyType({"h": Place("h", "a house", "home")}),
        personas=(persona,),
        event=Event("Dee", "a dinner", "h", 1, 18, 20),
    )
    assert town.persona("Dee") is persona


def test_invalid_json_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON"):
        load_town(path)


def test_wrong_source_type():
    with pytest.raises(TypeError, match="source must be"):
        load_town(42)


def _set(path, value):
    """A change of the small town: ``value`` at ``path`` (keys and indexes), or the key removed for ..."""

    def change(data):
        *parents, last = path
        target = data
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return change


def _add_resident(data):
    data["residents"].append(copy.deepcopy(data["residents"][2]))


def _one_resident(data):
    data["residents"] = data["residents"][:1]
    data["residents"][0]["relationships"] = {}


def _one_sided(data):
    data["residents"][2]["relationships"]["Bob Ayre"] = "a neighbour"


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (_set(("colour",), "blue"), ValueError, "the town has unknown keys 'colour'"),
        (_set(("event",), ...), ValueError, "the town lacks 'event'"),
        (_set(("places",), "cafe"), TypeError, "places must be a list of places"),
        (_set(("places", 0, "size"), 3), ValueError, "places\\[0\\] has unknown keys 'size'"),
        (_set(("places", 1, "kind"), ...), ValueError, "places\\[1\\] lacks 'kind'"),
        (_set(("places", 1, "kind"), "shop"), ValueError, "place 'park' kind must be 'home' or 'public'"),
        (_set(("places", 1, "id"), "cafe"), ValueError, "two places have the id 'cafe'"),
        (_set(("places", 1, "name"), 7), TypeError, "place 'park' name must be text"),
        (_set(("places", 1, "name"), " "), ValueError, "place 'park' name is empty"),
        (_set(("residents", 0, "hobby"), "chess"), ValueError, "residents\\[0\\] has unknown keys 'hobby'"),
        (_set(("residents", 1, "traits"), ...), ValueError, "residents\\[1\\] lacks 'traits'"),
        (_set(("residents", 1, "name"), "Ann Ayre"), ValueError, "two residents are named 'Ann Ayre'"),
        (_set(("residents", 1, "age"), "42"), TypeError, "resident 'Bob Ayre' age must be a whole number"),
        (_set(("residents", 1, "age"), -1), ValueError, "resident 'Bob Ayre' age must be at least 0"),
        (
            _set(("residents", 1, "home"), "cafe"),
            ValueError,
            "resident 'Bob Ayre' home 'cafe' is a public place",
        ),
        (_set(("residents", 1, "home"), "moon"), ValueError, "resident 'Bob Ayre' home 'moon' is no place"),
        (
            _set(("residents", 1, "schedule"), []),
            TypeError,
            "resident 'Bob Ayre' schedule must be a JSON object",
        ),
        (_set(("residents", 1, "schedule"), {}), ValueError, "resident 'Bob Ayre' schedule is empty"),
        (
            _set(("residents", 1, "schedule", "24"), "cafe"),
            ValueError,
            "schedule hour '24' must be at most 23",
        ),
        (
            _set(("residents", 1, "schedule", "-1"), "cafe"),
            ValueError,
            "schedule hour '-1' must be at least 0",
        ),
        (
            _set(("residents", 1, "schedule", "noon"), "cafe"),
            ValueError,
            "schedule hour 'noon' is not an hour",
        ),
        (_set(("residents", 1, "schedule", "08"), "cafe"), ValueError, "schedule lists hour 8 twice"),
        (_set(("residents", 1, "schedule", "10"), "moon"), ValueError, "at hour 10 names no place, 'moon'"),
        (
            _set(("residents", 1, "schedule", "12"), "cafe"),
            ValueError,
            "hours 10, 11 are missing between 8 and 12",
        ),
        (
            _set(("residents", 1, "relationships"), "Ann"),
            TypeError,
            "'Bob Ayre' relationships must be a JSON",
        ),
        (_set(("residents", 1, "relationships", "Bob Ayre"), "me"), ValueError, "'Bob Ayre' lists itself"),
        (
            _set(("residents", 1, "relationships", "Dan Dee"), "a friend"),
            ValueError,
            "'Bob Ayre' has a relationship with 'Dan Dee', who is no resident",
        ),
        (_one_sided, ValueError, "'Cat Cole' lists 'Bob Ayre' but .*the side of 'Bob Ayre' is missing"),
        (_set(("residents",), {}), TypeError, "residents must be a list of residents"),
        (_one_resident, ValueError, "at least 2 residents, got 1"),
        (_add_resident, ValueError, "two residents are named 'Cat Cole'"),
        (_set(("event", "when"), "soon"), ValueError, "the event has unknown keys 'when'"),
        (_set(("event", "title"), ...), ValueError, "the event lacks 'title'"),
        (_set(("event", "host"), "Dan Dee"), ValueError, "the event host 'Dan Dee' is no resident"),
        (_set(("event", "place"), "moon"), ValueError, "the event place 'moon' is no place"),
        (_set(("event", "place"), "home-a"), ValueError, "the event place 'home-a' is a home place"),
        (_set(("event", "day"), 0), ValueError, "the event day must be at least 1"),
        (_set(("event", "day"), 1.0), TypeError, "the event day must be a whole number"),
        (_set(("event", "start"), -1), ValueError, "the event start must be at least 0"),
        (_set(("event", "start"), 24), ValueError, "the event start must be at most 23"),
        (_set(("event", "end"), 25), ValueError, "the event end must be at most 24"),
        (_set(("event", "end"), 8), ValueError, "the event must start before it ends: start 8, end 8"),
        (_set(("event",), None), TypeError, "the event must be a JSON object"),
    ],
)
def test_invalid_town_fails_naming_the_problem(change, error, message):
    data = small_town()
    load_town(data)  # valid before the change
    change(data)
    with pytest.raises(error, match=message):
        load_town(data)


def test_event_may_end_at_midnight():
    data = small_town()
    data["event"].update(start=22, end=24)
    assert load_town(data).event.end == 24
