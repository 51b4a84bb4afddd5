from __future__ import annotations

import random
import time
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from aggregator.rules import Classifier, TopicRule, compile_phrase, match_fold
from aggregator.text import rule_text


def matches(phrase: str, text: str) -> bool:
    return compile_phrase(phrase).search(match_fold(rule_text(text, None, None))) is not None


def naive_topics(rules: Sequence[TopicRule], text: str, sources: Collection[str]) -> tuple[str, ...]:
    """The DESIGN.md definition, phrase by phrase: the reference for the fast Classifier."""

    folded = match_fold(text)

    def hit(p: str) -> bool:
        return compile_phrase(p).search(folded) is not None

    return tuple(
        r.slug
        for r in rules
        if (not r.any or any(map(hit, r.any)))
        and all(map(hit, r.all))
        and not any(map(hit, r.none))
        and (not r.sources or any(s in r.sources for s in sources))
    )


# --- phrase semantics: every example of DESIGN.md "Topic rules" -----------------------


@pytest.mark.parametrize("text", ["Baltic’s fleet", "the Baltic's ports", "Nordic-Baltic", "BALTIC", "(Baltic)", "Baltic"])
def test_whole_word_matches(text: str) -> None:
    assert matches("Baltic", text)


@pytest.mark.parametrize("text", ["Baltics", "the baltic_sea", "Baltic2", "pre-Balticx", "xBaltic"])
def test_whole_word_does_not_match_inside_words(text: str) -> None:
    assert not matches("Baltic", text)


@pytest.mark.parametrize("text", ["sanction", "Sanctions", "new sanctioned goods", "sanctioning"])
def test_trailing_star_matches_any_ending(text: str) -> None:
    assert matches("sanction*", text)


@pytest.mark.parametrize("text", ["unsanctioned", "sanctio", "sanc tion"])
def test_trailing_star_still_starts_a_word(text: str) -> None:
    assert not matches("sanction*", text)


@pytest.mark.parametrize("text", ["undersea cable", "Undersea  cables", "undersea\n\t cable cut", "undersea\u00a0cables"])
def test_inner_spaces_match_any_whitespace_run(text: str) -> None:
    assert matches("undersea cable*", text)
    assert matches("undersea   cable*", text)  # the phrase's own spacing does not matter


@pytest.mark.parametrize("text", ["undersea-cable", "undersea, cable", "underseacable", "undersea"])
def test_inner_spaces_need_whitespace(text: str) -> None:
    assert not matches("undersea cable*", text)


def test_punctuation_inside_phrase_is_literal() -> None:
    assert matches("IRIS-T", "Germany sends IRIS-T systems")
    assert matches("IRIS-T", "iris-t.")
    assert not matches("IRIS-T", "IRIS T")
    assert not matches("IRIS-T", "IRIS-TX")
    assert not matches("IRIS-T", "IRIST")
    assert matches("U.S.", "the U.S. Navy")
    assert matches("U.S.", "U.S.-led")
    assert not matches("U.S.", "US Navy")
    assert not matches("U.S.", "Aus.S.")  # the phrase starts a word
    assert matches("C++", "written in C++, fast")
    assert not matches("C++", "ABC++")


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("Straße", "STRASSE"),
        ("STRASSE", "die Straße"),
        ("Übung", "ÜBUNG"),
        ("über*", "Überflug"),
        ("ΝΑΤΟ", "νατο"),
        ("München", "Mu\u0308nchen"),  # decomposed text, composed phrase
        ("Mu\u0308nchen", "MÜNCHEN"),
        ("ﬁnland", "FINLAND"),  # the ligature folds to "fi"
    ],
)
def test_unicode_case_folding(phrase: str, text: str) -> None:
    assert matches(phrase, text)


