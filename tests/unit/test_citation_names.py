"""Which stored eids a cited eid names: the rule search uses to put a named provision first."""

from __future__ import annotations

from iu_core.domain.citations import last_components, names


def test_a_cited_eid_names_the_stored_path_that_ends_with_it() -> None:
    assert names("art_16__para_1", "chp_III__art_16__para_1")
    assert names("chp_2", "chp_II")
    assert not names("art_6", "chp_I__art_16")  # whole components, not a text suffix
    assert not names("art_16__para_1", "chp_III__art_16")


def test_the_last_component_is_offered_in_both_numerals_for_chapters_and_parts() -> None:
    assert last_components("chp_2") == ("chp_2", "chp_ii")
    assert last_components("part_14") == ("part_14", "part_xiv")
    assert last_components("art_5__para_1") == ("para_1",)
