"""sanitize.same_markup: a false "same" hides a real upstream edit from subscribers (the
entry keeps its times), so every case here that a reader sees differently must be told apart."""
from __future__ import annotations

import pytest

from aggregator.sanitize import same_markup, sanitize_html


def _clean(fragment: str) -> str:
    return sanitize_html(fragment, "http://example.org/post/")


@pytest.mark.parametrize(("was", "now"), [
    # A paragraph struck through, or set in italics, beside an empty element an editor left
    # (TinyMCE leaves <strong></strong> behind): html5ever keeps the <p> inside the inline
    # element, libxml2's HTML 4 parser closed the inline element before the <p>.
    ("<s></s><p>A claim.</p>", "<s><p>A claim.</p></s>"),
    ("<i></i><p>An editor's note.</p>", "<i><p>An editor's note.</p></i>"),
    ("<b></b><center>Look.</center>", "<b><center>Look.</center></b>"),
])
def test_an_inline_element_put_around_a_block_is_an_edit(was: str, now: str) -> None:
    a, b = _clean(was), _clean(now)
    assert a != b
    assert not same_markup(a, b)
    assert not same_markup(b, a)


@pytest.mark.parametrize("depth", [300, 1000])
def test_an_edit_deep_in_nested_markup_is_an_edit(depth: int) -> None:
    # Past 255 levels libxml2 stops nesting: the markup below that depth was no longer told apart.
    a = _clean("<div>" * depth + "<b>bold</b> plain" + "</div>" * depth)
    b = _clean("<div>" * depth + "<b>bold plain</b>" + "</div>" * depth)
    assert a.count("<div>") == b.count("<div>") == depth
    assert not same_markup(a, b)


@pytest.mark.parametrize(("was", "now"), [
    ("<p><b>a</b> <i>b</i></p>", "<p><b>a</b><i>b</i></p>"),
    ('<p><img src="a.png"> <img src="b.png"></p>', '<p><img src="a.png"><img src="b.png"></p>'),
    ("<p>a<b> </b>b</p>", "<p>a<b></b>b</p>"),
    ("<pre>a  b</pre>", "<pre>a b</pre>"),
    ("<pre><b>a</b>\n<i>b</i></pre>", "<pre><b>a</b><i>b</i></pre>"),
    ("<pre>\n\nx</pre>", "<pre>\nx</pre>"),
    ("<p>a&nbsp;b</p>", "<p>a b</p>"),
    ("<p>a &amp;amp; b</p>", "<p>a &amp; b</p>"),
    ("<p><b><i>x</i></b></p>", "<p><i><b>x</b></i></p>"),
    ('<p><a href="/x">ab</a>c</p>', '<p>a<a href="/x">bc</a></p>'),
    ("<ul><li>ab</li><li>a</li></ul>", "<ul><li>a</li><li>ba</li></ul>"),
    ("<table><tr><td>a</td><td>b</td></tr></table>", "<table><tr><td>ab</td><td></td></tr></table>"),
    ('<img src="a.png" alt="x">', '<img src="a.png" alt="y">'),
    ('<p title="a b">a</p>', '<p title="a  b">a</p>'),
    ("<p>Abc</p>", "<p>abc</p>"),
    ("<p>caf\u00e9</p>", "<p>cafe\u0301</p>"),
    ("<p>a</p><p></p><p>b</p>", "<p>a</p><p>b</p>"),
    ("<ul><li>a<ul><li>b</li></ul></li></ul>", "<ul><li>a</li><ul><li>b</li></ul></ul>"),
])
def test_what_a_reader_sees_differently_is_an_edit(was: str, now: str) -> None:
    a, b = _clean(was), _clean(now)
    assert a != b
    assert not same_markup(a, b)
    assert not same_markup(b, a)