@pytest.mark.parametrize(
    ("phrase", "text"),
    [("Türkiye", "TÜRKİYE backs the plan"), ("Istanbul", "İstanbul talks"), ("İstanbul", "Istanbul talks"),
     ("istanbul*", "İSTANBUL'DA"), ("Bahçeli", "MHP leader BAHÇELİ said"), ("i̇zmir", "Izmir port"),
     ("Istanbul talks", "İSTANBUL TALKS"), ("İstanbul talks", "ISTANBUL  talks")],
)
def test_dotted_capital_i_matches_i(phrase: str, text: str) -> None:
    # "İ" case-folds to "i" + U+0307 (a dot the lower-case i has already): a Turkish
    # upper-case headline must still match the phrase as a reader writes it.
    c = Classifier([TopicRule("t", any=(phrase,)), TopicRule("other", any=("Kilis",))])
    assert c.topics_for(rule_text(text, None, None), ["s"]) == ("t",)
    assert c.topics_for(rule_text("KİLİSE", None, None), ["s"]) == ()  # still whole words


@pytest.mark.parametrize(
    ("phrase", "text"),
    [("Kırım", "KIRIM'DA tatbikat"), ("Diyarbakır", "DİYARBAKIR valisi"), ("KIRIM", "Kırım Tatarları"),
     ("Kırım*", "KIRIMLI gazeteci"), ("Sığınmacı", "SIĞINMACI akını"), ("ırak", "IRAK sınırı")],
)
def test_dotless_i_matches_its_capital(phrase: str, text: str) -> None:
    # Turkish "ı" has the capital "I", which case-folds to "i": "KIRIM", the headline's
    # spelling of "Kırım", must match the phrase as a reader writes it, as "İ" does.
    assert matches(phrase, text)
    c = Classifier([TopicRule("t", any=(phrase,)), TopicRule("other", any=("Kırk",))])
    assert c.topics_for(rule_text(text, None, None), ["s"]) == ("t",)
    assert c.topics_for(rule_text("KIRKLARELİ", None, None), ["s"]) == ()  # still whole words


def test_unicode_whole_words() -> None:
    assert not matches("übung", "Übungen sind")
    assert not matches("strasse", "Straßenbahn")
    assert matches("straße*", "Straßenbahn")


def test_marks_belong_to_their_word() -> None:
    # Devanagari vowel signs are combining marks: "ह" must not match inside "हिन्दी".
    assert not matches("ह", "हिन्दी")
    assert matches("हिन्दी", "हिन्दी समाचार")


def test_html_tags_split_words_and_entities_decode() -> None:
    c = Classifier([TopicRule("b", any=("Baltic",)), TopicRule("rd", any=("R&D",)), TopicRule("sea", any=("bal tic",))])
    assert c.topics_for(rule_text(None, None, "<b>Bal</b>tic"), ["s"]) == ("sea",)
    assert c.topics_for(rule_text(None, None, "Bal<wbr>tic"), ["s"]) == ("sea",)
    assert c.topics_for(rule_text(None, None, "<p>R&amp;D spending</p>"), ["s"]) == ("rd",)
    assert c.topics_for(rule_text("The <i>Baltic</i>", None, None), ["s"]) == ("b",)


@pytest.mark.parametrize("bad", ["", "   ", "*", "**", " * ", "\t*\n"])
def test_invalid_phrases(bad: str) -> None:
    with pytest.raises(ValueError, match="phrase"):
        compile_phrase(bad)
    with pytest.raises(ValueError):
        Classifier([TopicRule("t", any=("ok", bad))])


def test_detached_star_is_one_more_word() -> None:
    assert matches("nato *", "NATO summit")
    assert matches("nato *", "nato  ,")  # the empty word: whitespace follows
    assert not matches("nato *", "NATO.")
    assert not matches("nato *", "NATO")


def test_inner_star_is_literal() -> None:
    assert matches("a*b", "a*b")
    assert not matches("a*b", "axb")


# --- any / all / none / sources ------------------------------------------------------

RULES = (
    TopicRule("baltic", any=("Baltic", "undersea cable*", "submarine cable*")),
    TopicRule("air", any=("IRIS-T", "Patriot"), none=("football", "patriots")),
    TopicRule("both", all=("NATO", "summit")),
    TopicRule("gated", any=("drone*",), all=("Ukraine",)),
    TopicRule("only-seeds", any=("NATO",), sources=("seeds", "archive")),
)


