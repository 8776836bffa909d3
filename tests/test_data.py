"""suite.data on tiny datasets written in the official on-disk formats from real CIFAR images."""
from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from suite import data
from suite.data.readers import CIFAR10_MEAN, CIFAR10_STD
from suite.errors import FormatError, MissingFileError
from suite.names import DATASETS

from conftest import (CIFAR10_TRAIN_PER_BATCH, CIFAR100_TRAIN, IN16_PER_BATCH, dump, planar,  # noqa: F401
                      reference_data, write_split)


def assert_one_line(exc: pytest.ExceptionInfo, *needles: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)


# ----------------------------------------------------------------------------- reading


def test_cifar10_pixels_labels_and_channel_order(root, c10):
    x, y = c10
    train, test = data.load_cifar10(root)
    n = 5 * CIFAR10_TRAIN_PER_BATCH
    assert train.images.shape == (n, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (20 - n, 3, 32, 32)
    assert np.array_equal(train.images.numpy(), x[:n].transpose(0, 3, 1, 2))
    assert np.array_equal(test.images.numpy(), x[n:].transpose(0, 3, 1, 2))
    assert np.array_equal(train.labels.numpy(), y[:n]) and train.labels.dtype == torch.int64
    assert np.array_equal(test.labels.numpy(), y[n:])
    assert np.array_equal(train.images[0, 0].numpy(), x[0, :, :, 0])       # channel 0 is red
    assert np.array_equal(train.images[0, 2].numpy(), x[0, :, :, 2])       # channel 2 is blue
    assert train.num_classes == 10 and train.mean == CIFAR10_MEAN and train.crop_pad == 4


def test_dataset_dir_itself_or_its_parent(root):
    a, _ = data.load_cifar10(root)
    b, _ = data.load_cifar10(root / "cifar-10-batches-py")
    assert torch.equal(a.images, b.images)
    c, _ = data.load_imagenet16(root / "ImageNet16")
    assert len(c) > 0


def test_cifar100_fine_labels(root, c100):
    x, y = c100
    train, test = data.load_cifar100(root)
    assert np.array_equal(train.images.numpy(), x[:CIFAR100_TRAIN].transpose(0, 3, 1, 2))
    assert np.array_equal(test.images.numpy(), x[CIFAR100_TRAIN:].transpose(0, 3, 1, 2))
    assert np.array_equal(train.labels.numpy(), y[:CIFAR100_TRAIN])
    assert np.array_equal(test.labels.numpy(), y[CIFAR100_TRAIN:])
    assert train.num_classes == 100


def test_imagenet16_keeps_classes_1_to_120_as_0_to_119(root, in16):
    x, y = in16
    train, val = data.load_imagenet16(root)
    n = 10 * IN16_PER_BATCH
    for got, xs, ys in ((train, x[:n], y[:n]), (val, x[n:], y[n:])):
        keep = ys <= 120
        assert 0 < keep.sum() < len(ys)                                     # the test data exercises the filter
        assert np.array_equal(got.images.numpy(), xs[keep].transpose(0, 3, 1, 2))
        assert np.array_equal(got.labels.numpy(), ys[keep] - 1)
    assert train.images.shape[1:] == (3, 16, 16) and train.num_classes == 120 and train.crop_pad == 2


def test_digits_real_1797():
    train, test = data.load_digits()
    assert len(train) + len(test) == 1797 and len(train) == 1437
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == torch.uint8
    assert int(train.images.max()) == 255 and train.num_classes == 10
    again, _ = data.load_digits()
    assert torch.equal(train.images, again.images) and torch.equal(train.labels, again.labels)
    s_train, s_valid = data.search_split("digits", None, None)
    assert len(s_train) + len(s_valid) == len(train)


# ----------------------------------------------------------------------------- splits


def test_real_split_files_are_disjoint_halves():
    for name, keys, total in (("cifar-split.txt", ("train", "valid"), 50000),
                              ("cifar100-test-split.txt", ("xvalid", "xtest"), 10000),
                              ("imagenet-16-120-test-split.txt", ("xvalid", "xtest"), 6000)):
        split = data.read_split(reference_data(f"nats-protocol/{name}"))
        a, b = (split[k] for k in keys)
        assert len(a) == len(b) == total // 2, name
        assert np.array_equal(np.sort(np.concatenate([a, b])), np.arange(total)), name


def test_search_split_cifar10_selects_halves(root, protocol, c10):
    x, y = c10
    tr, va = data.search_split("cifar10", root, protocol)
    n = 5 * CIFAR10_TRAIN_PER_BATCH
    assert np.array_equal(tr.images.numpy(), x[:n:2].transpose(0, 3, 1, 2))
    assert np.array_equal(va.images.numpy(), x[1:n:2].transpose(0, 3, 1, 2))
    assert np.array_equal(va.labels.numpy(), y[1:n:2])


def test_search_split_cifar100_and_imagenet16_use_xvalid_of_test(root, protocol, c100):
    x, y = c100
    tr, va = data.search_split("cifar100", root, protocol)
    assert len(tr) == CIFAR100_TRAIN
    assert np.array_equal(va.images.numpy(), x[CIFAR100_TRAIN:][[1, 3, 4, 6]].transpose(0, 3, 1, 2))
    train, val = data.load_imagenet16(root)
    tr, va = data.search_split("ImageNet16-120", root, protocol)
    assert torch.equal(tr.images, train.images)
    assert torch.equal(va.images, val.images[1::2]) and torch.equal(va.labels, val.labels[1::2])


def test_train_test_protocols(root, protocol):
    full_train, full_test = data.load_cifar10(root)
    tt = data.train_test("cifar10-valid", root, protocol)
    assert torch.equal(tt.train.images, full_train.images[0::2])
    assert torch.equal(tt.test.images, full_train.images[1::2])
    assert torch.equal(tt.eval_set("ori-test").images, full_test.images)
    tt = data.train_test("cifar10", root)
    assert len(tt.train) == len(full_train) and len(tt.test) == len(full_test)
    with pytest.raises(KeyError, match="x-valid"):
        tt.eval_set("x-valid")
    tt = data.train_test("cifar100", root, protocol)
    assert len(tt.test) == 8
    assert torch.equal(tt.eval_set("x-test").images, tt.test.images[[0, 2, 5, 7]])
    assert torch.equal(tt.eval_set("x-valid").labels, tt.test.labels[[1, 3, 4, 6]])
    assert set(data.train_test("ImageNet16-120", root, protocol).evals) == {"ori-test", "x-valid", "x-test"}


def test_unknown_dataset_lists_names(root):
    with pytest.raises(ValueError) as exc:
        data.train_test("cifar-10", root)
    assert_one_line(exc, *DATASETS)


# ----------------------------------------------------------------------------- errors


def test_missing_dataset_one_line(tmp_path):
    with pytest.raises(MissingFileError) as exc:
        data.load_cifar10(tmp_path)
    assert isinstance(exc.value, FileNotFoundError)
    assert_one_line(exc, "cifar-10-batches-py", str(tmp_path), "https://www.cs.toronto.edu/~kriz/cifar.html")
    with pytest.raises(MissingFileError) as exc:
        data.load_imagenet16(tmp_path)
    assert_one_line(exc, "ImageNet16", str(tmp_path), "AutoDL-Projects")


def test_missing_batch_file_named(root, tmp_path):
    part = tmp_path / "cifar-10-batches-py"
    part.mkdir()
    for f in (root / "cifar-10-batches-py").iterdir():
        if f.name != "data_batch_4":
            (part / f.name).write_bytes(f.read_bytes())
    with pytest.raises(MissingFileError) as exc:
        data.load_cifar10(tmp_path)
    assert_one_line(exc, str(part / "data_batch_4"))


def test_missing_split_file_one_line(root, tmp_path):
    with pytest.raises(MissingFileError) as exc:
        data.search_split("cifar10", root, tmp_path)
    assert_one_line(exc, "cifar-split.txt", str(tmp_path), "configs/nas-benchmark")


@pytest.mark.parametrize("payload", [b"garbage, not a pickle", b"\x80\x02}q\x00(X\x04\x00\x00\x00data",
                                     pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}),
                                     pickle.dumps(os.system)])
