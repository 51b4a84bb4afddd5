"""Seed document reader: golden file over the real seeds, then every layout rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aggregator.errors import SeedError
from aggregator.seeds import (
    SeedItem,
    parse_seed_text,
    read_seed_path,
    seed_entries,
    seed_identity,
    seed_times,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLDEN = Path(__file__).resolve().parent / "data" / "seeds_expected.json"

EXPECTED_COUNTS = {
    "000_d3ed2fa043bf5c94.txt": 10,
    "001_9c457d061644d54f.txt": 20,
    "002_7fa9e9d0b002185a.txt": 6,
    "003_be7d04d8da14cb61.txt": 10,
    "004_581f4ad9b4baf5b7.txt": 30,
}


def texts(items: list[SeedItem]) -> list[str]:
    return [item.content for item in items]


# --- the real seed documents ------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_items() -> list[SeedItem]:
    items, warnings = read_seed_path(SEEDS)
    assert warnings == []
    return items


def test_seed_counts(seed_items: list[SeedItem]) -> None:
    assert len(seed_items) == 76
    counts: dict[str, int] = {}
    for item in seed_items:
        counts[item.file] = counts.get(item.file, 0) + 1
    assert counts == EXPECTED_COUNTS
    # File-name order, then document order.
    assert [item.file for item in seed_items] == sorted(item.file for item in seed_items)


def test_seeds_match_golden_file(seed_items: list[SeedItem]) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert list(golden) == list(EXPECTED_COUNTS)
    got: dict[str, list[dict[str, object]]] = {}
    for item in seed_items:
        got.setdefault(item.file, []).append(
            {
                "title": item.title,
                "head": item.content[:60],
                "tail": item.content[-60:],
                "truncated": item.truncated,
            }
        )
    for file, expected in golden.items():
        assert len(got[file]) == len(expected), file
        for n, (want, have) in enumerate(zip(expected, got[file])):
            assert have == want, f"{file} item {n}"


def test_seeds_carry_no_markers_and_sane_titles(seed_items: list[SeedItem]) -> None:
    for item in seed_items:
        assert "Read More" not in item.content and "Read More" not in item.title
        assert "Continue reading" not in item.content
        assert 0 < len(item.title) <= 100
        assert item.content == item.content.strip()
        assert item.truncated == item.content.endswith("…")


def test_seed_keys_unique_and_stable(seed_items: list[SeedItem]) -> None:
    keys = [seed_identity("seeds", item) for item in seed_items]
    assert len(set(keys)) == 76
    again, _ = read_seed_path(SEEDS)
    assert [seed_identity("seeds", item) for item in again] == keys


def test_two_paragraph_items_in_003(seed_items: list[SeedItem]) -> None:
    multi = [i for i in seed_items if i.file.startswith("003") and "\n\n" in i.content]
    assert len(multi) == 2
    for item in multi:
        assert item.content.count("\n\n") == 1
        assert item.content.endswith(".") and not item.content.endswith("….")


def test_editing_one_paragraph_changes_one_identity(tmp_path: Path) -> None:
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    before = {seed_identity("seeds", i) for i in read_seed_path(folder)[0]}
    target = folder / "003_be7d04d8da14cb61.txt"
    text = target.read_text(encoding="utf-8")
    old = "The history of broken promises"
    assert text.count(old) == 1
    target.write_text(text.replace(old, "The long history of broken promises"), encoding="utf-8")
    after = {seed_identity("seeds", i) for i in read_seed_path(folder)[0]}
    assert len(before) == len(after) == 76
    assert len(after - before) == 1 and len(before - after) == 1


# --- markers ----------------------------------------------------------------------------


def test_read_more_marker_ends_item_and_joins_paragraphs() -> None:
    text = "First para one.\nFirst para two.\nRead More\nSecond item.\nRead More\n"
    items = parse_seed_text(text, "x.txt")
    assert texts(items) == ["First para one.\n\nFirst para two.", "Second item."]
    assert all(item.file == "x.txt" for item in items)


def test_read_more_with_surrounding_whitespace_and_blank_lines() -> None:
    text = "Alpha story.\n   Read More \t\n\n\nBeta story.\n\tRead More"
    assert texts(parse_seed_text(text)) == ["Alpha story.", "Beta story."]


def test_read_more_inside_a_line_is_not_a_marker() -> None:
    text = "Click Read More for details.\nRead More\nNext.\nRead More"
    assert texts(parse_seed_text(text)) == ["Click Read More for details.", "Next."]


def test_continue_reading_marker_and_its_ellipsis_are_removed() -> None:
    text = (
        "Opening paragraph.\nClosing thought.… Continue reading\n"
        "Other story.\nRead More\n"
        "Bare story Continue reading\n"
    )
    items = parse_seed_text(text)
    assert texts(items) == [
        "Opening paragraph.\n\nClosing thought.",
        "Other story.",
        "Bare story",
    ]


def test_continue_reading_after_a_long_run_of_spaces_is_found_at_once() -> None:
    # Scraped text keeps a page's indentation; 3,000 spaces took the parser seconds.
    text = "Indented story" + " " * 3000 + "ends here.… Continue reading\nNext.\nRead More"
    started = time.monotonic()
    items = parse_seed_text(text)
    assert time.monotonic() - started < 0.5
    assert texts(items) == ["Indented story" + " " * 3000 + "ends here.", "Next."]


def test_paragraphs_after_last_marker_still_form_an_item() -> None:
    text = "One.\nRead More\nTwo, with lost marker.\nStill two."
    assert texts(parse_seed_text(text)) == ["One.", "Two, with lost marker.\n\nStill two."]


def test_crlf_and_cr_line_endings_and_bom() -> None:
    lf = "One.\nRead More\nTwo a.\nTwo b.\nRead More\n"
    expected = parse_seed_text(lf)
    assert parse_seed_text(lf.replace("\n", "\r\n")) == expected
    assert parse_seed_text(lf.replace("\n", "\r")) == expected
    assert parse_seed_text("\ufeff" + lf.replace("\n", "\r\n")) == expected
    assert not any("\r" in item.content for item in expected)


def test_files_joined_with_their_boms_read_as_each_file_alone() -> None:
    # `cat a.txt b.txt > c.txt` of files saved with a BOM keeps b's BOM at a line's start.
    first, second = "One story.\nRead More\n", "\ufeffRead More\nTwo story.\nRead More\n"
    joined = parse_seed_text("\ufeff" + first + second)
    alone = parse_seed_text(first) + parse_seed_text(second)
    assert texts(joined) == texts(alone) == ["One story.", "Two story."]
    assert [seed_identity("s", i) for i in joined] == [seed_identity("s", i) for i in alone]


# --- line layout and questions ------------------------------------------------------------


def test_each_line_is_an_item_without_markers() -> None:
    text = "First line.\n\nSecond line.\n   Third line.   "
    assert texts(parse_seed_text(text)) == ["First line.", "Second line.", "Third line."]


def test_question_and_answer_form_one_item() -> None:
    text = "A plain opening item.\nWhat is NATO doing?\nIt is doing things.\nLast line."
    items = parse_seed_text(text)
    assert [(i.title, i.content) for i in items] == [
        ("A plain opening item.", "A plain opening item."),
        ("What is NATO doing?", "It is doing things."),
        ("Last line.", "Last line."),
    ]


def test_two_questions_in_a_row() -> None:
    text = "Is this first?\nIs this second?\nThe answer to the second.\nEnding question?"
    items = parse_seed_text(text)
    assert [(i.title, i.content) for i in items] == [
        ("Is this first?", "Is this first?"),
        ("Is this second?", "The answer to the second."),
        ("Ending question?", "Ending question?"),
    ]


def test_long_question_title_is_capped() -> None:
    question = "Why " + "very " * 30 + "long?"
    items = parse_seed_text(f"{question}\nBecause.")
    assert items[0].content == "Because."
    assert len(items[0].title) <= 100 and items[0].title.endswith("…")
    assert question.startswith(items[0].title[:-1])


# --- cut-off texts ----------------------------------------------------------------------


def _filler(n: int) -> str:
    """Words to exactly n characters, no final punctuation."""
    words = ("alpha beta gamma delta " * (n // 10 + 2))[:n]
    return words


def test_text_at_the_cap_drops_its_partial_word() -> None:
    long_done = "Complete story. " + _filler(984).rstrip() + "."
    capped = _filler(990)
    assert not capped.endswith(" ")
    items = parse_seed_text(f"{long_done}\n{capped}\n")
    assert items[0].truncated is False
    cut = items[1]
    assert cut.truncated is True
    assert cut.content.endswith("…")
    body = cut.content[:-1]
    # The last, possibly partial, word is gone and the rest is a prefix of the original.
    assert capped.startswith(body)
    assert len(body.split()) == len(capped.split()) - 1


def test_short_teaser_without_punctuation_is_kept_whole() -> None:
    longest = _filler(1000).rstrip() + "."
    teaser = "Stoltenberg said he would stay on"
    near_cap = _filler(900)  # 90 %: below the 95 % threshold, so complete
    items = parse_seed_text(f"{longest}\n{teaser}\n{near_cap}")
    assert [i.truncated for i in items] == [False, False, False]
    assert items[1].content == teaser
    assert items[2].content == near_cap.strip()


def test_95_percent_boundary() -> None:
    longest = "x" * 999 + "."  # 1000 chars
    at = "word " * 189 + "abcd"  # 949 chars: under 95 %
    over = "word " * 189 + "abcde"  # 950 chars: exactly 95 %
    items = parse_seed_text(f"{longest}\n{at}\n{over}")
    assert len(at) == 949 and len(over) == 950
    assert [i.truncated for i in items] == [False, False, True]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("He said that he would meet ...", "He said that he would meet…"),
        ("Putin, whom he praised as tough and ..", "Putin, whom he praised as tough and…"),
        ("another issue up for .", "another issue up for…"),
        ("including a,  ...", "including a…"),
        ("a dotted end....", "a dotted end…"),
        ("a spaced ellipsis, . . .", "a spaced ellipsis…"),
        ("cut in the U.S. . . .", "cut in the U.S.…"),
    ],
)
def test_dot_endings_are_cut_off(raw: str, expected: str) -> None:
    longest = "A much longer complete text that sets the cap for this little file. " * 5
    items = parse_seed_text(f"{longest}\n{raw}")
    assert items[1].content == expected
    assert items[1].truncated is True


def test_a_long_run_of_spaced_dots_is_removed_at_once() -> None:
    # A dot leader (" . . . .") at the end of a long text: each " ." removed copied the
    # text, quadratic: 1.3 MB took 12 s.
    started = time.monotonic()
    items = parse_seed_text("Contents\nSee the annex" + " ." * 640000)
    assert time.monotonic() - started < 1.0
    assert texts(items) == ["Contents", "See the annex…"]


@pytest.mark.parametrize(
    "ending",
    ["done.", "done!", "done?", "done…", 'he said "done"', "he said “done”", "(done)", "[done]",
     # Closing brackets and quotes of other scripts, and the stops of CJK text.
     "「done」", "『done』", "《done》", "【done】", "（done）", "‹done›", "„done“", "»done«", "完了。", "done！",
     "done？"],
)
def test_final_punctuation_means_complete_even_at_the_cap(ending: str) -> None:
    text = _filler(990) + " " + ending
    # Markers, so that a "?" ending is not read as a question with its answer.
    items = parse_seed_text(text + "\nRead More\nShort.\nRead More")
    assert items[0].truncated is False
    assert items[0].content == text


def test_a_decomposed_text_is_cut_as_the_same_text_composed() -> None:
    # NFD spells "é" as two characters: a text saved so is no longer, and no nearer the cap.
    longest = "Complete story. " + _filler(984).rstrip() + "."
    accented = ("café " * 180).strip()  # 899 characters composed: 90 % of the longest
    composed = parse_seed_text(f"{longest}\n{accented}\n")
    decomposed = parse_seed_text(unicodedata.normalize("NFD", f"{longest}\n{accented}\n"))
    assert [i.truncated for i in composed] == [i.truncated for i in decomposed] == [False, False]
    assert [unicodedata.normalize("NFC", i.content) for i in decomposed] == texts(composed)


def test_a_single_dot_after_a_word_is_complete() -> None:
    items = parse_seed_text("x" * 200 + ".\nEnds with abbrev U.S.")
    assert [i.truncated for i in items] == [False, False]


# --- titles -----------------------------------------------------------------------------


def test_title_is_first_sentence() -> None:
    items = parse_seed_text("Short first sentence. Then more text follows here.")
    assert items[0].title == "Short first sentence."


def test_title_of_exactly_100_chars_is_kept_whole() -> None:
    sentence = ("word " * 19) + "abcd."
    assert len(sentence) == 100
    items = parse_seed_text(sentence + " Second sentence.")
    assert items[0].title == sentence


def test_title_over_100_chars_is_cut_at_word_boundary() -> None:
    sentence = "The alliance " + "announced plans " * 10 + "today."
    items = parse_seed_text(sentence)
    title = items[0].title
    assert len(title) <= 100 and title.endswith("…")
    assert sentence.startswith(title[:-1])
    # Cut at a word boundary: the next character of the original is a space.
    assert sentence[len(title) - 1] == " "
    assert not title[:-1].endswith(" ")


def test_title_cut_drops_trailing_comma() -> None:
    sentence = "x" * 90 + " abcdefg, and then a long tail that goes on"
    items = parse_seed_text(sentence + ".")
    assert items[0].title == "x" * 90 + " abcdefg…"


def test_title_of_one_giant_word_is_never_empty() -> None:
    items = parse_seed_text("y" * 300 + ".")
    assert items[0].title == "y" * 99 + "…"


def test_title_abbreviations() -> None:
    # Before a lower-case word an initialism is not a sentence end.
    items = parse_seed_text("Concerns shared by U.S. officials grew. Then more.")
    assert items[0].title == "Concerns shared by U.S. officials grew."
    # Before a capital it may end the sentence: acceptable, and never empty.
    items = parse_seed_text("Troops of the U.S. Army arrived. Then more.")
    assert items[0].title in ("Troops of the U.S.", "Troops of the U.S. Army arrived.")
    # An initialism that opens the text ends no sentence: "U.S." alone is no title.
    items = parse_seed_text("U.S. President Joe Biden met Rutte in Washington. Then more.")
    assert items[0].title == "U.S. President Joe Biden met Rutte in Washington."
    items = parse_seed_text("U.N. Secretary-General António Guterres spoke. Then more.")
    assert items[0].title == "U.N. Secretary-General António Guterres spoke."
    items = parse_seed_text("NATO's Art. 5 guarantee held at No. 10 Downing Street. Then more.")
    assert items[0].title == "NATO's Art. 5 guarantee held at No. 10 Downing Street."
    # ... but "no" and "art" in lower case are words that end sentences before a number too.
    items = parse_seed_text("Asked about a third term, the minister said no. 52 MPs had backed it.")
    assert items[0].title == "Asked about a third term, the minister said no."
    items = parse_seed_text("He sold his art. 3 galleries closed that year.")
    assert items[0].title == "He sold his art."
    items = parse_seed_text("Gen. Smith and John F. Kennedy met here. Then more.")
    assert items[0].title == "Gen. Smith and John F. Kennedy met here."


def test_title_of_a_long_paragraph_without_a_sentence_end_is_found_at_once() -> None:
    # Every "." before a lower-case word (an all-lower-case page, a run of "Mr."s) ends no
    # sentence; each such dot copied the rest of the paragraph: a 1.4 MB line took 28 s,
    # and untitled feed entries take this rule too.
    for text in ("the u.s. said no. " * 40000, "Mr. " * 60000 + "end."):
        started = time.monotonic()
        items = parse_seed_text(text)
        assert time.monotonic() - started < 1.0
        assert len(items) == 1 and items[0].title.endswith("…") and len(items[0].title) <= 100


def test_title_skips_leading_ellipsis_and_stays_on_first_paragraph() -> None:
    items = parse_seed_text("… and then the talks failed\nSecond para.\nRead More")
    assert items[0].title == "… and then the talks failed"


def test_empty_and_marker_only_documents() -> None:
    assert parse_seed_text("") == []
    assert parse_seed_text("\n \n\t\n") == []
    assert parse_seed_text("Read More\nRead More\n") == []


# --- reading files ------------------------------------------------------------------------


def test_bad_files_warn_once_and_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "a_good.txt").write_text("Good one.\nGood two.", encoding="utf-8")
    (tmp_path / "b_empty.txt").write_bytes(b"")
    (tmp_path / "c_binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp_path / "d_latin1.txt").write_bytes("Caf\xe9 \u201cstory\u201d.".encode("cp1252"))
    (tmp_path / "d_undefined.txt").write_bytes(b"Caf\xe9 \x81 story.")  # no Windows-1252 either
    (tmp_path / "e_huge.txt").write_text("Big story.\n" * 200, encoding="utf-8")
    (tmp_path / "f_good.txt").write_text("Another good one.", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("Not a seed.", encoding="utf-8")
    items, warnings = read_seed_path(tmp_path, max_bytes=1000)
    # A Windows-1252 page is read as such, with a warning: its items are not lost.
    assert texts(items) == ["Good one.", "Good two.", "Caf\xe9 \u201cstory\u201d.", "Another good one."]
    assert [i.file for i in items] == ["a_good.txt", "a_good.txt", "d_latin1.txt", "f_good.txt"]
    assert len(warnings) == 5
    names = ("b_empty", "c_binary", "d_latin1", "d_undefined", "e_huge")
    by_file = {name: [w for w in warnings if name in w] for name in names}
    assert all(len(found) == 1 for found in by_file.values()), warnings
    assert "empty" in by_file["b_empty"][0]
    assert "binary" in by_file["c_binary"][0]
    assert by_file["d_latin1"][0].endswith("d_latin1.txt: not UTF-8 text (bad byte at offset 3); bytes that are not UTF-8 read as Windows-1252")
    assert by_file["d_undefined"][0].endswith("d_undefined.txt: skipped, not UTF-8 text (bad byte at offset 3)")
    assert "limit" in by_file["e_huge"][0]
    # Saved as UTF-8 later, it is the same item.
    (tmp_path / "d_latin1.txt").write_text("Caf\xe9 \u201cstory\u201d.", encoding="utf-8")
    again, _ = read_seed_path(tmp_path, max_bytes=1000)
    assert [seed_identity("s", i) for i in again] == [seed_identity("s", i) for i in items]


def test_hidden_files_are_no_seed_documents(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The story.", encoding="utf-8")
    # What copying a.txt from a Mac to a USB stick or a tarball leaves next to it.
    (tmp_path / "._a.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (tmp_path / ".a.txt").write_text("An editor's hidden copy of the story.", encoding="utf-8")
    items, warnings = read_seed_path(tmp_path)
    assert texts(items) == ["The story."] and warnings == []


def test_a_broken_symlink_is_warned_of_not_silently_dropped(tmp_path: Path) -> None:
    # A story linked in from elsewhere whose target moved: its items stop loading, so say so.
    (tmp_path / "a.txt").write_text("The story.", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to(tmp_path / "moved" / "b.txt")
    (tmp_path / "c.txt").symlink_to(tmp_path / "c.txt")  # a loop
    (tmp_path / "d.txt").symlink_to(tmp_path / "a.txt")  # a good link still loads
    (tmp_path / "sub.txt").mkdir()  # a folder is no document, and no problem
    items, warnings = read_seed_path(tmp_path)
    assert texts(items) == ["The story.", "The story."]
    assert [w.rsplit("/", 1)[-1].split(":")[0] for w in warnings] == ["b.txt", "c.txt"]
    assert all("cannot be read" in w for w in warnings), warnings


def test_a_windows_1252_line_in_a_utf8_file_leaves_its_utf8_text_as_it_was(tmp_path: Path) -> None:
    # A line pasted from a Windows-1252 page at the end of a UTF-8 document: the UTF-8 text
    # stays what it was (read whole as Windows-1252, "Latvia’s" would read "Latviaâ€™s",
    # a new item for every stored one with a character past ASCII).
    utf8 = "Latvia’s navy in Sørreisa.\nA plain story.\n"
    (tmp_path / "a.txt").write_text(utf8, encoding="utf-8")
    before, _ = read_seed_path(tmp_path)
    with (tmp_path / "a.txt").open("ab") as f:
        f.write("Café owners “say” yes.\n".encode("cp1252"))
    items, warnings = read_seed_path(tmp_path)
    assert texts(items) == ["Latvia’s navy in Sørreisa.", "A plain story.", "Café owners “say” yes."]
    assert [seed_identity("s", i) for i in items[:2]] == [seed_identity("s", i) for i in before]
    offset = len(utf8.encode()) + 3
    assert [w.rsplit("/", 1)[-1] for w in warnings] == [
        f"a.txt: not UTF-8 text (bad byte at offset {offset}); bytes that are not UTF-8 read as Windows-1252"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_text_with_a_bom_is_read_as_text(tmp_path: Path, encoding: str) -> None:
    # Windows Notepad's "Unicode" is UTF-16 with a BOM: text, not a binary file. UTF-32's
    # BOM begins with UTF-16's: it was decoded as UTF-16 and called a binary file.
    (tmp_path / "le.txt").write_bytes("Caf\u00e9 story one.\r\nStory two.\r\n".encode(encoding))
    bom = {"utf-16": b"\xfe\xff", "utf-32": b"\x00\x00\xfe\xff"}[encoding]
    (tmp_path / "be.txt").write_bytes(bom + "Story three.\n".encode(f"{encoding}-be"))
    items, warnings = read_seed_path(tmp_path)
    assert warnings == []
    assert texts(items) == ["Story three.", "Caf\u00e9 story one.", "Story two."]
    # the same text saved as UTF-8 is the same item
    (tmp_path / "le.txt").write_text("Caf\u00e9 story one.\nStory two.\n", encoding="utf-8")
    again, _ = read_seed_path(tmp_path)
    assert [seed_identity("s", i) for i in again] == [seed_identity("s", i) for i in items]


def _give_to_other_user(prefix: list[str], project: Path) -> None:
    """The project's files to the user ``prefix`` runs as (nobody), when it is another."""
    if prefix:
        for p in [project, *project.rglob("*")]:
            os.chown(p, 65534, 65534, follow_symlinks=False)


