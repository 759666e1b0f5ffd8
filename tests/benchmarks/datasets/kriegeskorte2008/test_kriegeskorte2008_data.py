"""Kriegeskorte 2008 loader: the real rsatoolbox files, download over file://, hash checks, broken files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import calc_rdm
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from benchmarks.datasets.errors import DatasetFormatError, DatasetNotFoundError
from benchmarks.datasets.kriegeskorte2008 import data as k92
from benchmarks.datasets.kriegeskorte2008.synth import write_synthetic_kriegeskorte2008
from model_registry.storage.download import DownloadError

FILES = (k92.BRAIN_RDMS_FILE, k92.SUPPLEMENT_FILE, k92.MODEL_RDMS_FILE)


@pytest.fixture(scope="module")
def real_dir(kriegeskorte2008_dir) -> Path:
    """The real rsatoolbox files (tests/conftest.py: $REALNET_DATA_DIR, ../shared/data, else a checked download)."""
    return kriegeskorte2008_dir


@pytest.fixture
def real_copy(real_dir, tmp_path) -> Path:
    root = tmp_path / "kriegeskorte2008"
    root.mkdir()
    for name in FILES:
        shutil.copyfile(real_dir / name, root / name)
    return root


@pytest.fixture(scope="module")
def real(real_dir, tmp_path_factory) -> k92.Kriegeskorte2008:
    root = tmp_path_factory.mktemp("real") / "kriegeskorte2008"
    root.mkdir()
    for name in FILES:
        shutil.copyfile(real_dir / name, root / name)
    return k92.load_kriegeskorte2008(root, download=False)


@pytest.fixture(scope="module")
def synthetic_template(tmp_path_factory) -> Path:
    return write_synthetic_kriegeskorte2008(tmp_path_factory.mktemp("synth") / "k92").root


@pytest.fixture
def synthetic(synthetic_template, tmp_path) -> Path:
    return Path(shutil.copytree(synthetic_template, tmp_path / "k92"))


def load_synthetic(root: Path) -> k92.Kriegeskorte2008:
    return k92.load_kriegeskorte2008(root, download=False, verify_hash=False)


def rewrite(path: Path, edit) -> None:
    """Load a .mat file, let ``edit`` change the dict of variables in place, save it back."""
    content = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    edit(content)
    scipy.io.savemat(path, content)


# ---------------------------------------------------------------------------------------------------------------
# real data


def test_real_data_shapes_ids_and_categories(real):
    assert real.rdms.shape == (4, 2, 92, 92) and real.rdms.dtype == np.float64
    assert real.subjects == ("BE", "KO", "SN", "TI") and real.sessions == (1, 2)
    assert real.images.shape == (92, 175, 175, 3) and real.images.dtype == np.uint8
    assert real.stimulus_ids[0] == "k92_000_human_body" and real.stimulus_ids[91] == "k92_091_artificial_inanimate"
    assert len(set(real.stimulus_ids)) == 92
    counts = {name: real.categories.count(name) for name in set(real.categories)}
    assert counts == {"human_body": 12, "human_face": 12, "nonhuman_body": 12, "nonhuman_face": 12,
                      "natural_inanimate": 23, "artificial_inanimate": 21}
    assert real.category_vectors.shape == (92, 12) and real.category_vector_names[0] == "animate"


def test_real_rdms_match_the_raw_file_entries(real, real_dir):
    raw = scipy.io.loadmat(real_dir / k92.BRAIN_RDMS_FILE)["RDMs"]
    np.testing.assert_array_equal(real.rdms[2, 1], raw[0, 2, 1]["RDM"].astype(np.float64))  # SN, session 2
    assert str(raw[0, 2, 1]["name"][0]) == "hIT | SN | Session: 2"
    supplement = scipy.io.loadmat(real_dir / k92.SUPPLEMENT_FILE)["RDMs_mIT_hIT_fig1"]
    human_mean = supplement[0, 1]["RDM"].reshape(-1)
    np.testing.assert_allclose(squareform(real.mean_rdm(), checks=False), human_mean, atol=1e-12)
    np.testing.assert_array_equal(squareform(real.monkey_it_rdm, checks=False), supplement[0, 0]["RDM"].reshape(-1))
    assert real.subject_rdms().shape == (4, 92, 92)
    np.testing.assert_allclose(real.subject_rdms()[0], (real.rdms[0, 0] + real.rdms[0, 1]) / 2)


def test_silhouette_rdm_agrees_with_rsatoolbox_and_the_published_model(real):
    ours = k92.silhouette_rdm(real.images)
    masks = (real.images != real.images[:, :1, :1, :]).any(axis=-1).reshape(92, -1).astype(float)
    theirs = calc_rdm(Dataset(masks), method="correlation").get_matrices()[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-10)
    upper = np.triu_indices(92, 1)
    assert spearmanr(ours[upper], real.model_rdms["Silhouette"][upper])[0] > 0.9999
    shuffled = k92.silhouette_rdm(real.images[np.random.default_rng(0).permutation(92)])
    assert spearmanr(shuffled[upper], real.model_rdms["Silhouette"][upper])[0] < 0.5


def test_real_stimulus_set_writes_pngs_in_rdm_order(real, tmp_path):
    folder = tmp_path / "stimuli"
    stimulus_set = real.stimulus_set(folder)
    assert list(stimulus_set["stimulus_id"]) == list(real.stimulus_ids)
    assert list(stimulus_set["category"])[:2] == ["human_body", "human_body"]
    path = stimulus_set.get_stimulus("k92_013_human_face")
    assert path == folder / "k92_013_human_face.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), real.images[13])
    assert stimulus_set.identifier.startswith("kriegeskorte2008_")
    assert not list(folder.glob(".*tmp*")), "temporary files left behind"
    # a second call keeps identical files, and repairs a tampered one
    untouched = folder / "k92_000_human_body.png"
    mtime = untouched.stat().st_mtime_ns
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    again = real.stimulus_set(folder)
    assert untouched.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), real.images[13])
    assert again.identifier == stimulus_set.identifier
    assert len(real.stimuli()) == 92 and real.stimuli().ids == real.stimulus_ids


# ---------------------------------------------------------------------------------------------------------------
# download and hashes


def test_download_over_file_url_with_patched_base_url(real_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(k92, "BASE_URL", real_dir.as_uri() + "/")
    root = tmp_path / "fresh"  # does not exist yet
    loaded = k92.load_kriegeskorte2008(root, progress=False)
    assert sorted(p.name for p in root.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (root / name).read_bytes() == (real_dir / name).read_bytes()
    assert loaded.files[k92.BRAIN_RDMS_FILE] == root / k92.BRAIN_RDMS_FILE
    assert loaded.rdms.shape == (4, 2, 92, 92)


def test_default_urls_point_at_the_pinned_rsatoolbox_commit():
    assert k92.BASE_URL == ("https://raw.githubusercontent.com/rsagroup/rsatoolbox/"
                            "f1f83cadb7243492a1aae7460466e0f0140b20ac/demos/92imageData/")


def test_download_files_fetches_only_missing_files(real_dir, real_copy, tmp_path):
    (real_copy / k92.MODEL_RDMS_FILE).unlink()
    paths = k92.download_files(real_copy, base_url=real_dir.as_uri() + "/", progress=False)
    assert paths[k92.MODEL_RDMS_FILE].read_bytes() == (real_dir / k92.MODEL_RDMS_FILE).read_bytes()
    assert set(paths) == set(FILES)


def test_download_with_wrong_hash_is_rejected_and_leaves_nothing(real_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in FILES:
        shutil.copyfile(real_dir / name, mirror / name)
    with open(mirror / k92.BRAIN_RDMS_FILE, "ab") as handle:
        handle.write(b"tampered")
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="sha256"):
        k92.load_kriegeskorte2008(root, base_url=mirror.as_uri() + "/", progress=False)
    assert not (root / k92.BRAIN_RDMS_FILE).exists()
    assert not list(root.glob("*.part"))


def test_local_file_with_wrong_hash_is_rejected(real_copy):
    with open(real_copy / k92.SUPPLEMENT_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DatasetFormatError, match=r"Kriegeskorte_Neuron2008_supplementalData\.mat: sha256 .* does not "
                                                  r"match .*06f21214"):
        k92.load_kriegeskorte2008(real_copy, download=False)


def test_missing_files_without_download_are_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="92_brainRDMs.mat.*download=True"):
        k92.load_kriegeskorte2008(tmp_path, download=False)


def test_offline_download_failure_names_url_and_target(tmp_path):
    with pytest.raises(DownloadError, match="nowhere.*92_brainRDMs.mat"):
        k92.load_kriegeskorte2008(tmp_path / "data", base_url=(tmp_path / "nowhere").as_uri() + "/", progress=False)


# ---------------------------------------------------------------------------------------------------------------
# synthetic files: the generator's output passes, broken copies fail with clear messages


def test_synthetic_files_load_with_their_planted_values(tmp_path):
    written = write_synthetic_kriegeskorte2008(tmp_path / "k92", seed=3)
    loaded = load_synthetic(written.root)
    np.testing.assert_array_equal(loaded.rdms, written.rdms)
    np.testing.assert_array_equal(loaded.images, written.images)
    assert loaded.categories == written.categories
    # planted: each category clusters in the group RDM
    category = np.array(loaded.categories)
    same = category[:, None] == category[None, :]
    off_diagonal = ~np.eye(92, dtype=bool)
    assert loaded.mean_rdm()[same & off_diagonal].mean() < loaded.mean_rdm()[~same].mean() - 0.2


def test_synthetic_files_fail_the_published_hashes(synthetic):
    with pytest.raises(DatasetFormatError, match="sha256"):
        k92.load_kriegeskorte2008(synthetic, download=False)


def test_not_a_mat_file(synthetic):
    (synthetic / k92.MODEL_RDMS_FILE).write_bytes(b"this is not matlab")
    with pytest.raises(DatasetFormatError, match=r"92_modelRDMs\.mat: not a readable MATLAB"):
        load_synthetic(synthetic)


def test_missing_variable_is_named(synthetic):
    rewrite(synthetic / k92.SUPPLEMENT_FILE, lambda content: content.pop("categoryVectors"))
    with pytest.raises(DatasetFormatError, match=r"supplementalData\.mat: variable\(s\) categoryVectors not found"):
        load_synthetic(synthetic)


def test_missing_struct_field_is_named(synthetic):
    def drop_rdm_field(content):
        old = content["RDMs"]
        new = np.empty(old.shape, dtype=[("name", object), ("color", object)])
        new["name"], new["color"] = old["name"], old["color"]
        content["RDMs"] = new

    rewrite(synthetic / k92.BRAIN_RDMS_FILE, drop_rdm_field)
    with pytest.raises(DatasetFormatError, match=r"92_brainRDMs\.mat: struct RDMs lacks field\(s\) RDM"):
        load_synthetic(synthetic)


@pytest.mark.parametrize("corruption, message", [
    (lambda rdm: rdm[:91, :91], "expected a numeric 92 x 92 RDM"),
    (lambda rdm: np.where(np.eye(92, dtype=bool), rdm, np.nan), "NaN or infinite"),
    (lambda rdm: rdm + np.triu(np.ones_like(rdm), 1) * 0.1, "not symmetric"),
])
def test_corrupt_brain_rdm_is_rejected(synthetic, corruption, message):
    def corrupt(content):
        content["RDMs"][0, 1, 0]["RDM"] = corruption(content["RDMs"][0, 1, 0]["RDM"])

    rewrite(synthetic / k92.BRAIN_RDMS_FILE, corrupt)
    with pytest.raises(DatasetFormatError, match=rf"RDMs\(2,1\) \(hIT \| KO \| Session: 1\).*{message}"):
        load_synthetic(synthetic)


def test_wrong_rdm_name_is_rejected(synthetic):
    def rename(content):
        content["RDMs"][0, 3, 1]["name"] = np.array(["mystery"])

    rewrite(synthetic / k92.BRAIN_RDMS_FILE, rename)
    with pytest.raises(DatasetFormatError, match=r"RDMs\(4,2\)\.name = 'mystery'"):
        load_synthetic(synthetic)


def test_images_shuffled_within_a_category_fail_the_silhouette_check(synthetic):
    def shuffle_images(content):
        stimuli = content["stimuli_92objs"]
        images = [stimuli[0, i]["image"] for i in range(48, 71)]  # the natural inanimate block
        for offset, image in enumerate(images[::-1]):
            stimuli[0, 48 + offset]["image"] = image

    rewrite(synthetic / k92.SUPPLEMENT_FILE, shuffle_images)
    with pytest.raises(DatasetFormatError, match="not in the order of the RDMs.*Silhouette"):
        load_synthetic(synthetic)


def test_categories_out_of_order_are_rejected(synthetic):
    def swap(content):
        stimuli = content["stimuli_92objs"]
        stimuli[0, 0]["category"], stimuli[0, 90]["category"] = stimuli[0, 90]["category"], stimuli[0, 0]["category"]

    rewrite(synthetic / k92.SUPPLEMENT_FILE, swap)
    with pytest.raises(DatasetFormatError, match="not in the published order.*image 0 is 'artificial inanimate'"):
        load_synthetic(synthetic)


def test_category_vectors_contradicting_categories_are_rejected(synthetic):
    def flip(content):
        content["categoryVectors"][5, 0] = 0  # image 5 (a human body) marked inanimate

    rewrite(synthetic / k92.SUPPLEMENT_FILE, flip)
    with pytest.raises(DatasetFormatError, match="column 'animate' disagrees .* images 5"):
        load_synthetic(synthetic)


def test_brain_rdms_in_another_order_fail_the_mean_identity(synthetic):
    permutation = np.random.default_rng(1).permutation(92)

    def permute(content):
        rdms = content["RDMs"]
        for index in np.ndindex(rdms.shape):  # (reshape(-1) of the Fortran-ordered struct would copy)
            rdms[index]["RDM"] = rdms[index]["RDM"][np.ix_(permutation, permutation)]

    rewrite(synthetic / k92.BRAIN_RDMS_FILE, permute)
    with pytest.raises(DatasetFormatError, match="mean of the 8 brain RDMs differs from hITvisStim_316vx"):
        load_synthetic(synthetic)


def test_rdms_without_animacy_structure_are_rejected(synthetic):
    # consistent permutation of every RDM and of the supplement's mean: only the animacy check can notice
    permutation = np.random.default_rng(2).permutation(92)
    means = []

    def permute(content):
        rdms = content["RDMs"]
        for index in np.ndindex(rdms.shape):
            rdms[index]["RDM"] = rdms[index]["RDM"][np.ix_(permutation, permutation)]
            means.append(rdms[index]["RDM"].astype(np.float64))

    def replace_mean(content):
        content["RDMs_mIT_hIT_fig1"][0, 1]["RDM"] = squareform(np.mean(means, axis=0), checks=False)[None, :]

    rewrite(synthetic / k92.BRAIN_RDMS_FILE, permute)
    rewrite(synthetic / k92.SUPPLEMENT_FILE, replace_mean)
    with pytest.raises(DatasetFormatError, match="does not separate animate from inanimate"):
        load_synthetic(synthetic)
