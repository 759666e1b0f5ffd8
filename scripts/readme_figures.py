"""Regenerate the README's example figures (docs/figures/) from real benchmark runs, offline, in ~1 minute.

- time course and improvement: ``things-eeg-rsa-correlation`` on a generated THINGS-EEG2 dataset (6 subjects,
  EEG planted from a random conv net's features), scoring that net ("planted") and the same architecture with
  other weights ("other");
- RDM heatmaps: the planted net's best layer next to the real Kriegeskorte 2008 human-IT RDM (92 images, grouped
  by category; the files under ../shared/data/kriegeskorte2008 or $REALNET_DATA_DIR);
- ROI x layer chart: ``things-fmri-roi`` on a generated THINGS-fMRI dataset.

Usage: ``.venv/bin/python scripts/readme_figures.py [OUT_DIR]`` (default docs/figures).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
K92 = REPO.parent / "shared" / "data" / "kriegeskorte2008"


def main(out: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="realnet-readme-"))
    os.environ["REALNET_HOME"] = str(scratch / "home")
    from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
    from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri
    from model_registry import Preprocessing, register_model
    from realnet_plugin import score
    from realnet_plugin.plots import plot_improvement, plot_roi_layers, plot_time_course
    from realnet_plugin.rdm_views import plot_rdm_view

    pixels = Preprocessing(image_size=64, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
    for name, seed in (("planted_net", 0), ("other_net", 7)):
        register_model(name, family="example", layers=("1", "3", "7"), region_layer_map={"IT": "7"},
                       preprocessing=pixels)(lambda pretrained, seed=seed: RandomConvFeatures(seed=seed).network)
    root = generate_things_eeg2(scratch / "things-eeg2", n_subjects=6, n_test_images=24, n_test_repetitions=8,
                                n_train_concepts=2, n_train_per_concept=2, n_train_repetitions=2, image_size=32,
                                noise=1.0, progress=False)
    options = {"root": str(root), "n_permutations": 1000}
    planted = score("planted_net", "things-eeg-rsa-correlation", **options)
    other = score("other_net", "things-eeg-rsa-correlation", **options)
    out.mkdir(parents=True, exist_ok=True)
    written = [plot_time_course(planted, out / "timecourse.png"),
               plot_improvement(planted, other, out / "improvement.png", layer="7"),
               plot_rdm_view("planted_net", "kriegeskorte2008-hit-rsa", out / "rdm_k92.png",
                             **({"root": str(K92)} if K92.is_dir() else {}))]
    fmri = scratch / "things-fmri"
    write_synthetic_things_fmri(fmri, n_subjects=3, n_concepts=4, images_per_concept=3)
    written.append(plot_roi_layers(score("planted_net", "things-fmri-roi", root=str(fmri), n_bootstrap=0),
                                   out / "roi_layers.png"))
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "figures")