def _update_as(prefix: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    """``aggregator update`` on the project's config, run as ``prefix`` has it; no traceback."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "aggregator.cli", "--config", "aggregator.toml", "update"],
        cwd=project, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _as_other_user() -> list[str]:
    """The command prefix that drops root (who reads every file) to nobody, or nothing."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_seed_path_that_cannot_be_read_fails_that_source_alone() -> None:
    # A folder without read permission read as an empty one ("no *.txt seed documents",
    # the source ok); a path under a folder without search permission raised
    # PermissionError out of the refresh: a traceback, and no other source stored.
    prefix = _as_other_user()
    project = Path(tempfile.mkdtemp())
    try:
        (project / "seeds").mkdir()
        (project / "seeds" / "a.txt").write_text("Good story.", encoding="utf-8")
        (project / "noread").mkdir()
        (project / "noread" / "a.txt").write_text("Hidden story.", encoding="utf-8")
        (project / "locked" / "inner").mkdir(parents=True)
        (project / "locked" / "inner" / "a.txt").write_text("Locked story.", encoding="utf-8")
        # A link to a story in a folder we may not search: that file alone is skipped.
        (project / "seeds" / "b.txt").symlink_to(project / "locked" / "inner" / "a.txt")
        (project / "aggregator.toml").write_text(
            '[aggregator]\ndatabase = "sqlite:///agg.db"\noutput_dir = "feeds"\n'
            'base_url = "http://127.0.0.1:8080"\n'
            '[[sources]]\nname = "noread"\npath = "noread"\n'
            '[[sources]]\nname = "locked"\npath = "locked/inner"\n'
            '[[sources]]\nname = "seeds"\npath = "seeds"\n', encoding="utf-8")
        _give_to_other_user(prefix, project)
        (project / "noread").chmod(0o300)
        (project / "locked").chmod(0o600)
        done = _update_as(prefix, project)
        assert done.returncode == 1
        lines = done.stdout.splitlines()
        assert any(line.startswith("seeds: ok, 1 new, 0 updated, 0 merged (")
                   and "b.txt: skipped, cannot be read (Permission denied)" in line for line in lines), lines
        assert any(line.startswith("noread: FAILED") and "cannot be read (Permission denied)" in line
                   for line in lines), lines
        assert any(line.startswith("locked: FAILED") and "cannot be read (Permission denied)" in line
                   for line in lines), lines
    finally:
        for p in (project / "noread", project / "locked"):
            p.chmod(0o700)
        shutil.rmtree(project)


def test_marker_only_file_warns(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("Read More\n", encoding="utf-8")
    items, warnings = read_seed_path(tmp_path)
    assert items == [] and len(warnings) == 1 and "m.txt" in warnings[0]


def test_single_file_path(tmp_path: Path) -> None:
    file = tmp_path / "one.text"
    file.write_text("Only story.\r\nRead More\r\n", encoding="utf-8")
    items, warnings = read_seed_path(file)
    assert texts(items) == ["Only story."] and warnings == []
    assert items[0].file == "one.text"


def test_a_named_pipe_as_the_seed_path_fails_its_source_not_waited_on(tmp_path: Path) -> None:
    # Opening a FIFO for reading waits for a writer: the refresh hung for ever. As the
    # source's one file (nothing of it can load), the source fails, naming it.
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    code = ("from aggregator.seeds import read_seed_path; import sys\n"
            "try:\n    read_seed_path(sys.argv[1])\nexcept Exception as e:\n    print(e)")
    done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=10)
    assert done.stdout.strip() == f"{fifo}: seed path cannot be read (not a regular file)"


def test_a_seed_file_that_cannot_be_read_fails_its_source(tmp_path: Path) -> None:
    # A source whose path is one document we may not read was "ok, 0 new" with a warning:
    # nothing of it loads, so it fails, naming the file and the problem, as a folder that
    # cannot be listed does; a folder's unreadable document is still skipped with a warning.
    prefix = _as_other_user()
    project = Path(tempfile.mkdtemp())
    try:
        (project / "seeds").mkdir()
        (project / "seeds" / "a.txt").write_text("Good story.", encoding="utf-8")
        (project / "seeds" / "b.txt").write_text("Locked story.", encoding="utf-8")
        (project / "one.txt").write_text("Locked story.", encoding="utf-8")
        (project / "aggregator.toml").write_text(
            '[aggregator]\ndatabase = "sqlite:///agg.db"\noutput_dir = "feeds"\n'
            '[[sources]]\nname = "one"\npath = "one.txt"\n'
            '[[sources]]\nname = "seeds"\npath = "seeds"\n', encoding="utf-8")
        _give_to_other_user(prefix, project)
        (project / "one.txt").chmod(0)
        (project / "seeds" / "b.txt").chmod(0)
        done = _update_as(prefix, project)
        assert done.returncode == 1, done.stdout
        lines = done.stdout.splitlines()
        assert "one: FAILED, 0 new, 0 updated, 0 merged (one.txt: seed path cannot be read (Permission denied))" \
            in [line.replace(f"{project}/", "") for line in lines], lines
        assert any(line.startswith("seeds: ok, 1 new, 0 updated, 0 merged (")
                   and "b.txt: skipped, cannot be read (Permission denied)" in line for line in lines), lines
    finally:
        shutil.rmtree(project)


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="does not exist"):
        read_seed_path(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SeedError, match="file/seeds: seed path does not exist"):
        read_seed_path(tmp_path / "file" / "seeds")


