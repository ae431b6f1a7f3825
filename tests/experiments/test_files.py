import pytest

from mesa_llm.experiments.files import SweepFileError, load_sweep_file


def write(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_a_sweep_file_gives_the_sweep_it_describes(tmp_path):
    sweep = load_sweep_file(
        write(
            tmp_path,
            """
scenario = "schelling"
steps = 7
seeds = [3, 5]
temperature = 0.0

[fixed]
width = 9

[axes]
llm_share = [0.0, 1.0]

[axes.backend]
follows = "rule"
""",
        )
    )
    assert sweep.steps == 7
    assert sweep.seeds == (3, 5)
    assert sweep.temperature == 0.0
    assert sweep.fixed == {"width": 9}
    assert sweep.axes == {"llm_share": [0.0, 1.0], "backend": {"follows": "rule"}}
    assert len(sweep) == 4


def test_seeds_as_a_number_count_from_zero(tmp_path):
    sweep = load_sweep_file(write(tmp_path, 'scenario = "schelling"\nseeds = 3\n'))
    assert sweep.seeds == (0, 1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('scenario = "schelling"\nsteeps = 3\n', r"unknown key\(s\) steeps"),
        ("steps = 3\n", "names no scenario"),
        ('scenario = "schelling"\nfixed = 3\n', r"fixed must be a table"),
        ('scenario = "schelling"\nseeds = 0\n', "runs nothing"),
        ('scenario = "schelling"\n[axes]\nhomophily = [0.3, 2.0]\n', "homophily=2.0 is refused"),
        (
            'scenario = "schelling"\n[framings.mine]\nsystem = "x"\n',
            "framing 'mine' must be a table with a user",
        ),
        ("scenario = [", "not valid TOML"),
    ],
)
def test_a_bad_sweep_file_is_refused_with_the_problem_named(tmp_path, text, message):
    with pytest.raises(SweepFileError, match=message):
        load_sweep_file(write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SweepFileError, match="Cannot read the sweep file"):
        load_sweep_file(tmp_path / "none.toml")
