"""Plain (unaccented) Vietnamese: recognised as Vietnamese, and its marks restored from the texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from iu_core.domain import sample_path
from iu_core.vector.diacritics import Restorer, has_marks, strip_marks
from iu_core.vector.language import Language, detect_language

STATUTES = Path(__file__).parents[1] / "data" / "statutes"


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    texts = [p.read_text(encoding="utf-8") for p in sorted(STATUTES.glob("vn_*.txt"))]
    return Restorer([*texts, sample_path("quy_che_vi.md").read_text(encoding="utf-8")])


def test_strip_marks_removes_every_vietnamese_diacritic() -> None:
    assert strip_marks("Điều 21. Bảo vệ dữ liệu cá nhân trên không gian mạng") == (
        "Dieu 21. Bao ve du lieu ca nhan tren khong gian mang"
    )
    assert not has_marks("tai khoan") and has_marks("tài khoản")


@pytest.mark.parametrize(
    "question",
    [
        "toi co duoc cho nguoi khac dung chung tai khoan khong",
        "luc luong bao ve an ninh mang gom nhung ai",
        "thoi gian truy cap thu vien la bao lau",
    ],
)
def test_plain_vietnamese_is_recognised(question: str) -> None:
    assert detect_language(question) is Language.VI


@pytest.mark.parametrize(
    "question",
    ["Who is the co-owner of a car when I die?", "I want to go to the shop so I can buy a thing"],
)
def test_english_with_short_words_stays_english(question: str) -> None:
    assert detect_language(question) is Language.EN


def test_marks_are_restored_from_the_texts_and_their_neighbours(restorer: Restorer) -> None:
    assert restorer.restore("bao ve du lieu ca nhan tren khong gian mang") == (
        "bảo vệ dữ liệu cá nhân trên không gian mạng"
    )
    # "dung" alone could be dùng, đúng or dụng; "su dung" is sử dụng.
    assert restorer.restore("nguoi su dung thu vien") == "người sử dụng thư viện"
    assert restorer.restore("Thoi gian bao lau?") == "Thời gian bao lâu?"  # case and punctuation kept


def test_typed_marks_and_unknown_words_are_left_alone(restorer: Restorer) -> None:
    assert restorer.restore("tài khoản xyzzy") == "tài khoản xyzzy"
    assert restorer.restore("") == ""