@pytest.mark.parametrize(
    ("text", "sources", "expected"),
    [
        ("Baltic cable cut", ["news"], ("baltic",)),
        ("submarine cables damaged", ["news"], ("baltic",)),
        ("Patriot battery delivered", ["news"], ("air",)),
        ("Patriot fans at the football match", ["news"], ()),  # none wins
        ("NATO summit in Vilnius", ["news"], ("both",)),  # all, and any empty
        ("NATO summit in Vilnius", ["seeds"], ("both", "only-seeds")),
        ("NATO ministers", ["news", "archive"], ("only-seeds",)),  # any of its sources
        ("NATO ministers", ["news"], ()),
        ("a summit without the alliance", ["seeds"], ()),  # all needs every phrase
        ("drones over Ukraine", ["news"], ("gated",)),
        ("drones over Poland", ["news"], ()),
        ("Ukraine news", ["news"], ()),  # all matched but none of any
        ("Baltic NATO summit: IRIS-T and drones for Ukraine", ["seeds"], ("baltic", "air", "both", "gated", "only-seeds")),
        ("nothing relevant", [], ()),
    ],
)
def test_topic_logic(text: str, sources: list[str], expected: tuple[str, ...]) -> None:
    folded = rule_text(text, None, None)
    c = Classifier(RULES)
    assert c.topics_for(folded, sources) == expected
    assert naive_topics(RULES, folded, sources) == expected


def test_topic_with_empty_any_and_all_takes_everything_not_excluded() -> None:
    # A config error, but the Classifier still follows the definition.
    c = Classifier([TopicRule("all-but", none=("spam",)), TopicRule("x", any=("x",))])
    assert c.topics_for("hello", ["s"]) == ("all-but",)
    assert c.topics_for("spam x", ["s"]) == ("x",)


def test_rule_order_and_shared_phrases() -> None:
    rules = [TopicRule("z", any=("Baltic",)), TopicRule("a", any=("baltic", "sea")), TopicRule("m", all=("BALTIC",))]
    assert Classifier(rules).topics_for("baltic", ["s"]) == ("z", "a", "m")
    assert Classifier([]).topics_for("baltic", ["s"]) == ()


def test_overlapping_prefixes_and_words() -> None:
    rules = [
        TopicRule("p1", any=("sanction*",)),
        TopicRule("p2", any=("sanctions*",)),
        TopicRule("w", any=("sanctions",)),
        TopicRule("multi", any=("sanctions sanction*",)),
        TopicRule("literal", any=("sanction* x",)),  # only the trailing * is a wildcard
    ]
    c = Classifier(rules)
    assert c.topics_for("sanction", ["s"]) == ("p1",)
    assert c.topics_for("sanctions", ["s"]) == ("p1", "p2", "w")
    assert c.topics_for("sanctionsx", ["s"]) == ("p1", "p2")
    assert c.topics_for("sanctions sanctioned", ["s"]) == ("p1", "p2", "w", "multi")
    assert c.topics_for("sanctions x", ["s"]) == ("p1", "p2", "w")
    assert c.topics_for("sanction* x", ["s"]) == ("p1", "literal")


def test_non_ascii_separators_and_words() -> None:
    rules = [TopicRule("b", any=("Baltic",)), TopicRule("eu", any=("europ*",)), TopicRule("m", any=("München",))]
    c = Classifier(rules)
    for text, expected in [
        ("«Baltic»", ("b",)),
        ("Nordic—Baltic", ("b",)),
        ("l’Europe", ("eu",)),
        ("in München’s centre", ("m",)),
        ("Münchener", ()),
        ("xBaltic’s", ()),
        ("ébaltic", ()),
    ]:
        assert c.topics_for(rule_text(text, None, None), ["s"]) == expected, text


def test_odd_text_does_not_raise() -> None:
    c = Classifier([TopicRule("b", any=("Baltic", "sea cable*"))])
    assert c.topics_for("baltic \ud800 sea cables", ["s"]) == ("b",)
    assert c.topics_for("\x00baltic\x00", ["s"]) == ("b",)
    assert c.topics_for("", ["s"]) == ()
    assert c.topics_for(rule_text("\ud800 Ba\ud800ltic", None, "<p>\ud800</p>"), ["s"]) == ()