def test_a_broken_link_or_a_loop_of_links_as_the_seed_path_says_so(tmp_path: Path) -> None:
    # Both read "seed path does not exist", though `ls` lists the path: the message now
    # names the link's target, or the loop.
    (tmp_path / "gone").symlink_to(tmp_path / "moved-away")
    with pytest.raises(SeedError, match=r"gone: seed path is a symbolic link to '.*moved-away', which does not exist"):
        read_seed_path(tmp_path / "gone")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(SeedError, match=r"a: seed path cannot be read \(Too many levels of symbolic links\)"):
        read_seed_path(tmp_path / "a")


def test_empty_folder_warns(tmp_path: Path) -> None:
    items, warnings = read_seed_path(tmp_path)
    assert items == [] and len(warnings) == 1


# --- identity -----------------------------------------------------------------------------


def test_identity_ignores_whitespace_and_normalization_form() -> None:
    composed = SeedItem("Sørreisa café", "Troops in Sørreisa café.", False, "a.txt", "Troops in Sørreisa café.")
    decomposed = SeedItem(
        unicodedata.normalize("NFD", "Sørreisa  café "),
        unicodedata.normalize("NFD", "Troops\n in\tSørreisa\n\ncafé."),
        True,
        "other.txt",
        unicodedata.normalize("NFD", "Troops\n in\tSørreisa\n\ncafé."),
    )
    assert composed.content != decomposed.content
    assert seed_identity("seeds", composed) == seed_identity("seeds", decomposed)
    key = seed_identity("seeds", composed)
    assert len(key) == 64 and int(key, 16) >= 0


