"""English -> Chinese query terms: inflected English words find their dictionary entries."""
from __future__ import annotations

import pytest

from rag.translate import lemmas, translate_groups


@pytest.mark.parametrize("word, base", [
    ("farmers", "farmer"), ("cities", "city"), ("wolves", "wolf"), ("boxes", "box"),
    ("launched", "launch"), ("planned", "plan"), ("became", "become"), ("planting", "plant"),
    ("glass", "glass"),
    ("ecological", "ecology"), ("environmental", "environment"), ("agricultural", "agriculture"),
    ("industrial", "industry"), ("economic", "economy"), ("implementation", "implement"),
    ("nationally", "national"), ("mangroves", "mangrove"),
])
def test_lemmas_include_the_base_form(word, base):
    assert base in lemmas(word) and lemmas(word)[0] == word


def test_plural_heads_of_phrases_are_translated():
    vocabulary = {"农民", "股东", "煤矿", "工业", "园区"}
    groups = translate_groups("How many farmers became shareholders in the coal mines?", vocabulary)
    flat = [t for g in groups for t in g]
    assert "农民" in flat and "股东" in flat and "煤矿" in flat


def test_a_word_outside_the_corpus_vocabulary_is_dropped():
    assert translate_groups("shareholders", {"农民"}) == []


def test_adjectives_find_their_nouns_and_one_character_words_are_kept_when_nothing_longer_is():
    """The dictionary glosses 生态 as "ecology", never "ecological"; 碳 and 氢 are one character,
    which is kept only when the corpus writes it alone and no longer translation is there."""
    vocabulary = {"生态", "补偿", "碳", "氢", "船舶", "排放"}
    flat = [t for g in translate_groups("ecological compensation for carbon and hydrogen", vocabulary) for t in g]
    assert "生态" in flat and "碳" in flat and "氢" in flat
    assert translate_groups("carbon", {"碳", "碳排放"}) == [["碳"]]
    assert ["排放"] in translate_groups("emissions", {"排", "排放"})  # the longer word wins


def test_a_word_glossed_only_inside_longer_glosses_takes_their_words():
    """CC-CEDICT has "mangrove forest or swamp" (红树林) and "solar energy" (太阳能) but no entry
    "mangrove" or "solar"; such a word is not dropped, nor read as man + groves."""
    from rag.text import search_tokens

    vocabulary = set(search_tokens("红树林和太阳能"))
    flat = [t for g in translate_groups("Are the mangroves solar powered?", vocabulary) for t in g]
    assert "红树林" in flat and "太阳能" in flat


def test_words_the_dictionary_lacks_are_read_in_parts():
    """Users write "wastewater" and "forest-and-grass"; the dictionary has "waste water" and the
    parts, so the question keeps those concepts instead of losing them."""
    groups = translate_groups("And its wastewater recycling rate?")
    assert any("废水" in g for g in groups)
    hyphenated = translate_groups("What is the forest-and-grass coverage?")
    assert any("林" in g for g in hyphenated) and any("覆盖率" in g for g in hyphenated)
    assert translate_groups("How many zero-carbon parks?") == [["零碳园区"]]  # a known compound stays whole
    # a hyphenated policy term is found however the hyphen is read
    assert ["超低排放"] in translate_groups("ultra-low emission retrofits")
    assert ["十三五"] in translate_groups("during the 13th Five-Year Plan")


def test_a_name_written_in_pinyin_is_found_among_the_corpus_words():
    """English questions write Chinese names in pinyin. A name the dictionary does not gloss
    ("Lanyu") or glosses as something the corpus does not use is matched by its spelling
    against the corpus's words; a common word with the same spelling is not a name."""
    from rag.translate import translate_groups

    vocabulary = {"岚峪", "湖区", "再生", "水厂", "完善", "设计", "能力"}
    groups = translate_groups("What is the design capacity of the Lanyu water plant?", vocabulary)
    assert ["岚峪"] in groups
    assert not any("完善" in g for g in translate_groups("How has Wanshan changed?", vocabulary))


def test_pinyin_names_are_the_same_in_every_process():
    """Sets iterate in a per-process order (string hashing is salted): the pinyin index and the
    names a spelling gives must not follow it, or an English question's answer changes between
    runs of the same code."""
    import os
    import subprocess
    import sys

    code = ("from rag.translate import pinyin_index, _pinyin_name\n"
            "vocab = {'襄阳', '向阳', '湘阳', '岚峪', '蓝玉', '澜溪'}\n"
            "index = pinyin_index(vocab)\n"
            "print(_pinyin_name('xiangyang', index), _pinyin_name('lanyu', index), sorted(index.items())[:6])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1 and "襄阳" in outs.pop()