# --- the fast Classifier agrees with the definition on random texts ------------------

VOCAB = ["baltic", "balticum", "sea", "cable", "cables", "undersea", "nato", "iris", "t", "u", "s",
         "straße", "münchen", "sanction", "sanctions", "drone", "x_y", "ü", "éclair", "l", "europe",
         "北约", "峰会", "北", "ウクライナ", "นาโต", "나토는", "ＮＡＴＯ", "ｕ．ｓ．", "２０２４年",
         "обʼєднання", "ещё", "ΟΥΚΡΑΝΙΑ", "Ουκρανία", "ｳｸﾗｲﾅ", "ｶﾞｽ", "bucureşti"]
SEPARATORS = [" ", "  ", "\n", "-", "’", "'", ", ", ". ", "—", " «", "» ", "\u00a0", "/", "’s ", "", "、"]
PHRASES = ["baltic", "sea", "cable*", "undersea cable*", "nato", "iris-t", "u.s.", "u s", "straße", "münchen",
           "sanction*", "sanctions", "x_y", "ü", "éclair*", "l’europe", "europ*", "baltic’s", "sea-cable", "dron*",
           "nato sea", "—", "t*", "sea *", "*s", "u.s.*", "北约", "约峰", "北约 峰会", "ウクライナ*", "nato峰会",
           "นาโต", "나토", "об'єднання", "єднання", "еще", "ουκρανία", "ウクライナ", "ガス", "bucurești"]


def random_text(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(0, 12)):
        parts.append(rnd.choice(VOCAB))
        parts.append(rnd.choice(SEPARATORS))
    return rule_text("".join(parts), None, None, content_type="text")


def test_classifier_agrees_with_naive_definition() -> None:
    rnd = random.Random(1234)
    rules = [
        TopicRule(
            f"t{i}",
            any=tuple(rnd.sample(PHRASES, rnd.randint(0, 3))),
            all=tuple(rnd.sample(PHRASES, rnd.randint(0 if i % 3 else 1, 2))),
            none=tuple(rnd.sample(PHRASES, rnd.randint(0, 1))),
            sources=tuple(rnd.sample(["a", "b", "c"], rnd.randint(0, 2))),
        )
        for i in range(40)
    ]
    c = Classifier(rules)
    matched = 0
    for _ in range(3000):
        text = random_text(rnd)
        sources = rnd.sample(["a", "b", "c", "d"], rnd.randint(1, 2))
        got = c.topics_for(text, sources)
        assert got == naive_topics(rules, text, sources), (text, sources)
        matched += bool(got)
    assert matched > 500  # the comparison exercised real matches


# --- speed: prints the rate (run with -s); no timing assertion ------------------------


def synthetic_corpus(n_items: int, n_topics: int = 50, seed: int = 7) -> tuple[list[TopicRule], list[str]]:
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rnd.choice(letters) for _ in range(rnd.randint(3, 10))) for _ in range(8000)]
    topic_words = vocab[:1500]

    def phrase() -> str:
        k, w = rnd.random(), rnd.choice(topic_words)
        if k < 0.5:
            return w
        if k < 0.75:
            return w[: max(3, len(w) - 2)] + "*"
        if k < 0.9:
            return f"{w} {rnd.choice(topic_words)}"
        return f"{w}-{rnd.choice(topic_words)[:2]}"

    rules = []
    for t in range(n_topics):
        ph = [phrase() for _ in range(rnd.randint(5, 20))]
        rules.append(TopicRule(f"t{t}", any=tuple(ph[:-2]), all=tuple(ph[-2:-1]) if t % 5 == 0 else (), none=tuple(ph[-1:])))
    texts = []
    for _ in range(n_items):
        words = [rnd.choice(vocab) for _ in range(rnd.randint(80, 220))]
        texts.append(rule_text(" ".join(words[:8]).title() + "’s", None, "<p>" + " ".join(words[8:]) + ".</p>"))
    return rules, texts


