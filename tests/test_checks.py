import math

import numpy as np
import pytest

from mesa_llm.checks import check_bool, check_instance, check_int, check_number, check_seed


def test_check_bool_refuses_text_and_says_what_to_pass():
    assert check_bool("torus", True) is True
    with pytest.raises(TypeError, match=r"torus must be True or False, got 'false'; pass False"):
        check_bool("torus", "false")
    with pytest.raises(TypeError, match="pass True"):
        check_bool("torus", "yes")
    with pytest.raises(TypeError, match="got 1"):
        check_bool("torus", 1)


def test_check_int_refuses_text_floats_and_bools():
    assert check_int("width", 20, minimum=1) == 20
    with pytest.raises(TypeError, match=r"width must be a whole number, got '20'; pass 20"):
        check_int("width", "20")
    for bad in (1.5, True, None):
        with pytest.raises(TypeError, match="whole number"):
            check_int("retries", bad)
    with pytest.raises(ValueError, match="width must be at least 1, got 0"):
        check_int("width", 0, minimum=1)


def test_check_number_refuses_nan_infinity_and_out_of_range():
    assert check_number("timeout", 5, above=0) == 5.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            check_number("timeout", bad, above=0)
    with pytest.raises(ValueError, match="greater than 0"):
        check_number("timeout", 0, above=0)
    with pytest.raises(ValueError, match="less than 1"):
        check_number("density", 1.0, minimum=0, below=1)
    with pytest.raises(TypeError, match=r"got '0.5'; pass 0.5"):
        check_number("density", "0.5")


def test_check_instance_names_what_to_pass():
    assert check_instance("graph", None, dict, "a dict or None") is None
    assert check_instance("graph", {}, dict, "a dict or None") == {}
    with pytest.raises(TypeError, match=r"graph must be a dict or None, got list"):
        check_instance("graph", [], dict, "a dict or None")


def test_check_seed_takes_what_numpy_takes_and_leaves_a_generator_untouched():
    generator = np.random.default_rng(3)
    state = generator.bit_generator.state
    assert check_seed(generator) is generator
    assert generator.bit_generator.state == state
    assert check_seed(7) == 7
    assert check_seed(None) is None
    with pytest.raises(TypeError, match="rng must be None, a seed"):
        check_seed(True)
    with pytest.raises(TypeError, match="got 'seed'"):
        check_seed("seed")
    with pytest.raises(ValueError, match="got -1"):
        check_seed(-1)
