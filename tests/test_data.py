"""Finding weights and images: search order, checksums, offline errors, loaders."""

from __future__ import annotations

import pickle
import urllib.request

import numpy as np
import pytest
import torch

from zapsim.errors import DataError
from zapsim.trace import data


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No ZAPSIM_DATA, no local fallbacks, no network: only what the test puts in tmp_path."""
    monkeypatch.delenv("ZAPSIM_DATA", raising=False)
    monkeypatch.setattr(data, "_fallback_roots", lambda: [tmp_path / "cache"])
    monkeypatch.setenv("ZAPSIM_CACHE", str(tmp_path / "cache"))

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


def test_missing_weights_offline_says_where_and_how(isolated, monkeypatch):
    (isolated / "nowhere").mkdir()  # a data directory without the weights
    (isolated / "nowhere" / "README").write_text("no weights here")  # (an empty one is refused outright)
    monkeypatch.setenv("ZAPSIM_DATA", str(isolated / "nowhere"))
    with pytest.raises(DataError) as e:
        data.find_weights("resnet20")
    msg = str(e.value)
    assert str(isolated / "nowhere" / "weights" / "resnet20-12fca82f.th") in msg
    assert "ZAPSIM_DATA" in msg
    assert "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/resnet20-12fca82f.th" in msg
    assert "unreachable" in msg


def test_weights_checksum_is_enforced(isolated, monkeypatch):
    w = isolated / "d" / "weights"
    w.mkdir(parents=True)
    (w / "resnet20-12fca82f.th").write_bytes(b"not the checkpoint")
    monkeypatch.setenv("ZAPSIM_DATA", str(isolated / "d"))
    with pytest.raises(DataError, match="does not match the published 12fca82f"):
        data.find_weights("resnet20")


def test_download_is_checked_by_sha256(isolated, monkeypatch):
    class Resp:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b"tampered"

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Resp())
    with pytest.raises(DataError, match="not used"):
        data.find_weights("resnet32")
    assert not (isolated / "cache" / "weights" / "resnet32-d509ac18.th").exists()


def test_unknown_model_weights(isolated):
    with pytest.raises(DataError, match="--weights"):
        data.find_weights("resnet99")


def test_missing_cifar_images(isolated):
    with pytest.raises(DataError, match="ZAPSIM_DATA"):
        data.load_cifar10_eval()
    with pytest.raises(DataError, match="cifar10_test_jpeg_q75.npz"):
        data.load_cifar10_train_split()


def test_official_python_batch_is_preferred_and_decoded_planar(isolated, monkeypatch):
    d = isolated / "d" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rows = np.zeros((2, 3072), dtype=np.uint8)
    rows[0, 0] = 200  # R of pixel (0,0)
    rows[0, 1024 + 33] = 100  # G of pixel (1,1)
    rows[1, 2048 + 31] = 50  # B of pixel (0,31)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": rows, b"labels": [4, 7]}, f)
    monkeypatch.setenv("ZAPSIM_DATA", str(isolated / "d"))
    s = data.load_cifar10_eval()
    assert s.images.shape == (2, 32, 32, 3)
    assert s.images[0, 0, 0, 0] == 200 and s.images[0, 1, 1, 1] == 100 and s.images[1, 0, 31, 2] == 50
    assert s.images.sum() == 350
    assert s.labels.tolist() == [4, 7]


def test_image_folder_handles_greyscale_and_labels(tmp_path):
    from PIL import Image

    Image.new("L", (300, 200), color=128).save(tmp_path / "grey.JPEG")
    Image.new("RGB", (100, 150), color=(255, 0, 0)).save(tmp_path / "red.JPEG")
    (tmp_path / "labels.csv").write_text("file,class_index,wnid,class_name\ngrey.JPEG,3,n0,a\nred.JPEG,990,n1,b\n")
    s = data.load_image_folder(tmp_path, size=64, resize=80)
    assert s.images.shape == (2, 64, 64, 3) and s.images.dtype == np.uint8
    assert s.labels.tolist() == [3, 990]
    g = s.images[0].astype(int)
    assert (g[..., 0] == g[..., 1]).all() and abs(g.mean() - 128) < 3  # grey replicated on R, G, B
    r = s.images[1].astype(int)
    assert r[..., 0].mean() > 240 and r[..., 1].mean() < 15


def test_image_folder_bad_label(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.JPEG")
    (tmp_path / "labels.csv").write_text("file,class_index\na.JPEG,cat\n")
    with pytest.raises(DataError, match="row 2: class_index 'cat'"):
        data.load_image_folder(tmp_path)


def test_to_tensor_formula():
    img = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    img[0, 1, 0] = (255, 0, 51)
    x = data.to_tensor(img)
    assert x.shape == (1, 3, 2, 2)
    assert torch.isclose(x[0, 0, 1, 0], torch.tensor((1 - 0.485) / 0.229))
    assert torch.isclose(x[0, 1, 1, 0], torch.tensor(-0.456 / 0.224))
    assert torch.isclose(x[0, 2, 1, 0], torch.tensor((0.2 - 0.406) / 0.225))


@pytest.mark.data
def test_real_cifar_splits_are_disjoint(zapsim_data):
    ev = data.load_cifar10_eval(zapsim_data)
    tr = data.load_cifar10_train_split(zapsim_data)
    assert len(ev) == 1017 and ev.info["indices"] == [0, 1016] and ev.info["exact"]
    assert ev.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # from the data README
    assert ev.images[0, 0, :9, 0].tolist() == [158, 159, 165, 166, 160, 156, 162, 159, 158]
    assert len(tr) == 10000 - 1017 and tr.info["indices"] == [1017, 9999]


@pytest.mark.data
def test_real_weights_load_strictly(zapsim_data):
    from zapsim.trace.models import load_cifar_resnet

    model, info = load_cifar_resnet("resnet20", data=zapsim_data)
    assert info["sha256"] == data.CIFAR_WEIGHTS["resnet20"][1]
    assert sum(p.numel() for p in model.parameters()) == 269722  # the 0.27 M of the data README


def test_a_named_data_directory_must_exist(monkeypatch, tmp_path):
    # An explicit location that does not exist is an error, not a reason to look elsewhere.
    monkeypatch.setenv("ZAPSIM_DATA", str(tmp_path / "typo"))
    with pytest.raises(DataError, match=r"ZAPSIM_DATA=.*typo: no such directory"):
        data.data_roots()
    monkeypatch.delenv("ZAPSIM_DATA")
    with pytest.raises(DataError, match=r"--data .*nowhere: no such directory"):
        data.data_roots(tmp_path / "nowhere")