def test_classification_rate() -> None:
    rules, texts = synthetic_corpus(5000)
    c = Classifier(rules)
    start = time.perf_counter()
    results = [c.topics_for(t, ("seeds",)) for t in texts]
    elapsed = time.perf_counter() - start
    print(f"\nclassified {len(texts)} items x {len(rules)} topics: {len(texts) / elapsed:,.0f} items/s")
    for text, got in zip(texts[:150], results[:150]):
        assert got == naive_topics(rules, text, ("seeds",))
    assert sum(map(len, results)) > len(texts)  # topics are really being assigned


def test_a_text_in_a_script_written_without_spaces_is_spaced_out_a_run_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each of its characters is a word (_UNSPACED): spaced out one substitution a
    # character, a 1 KB Chinese text took 0.45 ms to classify, thirty times a German one,
    # and a store of Chinese feeds a minute of CPU at each reclassification. One
    # substitution a run of such characters now (about eight times a German text; a
    # figure, not asserted: timings belong to bench/).
    import aggregator.rules as rules_module

    calls: list[str] = []
    spaced = rules_module._spaced_run

    def counted(run: Any) -> str:
        calls.append(run.group())
        return spaced(run)

    monkeypatch.setattr(rules_module, "_spaced_run", counted)
    text = rule_text("北约峰会在维尔纽斯举行，各国领导人讨论了乌克兰问题。NATO 的ウクライナ支援", None, None)
    assert match_fold(text) == (" 北 约 峰 会 在 维 尔 纽 斯 举 行 , 各 国 领 导 人 讨 论 了 乌 克 兰 问 题 。nato  的 "
                                "ウ ク ラ イ ナ 支 援 ")
    assert calls == ["北约峰会在维尔纽斯举行", "各国领导人讨论了乌克兰问题", "的ウクライナ支援"]  # not a call a character
    c = Classifier([TopicRule("nato", any=("北约", "nato"))])
    assert c.topics_for(text, ["s"]) == ("nato",)


def test_multi_word_phrases_found_by_their_word_sequence() -> None:
    # No word of these phrases is a one-word phrase: the scan looks for the sequence.
    rules = [
        TopicRule("seq", any=("samarder decision", "undersea cable*")),
        TopicRule("nat", any=("nat*",)),  # a prefix of the sequence's first word
        TopicRule("sum", any=("decision*",)),  # a word inside the sequence, scanned on its own
    ]
    c = Classifier(rules)
    for text, expected in [
        ("the samarder decision", ("seq", "sum")),
        ("samarder\u00a0 decisions", ("sum",)),  # whole words only
        ("samarder’s decision", ("sum",)),
        ("samarder,\ndecision", ("sum",)),  # punctuation is not whitespace
        ("undersea\u00a0cables", ("seq",)),
        ("national undersea cable", ("seq", "nat")),
        ("decision samarder", ("sum",)),
        ("samarder", ()),
    ]:
        folded = rule_text(text, None, None, content_type="text")
        assert c.topics_for(folded, ["s"]) == expected, text
        assert naive_topics(rules, folded, ["s"]) == expected, text


def test_sequence_triggers_agree_with_naive_definition() -> None:
    # Only longer phrases, so that none is triggered by a word scanned on its own.
    rnd = random.Random(99)
    multi = ["undersea cable*", "iris-t", "u.s.", "u s", "l’europe", "baltic’s", "sea-cable", "nato sea",
             "sea *", "u.s.*", "sanctions sanction*", "nato  sea cable", "x_y straße", "drone sea"]
    rules = [TopicRule(f"m{i}", any=tuple(rnd.sample(multi, 2))) for i in range(12)]
    c = Classifier(rules)
    matched = 0
    for _ in range(3000):
        text = random_text(rnd)
        got = c.topics_for(text, ["a"])
        assert got == naive_topics(rules, text, ["a"]), text
        matched += bool(got)
    assert matched > 200  # real matches were compared


@pytest.mark.parametrize(("phrase", "text"), [
    ("alliance's chief", "the Alliance’s chief said"), ("alliance’s chief", "the alliance's chief said"),
    ("alliance's chief", "the alliance's chief said"), ("Putin’s", "PUTIN'S war")])