@pytest.mark.parametrize(("was", "now"), [
    ("<p>A story.</p><p>More.</p>", "<p>A story.</p>\n\n<p>More.</p>"),
    ('<p><a href="/x" title="t">here</a></p>', '<p><a title="t" href="/x">here</a></p>'),
    ("<p>A\n  story.</p>", "<p>A story.</p>"),
    ("<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>", "<ul><li>a</li><li>b</li></ul>"),
    ("<p>a<br>\nb</p>", "<p>a<br>\nb</p>"),
    ('<p title="a &gt; b"><b>x</b> y</p>', '<p title="a &gt; b"><b>x</b>\ny</p>'),
    ("<pre>\nx</pre>", "<pre>x</pre>"),
])
def test_markup_written_anew_that_shows_the_same_is_the_same(was: str, now: str) -> None:
    assert same_markup(_clean(was), _clean(now))
    assert same_markup(_clean(now), _clean(was))


def _reference_layout(cleaned: str) -> object:
    """The document as a tree built by the standard library's tokenizer (no tree-building
    rules: the cleaner closes every element itself), with same_markup's whitespace rules."""
    from html.parser import HTMLParser

    from aggregator.sanitize import _BLOCKS, _VOID, _WS, _WS_RUN

    root: list = ["div", (), []]
    stack = [root]

    class Tree(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            element: list = [tag, tuple(sorted((k, v or "") for k, v in attrs)), []]
            stack[-1][2].append(element)
            if tag not in _VOID:
                stack.append(element)

        def handle_endtag(self, tag: str) -> None:
            assert stack.pop()[0] == tag

        def handle_data(self, data: str) -> None:
            stack[-1][2].append(data)

    tree = Tree(convert_charrefs=True)
    tree.feed(cleaned)
    tree.close()
    assert stack == [root]

    def node(element: list, pre: bool) -> object:
        tag, attributes, kids = element
        pre = pre or tag == "pre"
        parts: list[object] = []
        for i, kid in enumerate(kids):
            if not isinstance(kid, str):
                parts.append(node(kid, pre))
            elif pre:
                kid = kid[1:] if i == 0 and tag == "pre" and kid.startswith("\n") else kid
                if kid:
                    parts.append(kid)
            elif not kid.strip(_WS):
                left = kids[i - 1][0] if i else tag
                right = kids[i + 1][0] if i + 1 < len(kids) else tag
                if left not in _BLOCKS and right not in _BLOCKS:
                    parts.append(" ")
            else:
                parts.append(_WS_RUN.sub(" ", kid))
        return (tag, attributes, tuple(parts))

    return node(root, False)


def test_same_markup_agrees_with_a_tree_of_the_cleaned_markup_on_random_edits() -> None:
    # Random fragments and edits of them (two pieces swapped, whitespace put in): the
    # same document exactly when the trees of the cleaned markup are the same.
    import random
    import re

    pieces = ["<p>", "</p>", "<b>", "</b>", "<i>", "</i>", "<s>", "</s>", "<div>", "</div>", "<pre>", "</pre>",
              "<br>", "<ul>", "<li>", "</li>", "</ul>", '<a href="/x" title="a>b">', "</a>", '<img src="y.png" alt="q">',
              "<center>", "</center>", "<table>", "<td>", "</table>", "<span>", "</span>", "<code>", "</code>",
              "<h1>", "</h1>", "a", "b", " ", "\n", "  ", "&amp;", "&nbsp;"]
    rng = random.Random(1)
    compared = same = 0
    for _ in range(6000):
        was = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        parts = re.findall(r"<[^>]*>|[^<]", was)
        i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
        parts[i], parts[j] = parts[j], parts[i]
        if rng.random() < 0.5:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice([" ", "\n", " \n "]))
        a, b = _clean(was), _clean("".join(parts))
        if a == b:
            continue
        compared += 1
        verdict = same_markup(a, b)
        same += verdict
        assert verdict == (_reference_layout(a) == _reference_layout(b)), (a, b)
    assert compared > 3000 and same > 300
