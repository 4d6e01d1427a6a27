"""Reading request bodies as Go's JSON decoder reads them into dockerd's structs."""

from berth.api.gofields import HOST_CONFIG, decode_names


def test_a_key_naming_a_field_in_another_case_names_that_field():
    assert decode_names(HOST_CONFIG, {"CPURealtimePeriod": 1000, "memory": 5}) == \
        {"CpuRealtimePeriod": 1000, "Memory": 5}


def test_an_exact_name_wins_over_a_case_insensitive_match():
    assert decode_names(HOST_CONFIG, {"memory": 1, "Memory": 2}) == {"Memory": 2}
    assert decode_names(HOST_CONFIG, {"Memory": 2, "MEMORY": 1}) == {"Memory": 2}


def test_unknown_keys_and_non_objects_are_left_as_they_are():
    assert decode_names(HOST_CONFIG, {"Bogus": 1}) == {"Bogus": 1}
    assert decode_names(HOST_CONFIG, None) is None