def test_a_typographic_apostrophe_is_the_typed_one(phrase: str, text: str) -> None:
    # Most published text has "’", most phrases are typed with "'": the shipped config's
    # "alliance's chief" must find "Alliance’s chief" in the seed documents.
    assert matches(phrase, text)
    c = Classifier([TopicRule("t", any=(phrase,))])
    assert c.topics_for(rule_text(text, None, None), ["s"]) == ("t",)
    assert not matches(phrase, text.replace("’", " ").replace("'", " "))  # still punctuation, matched literally


@pytest.mark.parametrize(("phrase", "text"), [
    ("IRIS-T", "Germany sends IRIS\u2011T systems"), ("IRIS-T", "IRIS\u2010T"), ("IRIS\u2011T", "the IRIS-T SLM"),
    ("Nordic-Baltic", "NORDIC\u2011BALTIC states"), ("air-defence*", "air\u2010defences")])
def test_a_typographic_hyphen_is_the_typed_one(phrase: str, text: str) -> None:
    # A word processor writes "IRIS‑T" with a non-breaking hyphen (U+2011), Unicode's own
    # hyphen is U+2010: both look like the "-" the user typed, and must match it as ’ does '.
    assert matches(phrase, text)
    c = Classifier([TopicRule("t", any=(phrase,))])
    assert c.topics_for(rule_text(text, None, None), ["s"]) == ("t",)
    dashed = text.replace("\u2011", "\u2013").replace("\u2010", "\u2014").replace("-", "\u2013")
    assert not matches(phrase, dashed)  # dashes are not hyphens


@pytest.mark.parametrize(("phrase", "text"), [
    ("北约", "北约峰会在维尔纽斯举行"),  # Chinese: no spaces between words
    ("北约", "今年的北约峰会"),
    ("峰会", "北约峰会在维尔纽斯举行"),
    ("北约 峰会", "北约峰会"),  # a space in the phrase: none needed between those characters
    ("NATO", "在NATO峰会上"),  # a Latin word beside them is a whole word
    ("NATO峰会", "在NATO峰会上"),
    ("ウクライナ", "ウクライナ情勢について"),  # Japanese
    ("ウクライナ*", "ウクライナ"),  # a star after such a character asks nothing more
    ("北大西洋条約機構", "北大西洋条約機構（NATO）の首脳会議"),
    ("นาโต", "การประชุมสุดยอดนาโตที่วิลนีอุส"),  # Thai
    ("나토", "나토는 오늘 정상회의를 열었다"),  # Korean: a particle joins its noun
])
def test_a_phrase_in_a_script_written_without_spaces_matches_inside_its_run(phrase: str, text: str) -> None:
    # DESIGN's whole words are runs of letters: in Chinese or Japanese such a run is a
    # clause, and "北约" (NATO) met no item. Each of their characters is a word.
    assert matches(phrase, text)
    assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(rule_text(text, None, None), ["s"]) == ("t",)


@pytest.mark.parametrize(("phrase", "text"), [
    ("NATO", "ＮＡＴＯ首脳会議　ウクライナ支援で合意"),  # NHK writes Latin letters full-width
    ("2024年", "２０２４年の首脳会議"),
    ("G7", "Ｇ７サミット"),
    ("u.s.", "Ｕ．Ｓ．の"),
    ("ＮＡＴＯ", "在NATO峰会上"),  # and a phrase typed in full-width mode
    ("ウクライナ＊", "ウクライナ情勢"),  # its star too
])
def test_a_full_width_letter_digit_or_sign_is_the_ascii_one(phrase: str, text: str) -> None:
    # Japanese and Chinese text writes Latin letters and digits beside its own full-width
    # (ＮＡＴＯ, ２０２４年): "NATO" met none of them, nor a phrase typed so any ASCII text.
    assert matches(phrase, text)
    assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(rule_text(text, None, None), ["s"]) == ("t",)
    assert not matches(phrase, text.replace("Ｇ", "Ｘ").replace("ＮＡＴＯ", "ＮＡＴＯＳ").replace("NATO", "NATOS")
                       .replace("２０２", "１０２").replace("Ｕ", "Ｖ").replace("ウクライナ", "ウクライ"))


