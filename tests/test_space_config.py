"""Search spaces and SubnetConfig: loading, validation errors, sampling, JSON, hashing."""

from __future__ import annotations

import pytest

from ofa_mcu.config import BlockChoice, SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import load_space, space_names


def test_shipped_spaces():
    assert {"mcu-32", "mcu-imagenet"} <= set(space_names())
    s32, sin = load_space("mcu-32"), load_space("mcu-imagenet")
    assert s32.kernels == (3, 5, 7) and s32.expands == (3, 4, 6)
    assert max(s32.resolutions) <= 48 and min(sin.resolutions) == 96 and max(sin.resolutions) == 176
    assert sin.stem.stride == 2 and 5 <= len(sin.stages) <= 6


def test_for_task_changes_classes_and_channels():
    s = load_space("mcu-32").for_task(classes=3, in_channels=1)
    assert (s.classes, s.in_channels) == (3, 1)
    with pytest.raises(UserError, match="classes"):
        load_space("mcu-32").for_task(classes=1)


def test_unknown_space_lists_known():
    with pytest.raises(UserError, match="mcu-32"):
        load_space("nope")


def test_bad_space_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: x\nresolutions: [32]\nstem: {channels: 8}\nfirst_block: {channels: 8}\n"
                 "kernels: [3, 4]\nexpands: [3]\nstages: [{channels: 8, stride: 1, depths: [1]}]\n")
    with pytest.raises(UserError, match=r"s\.yaml: kernels: .*odd"):
        load_space(str(p))
    p.write_text("name: x\nbogus: 1\n")
    with pytest.raises(UserError, match="bogus: unknown key"):
        load_space(str(p))


def test_json_round_trip_and_hash(space):
    for seed in range(20):
        c = SubnetConfig.sample(space, seed)
        c.validate(space)
        back = SubnetConfig.from_dict(c.to_dict())
        assert back == c and back.stable_hash() == c.stable_hash()
    assert SubnetConfig.sample(space, 1) == SubnetConfig.sample(space, 1)
    hashes = {SubnetConfig.sample(space, s).stable_hash() for s in range(50)}
    assert len(hashes) == 50


def test_min_max(space):
    lo, hi = SubnetConfig.min(space), SubnetConfig.max(space)
    assert lo.resolution == space.resolutions[0] and hi.resolution == space.resolutions[-1]
    assert lo.depths == tuple(s.depths[0] for s in space.stages)
    assert all(b == BlockChoice(7, 6) for _, _, b in hi.blocks())


def _bad(space, **change):
    d = SubnetConfig.max(space).to_dict()
    d.update(change)
    return SubnetConfig.from_dict(d)


def test_validation_names_block_and_allowed(space):
    d = SubnetConfig.max(space).to_dict()
    d["stages"][1][2]["kernel"] = 9
    with pytest.raises(UserError, match=r"stage 1 block 2: kernel 9 not in allowed \[3, 5, 7\]"):
        SubnetConfig.from_dict(d).validate(space)
    d = SubnetConfig.max(space).to_dict()
    d["stages"][0].append({"kernel": 3, "expand": 3})
    with pytest.raises(UserError, match=r"stage 0: depth 5 not in allowed \[2, 3, 4\]"):
        SubnetConfig.from_dict(d).validate(space)
    with pytest.raises(UserError, match="resolution 7 not in allowed"):
        _bad(space, resolution=7).validate(space)
    d = SubnetConfig.max(space).to_dict()
    d["stages"][0][0]["expand"] = 5
    with pytest.raises(UserError, match="stage 0 block 0: expand 5"):
        SubnetConfig.from_dict(d).validate(space)


def test_subnet_of_other_space():
    c = SubnetConfig.max(load_space("mcu-32"))
    with pytest.raises(UserError, match="belongs to space 'mcu-32'"):
        c.validate(load_space("mcu-imagenet"))


def test_malformed_subnet_files(tmp_path):
    p = tmp_path / "s.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match="invalid JSON"):
        SubnetConfig.load(p)
    p.write_text('{"resolution": 32}')
    with pytest.raises(UserError, match="missing key 'stages'"):
        SubnetConfig.load(p)
    p.write_text('{"resolution": "32", "stages": []}')
    with pytest.raises(UserError, match="expected an integer"):
        SubnetConfig.load(p)
    with pytest.raises(UserError, match="no such subnet file"):
        SubnetConfig.load(tmp_path / "missing.json")