def test_corrupt_batch_is_format_error(root, tmp_path, payload):
    bad = tmp_path / "cifar-100-python"
    bad.mkdir()
    (bad / "train").write_bytes(payload)
    (bad / "test").write_bytes((root / "cifar-100-python" / "test").read_bytes())
    with pytest.raises(FormatError) as exc:
        data.load_cifar100(tmp_path)
    assert_one_line(exc, str(bad / "train"))


def test_corrupt_or_mismatched_split_file(root, tmp_path):
    (tmp_path / "cifar-split.txt").write_text('{"train": ["int", ["0", "1"]], "valid": ["int", ["1"')
    with pytest.raises(FormatError) as exc:
        data.search_split("cifar10", root, tmp_path)
    assert_one_line(exc, str(tmp_path / "cifar-split.txt"))
    write_split(tmp_path / "cifar-split.txt", train=[0, 1], valid=[1, 2])
    with pytest.raises(FormatError, match="overlap"):
        data.search_split("cifar10", root, tmp_path)
    write_split(tmp_path / "cifar-split.txt", train=[0, 1], valid=[2, 99])
    with pytest.raises(FormatError) as exc:
        data.search_split("cifar10", root, tmp_path)
    assert_one_line(exc, "cifar-split.txt", "99")


# ----------------------------------------------------------------------------- device loader