@pytest.mark.parametrize(("phrase", "text"), [
    ("北约", "北方的约定"),  # its characters apart
    ("NATO", "在NATOS峰会上"),  # a Latin word is still whole
    ("北约峰会", "北约"),
])
def test_a_phrase_in_a_script_written_without_spaces_needs_its_characters_in_a_row(phrase: str, text: str) -> None:
    assert not matches(phrase, text)
    assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(rule_text(text, None, None), ["s"]) == ()


def test_a_soft_hyphen_in_a_phrase_is_dropped_as_in_texts() -> None:
    # A word copied from a web page may carry its invisible soft hyphen (Bundes&shy;wehr);
    # texts have theirs removed, so the phrase, which looks right, never matched anything.
    phrase = "Bundes\xadwehr"
    for summary in ("Die Bundeswehr", "Die Bundes\xadwehr", "<p>BUNDES&shy;WEHR</p>"):
        text = rule_text(None, summary, None)
        assert compile_phrase(phrase).search(match_fold(text))
        assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(text, ["s"]) == ("t",)


@pytest.mark.parametrize(("phrase", "text"), [
    # Ukrainian: outlets print the apostrophe as U+02BC (a "letter" to Unicode), ’ or ';
    # a user types '.
    ("об'єднання", "Сили обʼєднання"), ("п'ять", "ПʼЯТЬ країн"), ("пʼять", "п’ять країн"),
    ("пʼять", "п'ять країн"), ("об'єдн*", "обʼєднаних сил"),
    # Russian: ё's dots are optional; most outlets leave them out, some print them.
    ("Петр", "Пётр Первый"), ("еще", "ещё раз"), ("Пётр", "ПЕТР I"), ("ещё", "ЕЩЕ"), ("Ёлки", "елки"),
    # Greek: capitals drop the tonos (and keep a dialytika where it parted two vowels).
    ("Ουκρανία", "ΟΥΚΡΑΝΙΑ: νέα"), ("Ουκρανίας", "ΟΥΚΡΑΝΙΑΣ"), ("Ευρωπαϊκή", "ΕΥΡΩΠΑΪΚΗ ΕΠΙΤΡΟΠΗ"),
    ("Μαΐου", "ΜΑΪΟΥ"), ("τσάι", "ΤΣΑΪ"), ("ΟΥΚΡΑΝΙΑ", "στην Ουκρανία"), ("Ουκρανί*", "ΟΥΚΡΑΝΙΚΟΣ"),
    # Romanian: the comma-below letters, and their old cedilla spellings.
    ("București", "Bucureşti"), ("Bucureşti", "BUCUREȘTI"), ("forțe", "forţe"),
    # Japanese: half-width katakana are the usual ones.
    ("ウクライナ", "ｳｸﾗｲﾅ情勢"), ("ガス", "ｶﾞｽ供給"), ("ｳｸﾗｲﾅ", "ウクライナ情勢"),
])
def test_two_spellings_of_one_letter_match(phrase: str, text: str) -> None:
    # Each of these met nothing: a phrase typed as a keyboard types it against the way
    # outlets print the word (or the other way round).
    assert matches(phrase, text)
    assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(rule_text(text, None, None), ["s"]) == ("t",)


@pytest.mark.parametrize(("phrase", "text"), [
    ("об'єднання", "об єднання"),  # an apostrophe is still punctuation, matched literally
    ("єднання*", "поєднання"),  # and still parts words: not inside one
    ("Петр", "Пятр"), ("ещё", "ещи"), ("Ουκρανία", "ΟΥΚΡΑΝΟΙ"),
    ("ウクライナ", "ｳｸﾗｲ"), ("ガス", "ｶｽ"),  # a voiced mark is part of its kana
    # Other accents are letters of their own (German, Polish, Spanish, Turkish,
    # Vietnamese, Baltic, Czech...): folding them would match other words.
    ("Müll", "Mull"), ("año", "ano"), ("żona", "zona"), ("États-Unis", "ETATS-UNIS"), ("šalis", "salis"),
])
def test_other_letters_stay_apart(phrase: str, text: str) -> None:
    assert not matches(phrase, text)
    assert Classifier([TopicRule("t", any=(phrase,))]).topics_for(rule_text(text, None, None), ["s"]) == ()
