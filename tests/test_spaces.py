"""Architecture encodings, checked against NATS-Bench's own genotype code on all 15,625 cells."""
from __future__ import annotations

import itertools

import pytest
from nats_bench.genotype_utils import topology_str2structure

from suite.spaces import Arch, SizeArch, get_tabular_space
from suite.spaces import nb201, sss

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_parse_format_roundtrip_on_every_official_string(tss_meta_archs):
    assert len(tss_meta_archs) == 15625
    for text in tss_meta_archs:
        arch = Arch.parse(text)
        assert arch.to_str() == text
        assert Arch.from_code(arch.code) == arch
        assert Arch.from_ops(arch.op_indices) == arch


def test_official_order_is_not_product_order(tss_meta_archs):
    product = ["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)
               for ops in itertools.product(nb201.OPS, repeat=6)]
    assert sorted(product) == sorted(tss_meta_archs)
    assert product != tss_meta_archs
    assert Arch.parse(tss_meta_archs[6111]).code != 6111


def test_unique_str_and_degenerate_match_official_for_all_archs(tss_meta_archs):
    keys = set()
    for text in tss_meta_archs:
        ours, ref = Arch.parse(text), topology_str2structure(text)
        assert ours.unique_str() == ref.to_unique_str(consider_zero=True)
        assert ours.is_degenerate() == (not ref.check_valid())
        keys.add(ours.unique_str())
    assert len(keys) == 6466  # the number of unique topologies reported by NAS-Bench-201


def test_canonical_is_a_smallest_isomorphic_member():
    a = Arch.parse("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    c = a.canonical()
    assert c.unique_str() == a.unique_str()
    assert c.code <= a.code
    assert c.canonical() == c
    members = [x for x in nb201.all_archs() if x.unique_str() == a.unique_str()]
    assert c == min(members, key=lambda x: x.code)


def test_degenerate_examples():
    assert Arch.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").is_degenerate()
    assert Arch.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|").is_degenerate()
    assert not Arch.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").is_degenerate()
    assert not Arch.parse(ALL_SKIP).is_degenerate()


def test_arch_is_immutable_and_hashable():
    a = Arch.parse(ALL_SKIP)
    with pytest.raises(AttributeError):
        a.ops = ()  # type: ignore[misc]
    assert {a: 1}[Arch.from_ops(["skip_connect"] * 6)] == 1


@pytest.mark.parametrize("text, token", [
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|conv_3x3~2|", "conv_3x3"),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|", "got 2 in"),
    ("|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|", "skip_connect~1"),
    ("|skip_connect|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|", "skip_connect"),
    ("|skip_connect~0|+|skip_connect~0|+|skip_connect~0|skip_connect~1|skip_connect~2|", "node 2 needs 2 inputs"),
])
def test_malformed_strings_name_the_token_and_allowed_values(text, token):
    with pytest.raises(ValueError) as exc:
        Arch.parse(text)
    msg = str(exc.value)
    assert token in msg
    assert "nor_conv_3x3" in msg  # the allowed values are listed
    assert "\n" not in msg


def test_size_space():
    a = SizeArch.parse("8:16:24:32:64")
    assert a.to_str() == "8:16:24:32:64"
    assert SizeArch.from_code(a.code) == a
    assert SizeArch.parse("8:8:8:8:8").code == 0 and SizeArch.parse("64:64:64:64:64").code == 32767
    codes = [x.code for x in sss.all_archs()]
    assert codes == list(range(32768))
    for bad, token in [("8:16:24:32", "5 ':'-separated"), ("8:16:24:32:65", "'65'"), ("8:x:8:8:8", "'x'")]:
        with pytest.raises(ValueError, match=token) as exc:
            SizeArch.parse(bad)
        assert "[8, 16, 24, 32, 40, 48, 56, 64]" in str(exc.value)


def test_size_space_order_is_official(sss_dir):
    from benchmarks import nats

    archs = nats.read_meta(nats.locate(sss_dir, "sss"))
    assert [SizeArch.parse(t).code for t in archs] == list(range(32768))


def test_space_aliases():
    assert get_tabular_space("nb201") is get_tabular_space("TSS") is get_tabular_space("topology")
    assert get_tabular_space("size").name == "sss"
    with pytest.raises(ValueError, match="unknown space 'darts-cnn'"):
        get_tabular_space("darts-cnn")