def indexed(n: int = 23, size: int = 32, pad: int = 4) -> data.ArrayDataset:
    """n random images whose label is their index, so batches reveal which samples they hold."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return data.ArrayDataset(images, torch.arange(n), n, CIFAR10_MEAN, CIFAR10_STD, "indexed", pad, True)


def epoch(loader: data.DeviceLoader, e: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(e)
    return list(loader)


def test_loader_without_augment_is_normalised_images(root):
    train, _ = data.load_cifar10(root)
    loader = data.DeviceLoader(train, 4, "cpu", augment=False, seed=0, drop_last=False, shuffle=False)
    x = torch.cat([b[0] for b in loader])
    mean = torch.tensor(train.mean).view(1, 3, 1, 1)
    std = torch.tensor(train.std).view(1, 3, 1, 1)
    assert torch.allclose(x, (train.images.float() / 255 - mean) / std, atol=1e-5)
    assert len(loader) == 4


def test_loader_deterministic_per_seed_and_epoch():
    ds = indexed()
    make = lambda seed: data.DeviceLoader(ds, 5, "cpu", augment=True, seed=seed)  # noqa: E731
    a, b = make(3), make(3)
    for e in (0, 1, 7):
        for (xa, ya), (xb, yb) in zip(epoch(a, e), epoch(b, e), strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(epoch(a, 0)[0][1], epoch(a, 1)[0][1])             # order changes across epochs
    assert not torch.equal(epoch(a, 0)[0][1], epoch(make(4), 0)[0][1])       # and across seeds
    fresh = make(3)
    first, second = list(fresh), list(fresh)                                 # passes advance the epoch
    assert torch.equal(second[0][1], epoch(a, 1)[0][1]) and not torch.equal(first[0][1], second[0][1])


def test_loader_covers_each_sample_once():
    ds = indexed(23)
    loader = data.DeviceLoader(ds, 5, "cpu", augment=True, seed=1, drop_last=False)
    assert len(loader) == 5
    labels = torch.cat([y for _, y in epoch(loader, 2)])
    assert sorted(labels.tolist()) == list(range(23))
    dropped = data.DeviceLoader(ds, 5, "cpu", augment=True, seed=1)
    assert len(dropped) == 4 and sum(len(y) for _, y in dropped) == 20
    with pytest.raises(ValueError, match="drop_last"):
        data.DeviceLoader(ds, 64, "cpu", augment=False, seed=0)


@pytest.mark.parametrize("size,pad", [(32, 4), (16, 2)])
def test_augment_is_only_crop_and_flip(size, pad):
    ds = indexed(12, size, pad)
    loader = data.DeviceLoader(ds, 12, "cpu", augment=True, seed=5, shuffle=False)
    (x, y), = epoch(loader, 0)
    assert x.shape == (12, 3, size, size) and x.dtype == torch.float32
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    raw = torch.round((x * std + mean) * 255).to(torch.uint8)
    padded = torch.nn.functional.pad(ds.images, (pad, pad, pad, pad))
    changed = 0
    for i in range(12):
        crops = [padded[i, :, dy:dy + size, dx:dx + size] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
        views = crops + [c.flip(-1) for c in crops]
        assert any(torch.equal(raw[i], v) for v in views), i
        changed += not torch.equal(raw[i], ds.images[i])
    assert changed > 0


def test_digits_loader_does_not_augment():
    train, _ = data.load_digits()
    loader = data.DeviceLoader(train, 16, "cpu", augment=True, seed=0, shuffle=False)
    x, _ = next(iter(loader))
    assert torch.allclose(x, data.normalize(train.images[:16], train.mean, train.std), atol=1e-6)


def test_loader_dtype_and_channels_last():
    loader = data.DeviceLoader(indexed(8), 4, "cpu", augment=True, seed=0, channels_last=True, dtype=torch.bfloat16)
    x, y = next(iter(loader))
    assert x.dtype == torch.bfloat16 and x.is_contiguous(memory_format=torch.channels_last) and y.dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_loader_on_cuda_matches_cpu():
    ds = indexed()
    cpu = epoch(data.DeviceLoader(ds, 5, "cpu", augment=True, seed=2), 3)
    gpu = epoch(data.DeviceLoader(ds, 5, "cuda", augment=True, seed=2), 3)
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert xg.is_cuda and torch.equal(yc, yg.cpu()) and torch.allclose(xc, xg.cpu(), atol=1e-5)


# ----------------------------------------------------------------------------- image folders


def test_image_folder_batches(tmp_path, c10):
    x, y = c10
    for split, sl in (("train", slice(0, 12)), ("val", slice(12, 20))):
        for i, (im, label) in enumerate(zip(x[sl], y[sl])):
            folder = tmp_path / split / f"n{label % 3:08d}"                  # 3 classes present in both
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(im).resize((48, 40)).save(folder / f"{i}.png")
    ds = data.ImageFolderDataset(tmp_path)
    assert ds.classes == sorted(ds.classes) and re.fullmatch(r"n\d{8}", ds.classes[0])
    (xa, ya), = list(ds.batches("train", 8, seed=0, size=24, resize=28))
    (xb, yb), = list(ds.batches("train", 8, seed=0, size=24, resize=28, workers=2))
    assert xa.shape == (8, 3, 24, 24) and xa.dtype == torch.uint8 and torch.equal(xa, xb) and torch.equal(ya, yb)
    val = list(ds.batches("val", 5, size=24, resize=28))
    assert [len(v[1]) for v in val] == [5, 3]
    with pytest.raises(MissingFileError) as exc:
        data.ImageFolderDataset(tmp_path / "nowhere")
    assert_one_line(exc, "train")