def test_identity_depends_on_source_and_text() -> None:
    item = SeedItem("Title.", "Title. Body.", False, "a.txt", "Title. Body.")
    assert seed_identity("seeds", item) != seed_identity("other-seeds", item)
    changed = SeedItem("Title.", "Title. Body!", False, "a.txt", "Title. Body!")
    assert seed_identity("seeds", item) != seed_identity("seeds", changed)
    # The text as the document has it decides, not the title and content made from it.
    retitled = SeedItem("Body.", "Title. Body…", True, "a.txt", "Title. Body.")
    assert seed_identity("seeds", item) == seed_identity("seeds", retitled)
    # A question and its answer are the text too.
    (qa,) = parse_seed_text("Why here?\nBecause.")
    (plain,) = parse_seed_text("Because.")
    assert qa.content == plain.content and seed_identity("s", qa) != seed_identity("s", plain)


def test_identity_does_not_depend_on_where_the_cap_falls() -> None:
    # Whether a text without final punctuation was cut at the scraper's cap depends on the
    # file's longest text: a longer story added elsewhere changes it, and the item's content
    # (its partial last word, its "…"), never its identity.
    long, short = "A" * 60 + " story that ends here.", "Troops moved toward the northern bor"
    before = {i.content: seed_identity("s", i) for i in parse_seed_text(f"{short}\nShort one.")}
    after = {i.content: seed_identity("s", i) for i in parse_seed_text(f"{long}\n{short}\nShort one.")}
    assert "Troops moved toward the northern…" in before and short in after
    assert before["Troops moved toward the northern…"] == after[short]
    assert before["Short one."] == after["Short one."]
    # The scraper's own cut marks are no part of it either.
    dots = {seed_identity("s", i) for t in ("Cut here ...", "Cut here ..", "Cut here .") for i in parse_seed_text(t)}
    assert len(dots) == 1


def test_identity_ignores_position_and_file() -> None:
    a = parse_seed_text("One.\nTwo.\nThree.", "a.txt")
    b = parse_seed_text("Three.\nOne.", "zz.txt")
    keys_a = {seed_identity("s", i): i.content for i in a}
    keys_b = {seed_identity("s", i): i.content for i in b}
    assert {k: v for k, v in keys_a.items() if k in keys_b} == keys_b


def test_seed_entries() -> None:
    items = parse_seed_text("Hello world.\nHello world.\nCut here ...")
    entries = seed_entries("seeds", items)
    assert len(entries) == 2  # the repeated text shares one key
    first, second = entries
    assert first.key == seed_identity("seeds", items[0])
    assert (first.title, first.content, first.content_type) == ("Hello world.", "Hello world.", "text")
    assert first.link is None and first.published is None and first.updated is None
    assert second.truncated is True and second.content == "Cut here…"


# --- first-seen times ----------------------------------------------------------------------


def test_seed_times_from_now() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    times = seed_times(4, now, None)
    assert times == [now - timedelta(seconds=n) for n in range(4)]


def test_seed_times_newer_than_stored_and_distinct() -> None:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    stored = now + timedelta(seconds=3)  # stored items from a clock that ran ahead
    times = seed_times(76, now, stored)
    assert len(set(times)) == 76
    assert times == sorted(times, reverse=True)
    assert min(times) > stored
    assert all(t.utcoffset() == timedelta(0) for t in times)


def test_seed_times_later_now_wins_and_converts_to_utc() -> None:
    stored = datetime(2024, 1, 1, tzinfo=timezone.utc)
    now = datetime(2025, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    times = seed_times(2, now, stored)
    assert times[0] == datetime(2025, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert times[0].tzinfo == timezone.utc


def test_seed_times_edge_cases() -> None:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert seed_times(0, now, None) == []
    with pytest.raises(ValueError):
        seed_times(1, datetime(2025, 1, 1), None)
    with pytest.raises(ValueError):
        seed_times(1, now, datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        seed_times(-1, now, None)
